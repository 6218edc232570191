"""Which paired frames go into a dataset: thin out by interval, drop stopped-car duplicates and bad exposure.

Consecutive video frames are nearly identical, so training pairs are sampled (paper §4 trains on
frames sampled from drives). A frame is compared with the last frame that was KEPT, so a long
stop yields one pair, not hundreds.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from nircolor.dataset_tools.registration import luminance

REASONS = ("interval", "near_duplicate", "exposure")


@dataclass(frozen=True)
class SamplingOptions:
    every_frames: int = 1  # keep at most one of every N paired frames
    every_seconds: float | None = None  # ... and at least this many seconds apart
    duplicate_threshold: float = 0.01  # mean |ΔNIR| (0..1 scale, on a 4× smaller copy) below it: near duplicate
    dark_level: float = 0.02  # a pixel at or below this (0..1) counts as black
    bright_level: float = 0.98  # at or above: clipped
    max_dark_fraction: float = 0.6  # more black pixels than this (NIR or RGB): bad exposure
    max_bright_fraction: float = 0.3  # more clipped pixels than this: bad exposure

    def __post_init__(self):
        if self.every_frames < 1:
            raise ValueError(f"every_frames must be at least 1, got {self.every_frames}")
        if self.every_seconds is not None and self.every_seconds < 0:
            raise ValueError(f"every_seconds must not be negative, got {self.every_seconds}")


def _small(image: np.ndarray, full_scale: float) -> np.ndarray:
    """4× smaller copy on the 0..1 scale. Averaging 4×4 blocks suppresses sensor noise, so the
    duplicate threshold means "no motion". Two 2× halvings of the integer frame: INTER_AREA's
    whole-factor path, 4× cheaper than one 4× step, and the float work stays small."""
    for _ in range(2):
        height, width = image.shape[:2]
        image = cv2.resize(image, (max(1, width // 2), max(1, height // 2)), interpolation=cv2.INTER_AREA)
    return image.astype(np.float32) * np.float32(1.0 / full_scale)


@dataclass(frozen=True)
class Decision:
    """What the sampler made of one pair."""

    reason: str | None  # why the pair is skipped ("interval", "near_duplicate", "exposure"); None: kept
    luminance: np.ndarray | None = None  # RGB luminance, when the exposure check computed it (registration reuses it)


class Sampler:
    """Stateful per recording: feed paired frames in time order; `.counts` tallies the decisions."""

    def __init__(self, options: SamplingOptions | None = None):
        self.options = options or SamplingOptions()
        self.counts = {"considered": 0, "kept": 0, **{reason: 0 for reason in REASONS}}
        self._frames_since_kept: int | None = None
        self._last_kept_seconds: float | None = None
        self._last_kept_nir: np.ndarray | None = None

    def consider(self, nir: np.ndarray, rgb: np.ndarray, seconds: float, nir_bits: int) -> Decision:
        """Keep or skip this pair; a kept pair's decision carries its RGB luminance."""
        decision = self._decide(nir, rgb, seconds, nir_bits)
        self.counts["considered"] += 1
        self.counts[decision.reason or "kept"] += 1
        return decision

    def skips_by_interval(self, seconds: float) -> bool:
        """Whether `consider` will skip the next pair by interval alone, which needs none of its pixels."""
        options = self.options
        if self._frames_since_kept is None:
            return False
        if self._frames_since_kept + 1 < options.every_frames:
            return True
        return options.every_seconds is not None and seconds - self._last_kept_seconds < options.every_seconds - 1e-9

    def _decide(self, nir, rgb, seconds, nir_bits) -> Decision:
        options = self.options
        if self._frames_since_kept is not None:
            skip = self.skips_by_interval(seconds)
            self._frames_since_kept += 1
            if skip:
                return Decision("interval")
        nir = np.asarray(nir)
        full_scale = float(2 ** int(nir_bits) - 1)
        # Duplicates first: the check is cheap (a 4× copy of NIR), and the pair is kept only when
        # both checks pass, so the order changes a label at most, never a decision.
        small = _small(nir, full_scale)
        if self._last_kept_nir is not None and self._last_kept_nir.shape == small.shape:
            if cv2.norm(small, self._last_kept_nir, cv2.NORM_L1) / small.size < options.duplicate_threshold:
                return Decision("near_duplicate")
        rgb_luminance = luminance(rgb)
        if self._bad_exposure(nir, full_scale) or self._bad_exposure(rgb_luminance, 255.0):
            return Decision("exposure")
        self._frames_since_kept = 0
        self._last_kept_seconds = float(seconds)
        self._last_kept_nir = small
        return Decision(None, rgb_luminance)

    def _bad_exposure(self, image: np.ndarray, full_scale: float) -> bool:
        options = self.options
        # Thresholds in the frame's own integer levels: no float copy of a full frame. For integer
        # pixels, level/full ≤ dark ⇔ level ≤ floor(dark·full), and level/full ≥ bright ⇔ level ≥ ceil(bright·full).
        dark, bright = options.dark_level * full_scale, options.bright_level * full_scale
        lowest, highest = -np.inf, np.inf
        if np.issubdtype(image.dtype, np.integer):
            dark, bright = np.floor(dark + 1e-9), np.ceil(bright - 1e-9)
            lowest, highest = np.iinfo(image.dtype).min, np.iinfo(image.dtype).max
        # Counting in-range pixels (inRange + countNonZero) is ~2× cheaper than numpy's comparisons.
        dark_count = cv2.countNonZero(cv2.inRange(image, float(lowest), float(dark)))
        bright_count = cv2.countNonZero(cv2.inRange(image, float(bright), float(highest)))
        return bool(dark_count / image.size > options.max_dark_fraction
                    or bright_count / image.size > options.max_bright_fraction)
