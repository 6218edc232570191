"""Two-camera rigs (DESIGN "Data contracts" "homography"): calibrate a recording, store its homography,
or make a rig recording from a registered one (a test bench with a known answer).

`calibrate_recording` pairs frames by timestamp and spreads them over the whole drive, since one
stretch of road may lack structure in some part of the frame; `estimate_homography` does the rest.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.calibration import Calibration, coverage, estimate_homography, parse_homography
from nircolor.dataset_tools.pairing import NearestFrames, pair_timestamps
from nircolor.dataset_tools.recording import RECORDING_FILE, Recording, RecordingError, load_recording
from nircolor.dataset_tools.streams import STREAM_ERRORS, StreamSource, iter_source_frames, probe_source, read_timeline
from nircolor.dataset_tools.video import VideoError, VideoWriter

# recording.json keys that say where and how the streams are stored; a rig's output replaces them all.
_STREAM_KEYS = ("video", "nir_stream", "rgb_stream", "bag", "nir_topic", "rgb_topic", "time", "nir", "rgb",
                "nir_timestamps", "rgb_timestamps", "nir_fps", "rgb_fps", "fps", "rgb_offset_seconds", "homography")
_TIME_BASE = Fraction(1, 1000)  # Matroska's own: times survive to the millisecond


@dataclass(frozen=True)
class RecordingCalibration:
    recording: Recording
    calibration: Calibration
    nir_size: tuple[int, int]  # (width, height)
    rgb_size: tuple[int, int]
    coverage: float  # fraction of NIR pixels the warped RGB frame covers


def calibrate_recording(folder: str | os.PathLike, frames: int = 30, mirrored: bool = False) -> RecordingCalibration:
    """Estimate the RGB→NIR homography from `frames` time-paired frames spread evenly over the recording.

    Raises RecordingError (folder, streams, pairing), CalibrationError (too little agreeing structure)
    or VideoError (a frame that cannot be decoded)."""
    recording = load_recording(folder)
    nir_info, rgb_info = probe_source(recording.nir), probe_source(recording.rgb)
    nir_times, rgb_times = read_timeline(recording.nir).times, read_timeline(recording.rgb).times
    pairing = pair_timestamps(nir_times, rgb_times)
    if not pairing.pairs:
        raise RecordingError(f"{recording.folder}: no NIR frame has an RGB frame at the same instant")
    chosen = np.unique(np.linspace(0, len(pairing.pairs) - 1, max(1, min(frames, len(pairing.pairs)))).round())
    instants = [(nir_times[pairing.pairs[i][0]], rgb_times[pairing.pairs[i][1]]) for i in chosen.astype(int)]
    window = pairing.tolerance_seconds
    pairs = ((_frame_at(recording.nir, "nir", nir_time, window), _frame_at(recording.rgb, "rgb", rgb_time, window))
             for nir_time, rgb_time in instants)
    try:
        calibration = estimate_homography(pairs, nir_info.bits, max_frames=len(instants), mirrored=mirrored)
    except STREAM_ERRORS:
        raise
    except ValueError as error:  # CalibrationError, or frames whose size changes within a stream
        raise type(error)(f"{recording.folder}: {error}") from None
    nir_size, rgb_size = (nir_info.width, nir_info.height), (rgb_info.width, rgb_info.height)
    return RecordingCalibration(recording, calibration, nir_size, rgb_size,
                                coverage(calibration.homography, rgb_size, nir_size))


def _frame_at(source: StreamSource, kind: str, seconds: float, window: float) -> np.ndarray:
    """The stream's frame nearest `seconds` (decoding only the frames within `window` of it)."""
    frame = NearestFrames(iter_source_frames(source, kind, seconds - window, seconds + window + 1e-9)).at(seconds)
    if frame is None:
        raise VideoError(f"{source.label()}: no {kind.upper()} frame decodes at {seconds:.3f} s")
    return frame.array


def store_homography(folder: str | os.PathLike, homography, overwrite: bool = False) -> Path:
    """Write `homography` (3×3, RGB pixel → NIR pixel) into folder/recording.json, whole or not at all.

    An existing homography is replaced only with `overwrite`: it may be a hand-checked one."""
    description = Path(folder) / RECORDING_FILE
    matrix = parse_homography(homography, str(description))
    try:
        document = json.loads(description.read_text())
    except (OSError, ValueError) as error:
        raise RecordingError(f"{description}: cannot be read ({error})") from None
    if not isinstance(document, dict):
        raise RecordingError(f"{description}: expected a JSON object")
    if document.get("homography") is not None and not overwrite:
        raise RecordingError(f"{description}: already has a homography; pass --overwrite to replace it")
    document["homography"] = [[float(value) for value in row] for row in matrix]
    return atomic.write_json(description, document)


def make_two_camera_rig(source_folder: str | os.PathLike, out_folder: str | os.PathLike, homography,
                        rgb_size: tuple[int, int]) -> Path:
    """A two-camera-rig recording from a registered one: NIR as it is, RGB as a camera of `rgb_size`
    (width, height) whose pixel p sees the source's pixel `homography` · p.

    Both streams are written losslessly (FFV1) at the source's times on the common clock (so the
    source's rgb_offset_seconds is built in); recording.json is the source's without "homography".
    RGB pixels beyond the source frame are black, like a real camera's undistorted corners
    (calibration masks them). The folder appears whole or not at all."""
    source_folder, out_folder = Path(source_folder), Path(out_folder)
    matrix = parse_homography(homography, "make_two_camera_rig")
    width, height = (int(side) for side in rgb_size)
    if width < 1 or height < 1:
        raise ValueError(f"make_two_camera_rig: rgb_size must be positive, not {rgb_size}")
    if out_folder.resolve() in (source_folder.resolve(), *source_folder.resolve().parents):
        raise ValueError(f"{out_folder}: would replace the source recording {source_folder}")
    recording = load_recording(source_folder)
    document = json.loads((source_folder / RECORDING_FILE).read_text())
    nir_info = probe_source(recording.nir)
    with atomic.replacing(out_folder, folder=True) as temporary:
        with VideoWriter(temporary / "nir.mkv", width=nir_info.width, height=nir_info.height, time_base=_TIME_BASE,
                         rate=nir_info.average_rate, codec="ffv1", kind="gray", bits=nir_info.bits) as writer:
            for frame in iter_source_frames(recording.nir, "nir"):
                writer.write(frame.array, _pts(frame.seconds))
        with VideoWriter(temporary / "rgb.mkv", width=width, height=height, time_base=_TIME_BASE,
                         rate=probe_source(recording.rgb).average_rate, codec="ffv1", kind="rgb") as writer:
            for frame, array in _rig_frames(recording.rgb, matrix, (width, height)):
                writer.write(array, _pts(frame.seconds))
        rig = {key: value for key, value in document.items() if key not in _STREAM_KEYS}
        atomic.write_json(temporary / RECORDING_FILE, {**rig, "nir": "nir.mkv", "rgb": "rgb.mkv"})
    return out_folder


def _rig_frames(source: StreamSource, matrix: np.ndarray, size: tuple[int, int]) -> Iterator:
    # WARP_INVERSE_MAP: output pixel p takes the source pixel matrix · p, i.e. the warp by its inverse.
    # Where the new camera sees past the source frame it sees black, as a real camera's undistorted corners.
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for frame in iter_source_frames(source, "rgb"):
        yield frame, cv2.warpPerspective(frame.array, matrix, size, flags=flags, borderMode=cv2.BORDER_CONSTANT)


def _pts(seconds: float) -> int:
    return int(round(seconds / _TIME_BASE))
