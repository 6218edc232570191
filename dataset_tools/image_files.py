"""Image sequences: one PNG or TIFF file per frame (8 or 16 bit), timed by a text file or a fixed rate.

A sequence is named by a folder ("nir": "nir") or a printf pattern ("nir": "nir/%06d.png"); frames
sort by the number in their name. Timestamps files hold one time per line, in seconds or as
KITTI raw writes them ("2011-09-26 13:02:25.964389445").
"""
from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

# PNG and TIFF (8/16 bit), netpbm (PGM/PPM, 8/16 bit: what many industrial NIR cameras dump),
# JPEG and BMP (8 bit); all read by OpenCV at their stored depth.
IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".pgm", ".ppm", ".pnm", ".jpg", ".jpeg", ".bmp"}
HEADER_BYTES = 1 << 16  # enough to reach a JPEG's frame header past its EXIF block
_PATTERN = re.compile(r"%(0?\d*)d")


class SequenceError(ValueError):
    """An image sequence that cannot be read; the message names the file and the problem."""


def png_header_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first 24 bytes of a PNG (its IHDR chunk); None for other data."""
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def image_header_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) that a PNG, JPEG, netpbm or BMP file's header declares, from its first bytes;
    None when the bytes are none of these or too short to tell. Read before decoding, so a header
    claiming a huge frame is refused without the decoder allocating it."""
    size = png_header_size(head)
    if size is None and head[:2] == b"\xff\xd8":
        size = _jpeg_size(head)
    elif size is None and head[:1] == b"P" and head[1:2] in (b"2", b"3", b"5", b"6"):
        fields = re.sub(rb"#[^\n]*", b" ", head[2:512]).split()  # comments may sit between the numbers
        if len(fields) >= 2 and fields[0].isdigit() and fields[1].isdigit():
            size = int(fields[0]), int(fields[1])
    elif size is None and head[:2] == b"BM" and len(head) >= 26:
        size = int.from_bytes(head[18:22], "little", signed=True), int.from_bytes(head[22:26], "little", signed=True)
        size = abs(size[0]), abs(size[1])  # a negative height means rows stored top-down
    return size


