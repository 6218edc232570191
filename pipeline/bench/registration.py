"""How well `measure_shift` recovers known shifts: injected sub-pixel shifts on NIR/RGB pairs.

Each pair is measured as it is (its own residual, unknown) and again after its RGB frame was moved
by a random (dy, dx); the error is |(moved estimate − own estimate) − injected|. Real pairs are
never perfectly registered, so errors are relative to each pair's own measurement, which is what
a correction relies on. Feeds `nircolor bench registration` (docs/dataset.md, "Registration").
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from nircolor.dataset_tools.pair_folders import find_pairs, read_pair
from nircolor.dataset_tools.registration import measure_shift
from nircolor.dataset_tools.video import iter_frames


@dataclass(frozen=True)
class AccuracyResult:
    source: str
    size: tuple[int, int]  # (width, height) of the first pair
    errors: np.ndarray  # px, one per injected shift
    milliseconds: float  # mean time of one measurement, this process, one OpenCV thread

    def figures(self) -> dict:
        errors = self.errors
        return {
            "measurements": int(len(errors)),
            "median_px": float(np.median(errors)), "p90_px": float(np.percentile(errors, 90)),
            "max_px": float(np.max(errors)), "over_0_5px": float(np.mean(errors > 0.5)),
            "ms": self.milliseconds,
        }


def displace(rgb: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Move the RGB content by (+dy, +dx) pixels (bilinear): what a misregistered sensor records."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(rgb, matrix, (rgb.shape[1], rgb.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def nir_stand_in(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A NIR-like 8-bit frame for an RGB-only video: a tone curve of its own plus sensor noise, so
    intensities differ from the RGB luminance while edges stay where they are."""
    green = rgb[..., 1].astype(np.float32) / 255.0
    nir = 180 * np.sqrt(green) + 40 * np.sin(rgb[..., 0] / 40.0) + rng.normal(0, 3, green.shape)
    return np.clip(nir, 0, 255).astype(np.uint8)


def injected_shift_errors(source: str, pairs: list[tuple[np.ndarray, np.ndarray]], nir_bits: int = 8,
                          shifts_per_pair: int = 3, max_shift: float = 3.5, seed: int = 0) -> AccuracyResult:
    """Errors of `measure_shift` on `shifts_per_pair` random shifts within ±max_shift px per pair."""
    if not pairs:
        raise ValueError(f"{source}: no pairs to measure")
    rng = np.random.default_rng(seed)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # as in ingest: one core per actor
    errors, seconds, measured = [], 0.0, 0
    try:
        for nir, rgb in pairs:
            own = measure_shift(nir, rgb, nir_bits)
            for dy, dx in rng.uniform(-max_shift, max_shift, (shifts_per_pair, 2)):
                moved = displace(rgb, dy, dx)
                started = time.perf_counter()
                estimate = measure_shift(nir, moved, nir_bits)
                seconds += time.perf_counter() - started
                measured += 1
                errors.append(np.hypot(estimate.dy - own.dy - dy, estimate.dx - own.dx - dx))
    finally:
        cv2.setNumThreads(threads)
    height, width = pairs[0][0].shape
    return AccuracyResult(source, (width, height), np.asarray(errors), 1e3 * seconds / measured)


def read_pair_folder(folder: str | Path, limit: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 8-bit NIR/RGB pairs under `folder` (`<name>_nir.png` / `<name>_rgb.png`, ...: as `dataset import-pairs` finds them)."""
    pairs = []
    for pair in find_pairs(folder):
        if pair.rgb is None:
            continue
        nir, rgb, bits = read_pair(pair)
        if bits == 8:
            pairs.append((nir, rgb))
        if limit and len(pairs) >= limit:
            break
    return pairs


def read_video_frames(path: str | Path, every: int, limit: int | None = None, seed: int = 0):
    """Every `every`-th RGB frame of a video, each with its NIR stand-in."""
    rng = np.random.default_rng(seed)
    pairs = []
    for index, frame in enumerate(iter_frames(path, kind="rgb")):
        if index % every == 0:
            pairs.append((nir_stand_in(frame.array, rng), frame.array))
            if limit and len(pairs) >= limit:
                break
    return pairs
