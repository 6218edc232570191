"""Rewrite a recording in another recording form: ROS 1 bag, ROS 2 bag (sqlite3 or mcap), plain MCAP,
or PNG image sequences with timestamps files (DESIGN "Data contracts").

Tests and benchmarks make their bag and image-sequence inputs with it from synthetic or real
video recordings; users can turn video recordings into the form their tools expect. The frames
and their times are the source's; `rgb_offset_seconds` shifts the RGB clock (a camera whose clock
runs ahead), `drop_rgb` leaves RGB frames out (a recorder that lost messages).
"""
from __future__ import annotations

import heapq
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np
from mcap.writer import Writer as McapWriter
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.rosbag2 import StoragePlugin, Writer as Ros2Writer
from rosbags.typesys import Stores, get_typestore

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.recording import RECORDING_FILE, RecordingError, load_recording
from nircolor.dataset_tools.streams import iter_source_frames

FORMATS = ("ros1", "ros2", "ros2-mcap", "mcap", "images")
BAG_NAMES = {"ros1": "drive.bag", "ros2": "drive", "ros2-mcap": "drive", "mcap": "drive.mcap"}
NIR_TOPIC, RGB_TOPIC = "/nir/image_raw", "/rgb/image_raw"
RGB_ENCODINGS = ("rgb8", "bgr8", "bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8", "jpeg", "png")


@dataclass(frozen=True)
class ConvertOptions:
    form: str = "mcap"
    rgb_encoding: str = "rgb8"  # rgb8, bgr8, bayer_rggb8, bayer_bggr8, bayer_gbrg8, bayer_grbg8, jpeg, png
    rgb_offset_seconds: float = 0.0  # added to RGB stamps (the RGB camera's clock error)
    drop_rgb: tuple[int, ...] = ()  # RGB frame numbers (0-based, in stream order) left out
    start_seconds: float = 1_700_000_000.0  # stamps are epoch times, as drive recorders write them
    log_delay_seconds: float = 0.004  # log (receive) time = stamp + this
    part_messages: int | None = None  # ros1/mcap: a bag in parts of this many messages (rosbag record --split)


def convert_recording(source: str | Path, out: str | Path, options: ConvertOptions) -> Path:
    """Write `source` (any recording folder) to the new recording folder `out`; returns `out`."""
    if options.form not in FORMATS or options.rgb_encoding not in RGB_ENCODINGS:
        raise ValueError(f"unknown recording form {options.form!r} or RGB encoding {options.rgb_encoding!r}")
    if options.part_messages is not None and (options.form not in ("ros1", "mcap") or options.part_messages < 1):
        raise ValueError("a bag in parts is written as ros1 or mcap, with at least 1 message a part")
    recording = load_recording(source)
    out = Path(out)
    if out.exists():
        raise RecordingError(f"{out}: already exists")
    with atomic.replacing(out, folder=True) as partial:
        # Frames stream through one at a time (a drive does not fit in memory); each call reads anew.
        streams = {kind: (lambda kind=kind, stream=stream: _frames(stream, kind, options))
                   for kind, stream in (("nir", recording.nir), ("rgb", recording.rgb))}
        document = {"id": recording.id, "day": recording.day, "location": recording.location}
        if options.form == "images":
            document.update(_write_images(partial, streams))
        else:
            names = _write_bag(partial, BAG_NAMES[options.form], options, streams)
            document.update(bag=names if options.part_messages else names[0], nir_topic=NIR_TOPIC, rgb_topic=RGB_TOPIC)
        if recording.nir.bits:
            document["nir_bits"] = recording.nir.bits
        (partial / RECORDING_FILE).write_text(json.dumps(document, indent=2) + "\n")
    return out


def _frames(stream, kind: str, options: ConvertOptions) -> Iterator[tuple[float, np.ndarray]]:
    """(new stamp in seconds, pixels) of one stream, RGB frames in `drop_rgb` left out."""
    offset = options.start_seconds + (options.rgb_offset_seconds if kind == "rgb" else 0.0)
    dropped = set(options.drop_rgb) if kind == "rgb" else set()
    for number, frame in enumerate(iter_source_frames(stream, kind)):
        if number not in dropped:
            yield frame.seconds + offset, frame.array


def _write_images(folder: Path, streams: dict) -> dict:
    document = {}
    for kind, frames in streams.items():
        (folder / kind).mkdir()
        times = []
        for number, (seconds, array) in enumerate(frames()):
            image = array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(folder / kind / f"{number:06d}.png"), image)
            times.append(seconds)
        (folder / kind / "timestamps.txt").write_text("".join(f"{seconds:.9f}\n" for seconds in times))
        document.update({kind: f"{kind}/%06d.png", f"{kind}_timestamps": f"{kind}/timestamps.txt"})
    return document


# ---------------------------------------------------------------------------------------------- bags


