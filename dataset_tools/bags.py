"""Image topics of drive bags: ROS 1 `.bag`, ROS 2 bag folders (sqlite3 or mcap storage), plain `.mcap`.

ROS bags are read with `rosbags` (pure Python); a plain MCAP file with the `mcap` reader, its
messages decoded by rosbags' type stores (ROS 2 CDR or ROS 1 serialization, as the channel says).
Frame time is `header.stamp`, read straight from the serialized bytes (both image messages start
with their header), so listing a topic's times deserializes nothing; `log_time=True` uses the
recorder's receive time instead.
"""
from __future__ import annotations

import heapq
import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np
from mcap.reader import make_reader
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from nircolor.dataset_tools.image_files import HEADER_BYTES, image_header_size, reduced_gray

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE, COMPRESSED)


class BagError(ValueError):
    """A bag that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Topic:
    name: str
    msgtype: str
    count: int


def bag_path(path: str | Path) -> Path:
    """The bag a path names: a file inside a ROS 2 bag folder (its .db3 storage or its metadata.yaml,
    what users point at) stands for the folder; anything else is itself."""
    path = Path(path)
    if path.suffix.lower() in (".db3", ".yaml") and (path.parent / "metadata.yaml").is_file():
        return path.parent
    return path


class BagReader:
    """One bag opened for reading: `topics`, `messages(topic, ...)`, `decode(topic, raw)`.

    A bag recorded in parts (`rosbag record --split`: drive_0.bag, drive_1.bag, ...; or one bag per
    camera) is opened from the list of its files and read as one: topics and counts summed over the
    parts, messages merged in log-time order. The parts are all ROS bags or all plain MCAP files.
    """

    def __init__(self, path: str | os.PathLike | Sequence[str | os.PathLike]):
        paths = [Path(path)] if isinstance(path, (str, os.PathLike)) else [Path(part) for part in path]
        if not paths:
            raise BagError("no bag files given")
        self.paths = paths
        self.path = paths[0]  # what error lines name: the first part, or the one at fault
        self._files: list = []
        self._mcaps: list = []
        self._any = None
        self.topics: dict[str, Topic] = {}
        self._ros2: dict[str, bool] = {}  # topic → CDR (ROS 2) rather than ROS 1 serialization
        try:
            for part in paths:
                if not part.exists():
                    raise BagError(f"{part}: bag not found")
            mcap = [part.is_file() and part.suffix.lower() == ".mcap" for part in paths]
            if all(mcap):
                for part in paths:
                    self._open_mcap(part)
            elif any(mcap):
                raise BagError(f"{self.path}: the parts of one bag are all ROS bags or all .mcap files, "
                               f"not a mix ({', '.join(part.name for part in paths)})")
            else:
                self._open_rosbags()
        except BagError:
            self.close()
            raise
        except Exception as error:  # noqa: BLE001 - both libraries raise their own error trees
            self.close()
            raise BagError(f"{self._culprit()}: cannot read bag ({_reason(error)})") from None

    def _culprit(self) -> Path:
        """The part that fails to open on its own (several parts), else the first."""
        for part in self.paths if len(self.paths) > 1 else ():
            try:
                BagReader(part).close()
            except BagError:
                return part
        return self.path

    def _open_rosbags(self) -> None:
        for part in self.paths:
            if part.is_file() and part.suffix.lower() != ".bag":
                raise BagError(f"{part}: not a bag (a ROS 1 .bag file, a ROS 2 bag folder or an .mcap file)")
        reader = AnyReader(self.paths)
        reader.open()
        self._any = reader  # only an open reader: closing one that failed to open raises
        counts: dict[str, int] = {}
        for connection in self._any.connections:
            counts[connection.topic] = counts.get(connection.topic, 0) + connection.msgcount
            self._add_topic(Topic(connection.topic, connection.msgtype, counts[connection.topic]), self._any.is2)

    def _open_mcap(self, part: Path) -> None:
        self._files.append(open(part, "rb"))
        reader = make_reader(self._files[-1])
        self._mcaps.append(reader)
        summary = reader.get_summary()
        if summary is None:
            raise BagError(f"{part}: no MCAP summary (truncated or still being written)")
        counts = summary.statistics.channel_message_counts if summary.statistics else {}
        for channel_id, channel in summary.channels.items():
            schema = summary.schemas.get(channel.schema_id)
            msgtype = _ros2_name(schema.name) if schema else ""
            known = self.topics.get(channel.topic)
            count = counts.get(channel_id, 0) + (known.count if known else 0)
            self._add_topic(Topic(channel.topic, msgtype, count), channel.message_encoding == "cdr", part)

    def _add_topic(self, topic: Topic, ros2: bool, part: Path | None = None) -> None:
        known = self.topics.get(topic.name)
        if known is not None and (known.msgtype != topic.msgtype or self._ros2[topic.name] != ros2):
            raise BagError(f"{part or self.path}: topic {topic.name!r} carries {topic.msgtype or 'unknown messages'} "
                           f"here and {known.msgtype or 'unknown messages'} in another part of the bag")
        self.topics[topic.name] = topic
        self._ros2[topic.name] = ros2

    def image_topics(self) -> dict[str, Topic]:
        return {name: topic for name, topic in self.topics.items() if topic.msgtype in IMAGE_TYPES}

    def topic(self, name: str, label: str) -> Topic:
        if name not in self.topics:
            found = ", ".join(sorted(self.image_topics())) or "none"
            raise BagError(f"{self.path}: no {label} topic {name!r} (image topics: {found})")
        topic = self.topics[name]
        if topic.msgtype not in IMAGE_TYPES:
            raise BagError(f"{self.path}: topic {name!r} carries {topic.msgtype or 'unknown messages'}, "
                           f"not sensor_msgs/Image or CompressedImage")
        return topic

    def messages(self, topic: str, start_ns: int | None = None, stop_ns: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(log time in ns, serialized message) of one topic, in log-time order, log time in [start, stop)."""
        for _, log_ns, raw in self.messages_of([topic], start_ns, stop_ns):
            yield log_ns, raw

    def messages_of(self, topics: Sequence[str], start_ns: int | None = None,
                    stop_ns: int | None = None) -> Iterator[tuple[str, int, bytes]]:
        """(topic, log time in ns, serialized message) of several topics in one pass, in log-time order."""
        try:
            if self._mcaps:
                parts = [((channel.topic, message.log_time, message.data) for _, channel, message in reader.iter_messages(
                    topics=list(topics), starting_at=start_ns, ending_before=stop_ns, log_time_order=True))
                    for reader in self._mcaps]
                yield from parts[0] if len(parts) == 1 else heapq.merge(*parts, key=lambda message: message[1])
            else:
                connections = [c for c in self._any.connections if c.topic in topics]
                for connection, log_ns, raw in self._any.messages(connections=connections, start=start_ns, stop=stop_ns):
                    yield connection.topic, log_ns, raw
        except BagError:
            raise
        except Exception as error:  # noqa: BLE001
            raise BagError(f"{self.path}: reading {' and '.join(map(repr, topics))} failed ({_reason(error)})") from None

    def stamp_seconds(self, topic: str, raw: bytes) -> float:
        """header.stamp of a serialized Image or CompressedImage, without deserializing it."""
        try:
            if self._ros2[topic]:
                order = "<" if raw[1] == 1 else ">"  # CDR encapsulation: 0x0001 little, 0x0000 big endian
                seconds, nanoseconds = struct.unpack_from(order + "iI", raw, 4)
            else:
                seconds, nanoseconds = struct.unpack_from("<4xiI", raw, 0)  # after the uint32 seq
        except (struct.error, IndexError):
            raise BagError(f"{self.path}: a message on {topic!r} is too short to hold a header") from None
        return seconds + nanoseconds * 1e-9

    def decode(self, topic: str, raw: bytes):
        msgtype = self.topics[topic].msgtype
        try:
            if self._any is not None:
                return self._any.deserialize(raw, msgtype)
            if self._ros2[topic]:
                return _typestore("ros2").deserialize_cdr(raw, msgtype)
            return _typestore("ros1").deserialize_ros1(raw, msgtype)
        except Exception as error:  # noqa: BLE001
            raise BagError(f"{self.path}: a message on {topic!r} cannot be decoded ({_reason(error)})") from None

    def close(self) -> None:
        if self._any is not None:
            self._any.close()
            self._any = None
        for file in self._files:
            file.close()
        self._files, self._mcaps = [], []

    def __enter__(self) -> "BagReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@lru_cache(maxsize=2)
