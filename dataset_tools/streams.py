"""One camera stream of a recording, whatever holds it: a video file, a bag topic or an image sequence.

Planning asks a stream for its size and depth (`probe_source`) and its frame times
(`read_timeline`); workers decode the frames of one time segment (`iter_source_frames`). Times
are seconds on the recording's common clock: the stream's own time plus `offset_seconds`
(recording.json "rgb_offset_seconds", or the estimated clock offset). Frames come out as video.py
delivers them: NIR (H,W) uint8|uint16 at native depth, RGB (H,W,3) uint8.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from nircolor.dataset_tools import video
from nircolor.dataset_tools.bags import BagError, BagReader, image_pixels, image_preview
from nircolor.dataset_tools.pairing import mean_rate
from nircolor.dataset_tools.image_files import (SequenceError, list_frames, read_image, read_image_preview,
                                                read_timestamps, times_from_names)
from nircolor.dataset_tools.video import Frame, StreamInfo, VideoError

KINDS = ("video", "bag", "images")
# Bags and image sequences keep their times in seconds; as video timestamps they count in the MPEG
# clock (90 kHz), which every encoder and muxer takes.
TIME_BASE = Fraction(1, 90000)
# A LazyFrame's preview is at least this many pixels across (the motion signal measures ~64).
PREVIEW_WIDTH = 64


@dataclass(frozen=True)
class StreamSource:
    kind: str  # "video" | "bag" | "images"
    path: str  # the video file, the bag (file or ROS 2 folder), or the frame folder / printf pattern
    index: int = 0  # video: index among the file's video streams
    topic: str | None = None  # bag
    timestamps: str | None = None  # images: a text file with one time per frame
    fps: float | None = None  # images without a timestamps file
    log_time: bool = False  # bag: time frames by the recorder's log time instead of header.stamp
    offset_seconds: float = 0.0  # added to every time of this stream
    bits: int | None = None  # significant bits of 16-bit NIR containers (recording.json "nir_bits")
    slack_seconds: float | None = None  # bag: max |log time - stamp|, found by read_timeline; None: unknown
    parts: tuple[str, ...] = ()  # bag: the files after `path` of a bag recorded in parts, read as one

    def label(self) -> str:
        path = f"{self.path} (+{len(self.parts)} parts)" if self.parts else self.path
        return f"{path} {self.topic}" if self.topic else path

    def bag_files(self) -> list[str]:
        return [self.path, *self.parts]


@dataclass(frozen=True)
class Timeline:
    source: StreamSource  # with what reading the times learned (a bag's slack)
    times: list[float]  # every frame, ascending, on the common clock
    keyframes: list[float]  # where a segment may start decoding


def shifted(source: StreamSource, seconds: float) -> StreamSource:
    return dataclasses.replace(source, offset_seconds=source.offset_seconds + seconds)


def probe_source(source: StreamSource) -> StreamInfo:
    """Size, depth and rate of a stream (video.StreamInfo; `bits` honours the declared depth)."""
    if source.kind == "video":
        info = video.probe(source.path, source.index)
    elif source.kind == "bag":
        info = _probe_bag(source)
    else:
        info = _probe_images(source)
    if source.bits is not None:
        if source.bits > info.bits:
            raise VideoError(f"{source.label()}: nir_bits {source.bits} is more than the {info.bits} bits it stores")
        info = dataclasses.replace(info, bits=source.bits)
    return info


def read_timeline(source: StreamSource) -> Timeline:
    if source.kind == "video":
        times, keyframes = video.stream_times(source.path, source.index)
    elif source.kind == "bag":
        [(source, times)] = _bag_times([source])
        keyframes = times
    else:
        times = _image_times(source, list_frames(Path(source.path)))
        keyframes = times
    return _on_common_clock(source, times, keyframes)


def read_timelines(nir: StreamSource, rgb: StreamSource) -> tuple[Timeline, Timeline]:
    """read_timeline of both streams; two topics of one bag are read in one pass (an MCAP chunk holds
    both, and decompressing it once halves planning)."""
    if nir.kind == rgb.kind == "bag" and nir.bag_files() == rgb.bag_files() and nir.topic != rgb.topic:
        (nir, nir_times), (rgb, rgb_times) = _bag_times([nir, rgb])
        return _on_common_clock(nir, nir_times, nir_times), _on_common_clock(rgb, rgb_times, rgb_times)
    return read_timeline(nir), read_timeline(rgb)


def _on_common_clock(source: StreamSource, times: list[float], keyframes: list[float]) -> Timeline:
    offset = source.offset_seconds
    return Timeline(source, [time + offset for time in times], [time + offset for time in keyframes])


def iter_source_frames(source: StreamSource, kind: str, start_seconds: float | None = None,
                       end_seconds: float | None = None, lazy: bool = False) -> Iterator[Frame]:
    """Frames with times in [start_seconds, end_seconds) on the common clock, as NIR or RGB.

    `lazy`: bag and image-sequence frames come as LazyFrames, their pixels converted on first use
    (ingest: a pair that sampling skips by interval never needs them); video frames are decoded anyway."""
    offset = source.offset_seconds
    start = None if start_seconds is None else start_seconds - offset
    end = None if end_seconds is None else end_seconds - offset
    if source.kind == "video":
        frames = video.iter_frames(source.path, source.index, kind=kind, start_seconds=start, end_seconds=end)
    elif source.kind == "bag":
        frames = _bag_frames(source, kind, start, end)
    else:
        frames = _image_frames(source, kind, start, end)
    ceiling = (1 << source.bits) - 1 if source.bits and kind == "nir" else None
    for frame in frames:
        if ceiling is not None and isinstance(frame, LazyFrame):
            frame.limit(ceiling)
        elif ceiling is not None:
            _limit(frame.array, ceiling)
        frame.seconds += offset
        if source.kind != "video":
            frame.pts = round(frame.seconds / TIME_BASE)
        if isinstance(frame, LazyFrame) and not lazy:
            frame.array  # noqa: B018 - convert now, as the caller expects (and raises here if it cannot)
        yield frame


def _limit(array: np.ndarray, ceiling: int) -> np.ndarray:
    if array.dtype == np.uint16:
        np.minimum(array, ceiling, out=array)  # above the declared depth: not a real value
    return array


class LazyFrame(Frame):
    """A Frame whose pixels are made on first use of `.array`, from the message or file it came from.

    `preview()` is a small copy for the clock-offset motion signal (every frame of a stream needs
    one), made without the full conversion where the source allows it (bags.image_preview)."""

    def __init__(self, seconds: float, make_array: Callable[[], np.ndarray],
                 make_preview: Callable[[], np.ndarray | None] = lambda: None):
        self.pts, self.seconds, self.keyframe = 0, seconds, True
        self._array: np.ndarray | None = None
        self._make_array, self._make_preview = make_array, make_preview
        self._ceiling: int | None = None

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            array = self._make_array()
            self._array = array if self._ceiling is None else _limit(array, self._ceiling)
            self._make_array = self._make_preview = None  # drop the message bytes
        return self._array

    @array.setter
    def array(self, value: np.ndarray) -> None:
        self._array = value

    def limit(self, ceiling: int) -> None:
        self._ceiling = ceiling

    def preview(self) -> np.ndarray:
        if self._array is None:
            small = self._make_preview()
            if small is not None:
                return small
        return self.array


def source_identity(source: StreamSource) -> str:
    """A digest of the stream's files (names, sizes, times) and settings: changes when either does."""
    if source.kind == "images":
        files = list_frames(Path(source.path)) + ([Path(source.timestamps)] if source.timestamps else [])
    else:
        files = []
        for path in map(Path, source.bag_files() if source.kind == "bag" else [source.path]):
            files += sorted(path.iterdir()) if path.is_dir() else [path] if path.exists() else []
    digest = hashlib.sha256(repr(dataclasses.replace(source, slack_seconds=None)).encode())
    for file in files:
        status = os.stat(file)
        digest.update(f"{file.resolve()}|{status.st_size}|{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- pixels


def to_kind(pixels: np.ndarray, order: str, kind: str, where: str) -> np.ndarray:
    """Gray or colour pixels as this stream's kind: NIR gray (color → luma), RGB 8-bit colour."""
    if kind == "nir":
        if pixels.ndim == 2:
            return np.ascontiguousarray(pixels)
        return cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY if order == "rgb" else cv2.COLOR_BGR2GRAY)
    if pixels.ndim == 2:
        raise VideoError(f"{where}: RGB stream holds gray frames")
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    return np.ascontiguousarray(pixels if order == "rgb" else pixels[..., ::-1])