def _write_bag(folder: Path, name: str, options: ConvertOptions, streams: dict) -> list[str]:
    """Write the bag (or its parts, `options.part_messages` messages each) into `folder`; its file names."""
    ros1 = options.form == "ros1"
    typestore = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)
    serialize = typestore.serialize_ros1 if ros1 else typestore.serialize_cdr

    def serialized(kind: str) -> Iterator[tuple[int, str, str, bytes]]:
        topic = NIR_TOPIC if kind == "nir" else RGB_TOPIC
        for seconds, array in streams[kind]():
            message, msgtype = _image_message(typestore, ros1, seconds, array, kind, options.rgb_encoding)
            yield round((seconds + options.log_delay_seconds) * 1e9), topic, msgtype, bytes(serialize(message, msgtype))

    # (log ns, topic, msgtype, bytes) of both topics in log-time order, as a recorder writes them:
    # each stream's times ascend, so merging the two is enough.
    messages = heapq.merge(serialized("nir"), serialized("rgb"), key=lambda message: message[0])
    if not options.part_messages:
        _write_part(folder / name, options.form, typestore, messages)
        return [name]
    stem, suffix = Path(name).stem, Path(name).suffix
    names = []
    while True:
        part = list(itertools.islice(messages, options.part_messages))
        if not part and names:
            return names
        names.append(f"{stem}_{len(names)}{suffix}")
        _write_part(folder / names[-1], options.form, typestore, part)


def _write_part(path: Path, form: str, typestore, messages: Iterable) -> None:
    if form == "mcap":
        _write_plain_mcap(path, typestore, messages)
        return
    if form == "ros1":
        writer = Ros1Writer(path)
    else:
        plugin = StoragePlugin.MCAP if form == "ros2-mcap" else StoragePlugin.SQLITE3
        writer = Ros2Writer(path, version=9, storage_plugin=plugin)
    with writer:
        connections = {}
        for log_ns, topic, msgtype, data in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=typestore)
            writer.write(connections[topic], log_ns, data)


def _write_plain_mcap(path: Path, typestore, messages: Iterable) -> None:
    with open(path, "wb") as file:
        writer = McapWriter(file)
        writer.start(profile="ros2", library="nircolor")
        channels = {}
        for log_ns, topic, msgtype, data in messages:
            if topic not in channels:
                definition, _ = typestore.generate_msgdef(msgtype, ros_version=2)
                schema = writer.register_schema(msgtype, "ros2msg", definition.encode())
                channels[topic] = writer.register_channel(topic, "cdr", schema)
            writer.add_message(channels[topic], log_time=log_ns, data=data, publish_time=log_ns)
        writer.finish()


_BAYER_OFFSETS = {"rggb": ((0, 0), (0, 1), (1, 0), (1, 1)), "bggr": ((1, 1), (0, 1), (1, 0), (0, 0)),
                  "gbrg": ((1, 0), (0, 0), (1, 1), (0, 1)), "grbg": ((0, 1), (0, 0), (1, 1), (1, 0))}


def bayer_mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """The raw sensor image a Bayer camera with `pattern` (its 2×2 cell, row by row) would deliver."""
    (ry, rx), (g1y, g1x), (g2y, g2x), (by, bx) = _BAYER_OFFSETS[pattern]
    mosaic = np.empty(rgb.shape[:2], dtype=rgb.dtype)
    mosaic[ry::2, rx::2] = rgb[ry::2, rx::2, 0]
    mosaic[g1y::2, g1x::2] = rgb[g1y::2, g1x::2, 1]
    mosaic[g2y::2, g2x::2] = rgb[g2y::2, g2x::2, 1]
    mosaic[by::2, bx::2] = rgb[by::2, bx::2, 2]
    return mosaic


def _image_message(typestore, ros1: bool, seconds: float, array: np.ndarray, kind: str, rgb_encoding: str):
    types = typestore.types
    whole = int(np.floor(seconds))
    stamp = types["builtin_interfaces/msg/Time"](sec=whole, nanosec=min(round((seconds - whole) * 1e9), 999_999_999))
    header = types["std_msgs/msg/Header"](stamp=stamp, frame_id=kind, **({"seq": 0} if ros1 else {}))
    encoding = ("mono16" if array.dtype == np.uint16 else "mono8") if kind == "nir" else rgb_encoding
    if encoding in ("jpeg", "png"):
        _, data = cv2.imencode(f".{encoding}", cv2.cvtColor(array, cv2.COLOR_RGB2BGR))
        message = types["sensor_msgs/msg/CompressedImage"](header=header, format=f"rgb8; {encoding} compressed bgr8",
                                                           data=data.reshape(-1))
        return message, "sensor_msgs/msg/CompressedImage"
    if encoding == "bgr8":
        pixels = array[..., ::-1]
    elif encoding.startswith("bayer_"):
        pixels = bayer_mosaic(array, encoding[6:10])
    else:
        pixels = array
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    message = types["sensor_msgs/msg/Image"](header=header, height=height, width=width, encoding=encoding,
                                             is_bigendian=0, step=pixels.strides[0],
                                             data=pixels.reshape(-1).view(np.uint8))
    return message, "sensor_msgs/msg/Image"
