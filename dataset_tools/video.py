"""Video decode and encode through PyAV (FFmpeg), keeping NIR's native bit depth and exact timestamps.

Decoding yields frames with their presentation time (PTS) in the stream's time base and in
seconds; pairing and colorization work on those, never on frame indices. Encoding takes the PTS
and time base of the source, so an output frame lands at the same instant as its input frame.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.colorspace import (convert_for_encoder, even_size, frame_to_rgb, needs_even_size, pad_to,
                                               tag_codec_context, tags_for)

# Formats whose first plane is the luminance (or the gray value) we treat as NIR.
_GRAY_FORMATS = {"gray": 8, "gray10le": 10, "gray12le": 12, "gray14le": 14, "gray16le": 16}


class VideoError(ValueError):
    """A video that cannot be read or written; the message names the file and the problem."""


@dataclass(frozen=True)
class StreamInfo:
    path: str
    index: int  # index among the file's video streams
    width: int
    height: int
    codec: str
    pix_fmt: str
    bits: int  # bit depth of the first (gray / luma) plane
    time_base: Fraction
    average_rate: Fraction | None
    frames: int  # as the container declares it; 0 when unknown (e.g. Matroska)
    duration_seconds: float | None
    start_seconds: float


@dataclass
class Frame:
    pts: int
    seconds: float
    array: np.ndarray  # NIR: (H,W) uint8 or uint16 at native depth; RGB: (H,W,3) uint8
    keyframe: bool = False


def open_input(path: str | os.PathLike):
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: file not found")
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as error:
        raise VideoError(f"{path}: cannot open video ({_reason(error)})") from None


def _video_stream(container, path, index: int):
    streams = container.streams.video
    if index >= len(streams):
        raise VideoError(f"{path}: has {len(streams)} video stream(s), stream {index} requested")
    return streams[index]


def pixel_bits(pix_fmt: str) -> int:
    if pix_fmt in _GRAY_FORMATS:
        return _GRAY_FORMATS[pix_fmt]
    for bits in (16, 14, 12, 10, 9):
        if f"p{bits}" in pix_fmt or pix_fmt.endswith(f"{bits}le") or pix_fmt.endswith(f"{bits}be"):
            return bits
    return 8


# The largest frame nircolor takes (8K: 8192×4352): a header may claim any size, and one frame goes
# through the network as float32 at several times its size. Checked per input, before decoding.
MAX_FRAME_PIXELS = 8192 * 4352


def check_frame_size(path, width: int, height: int, error: type[Exception]) -> None:
    if width * height > MAX_FRAME_PIXELS:
        raise error(f"{path}: frames of {width}x{height} are larger than nircolor takes "
                    f"({MAX_FRAME_PIXELS / 1e6:.1f} megapixels, 8K)")


def probe(path: str | os.PathLike, stream_index: int = 0) -> StreamInfo:
    """Read a video stream's geometry, codec, bit depth and timing without decoding."""
    with open_input(path) as container:
        stream = _video_stream(container, path, stream_index)
        context = stream.codec_context
        if not context.width or not context.height:
            raise VideoError(f"{path}: video stream {stream_index} has no frame size (corrupt header?)")
        check_frame_size(path, context.width, context.height, VideoError)
        pix_fmt = context.pix_fmt or "unknown"
        duration = float(stream.duration * stream.time_base) if stream.duration else (
            container.duration / 1e6 if container.duration else None
        )
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        return StreamInfo(
            path=str(path), index=stream_index, width=context.width, height=context.height,
            codec=context.name, pix_fmt=pix_fmt, bits=pixel_bits(pix_fmt), time_base=stream.time_base,
            average_rate=stream.average_rate, frames=stream.frames or 0,
            duration_seconds=duration, start_seconds=start,
        )


def count_streams(path: str | os.PathLike) -> int:
    with open_input(path) as container:
        return len(container.streams.video)


def frame_to_gray(frame: av.VideoFrame) -> np.ndarray:
    """The gray / luma plane at native bit depth: uint8 for 8 bits, uint16 (values < 2**bits) above."""
    bits = pixel_bits(frame.format.name)
    plane = frame.planes[0]
    dtype = np.dtype(np.uint8) if bits == 8 else np.dtype("<u2")
    row = plane.line_size // dtype.itemsize
    data = np.frombuffer(plane, dtype=dtype).reshape(-1, row)
    return np.ascontiguousarray(data[: frame.height, : frame.width]).astype(dtype.newbyteorder("="), copy=False)