# ---------------------------------------------------------------------------------------------- bags


def _open_topic(source: StreamSource, *others: StreamSource) -> BagReader:
    """The bag of `source`, open, with its image topic (and those of `others` in the same bag) checked."""
    reader = BagReader(source.bag_files())
    try:
        for stream in (source, *others):
            reader.topic(stream.topic, "image")
    except BagError:
        reader.close()
        raise
    return reader


def _probe_bag(source: StreamSource) -> StreamInfo:
    with _open_topic(source) as reader:
        topic = reader.topics[source.topic]
        first = next(reader.messages(source.topic), None)
        if first is None:
            raise BagError(f"{source.label()}: topic holds no messages")
        message = reader.decode(source.topic, first[1])
        pixels, _ = image_pixels(message, topic.msgtype, source.label(), video.MAX_FRAME_PIXELS)
    height, width = pixels.shape[:2]
    video.check_frame_size(source.label(), width, height, BagError)
    encoding = getattr(message, "encoding", None) or getattr(message, "format", "")
    return StreamInfo(path=source.path, index=0, width=width, height=height, codec=f"ros:{topic.msgtype}",
                      pix_fmt=str(encoding), bits=16 if pixels.dtype == np.uint16 else 8,
                      time_base=TIME_BASE, average_rate=None, frames=topic.count,
                      duration_seconds=None, start_seconds=0.0)


