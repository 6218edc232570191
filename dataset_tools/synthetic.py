"""Procedural multi-CCD drive recordings (NIR + RGB) for tests, the demo and benchmarks (paper §4 data).

Each frame renders a road scene (sky, road with lane marks, vegetation that is bright in NIR, vehicles,
camera sway and stops) in both bands, and burns the true frame number into a corner of BOTH streams
so a test can tell which NIR frame was paired with which RGB frame. Defects on request: frames
dropped from one stream (the others keep their true instants), fixed or drifting misregistration of
the RGB camera, a truncated file.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.registration import luminance
from nircolor.dataset_tools.video import VideoWriter, iter_frames, probe

# Frame code: two rows of 9 cells; row 0 = white reference, black reference, bits 0..6; row 1 = bits 7..15.
CODE_CELL = 6
CODE_MARGIN = 2
CODE_BITS = 16
_CODE_COLUMNS = 9
CODE_HEIGHT = 2 * CODE_CELL + 2 * CODE_MARGIN
CODE_WIDTH = _CODE_COLUMNS * CODE_CELL + 2 * CODE_MARGIN


@dataclass(frozen=True)
class SynthOptions:
    count: int = 4
    frames: int = 20
    width: int = 160
    height: int = 120
    fps: float = 25.0
    days: int = 2
    locations: int = 2
    nir_bits: int = 8
    drop_frames: int = 0  # frames removed from `drop_stream` of every recording
    drop_stream: str = "rgb"  # "nir" | "rgb"
    shift: tuple[float, float] = (0.0, 0.0)  # (dy, dx) of RGB content relative to NIR, pixels
    drift: bool = False  # shift ramps from 0 to `shift` over each recording
    truncate: bool = False  # cut the last recording's RGB file in half
    seed: int = 0


@dataclass
class SynthRecording:
    folder: Path
    id: str
    day: str
    location: str
    nir_frames: list[int] = field(default_factory=list)  # true frame numbers present in each stream
    rgb_frames: list[int] = field(default_factory=list)


def _days(count: int) -> list[str]:
    return [f"2017-05-{10 + index:02d}" for index in range(count)]


def _locations(count: int) -> list[str]:
    names = ["estuary", "harbour", "ridge", "valley", "coast", "forest", "delta", "plateau"]
    return [names[index % len(names)] + ("" if index < len(names) else f"-{index // len(names)}") for index in range(count)]


def write_frame_code(image: np.ndarray, number: int, white: float) -> None:
    """Burn `number` (16 bits) into the top-left corner, in place (like a camera's overlay)."""
    cells = [1, 0] + [(number >> bit) & 1 for bit in range(CODE_BITS)]
    image[:CODE_HEIGHT, :CODE_WIDTH] = 0
    for position, value in enumerate(cells):
        row, column = divmod(position, _CODE_COLUMNS)
        top = CODE_MARGIN + row * CODE_CELL
        left = CODE_MARGIN + column * CODE_CELL
        image[top : top + CODE_CELL, left : left + CODE_CELL] = white if value else 0


def read_frame_code(array: np.ndarray) -> int:
    """The frame number burnt in by `write_frame_code`; robust to lossy codecs and ~2 px of shift."""
    image = np.asarray(array, dtype=np.float64)
    if image.ndim == 3:
        image = image.mean(axis=2)
    centre = CODE_CELL // 2

    def cell(position: int) -> float:
        row, column = divmod(position, _CODE_COLUMNS)
        top = CODE_MARGIN + row * CODE_CELL + centre
        left = CODE_MARGIN + column * CODE_CELL + centre
        return float(image[top - 1 : top + 1, left - 1 : left + 1].mean())

    threshold = (cell(0) + cell(1)) / 2
    return sum(1 << bit for bit in range(CODE_BITS) if cell(2 + bit) > threshold)


class _Scene:
    """One drive: a deterministic function from time to (NIR reflectance, RGB) float images in [0, 1]."""

    def __init__(self, width: int, height: int, rng: np.random.Generator, location_index: int, day_index: int):
        self.width, self.height = width, height
        self.rng = rng
        self.y, self.x = np.mgrid[0:height, 0:width].astype(np.float32)
        # Smooth noise texture for vegetation and road wear (tiled, sampled in world coordinates).
        texture = rng.random((32, 32)).astype(np.float32)
        self.texture = cv2.resize(texture, (256, 256), interpolation=cv2.INTER_CUBIC)
        fine = rng.random((256, 256)).astype(np.float32)
        self.texture = np.clip(0.7 * self.texture + 0.3 * fine, 0, 1)
        location_rng = np.random.default_rng(1000 + location_index)
        self.road_width = float(location_rng.uniform(0.8, 1.4))
        self.vegetation_tint = location_rng.uniform(0.8, 1.2, size=3).astype(np.float32)
        self.light = float(np.random.default_rng(2000 + day_index).uniform(0.75, 1.05))
        self.vehicles = [
            dict(lateral=float(rng.choice([-0.5, 0.5])) * self.road_width, start=float(rng.uniform(0, 10)),
                 speed=float(rng.uniform(-4, 4)), colour=rng.uniform(0.05, 0.95, size=3).astype(np.float32),
                 nir=float(rng.uniform(0.2, 0.8)))
            for _ in range(int(rng.integers(1, 4)))
        ]
        self.stops = [(float(rng.uniform(0.2, 0.6)), float(rng.uniform(0.1, 0.3)))]  # (start, length) as fractions

    def distance(self, time: float, duration: float) -> float:
        """Distance travelled: constant speed except during stops."""
        speed = 12.0
        moving = time
        for start, length in self.stops:
            begin, end = start * duration, (start + length) * duration
            moving -= max(0.0, min(time, end) - begin)
        return speed * moving

    def render(self, time: float, duration: float) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.height, self.width
        y, x = self.y, self.x
        sway = 0.04 * w * np.sin(0.7 * time)
        horizon = 0.42 * h + 0.02 * h * np.sin(1.3 * time)
        centre = w / 2 + sway
        travelled = self.distance(time, duration)
        below = np.maximum(y - horizon, 0.5)
        depth = 0.5 * h / below  # world distance of a ground pixel
        lateral = (x - centre) / below * 0.5  # world lateral position (road half-width ~ 1)

        nir = np.empty((h, w), np.float32)
        rgb = np.empty((h, w, 3), np.float32)
        sky = y < horizon
        gradient = (y / max(horizon, 1))[..., None]
        rgb[:] = (np.array([0.45, 0.65, 0.95], np.float32) * (0.8 + 0.2 * gradient))
        nir[:] = 0.35 + 0.1 * gradient[..., 0]

        # Clouds drift across the sky: white in RGB, bright in NIR against the darker NIR sky.
        cloud_u = ((x * 256 / w + 3 * time) * 0.5).astype(np.int64) % 256
        cloud_v = ((y * 256 / h) * 0.5).astype(np.int64) % 256
        cloud = np.clip((self.texture[cloud_v, cloud_u] - 0.55) * 4, 0, 1) * sky
        rgb += (0.95 - rgb) * cloud[..., None]
        nir += (0.8 - nir) * cloud
        ground = ~sky
        u = ((lateral * 40).astype(np.int64)) % 256
        v = (((depth + travelled) * 8).astype(np.int64)) % 256
        texture = self.texture[v, u]
        road = ground & (np.abs(lateral) < self.road_width)
        vegetation = ground & ~road
        nir[vegetation] = (0.6 + 0.35 * texture[vegetation])  # chlorophyll: bright in NIR
        rgb[vegetation] = (np.array([0.18, 0.42, 0.12], np.float32) * self.vegetation_tint) * (
            0.6 + 0.6 * texture[vegetation]
        )[:, None]
        road_value = 0.3 + 0.08 * texture[road]
        nir[road] = road_value * 0.9
        rgb[road] = road_value[:, None] * np.array([1.0, 1.0, 1.02], np.float32)
        # Lane marks: solid edges and a dashed centre line that streams past with the travelled distance.
        edge = road & (np.abs(np.abs(lateral) - (self.road_width - 0.08)) < 0.04)
        dashed = road & (np.abs(lateral) < 0.04) & (np.mod(depth + travelled, 4.0) < 2.0)
        marks = edge | dashed
        nir[marks] = 0.85
        rgb[marks] = 0.92
        for vehicle in self.vehicles:
            ahead = 2.5 + np.mod(vehicle["start"] + vehicle["speed"] * time, 10.0)
            bottom = horizon + 0.5 * h / ahead
            size = 0.5 * h / ahead  # world size ~1
            left = centre + vehicle["lateral"] * 2 * size - 0.7 * size
            top = bottom - 1.1 * size
            body = (y >= top) & (y < bottom) & (x >= left) & (x < left + 1.4 * size)
            nir[body] = vehicle["nir"]
            rgb[body] = vehicle["colour"]
        return np.clip(nir * self.light, 0, 1), np.clip(rgb * self.light, 0, 1)


def _shifted(image: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Move content by (dy, dx) pixels (sub-pixel, bilinear) like a misregistered camera."""
    if abs(dy) < 1e-6 and abs(dx) < 1e-6:
        return image
    matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def recording_from_video(video: str | os.PathLike, folder: str | os.PathLike, recording_id: str, day: str,
                         location: str) -> Path:
    """A recording whose RGB stream is a real RGB video (hard-linked, or copied across file systems)
    and whose NIR stream is its gray version (lossless FFV1, the video's own time base and PTS):
    real codec, frame rate and size for ingest, with pairs registered by construction. Returns the folder.

    Not a symbolic link: recording.json may name only files inside its folder, links resolved."""
    video, folder = Path(video).resolve(), Path(folder)
    info = probe(video)
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / f"rgb{video.suffix}"
    link.unlink(missing_ok=True)
    try:
        os.link(video, link)
    except OSError:  # another file system, or hard links to others' files not allowed
        with atomic.replacing(link) as temporary:
            shutil.copyfile(video, temporary)
    with VideoWriter(folder / "nir.mkv", width=info.width, height=info.height, time_base=info.time_base,
                     rate=info.average_rate, codec="ffv1", kind="gray") as writer:
        for frame in iter_frames(video, kind="rgb"):
            writer.write(luminance(frame.array), frame.pts)
    document = {"id": recording_id, "day": day, "location": location, "nir": "nir.mkv", "rgb": link.name}
    atomic.write_json(folder / "recording.json", document)
    return folder


def synthetic_pairs(count: int, width: int = 640, height: int = 480, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` registered (NIR uint8, RGB uint8) frames of one synthetic drive, with sensor noise."""
    rng = np.random.default_rng(seed)
    scene = _Scene(width, height, rng, location_index=0, day_index=0)
    duration = 2.0 * count
    pairs = []
    for index in range(count):
        nir, rgb = scene.render(2.0 * index, duration)  # 2 s apart: different stretches of road
        nir = nir + rng.normal(0, 0.01, nir.shape).astype(np.float32)
        rgb = rgb + rng.normal(0, 0.01, rgb.shape).astype(np.float32)
        pairs.append((np.clip(np.round(nir * 255), 0, 255).astype(np.uint8),
                      np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)))
    return pairs


def synthesize_recordings(out_dir: str | os.PathLike, options: SynthOptions, progress=None) -> list[SynthRecording]:
    """Write `options.count` recording folders under `out_dir`; returns what each holds."""
    out_dir = Path(out_dir)
    days, locations = _days(options.days), _locations(options.locations)
    recordings = []
    for index in range(options.count):
        day_index, location_index = index % options.days, index % options.locations
        recording = SynthRecording(
            folder=out_dir / f"drive-{index:03d}", id=f"drive-{index:03d}",
            day=days[day_index], location=locations[location_index],
        )
        _write_recording(recording, options, index, day_index, location_index)
        if options.truncate and index == options.count - 1:
            truncate_file(recording.folder / "rgb.mkv", 0.5)
        recordings.append(recording)
        if progress:
            progress(recording)
    return recordings


def _write_recording(recording: SynthRecording, options: SynthOptions, index: int, day_index: int,
                     location_index: int) -> None:
    rng = np.random.default_rng(options.seed * 7919 + index)
    scene = _Scene(options.width, options.height, rng, location_index, day_index)
    duration = options.frames / options.fps
    time_base = Fraction(1, 1000)  # Matroska's own time base: PTS in milliseconds
    dropped = set()
    if options.drop_frames:
        # Never drop the first or last frame: the stream's extent stays the recording's extent.
        candidates = np.arange(1, max(options.frames - 1, 1))
        dropped = set(int(value) for value in rng.choice(candidates, size=min(options.drop_frames, len(candidates)),
                                                           replace=False))
    recording.folder.mkdir(parents=True, exist_ok=True)
    nir_max = (1 << options.nir_bits) - 1
    nir_dtype = np.uint8 if options.nir_bits <= 8 else np.uint16
    noise_rng = np.random.default_rng(options.seed * 31 + index)
    writer_options = dict(width=options.width, height=options.height, time_base=time_base,
                          rate=Fraction(options.fps).limit_denominator(1001), codec="ffv1")
    with VideoWriter(recording.folder / "nir.mkv", kind="gray", bits=options.nir_bits, **writer_options) as nir_writer, \
            VideoWriter(recording.folder / "rgb.mkv", kind="rgb", **writer_options) as rgb_writer:
        for frame in range(options.frames):
            seconds = frame / options.fps
            pts = int(round(seconds / time_base))
            nir, rgb = scene.render(seconds, duration)
            fraction = frame / max(options.frames - 1, 1) if options.drift else 1.0
            rgb = _shifted(rgb, options.shift[0] * fraction, options.shift[1] * fraction)
            # Independent sensor noise per CCD, so standing still still changes pixels a little.
            nir = nir + noise_rng.normal(0, 0.01, nir.shape).astype(np.float32)
            rgb = rgb + noise_rng.normal(0, 0.01, rgb.shape).astype(np.float32)
            nir_values = np.clip(np.round(nir * nir_max), 0, nir_max).astype(nir_dtype)
            rgb_values = np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)
            write_frame_code(nir_values, frame, nir_max)
            write_frame_code(rgb_values, frame, 255)
            if not (frame in dropped and options.drop_stream == "nir"):
                nir_writer.write(nir_values, pts)
                recording.nir_frames.append(frame)
            if not (frame in dropped and options.drop_stream == "rgb"):
                rgb_writer.write(rgb_values, pts)
                recording.rgb_frames.append(frame)
    document = {"id": recording.id, "day": recording.day, "location": recording.location,
                "nir": "nir.mkv", "rgb": "rgb.mkv"}
    atomic.write_json(recording.folder / "recording.json", document)


def truncate_file(path: str | os.PathLike, keep_fraction: float) -> None:
    """Cut a file to a fraction of its bytes, as an interrupted copy or recording would."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(int(size * keep_fraction))