def _typestore(version: str):
    """rosbags' standard message types (building one costs ~5 ms: once per process)."""
    return get_typestore(Stores.ROS2_HUMBLE if version == "ros2" else Stores.ROS1_NOETIC)


def _ros2_name(name: str) -> str:
    """`sensor_msgs/Image` (ROS 1 schemas) → `sensor_msgs/msg/Image`."""
    parts = name.split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 else name


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


# ---------------------------------------------------------------------------------------------- pixels

# ROS Bayer pattern → OpenCV demosaic code (OpenCV names the pattern by its second row's start).
_BAYER = {"rggb": cv2.COLOR_BayerBG2RGB, "bggr": cv2.COLOR_BayerRG2RGB,
          "gbrg": cv2.COLOR_BayerGR2RGB, "grbg": cv2.COLOR_BayerGB2RGB}
_CHANNELS = {"mono8": 1, "8uc1": 1, "mono16": 1, "16uc1": 1, "rgb8": 3, "bgr8": 3, "8uc3": 3, "rgba8": 4,
             "bgra8": 4, "8uc4": 4, "rgb16": 3, "bgr16": 3, "rgba16": 4, "bgra16": 4}


def image_pixels(message, msgtype: str, where: str, max_pixels: int) -> tuple[np.ndarray, str]:
    """(pixels, order) of an Image or CompressedImage: (H,W) gray or (H,W,C) in `order` ('rgb'/'bgr')."""
    if msgtype == COMPRESSED:
        return _compressed_pixels(message, where, max_pixels)
    encoding = str(message.encoding).lower()
    height, width, step, data = _raw_layout(message, where, max_pixels)
    if encoding in _YUV:
        return _yuv_pixels(data, encoding, height, width, step, where), "rgb"
    rows = data[:step * height].reshape(height, step)
    if encoding.startswith("bayer_"):
        pattern, depth = encoding[6:10], encoding[10:]
        if pattern not in _BAYER or depth not in ("8", "16"):
            raise BagError(f"{where}: unknown encoding {message.encoding!r}")
        mosaic = _plane(rows, width, 1, depth == "16", message.is_bigendian)
        return cv2.cvtColor(mosaic, _BAYER[pattern]), "rgb"
    if encoding not in _CHANNELS:
        raise BagError(f"{where}: unknown encoding {message.encoding!r} "
                       f"(mono8/16, rgb8, bgr8, rgba8, bgra8, bayer_*, yuv422, yuv422_yuy2, nv21)")
    channels = _CHANNELS[encoding]
    wide = "16" in encoding
    pixels = _plane(rows, width, channels, wide, message.is_bigendian)
    if channels == 4:
        pixels = pixels[..., :3]
    return pixels, "rgb" if encoding.startswith("rgb") else "bgr"


