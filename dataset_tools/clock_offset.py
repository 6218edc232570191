"""A constant offset between the NIR and RGB cameras' clocks, found from the video itself.

NIR and RGB intensities differ, but both cameras see the same motion: the per-frame motion energy
(mean absolute change between consecutive frames, on a decimated copy) rises and
falls at the same instants in both streams. The offset is the lag that best correlates the two
energy signals, refined to a fraction of a frame. It is the number of seconds to ADD to RGB times.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from nircolor.dataset_tools.pairing import frame_period
from nircolor.dataset_tools.streams import iter_source_frames
from nircolor.dataset_tools.video import Frame

SIGNAL_WIDTH = 64  # about this many pixels across: what motion is measured on
MIN_CORRELATION = 0.3  # below this the streams share too little motion to trust a lag


def correlate_full(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Full cross-correlation of two real signals by FFT: out[k] = Σ_n a[n + k − (len(b) − 1)] · b[n]
    (scipy.signal.correlate's "full" mode; numpy here keeps scipy.signal's 0.7-s import out of
    every ingest worker)."""
    length = len(a) + len(b) - 1
    size = 1 << max(0, length - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(a, size) * np.fft.rfft(b[::-1], size), size)[:length]


@dataclass(frozen=True)
class ClockOffset:
    seconds: float  # add to RGB times to put them on the NIR clock
    correlation: float  # normalized correlation at the chosen lag (1 = identical motion)
    frames: int  # NIR frames the estimate used

    def as_dict(self) -> dict:
        return {"seconds": round(self.seconds, 6), "correlation": round(self.correlation, 4), "frames": self.frames}


class MotionSignal:
    """Collects (time, motion energy) of the frames of one stream as they pass (`tap`)."""

    def __init__(self):
        self.times: list[float] = []
        self.energy: list[float] = []
        self._previous: np.ndarray | None = None

    def tap(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            # A LazyFrame's preview spares the full conversion of frames that sampling will skip.
            self.add(frame.seconds, frame.preview() if hasattr(frame, "preview") else frame.array)
            yield frame

    def add(self, seconds: float, array: np.ndarray) -> None:
        small = _small_gray(array)
        if self._previous is not None and seconds > self.times[-1]:
            self.times.append(seconds)
            self.energy.append(float(np.mean(np.abs(small - self._previous))))
        elif self._previous is None:
            self.times.append(seconds)
            self.energy.append(float("nan"))  # the first frame has no predecessor
        self._previous = small

    def pairs(self) -> list[list[float]]:
        return [[round(time, 6), round(value, 5)] for time, value in zip(self.times, self.energy) if value == value]


def _small_gray(array: np.ndarray) -> np.ndarray:
    """Every k-th pixel of every k-th row (RGB: its green), about SIGNAL_WIDTH across, standardized.

    Plain decimation, not averaging: this runs on every decoded frame, and for raw bag images it
    would otherwise cost as much as decoding; motion energy needs the change, not a clean picture."""
    step = max(1, array.shape[1] // SIGNAL_WIDTH)
    small = array[::step, ::step, 1] if array.ndim == 3 else array[::step, ::step]
    small = small.astype(np.float32)
    # Each stream's own contrast: NIR and RGB brightness scales differ.
    return (small - small.mean()) / (small.std() + 1e-6)


def estimate_offset(nir: list[list[float]], rgb: list[list[float]], max_lag_seconds: float = 2.0) -> ClockOffset | None:
    """The lag (seconds to add to RGB times) that best aligns the two streams' motion, or None."""
    if len(nir) < 8 or len(rgb) < 8:
        return None
    nir_times, nir_energy = np.asarray(nir, dtype=np.float64).T
    rgb_times, rgb_energy = np.asarray(rgb, dtype=np.float64).T
    periods = [period for period in (frame_period(list(nir_times)), frame_period(list(rgb_times))) if period]
    if not periods:
        return None
    step = min(periods) / 4
    # Both signals on one uniform grid spanning both (beyond a stream's ends the signal is its mean).
    low, high = min(nir_times[0], rgb_times[0]) - max_lag_seconds, max(nir_times[-1], rgb_times[-1]) + max_lag_seconds
    grid = np.arange(low, high, step)
    a, known_a = _standardized(np.interp(grid, nir_times, nir_energy, left=np.nan, right=np.nan))
    b, known_b = _standardized(np.interp(grid, rgb_times, rgb_energy, left=np.nan, right=np.nan))
    if a is None or b is None:
        return None
    scores = correlate_full(a, b)
    overlap = np.rint(correlate_full(known_a, known_b))  # samples both streams cover
    lags = (np.arange(len(scores)) - (len(b) - 1)) * step  # a[i] ~ b[i - lag]: RGB time + lag = NIR time
    usable = (np.abs(lags) <= max_lag_seconds) & (overlap >= 0.5 * min(known_a.sum(), known_b.sum()))
    if not usable.any():
        return None
    normalized = np.where(usable, scores / np.maximum(overlap, 1), -np.inf)
    best = int(np.argmax(normalized))
    lag = lags[best]
    if 0 < best < len(normalized) - 1 and np.isfinite(normalized[best - 1]) and np.isfinite(normalized[best + 1]):
        left, middle, right = normalized[best - 1], normalized[best], normalized[best + 1]
        curvature = left - 2 * middle + right
        if curvature < 0:
            lag += 0.5 * (left - right) / curvature * step
    correlation = float(normalized[best])
    if correlation < MIN_CORRELATION:
        return None
    return ClockOffset(seconds=float(lag), correlation=min(correlation, 1.0), frames=len(nir_times))


def _standardized(signal: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(zero mean, unit variance where known and 0 elsewhere; the known mask as floats)."""
    known = np.isfinite(signal)
    values = signal[known]
    if len(values) < 8 or values.std() < 1e-9:
        return None, known.astype(np.float64)
    result = np.zeros_like(signal)
    result[known] = (values - values.mean()) / values.std()
    return result, known.astype(np.float64)


def measure_offset(nir, rgb, seconds: float = 60.0) -> ClockOffset | None:
    """Decode the first `seconds` both streams share (Timelines) and estimate their clock offset."""
    start = max(nir.times[0], rgb.times[0]) - 2.0
    signals = []
    for timeline, kind in ((nir, "nir"), (rgb, "rgb")):
        signal = MotionSignal()
        for _ in signal.tap(iter_source_frames(timeline.source, kind, start, start + seconds + 4.0, lazy=True)):
            pass
        signals.append(signal.pairs())
    return estimate_offset(*signals)