def iter_frames(
    path: str | os.PathLike,
    stream_index: int = 0,
    *,
    kind: str = "nir",
    start_seconds: float | None = None,
    end_seconds: float | None = None,
    threads: int = 1,
) -> Iterator[Frame]:
    """Decode frames with PTS in [start_seconds, end_seconds) as NIR (gray, native depth) or RGB.

    Seeks to the keyframe at or before `start_seconds` and drops earlier frames, so a time
    segment decodes exactly the frames whose timestamps fall inside it.
    """
    convert = frame_to_gray if kind == "nir" else frame_to_rgb
    with open_input(path) as container:
        stream = _video_stream(container, path, stream_index)
        stream.thread_type = "AUTO" if threads > 1 else "SLICE"
        stream.codec_context.thread_count = threads
        if start_seconds:
            container.seek(int(start_seconds / stream.time_base), stream=stream, backward=True, any_frame=False)
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                seconds = float(frame.pts * frame.time_base)
                if start_seconds is not None and seconds < start_seconds - 1e-9:
                    continue
                if end_seconds is not None and seconds >= end_seconds - 1e-9:
                    break
                yield Frame(pts=frame.pts, seconds=seconds, array=convert(frame), keyframe=frame.key_frame)
        except av.FFmpegError as error:
            raise VideoError(f"{path}: decoding failed ({_reason(error)})") from None


def stream_times(path: str | os.PathLike, stream_index: int = 0) -> tuple[list[float], list[float]]:
    """(all frame times, keyframe times) in seconds, ascending, read from packets without decoding."""
    times: list[float] = []
    keyframes: list[float] = []
    with open_input(path) as container:
        stream = _video_stream(container, path, stream_index)
        try:
            for packet in container.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue  # the flush packet at the end carries no frame
                seconds = float(packet.pts * packet.time_base)
                times.append(seconds)
                if packet.is_keyframe:
                    keyframes.append(seconds)
        except av.FFmpegError as error:
            raise VideoError(f"{path}: reading packets failed ({_reason(error)})") from None
    return sorted(times), sorted(keyframes)


def keyframe_times(path: str | os.PathLike, stream_index: int = 0) -> list[float]:
    """Presentation times of keyframes, read from packets (no decoding)."""
    times = []
    with open_input(path) as container:
        stream = _video_stream(container, path, stream_index)
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.pts is not None:
                times.append(float(packet.pts * packet.time_base))
    return sorted(times)


CODECS = {
    # name: (FFmpeg encoder, default pixel format for RGB output)
    "h264": ("libx264", "yuv420p"),
    "hevc": ("libx265", "yuv420p"),
    "ffv1": ("ffv1", "bgr0"),
}
# What nircolor's videos are; outputs of an older format are redone by a re-run (pipeline/colorize_plan.py).
# 2: colour-tagged (dataset_tools/colorspace.py), 4:2:0 at every size, FFV1 in Matroska, sound passed through.
FORMAT_VERSION = 2
# FFV1 has no registered MP4 sample entry (players refuse it there): it goes into Matroska.
CODEC_SUFFIXES = {"ffv1": (".mkv",)}


def suffix_for(codec: str) -> str:
    """The file extension nircolor gives a video of `codec`: .mkv for FFV1, else .mp4 (exact time base)."""
    return CODEC_SUFFIXES.get(codec, (".mp4",))[0]


def output_format(codec: str, width: int, height: int) -> dict:
    """What an RGB VideoWriter of `codec` stores for `width`×`height` frames: pixel format, size, colour tags."""
    pix_fmt = CODECS[codec][1]
    encoded = even_size(width, height) if needs_even_size(pix_fmt) else (width, height)
    return {"pix_fmt": pix_fmt, "encoded_width": encoded[0], "encoded_height": encoded[1],
            "color": tags_for(pix_fmt, width, height).describe()}


def check_suffix(path: str | os.PathLike, codec: str) -> None:
    suffixes = CODEC_SUFFIXES.get(codec)
    if suffixes and Path(path).suffix.lower() not in suffixes:
        raise VideoError(f"{path}: a {codec} video cannot be written as {Path(path).suffix or 'a file without extension'}; "
                         f"use {' or '.join(suffixes)}")


