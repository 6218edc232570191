"""Pair NIR and RGB frames by presentation time, not by index (DESIGN "Data contracts"; paper §4).

A dropped or duplicated frame in one stream costs that frame only: pairs are mutual nearest
neighbours in time within a tolerance (default half the shorter frame period), so the two streams
may also run at different frame rates.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

import numpy as np

from nircolor.dataset_tools.bags import BagError
from nircolor.dataset_tools.image_files import SequenceError
from nircolor.dataset_tools.video import VideoError

# What a stream of any recording form raises for a frame it cannot give (streams.STREAM_ERRORS).
_FRAME_ERRORS = (VideoError, BagError, SequenceError)


@dataclass
class PairingResult:
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (NIR index, RGB index), in time order
    tolerance_seconds: float = 0.0
    dropped_nir: int = 0  # frames missing from the NIR stream (gaps longer than one period)
    dropped_rgb: int = 0
    duplicated_nir: int = 0  # frames repeating the previous frame's instant
    duplicated_rgb: int = 0
    unpaired_nir: int = 0  # frames left without a partner
    unpaired_rgb: int = 0

    def counts(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in (
            "dropped_nir", "dropped_rgb", "duplicated_nir", "duplicated_rgb", "unpaired_nir", "unpaired_rgb")}


def frame_period(seconds: list[float]) -> float | None:
    """The stream's nominal frame period: the median step between distinct timestamps."""
    steps = np.diff(np.unique(np.asarray(seconds, dtype=np.float64)))
    steps = steps[steps > 1e-6]
    return float(np.median(steps)) if len(steps) else None


def mean_rate(seconds: list[float]) -> float:
    """Frames per second from frame times: the mean step with gaps (drops) left out, so rounded
    timestamps (steps of 1/30.3 s and 1/29.6 s) still give 29.97; 0.0 when unknown."""
    period = frame_period(seconds)
    if not period:
        return 0.0
    steps = np.diff(np.sort(np.asarray(seconds, dtype=np.float64)))
    return float(1 / np.mean(steps[(steps > 0.5 * period) & (steps < 1.5 * period)]))


def _gaps(seconds: list[float], period: float | None) -> tuple[int, int]:
    """(dropped, duplicated) frames of one stream, from the steps between its timestamps."""
    if period is None or len(seconds) < 2:
        return 0, max(0, len(seconds) - len(set(seconds)))
    steps = np.diff(np.sort(np.asarray(seconds, dtype=np.float64)))
    duplicated = int(np.sum(steps < 0.5 * period))
    dropped = int(np.sum(np.maximum(np.round(steps / period) - 1, 0)))
    return dropped, duplicated


def pair_timestamps(nir_seconds: list[float], rgb_seconds: list[float],
                    tolerance_seconds: float | None = None) -> PairingResult:
    """Pair two streams' frame times (seconds, ascending) as mutual nearest neighbours within a tolerance."""
    nir_period, rgb_period = frame_period(nir_seconds), frame_period(rgb_seconds)
    if tolerance_seconds is None:
        periods = [period for period in (nir_period, rgb_period) if period]
        tolerance_seconds = 0.5 * min(periods) if periods else 1e-3
    result = PairingResult(tolerance_seconds=tolerance_seconds)
    result.dropped_nir, result.duplicated_nir = _gaps(nir_seconds, nir_period)
    result.dropped_rgb, result.duplicated_rgb = _gaps(rgb_seconds, rgb_period)

    def nearest(times: list[float], value: float) -> int | None:
        position = bisect_left(times, value)
        best = None
        for candidate in (position - 1, position):
            if 0 <= candidate < len(times) and (best is None or abs(times[candidate] - value) < abs(times[best] - value)):
                best = candidate
        return best

    for nir_index, time in enumerate(nir_seconds):
        rgb_index = nearest(rgb_seconds, time)
        if rgb_index is None or abs(rgb_seconds[rgb_index] - time) > tolerance_seconds + 1e-9:
            continue
        # Mutual: the RGB frame's own nearest NIR frame must be this one (first one on exact ties).
        if nearest(nir_seconds, rgb_seconds[rgb_index]) != nir_index:
            continue
        result.pairs.append((nir_index, rgb_index))
    result.unpaired_nir = len(nir_seconds) - len(result.pairs)
    result.unpaired_rgb = len(rgb_seconds) - len(result.pairs)
    return result


class NearestFrames:
    """Pairs a stream of frames (ascending `.seconds`) to query times by presentation time (DESIGN:
    pair by PTS, not index): colorize's ground truth (any tolerance), ingest's planned pairs (exact).

    `tolerate_errors`: a frame that cannot be read (video, bag or image file) ends the stream quietly
    and is kept in `.problem` (a broken ground-truth stream ends pairing, not colorization);
    otherwise it propagates to the caller.
    """

    def __init__(self, frames, tolerate_errors: bool = True):
        self._frames = iter(frames)
        self.tolerate_errors = tolerate_errors
        self.problem: str | None = None
        self._previous = None
        self._next = self._advance()

    def _advance(self):
        if self.problem is not None:
            return None
        try:
            return next(self._frames, None)
        except _FRAME_ERRORS as error:
            if not self.tolerate_errors:
                raise
            self.problem = str(error)
            return None

    def at(self, seconds: float, tolerance: float = float("inf")):
        """The frame nearest to `seconds` (calls must not go back in time); None if none is within
        `tolerance`. Of frames sharing one instant, the first."""
        while self._next is not None and self._next.seconds < seconds:
            self._previous, self._next = self._next, self._advance()
        candidates = [frame for frame in (self._previous, self._next) if frame is not None]
        if not candidates:
            return None
        nearest = min(candidates, key=lambda frame: abs(frame.seconds - seconds))
        return nearest if abs(nearest.seconds - seconds) <= tolerance else None