def file_header_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """`image_header_size` of a file's first bytes; OSError when it cannot be read."""
    with open(path, "rb") as file:
        return image_header_size(file.read(HEADER_BYTES))


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    position = 2
    while position + 9 <= len(head):
        if head[position] != 0xFF:
            return None
        marker = head[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        length = int.from_bytes(head[position + 2:position + 4], "big")
        # Start-of-frame markers (C0–CF but DHT C4, JPG C8, DAC CC) hold height, then width.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(head[position + 7:position + 9], "big"), int.from_bytes(head[position + 5:position + 7], "big")
        position += 2 + length
    return None


def is_sequence(path: Path) -> bool:
    """Does a recording.json file name denote an image sequence (a folder or a printf pattern)?"""
    return bool(_PATTERN.search(path.name)) or path.is_dir()


def list_frames(spec: Path) -> list[Path]:
    """The frame files of a sequence in frame order (by the number in their names)."""
    if spec.is_dir():
        files = [path for path in spec.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()]
        if not files:
            raise SequenceError(f"{spec}: folder holds no frame files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return sorted(files, key=_frame_number)
    match = _PATTERN.search(spec.name)
    if match is None or not spec.parent.is_dir():
        raise SequenceError(f"{spec}: not a folder of frames or a pattern like nir/%06d.png")
    width = match.group(1)
    digits = rf"\d{{{int(width)}}}" if width.startswith("0") and len(width) > 1 else r"\d+"
    regex = re.compile(re.escape(spec.name[:match.start()]) + f"({digits})" + re.escape(spec.name[match.end():]) + "$")
    numbered = [(int(found.group(1)), path) for path in spec.parent.iterdir()
                if (found := regex.match(path.name)) and path.is_file()]
    if not numbered:
        raise SequenceError(f"{spec}: no file matches the pattern")
    return [path for _, path in sorted(numbered)]


def _frame_number(path: Path) -> tuple:
    numbers = re.findall(r"\d+", path.stem)
    return (int(numbers[-1]) if numbers else -1, path.name)


def read_timestamps(path: Path, count: int) -> list[float]:
    """One time per frame, in seconds; the file must hold `count` strictly increasing times."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise SequenceError(f"{path}: cannot read timestamps ({type(error).__name__})") from None
    times = []
    for number, line in enumerate(lines, 1):
        if not line or line.startswith("#"):  # blank lines and comment/header lines (EuRoC's "#timestamp [ns],...")
            continue
        seconds = _seconds(line)
        if seconds is None:
            raise SequenceError(f"{path}: line {number} is not a time ({line[:40]!r})")
        if times and seconds <= times[-1]:
            raise SequenceError(f"{path}: times do not increase at line {number} ({seconds:.6f} after {times[-1]:.6f})")
        times.append(seconds)
    if len(times) != count:
        raise SequenceError(f"{path}: {len(times)} times for {count} frames")
    return times


# Integer clocks by magnitude: seconds since 1970 stay below 1e11 until the year 5138, so larger
# numbers are epoch milliseconds, microseconds or nanoseconds (what ROS-based exporters write).
_EPOCH_UNITS = ((1e17, 1e-9), (1e14, 1e-6), (1e11, 1e-3))


def _seconds(text: str) -> float | None:
    """A line's time in seconds: a number (seconds, or epoch ms/µs/ns), optionally followed by a comma
    or whitespace and more fields (`1403636579763555584,frame.png`), or a KITTI raw date-time."""
    first = re.split(r"[,\s]", text, maxsplit=1)[0]
    try:
        value = float(first)
    except ValueError:
        return _kitti_seconds(text)
    if not np.isfinite(value):
        return None
    for threshold, unit in _EPOCH_UNITS:
        if abs(value) >= threshold:
            return int(first) * unit if first.lstrip("-").isdigit() else value * unit
    return value


def times_from_names(files: list[Path]) -> list[float] | None:
    """Frame times from names that are epoch stamps (`1403636579763555584.png`: ms, µs or ns, as
    ROS bag exporters and EuRoC-style datasets name frames); None unless every name is one and they
    increase."""
    times = []
    for path in files:
        if not path.stem.isdigit() or int(path.stem) < _EPOCH_UNITS[-1][0]:
            return None
        times.append(_seconds(path.stem))
        if len(times) > 1 and times[-1] <= times[-2]:
            return None
    return times or None


def named_by_stamps(folder: Path) -> bool:
    """Is `folder` (or a printf pattern) a sequence whose frame names time it (times_from_names)?"""
    try:
        return times_from_names(list_frames(folder)) is not None
    except (SequenceError, OSError):
        return False


def _kitti_seconds(text: str) -> float | None:
    whole, _, fraction = text.partition(".")
    try:
        moment = datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    if fraction and not fraction.isdigit():
        return None
    return moment.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def read_image(path: Path, max_pixels: int) -> np.ndarray:
    """A frame file as (H,W) gray or (H,W,3) BGR, uint8 or uint16, at its stored depth."""
    try:
        size = file_header_size(path)
    except OSError as error:
        raise SequenceError(f"{path}: cannot read frame ({error.strerror or error})") from None
    if size is not None and size[0] * size[1] > max_pixels:
        raise SequenceError(f"{path}: frame of {size[0]}x{size[1]} pixels is larger than nircolor takes")
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise SequenceError(f"{path}: not a readable image frame (PNG, TIFF, PGM/PPM, JPEG, BMP)")
    if pixels.shape[0] * pixels.shape[1] > max_pixels:
        raise SequenceError(f"{path}: frame of {pixels.shape[1]}x{pixels.shape[0]} pixels is larger than nircolor takes")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise SequenceError(f"{path}: {pixels.dtype} pixels (8- or 16-bit frames only)")
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[..., :3]
    elif pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    return pixels


def read_image_preview(path: Path, max_pixels: int, width: int) -> np.ndarray | None:
    """A JPEG frame file decoded at 1/2 to 1/8 of its size in gray, at least `width` pixels across
    (the clock-offset signal of a frame that sampling skips); None for other formats, which have no
    cheaper decode than the full one."""
    try:
        with open(path, "rb") as file:
            head = file.read(HEADER_BYTES)
    except OSError as error:
        raise SequenceError(f"{path}: cannot read frame ({error.strerror or error})") from None
    size = image_header_size(head)
    if size is None or head[:2] != b"\xff\xd8":
        return None
    if size[0] * size[1] > max_pixels:
        raise SequenceError(f"{path}: frame of {size[0]}x{size[1]} pixels is larger than nircolor takes")
    pixels = cv2.imread(str(path), reduced_gray(size[0], width))
    if pixels is None:
        raise SequenceError(f"{path}: not a readable image frame (PNG, TIFF, PGM/PPM, JPEG, BMP)")
    return pixels


def reduced_gray(columns: int, width: int) -> int:
    """The OpenCV read flag that decodes a JPEG `columns` wide in gray at the smallest of 1/8, 1/4,
    1/2 or full size that is still at least `width` across (JPEG scales in its DCT: several times cheaper)."""
    factor = next(factor for factor in (8, 4, 2, 1) if factor == 1 or columns // factor >= width)
    return {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
            8: cv2.IMREAD_REDUCED_GRAYSCALE_8}[factor]
