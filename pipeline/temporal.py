"""Temporal stability of a colorized video: the warping error (flicker measure; beyond the paper,
which colorizes frames independently, §4 — this says how much that flickers in video).

Optical flow is computed on the NIR input (the one signal the colorization must follow), frame
t−1 of the colorized video is warped onto frame t, and the mean absolute difference over pixels
that are visible in both frames (forward-backward flow consistency, Sundaram et al. 2010) is the
error. The same flow and mask applied to the ground-truth RGB give the floor a perfect colorizer
would reach on that footage.
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from nircolor.dataset_tools.calibration import warp_to_nir
from nircolor.dataset_tools.colorspace import unpad
from nircolor.dataset_tools.pairing import NearestFrames
from nircolor.dataset_tools.recording import load_recording
from nircolor.dataset_tools.streams import StreamSource, iter_source_frames, probe_source
from nircolor.dataset_tools.video import Frame, VideoError, iter_frames
from nircolor.models.preprocess import nir_to_gray8

# Forward-backward consistency thresholds of Sundaram et al. (also used by Lai et al. 2018).
CONSISTENCY_ALPHA = 0.01
CONSISTENCY_BETA = 0.5
FLOW_METHODS = ("dis", "farneback")


@dataclass
class WarpingResult:
    """Mean warping errors (values in [0,1], like the L1 error) over `pairs` consecutive frame pairs."""

    pairs: int
    colorized: float
    ground_truth: float | None
    valid_fraction: float  # mean share of pixels kept by the occlusion mask
    per_pair_colorized: list[float] = field(default_factory=list)
    per_pair_ground_truth: list[float] = field(default_factory=list)
    skipped_frames: int = 0  # NIR frames with no colorized (or RGB) frame at the same time

    def to_dict(self) -> dict:
        return {
            "pairs": self.pairs, "colorized": self.colorized, "ground_truth": self.ground_truth,
            "valid_fraction": self.valid_fraction, "skipped_frames": self.skipped_frames,
            "per_pair_colorized": self.per_pair_colorized, "per_pair_ground_truth": self.per_pair_ground_truth,
        }


def optical_flow(first_gray: np.ndarray, second_gray: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense flow (H,W,2) float32 (dx,dy) from `first` to `second`: first(x) ≈ second(x + flow(x))."""
    if method == "dis":
        estimator = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return estimator.calc(first_gray, second_gray, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(first_gray, second_gray, None, 0.5, 4, 15, 3, 5, 1.2, 0)
    raise ValueError(f"unknown flow method {method!r}; choose one of {', '.join(FLOW_METHODS)}")


def _sample(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """image(x + flow(x)) by bilinear interpolation (borders replicated; the mask drops them)."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def backward_flow_and_mask(previous_gray: np.ndarray, current_gray: np.ndarray, method: str = "dis"):
    """Flow from frame t to t−1 and the mask of pixels of t that are visible in t−1.

    A pixel is kept when the forward flow at its position in t−1 leads back to it
    (|f + b|² ≤ α(|f|² + |b|²) + β) and that position lies inside the frame.
    """
    backward = optical_flow(current_gray, previous_gray, method)
    forward = optical_flow(previous_gray, current_gray, method)
    forward_at_target = _sample(forward, backward)
    mismatch = np.sum((forward_at_target + backward) ** 2, axis=-1)
    magnitude = np.sum(forward_at_target**2, axis=-1) + np.sum(backward**2, axis=-1)
    consistent = mismatch <= CONSISTENCY_ALPHA * magnitude + CONSISTENCY_BETA
    height, width = backward.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width), np.arange(height))
    target_x, target_y = grid_x + backward[..., 0], grid_y + backward[..., 1]
    inside = (target_x >= 0) & (target_x <= width - 1) & (target_y >= 0) & (target_y <= height - 1)
    return backward, consistent & inside


def pair_error(previous_rgb: np.ndarray, current_rgb: np.ndarray, backward: np.ndarray, mask: np.ndarray) -> float:
    """Mean |current − warp(previous)| over masked pixels and channels, RGB uint8 or float in [0,1]."""
    previous = _unit(previous_rgb)
    current = _unit(current_rgb)
    warped = _sample(previous, backward)
    if not mask.any():
        return float("nan")
    difference = np.abs(current - warped).mean(axis=-1)
    return float(difference[mask].mean())


def warping_error(
    colorized_frames: Iterable[np.ndarray],
    nir_frames: Iterable[np.ndarray],
    ground_truth_frames: Iterable[np.ndarray] | None = None,
    *,
    nir_bits: int = 8,
    method: str = "dis",
) -> WarpingResult:
    """Warping error of aligned frame sequences: colorized (H,W,3), NIR (H,W), optional RGB (H,W,3)."""
    if ground_truth_frames is None:
        triples = ((nir, colorized, None) for colorized, nir in zip(colorized_frames, nir_frames))
    else:
        triples = zip(nir_frames, colorized_frames, ground_truth_frames)
    return warping_error_of_triples(triples, nir_bits=nir_bits, method=method)


def warping_error_of_triples(
    triples: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]], *, nir_bits: int = 8, method: str = "dis"
) -> WarpingResult:
    """Core of `warping_error`: a stream of (NIR, colorized, RGB or None) frames, two held at a time."""
    previous = None
    colorized_errors: list[float] = []
    truth_errors: list[float] = []
    valid_fractions: list[float] = []
    for index, (nir, colorized, truth) in enumerate(triples):
        gray = nir_to_gray8(nir, nir_bits)
        if colorized.shape[:2] != gray.shape:
            raise ValueError(
                f"frame {index}: colorized frame is {colorized.shape[1]}×{colorized.shape[0]} "
                f"but the NIR frame is {gray.shape[1]}×{gray.shape[0]}"
            )
        if truth is not None and truth.shape[:2] != gray.shape:
            raise ValueError(
                f"frame {index}: ground-truth RGB frame is {truth.shape[1]}×{truth.shape[0]} "
                f"but the NIR frame is {gray.shape[1]}×{gray.shape[0]} (a two-camera rig needs its homography)"
            )
        if previous is not None:
            previous_gray, previous_colorized, previous_truth = previous
            backward, mask = backward_flow_and_mask(previous_gray, gray, method)
            valid_fractions.append(float(mask.mean()))
            colorized_errors.append(pair_error(previous_colorized, colorized, backward, mask))
            if truth is not None and previous_truth is not None:
                truth_errors.append(pair_error(previous_truth, truth, backward, mask))
        previous = (gray, colorized, truth)
    return WarpingResult(
        pairs=len(colorized_errors),
        colorized=_nanmean(colorized_errors),
        ground_truth=_nanmean(truth_errors) if truth_errors else None,
        valid_fraction=_nanmean(valid_fractions),
        per_pair_colorized=colorized_errors,
        per_pair_ground_truth=truth_errors,
    )


@dataclass(frozen=True)
class EvaluationStreams:
    """What a colorized video is measured against: its NIR stream, the RGB ground truth if any, and
    a two-camera rig's homography (RGB pixel → NIR pixel) that puts the RGB on the NIR grid.

    `rgb_from_zero`: the RGB is a separate video (`evaluate-video --rgb`) whose clock starts at 0
    like a colorized video's, so beside a bag or image sequence it moves onto the NIR clock too."""

    nir: StreamSource
    rgb: StreamSource | None = None
    homography: tuple[float, ...] | None = None
    rgb_from_zero: bool = False


def video_streams(nir_video: str | os.PathLike, rgb_video: str | os.PathLike | None = None) -> EvaluationStreams:
    """Bare video files: the NIR video and, optionally, a ground-truth RGB video of the same size."""
    return EvaluationStreams(StreamSource("video", str(nir_video)),
                             StreamSource("video", str(rgb_video)) if rgb_video is not None else None)


def recording_sources(recording_dir: str | os.PathLike) -> EvaluationStreams:
    """The streams of a recording folder of any form (video, bag, image sequence), read by the one
    recording.json parser.

    Raises `RecordingError` (a ValueError naming the file and the problem) for a bad folder.
    """
    recording = load_recording(recording_dir)
    return EvaluationStreams(recording.nir, recording.rgb, recording.homography)


def frames_by_time(nir_frames: Iterable[Frame], colorized_frames: Iterable[Frame],
                   rgb_frames: Iterable[Frame] | None, tolerance_seconds: float) -> Iterator[tuple]:
    """(NIR, colorized or None, RGB or None) for every NIR frame, partners found by presentation time.

    Pairing by time rather than index (DESIGN): a dropped frame in one stream costs that one NIR
    frame its partner instead of shifting every later one. A stream that fails to decode raises.
    """
    colorized = NearestFrames(colorized_frames)
    truth = NearestFrames(rgb_frames) if rgb_frames is not None else None
    for nir_frame in nir_frames:
        yield (nir_frame, colorized.at(nir_frame.seconds, tolerance_seconds),
               truth.at(nir_frame.seconds, tolerance_seconds) if truth is not None else None)
    for stream in (colorized, truth):
        if stream is not None and stream.problem is not None:
            raise VideoError(stream.problem)


def _on_nir_clock(nir: StreamSource, nir_frames: Iterator[Frame], *from_zero: Iterator[Frame] | None):
    """The NIR frames and the videos that start at 0 (`from_zero`; None stays None) on one clock.

    A colorized video keeps a video recording's own timestamps; a bag's or an image sequence's
    times (often epoch seconds) are stored from 0 at its first NIR frame (colorize), so they are
    moved back onto the NIR stream's clock here."""
    if nir.kind == "video":
        return nir_frames, *from_zero
    first = next(nir_frames, None)
    if first is None:
        return iter(()), *from_zero

    def shifted(frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            frame.seconds += first.seconds
            yield frame

    return itertools.chain([first], nir_frames), *(None if frames is None else shifted(frames) for frames in from_zero)


def warping_error_of_videos(
    colorized_path: str | os.PathLike,
    streams: EvaluationStreams,
    *,
    method: str = "dis",
    max_frames: int | None = None,
) -> WarpingResult:
    """Warping error of a colorized video against its NIR source (and the ground-truth RGB, if any)."""
    nir, rgb = streams.nir, streams.rgb
    nir_info = probe_source(nir)
    rate = float(nir_info.average_rate) if nir_info.average_rate else 25.0
    rgb_frames = iter_source_frames(rgb, "rgb") if rgb is not None else None
    colorized_frames = iter_frames(colorized_path, 0, kind="rgb")
    if streams.rgb_from_zero:
        nir_frames, colorized_frames, rgb_frames = _on_nir_clock(nir, iter_source_frames(nir, "nir"),
                                                                 colorized_frames, rgb_frames)
    else:
        nir_frames, colorized_frames = _on_nir_clock(nir, iter_source_frames(nir, "nir"), colorized_frames)
    triples = frames_by_time(nir_frames, colorized_frames, rgb_frames, tolerance_seconds=0.5 / rate)
    skipped = 0

    def ground_truth(frame: Frame) -> np.ndarray:
        if streams.homography is not None:  # a two-camera rig: the RGB camera's view on the NIR grid
            return warp_to_nir(frame.array, streams.homography, nir_info.height, nir_info.width)
        return frame.array

    def complete() -> Iterator[tuple]:
        nonlocal skipped
        kept = 0
        for nir_frame, colorized_frame, rgb_frame in triples:
            if colorized_frame is None or (rgb is not None and rgb_frame is None):
                skipped += 1
                continue
            # A colorized video of odd-sized NIR is stored one column/row larger (4:2:0; VideoWriter).
            colorized_array = unpad(colorized_frame.array, nir_info.width, nir_info.height)
            yield nir_frame.array, colorized_array, (ground_truth(rgb_frame) if rgb_frame is not None else None)
            kept += 1
            if max_frames is not None and kept >= max_frames:
                return

    result = warping_error_of_triples(complete(), nir_bits=nir_info.bits, method=method)
    result.skipped_frames = skipped
    return result


def _unit(rgb: np.ndarray) -> np.ndarray:
    array = np.asarray(rgb)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    return array.astype(np.float32, copy=False)


def _nanmean(values: list[float]) -> float:
    finite = [value for value in values if value == value]
    return float(np.mean(finite)) if finite else float("nan")