class VideoWriter:
    """Encodes frames at given PTS into `path`, written under a temporary name and renamed on close.

    `kind="rgb"` takes (H,W,3) uint8; `kind="gray"` takes (H,W) uint8 or uint16 (gray16le, FFV1).
    Every stream is colour-tagged as it is converted (dataset_tools/colorspace.py). A 4:2:0 stream
    of odd width or height is encoded one column/row larger, the last one repeated (H.264 and HEVC
    cannot store odd 4:2:0 sides); pixel (x, y) stays pixel (x, y).
    Use as a context manager: an exception discards the partial file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        width: int,
        height: int,
        time_base: Fraction,
        rate: Fraction | float | None = None,
        codec: str = "h264",
        kind: str = "rgb",
        bits: int = 8,
        crf: int | None = None,
        preset: str | None = None,
        pix_fmt: str | None = None,
        threads: int = 0,
    ):
        if codec not in CODECS and codec not in ("libx264", "libx265", "ffv1"):
            raise VideoError(f"{path}: unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
        encoder, default_pix_fmt = CODECS.get(codec, (codec, "yuv420p"))
        self.kind = kind
        if kind == "gray":
            default_pix_fmt = "gray16le" if bits > 8 else ("gray" if encoder == "ffv1" else "yuv420p")
            if bits > 8 and encoder != "ffv1":
                raise VideoError(f"{path}: {bits}-bit gray video needs the ffv1 codec")
        self.input_format = {"rgb": "rgb24", "gray": "gray16le" if bits > 8 else "gray"}[kind]
        if codec in CODECS:
            check_suffix(path, codec)
        self.path = Path(path)
        self.tmp_path = atomic.temporary_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        options = {}
        if crf is not None and encoder in ("libx264", "libx265"):
            options["crf"] = str(crf)
        if preset and encoder in ("libx264", "libx265"):
            options["preset"] = preset
        if encoder == "libx265":
            options["x265-params"] = "log-level=error"
        self.container = av.open(str(self.tmp_path), "w", format=_muxer_for(self.path),
                                 options=container_options(self.path, time_base))
        self.stream = self.container.add_stream(encoder, rate=rate or 25, options=options)
        self.pix_fmt = pix_fmt or default_pix_fmt
        self.width, self.height = width, height
        self.encoded_width, self.encoded_height = even_size(width, height) if needs_even_size(self.pix_fmt) else (width, height)
        self.stream.width, self.stream.height = self.encoded_width, self.encoded_height
        self.stream.pix_fmt = self.pix_fmt
        self.tags = tags_for(self.pix_fmt, width, height)
        tag_codec_context(self.stream.codec_context, self.tags)
        self.stream.time_base = time_base
        self.stream.codec_context.time_base = time_base
        self.stream.codec_context.thread_count = threads
        self.time_base = time_base
        self.frames = 0

    def write(self, array: np.ndarray, pts: int) -> None:
        if array.shape[:2] != (self.height, self.width):
            raise VideoError(f"{self.path}: frame is {array.shape[1]}×{array.shape[0]}, the video {self.width}×{self.height}")
        array = pad_to(array, self.encoded_width, self.encoded_height)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format=self.input_format)
        frame = convert_for_encoder(frame, self.pix_fmt, self.tags)
        frame.pts, frame.time_base = int(pts), self.time_base
        self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def close(self) -> Path:
        self.container.mux(self.stream.encode(None))
        self.container.close()
        return atomic.commit(self.tmp_path, self.path)

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass
        atomic.discard(self.tmp_path)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def container_options(path: Path, time_base: Fraction) -> dict:
    """MP4/MOV store a stream's start offset (edit list) in the movie timescale, 1/1000 s by default;
    a multiple of the stream's time base keeps a first PTS that is not zero exact."""
    if Path(path).suffix.lower() not in (".mp4", ".mov", ".m4v"):
        return {}
    denominator = Fraction(time_base).denominator
    return {"movie_timescale": str(denominator * max(1, -(-1000 // denominator)))}


def _muxer_for(path: Path) -> str | None:
    return {".mkv": "matroska", ".mp4": "mp4", ".mov": "mov", ".avi": "avi", ".nut": "nut"}.get(path.suffix.lower())


def _reason(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return text.strip().rstrip(".") or type(error).__name__