def _raw_layout(message, where: str, max_pixels: int) -> tuple[int, int, int, np.ndarray]:
    """(height, width, row step, bytes) of a sensor_msgs/Image, checked against its declared size."""
    height, width, step = int(message.height), int(message.width), int(message.step)
    if height <= 0 or width <= 0 or height * width > max_pixels:
        raise BagError(f"{where}: image of {width}x{height} pixels (at most {max_pixels} taken)")
    data = np.asarray(message.data, dtype=np.uint8)
    if step <= 0 or len(data) < step * height:
        raise BagError(f"{where}: image data holds {len(data)} bytes, {step}x{height} expected")
    return height, width, step, data


def image_preview(message, msgtype: str, where: str, max_pixels: int, width: int) -> tuple[np.ndarray, str] | None:
    """(pixels, order) of a small copy, about `width` or more pixels across, made without converting
    the whole image: every k-th pixel of a raw image (Bayer: of its mosaic), or a JPEG decoded at
    1/2 to 1/8 of its size in gray. None where no shortcut exists (PNG, YUV): use the full pixels.

    The clock-offset motion signal needs every frame of a stream, sampled builds only some of their
    pixels, so this is what a frame that sampling skips costs. The same checks as `image_pixels`."""
    if msgtype == COMPRESSED:
        data = np.asarray(message.data, dtype=np.uint8)
        size = image_header_size(bytes(data[:HEADER_BYTES]))
        if size is None or data[:2].tobytes() != b"\xff\xd8":
            return None  # PNG has no reduced decode: the full decode is the preview's too
        if size[0] * size[1] > max_pixels:
            raise BagError(f"{where}: image of {size[0]}x{size[1]} pixels (at most {max_pixels} taken)")
        pixels = cv2.imdecode(data, reduced_gray(size[0], width))
        if pixels is None:
            raise BagError(f"{where}: compressed image ({str(message.format)[:40]!r}) does not decode")
        return pixels, "rgb"
    encoding = str(message.encoding).lower()
    if encoding in _YUV:
        return None
    height, columns, step, data = _raw_layout(message, where, max_pixels)
    bayer = encoding.startswith("bayer_")
    if bayer and (encoding[6:10] not in _BAYER or encoding[10:] not in ("8", "16")):
        raise BagError(f"{where}: unknown encoding {message.encoding!r}")
    if not bayer and encoding not in _CHANNELS:
        return None  # image_pixels names the problem
    channels = 1 if bayer else _CHANNELS[encoding]
    size = 2 if "16" in encoding else 1
    if step < columns * channels * size:
        raise BagError(f"{where}: row step {step} is shorter than {columns} pixels of {channels * size} bytes")
    every = max(1, columns // width)
    every += every % 2 if bayer and every > 1 else 0  # one colour of the mosaic: a steadier signal
    rows = data[:step * height].reshape(height, step)[::every, :columns * channels * size]
    pixels = rows.reshape(rows.shape[0], columns, channels * size)[:, ::every]  # views until here
    if size == 2:
        pixels = np.ascontiguousarray(pixels).view(">u2" if message.is_bigendian else "<u2").astype(np.uint16)
    pixels = np.ascontiguousarray(pixels[..., :3] if channels == 4 else pixels)
    pixels = pixels.reshape(pixels.shape[:2]) if pixels.shape[2] == 1 else pixels
    return pixels, "rgb" if bayer or encoding.startswith("rgb") else "bgr"  # as image_pixels says


# What USB (UVC) and embedded camera drivers publish: ROS's yuv422 is UYVY, yuv422_yuy2 is YUYV (both
# 2 bytes a pixel); nv21 is a full-size Y plane followed by a half-size interleaved V/U plane.
_YUV = {"yuv422": cv2.COLOR_YUV2RGB_UYVY, "uyvy": cv2.COLOR_YUV2RGB_UYVY,
        "yuv422_yuy2": cv2.COLOR_YUV2RGB_YUY2, "yuyv": cv2.COLOR_YUV2RGB_YUY2, "nv21": cv2.COLOR_YUV2RGB_NV21}


def _yuv_pixels(data: np.ndarray, encoding: str, height: int, width: int, step: int, where: str) -> np.ndarray:
    if encoding == "nv21":
        if height % 2 or width % 2 or step < width or len(data) < step * height * 3 // 2:
            raise BagError(f"{where}: nv21 image of {width}x{height} needs even sides and "
                           f"{step}x{height * 3 // 2} bytes, it holds {len(data)}")
        planes = data[:step * height * 3 // 2].reshape(height * 3 // 2, step)[:, :width]
    else:
        if width % 2 or step < 2 * width:
            raise BagError(f"{where}: {encoding} image of {width}x{height} needs an even width and a row "
                           f"step of at least {2 * width} bytes, it has {step}")
        planes = data[:step * height].reshape(height, step)[:, :2 * width].reshape(height, width, 2)
    return cv2.cvtColor(np.ascontiguousarray(planes), _YUV[encoding])


def _plane(rows: np.ndarray, width: int, channels: int, wide: bool, big_endian) -> np.ndarray:
    size = 2 if wide else 1
    if rows.shape[1] < width * channels * size:
        raise BagError(f"row step {rows.shape[1]} is shorter than {width} pixels of {channels * size} bytes")
    pixels = np.ascontiguousarray(rows[:, :width * channels * size])
    if wide:
        pixels = pixels.view(">u2" if big_endian else "<u2").astype(np.uint16)
    pixels = pixels.reshape(rows.shape[0], width, channels) if channels > 1 else pixels.reshape(rows.shape[0], width)
    return pixels


def _compressed_pixels(message, where: str, max_pixels: int) -> tuple[np.ndarray, str]:
    data = np.asarray(message.data, dtype=np.uint8)
    size = image_header_size(bytes(data[:HEADER_BYTES]))
    if size is not None and size[0] * size[1] > max_pixels:
        raise BagError(f"{where}: image of {size[0]}x{size[1]} pixels (at most {max_pixels} taken)")
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if len(data) else None
    if pixels is None:
        raise BagError(f"{where}: compressed image ({str(message.format)[:40]!r}) does not decode")
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[..., :3]
    return pixels, "bgr"