def _bag_times(sources: list[StreamSource]) -> list[tuple[StreamSource, list[float]]]:
    """Frame times of topics of one bag, read in one pass; each source returned with its slack."""
    by_topic = {source.topic: source for source in sources}
    times: dict[str, list[float]] = {topic: [] for topic in by_topic}
    slack = dict.fromkeys(by_topic, 0.0)
    with _open_topic(*sources) as reader:
        for topic, log_ns, raw in reader.messages_of(list(by_topic)):
            source, known = by_topic[topic], times[topic]
            log_seconds = log_ns * 1e-9
            time = log_seconds if source.log_time else reader.stamp_seconds(topic, raw)
            if known and time <= known[-1]:  # a camera's frames are never at one instant twice
                what = "goes back in time" if time < known[-1] else "repeats (a driver that leaves it unset?)"
                clock = "log time" if source.log_time else "header.stamp"
                raise BagError(f"{source.label()}: {clock} {what} at message {len(known)} "
                               f"({time:.6f} s after {known[-1]:.6f} s)" + ("" if source.log_time else
                               "; set \"time\": \"log\" in recording.json to time frames by arrival"))
            known.append(time)
            slack[topic] = max(slack[topic], abs(log_seconds - time))
    for source in sources:
        if not times[source.topic]:
            raise BagError(f"{source.label()}: topic holds no messages")
    return [(dataclasses.replace(source, slack_seconds=slack[source.topic]), times[source.topic]) for source in sources]


def _bag_frames(source: StreamSource, kind: str, start: float | None, end: float | None) -> Iterator[Frame]:
    # Messages are stored in log-time order: read only the log-time window the stamps can lie in.
    margin = (source.slack_seconds if source.slack_seconds is not None else float("inf")) + 1e-3
    start_ns = None if start is None or margin == float("inf") else max(0, int((start - margin) * 1e9))
    stop_ns = None if end is None or margin == float("inf") else int((end + margin) * 1e9) + 1
    with _open_topic(source) as reader:
        msgtype = reader.topics[source.topic].msgtype
        for log_ns, raw in reader.messages(source.topic, start_ns, stop_ns):
            seconds = log_ns * 1e-9 if source.log_time else reader.stamp_seconds(source.topic, raw)
            if start is not None and seconds < start - 1e-9:
                continue
            if end is not None and seconds >= end - 1e-9:
                break  # stamps never go back (read_timeline refuses such bags)
            yield _bag_frame(reader.decode(source.topic, raw), msgtype, kind, seconds,
                             f"{source.label()} at {seconds:.3f} s")


def _bag_frame(message, msgtype: str, kind: str, seconds: float, where: str) -> LazyFrame:
    def pixels() -> np.ndarray:
        return to_kind(*image_pixels(message, msgtype, where, video.MAX_FRAME_PIXELS), kind, where)

    def preview() -> np.ndarray | None:
        small = image_preview(message, msgtype, where, video.MAX_FRAME_PIXELS, PREVIEW_WIDTH)
        return None if small is None else small[0]

    return LazyFrame(seconds, pixels, preview)


# ---------------------------------------------------------------------------------------------- images


def _image_times(source: StreamSource, files: list[Path]) -> list[float]:
    """One time per frame file: from the timestamps file, the frame rate, or the files' names."""
    if source.timestamps:
        return read_timestamps(Path(source.timestamps), len(files))
    if source.fps:
        return [index / source.fps for index in range(len(files))]
    times = times_from_names(files)  # frames named by their epoch stamps
    if times is None:
        raise SequenceError(f"{source.path}: frame names are not epoch stamps; give timestamps or fps")
    return times


def _probe_images(source: StreamSource) -> StreamInfo:
    frames = list_frames(Path(source.path))
    pixels = read_image(frames[0], video.MAX_FRAME_PIXELS)
    times = _image_times(source, frames)
    rate = Fraction(mean_rate(times)).limit_denominator(1001) if mean_rate(times) else None
    return StreamInfo(path=source.path, index=0, width=pixels.shape[1], height=pixels.shape[0],
                      codec=frames[0].suffix.lstrip(".").lower(), pix_fmt=f"{pixels.dtype}x{pixels.ndim}",
                      bits=16 if pixels.dtype == np.uint16 else 8, time_base=TIME_BASE,
                      average_rate=rate, frames=len(frames), duration_seconds=None, start_seconds=times[0])


def _image_frames(source: StreamSource, kind: str, start: float | None, end: float | None) -> Iterator[Frame]:
    files = list_frames(Path(source.path))
    times = _image_times(source, files)
    first = 0 if start is None else bisect_left(times, start - 1e-9)
    for index in range(first, len(files)):
        if end is not None and times[index] >= end - 1e-9:
            break
        yield _image_frame(files[index], kind, times[index])


def _image_frame(path: Path, kind: str, seconds: float) -> LazyFrame:
    return LazyFrame(seconds, lambda: to_kind(read_image(path, video.MAX_FRAME_PIXELS), "bgr", kind, str(path)),
                     lambda: read_image_preview(path, video.MAX_FRAME_PIXELS, PREVIEW_WIDTH))


# Errors a stream may raise; callers that report per recording catch these.
STREAM_ERRORS = (VideoError, BagError, SequenceError)
