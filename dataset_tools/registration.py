"""Measure and correct the residual NIR↔RGB misalignment of a pair (paper §4: registered multi-CCD pairs).

NIR and RGB render the same scene with different intensities (vegetation is bright in NIR, dark
in RGB), so we compare structure, not values: gradient magnitudes (polarity-free) of NIR and of
RGB luminance, normalized cross-correlation over integer shifts within ±max_search (searched on
half-size maps, then the peak found again at measuring size), then a 2-D quadratic fit of the
3×3 correlation values around the peak for the sub-pixel part. The peak NCC is the score: low
when the pair has too little shared structure to trust the shift.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Frames are measured after averaging whole-factor blocks until the long side is at most this many
# pixels (960×540 → 480×270): whole factors take INTER_AREA's fast block-average path, and the 2-D
# sub-pixel fit keeps the error near 0.1 px at this size (docs/dataset.md, "Registration").
_MEASURE_SIDE = 480
# Below this many pixels on the short side, one full search is cheap enough (and a half-size copy too coarse).
_MIN_COARSE_SIDE = 128


@dataclass(frozen=True)
class ShiftEstimate:
    dy: float  # displacement of RGB content relative to NIR, pixels (positive: RGB content lies lower)
    dx: float  # positive: RGB content lies further right
    score: float  # peak normalized cross-correlation of gradient magnitudes, 0 (no shared structure) .. 1

    @property
    def magnitude(self) -> float:
        return float(np.hypot(self.dy, self.dx))


def _gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """|∂x| + |∂y| of the lightly blurred image, float32 (the L1 norm measures as well as the L2 one
    and needs no float square root)."""
    # A light blur makes the correlation peak smooth enough for the quadratic sub-pixel fit (5×5 taps
    # of σ 1 measure as well as the default 7×7 and cost less).
    image = cv2.GaussianBlur(image, (5, 5), 1.0)
    if image.dtype == np.uint8:
        gx, gy = cv2.spatialGradient(image)  # both 3×3 Sobels in one pass, exact in int16
        return (np.abs(gx) + np.abs(gy)).astype(np.float32)  # ≤ 2·1020: no int16 overflow
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)
    return np.abs(gx) + np.abs(gy)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Luminance (0.299 R + 0.587 G + 0.114 B) in the RGB frame's own units.

    8-bit RGB gives 8-bit luminance from cvtColor's fixed-point path: rounding far below video noise,
    and several times cheaper than converting three channels to float first. Ingest computes it once
    per pair, in the sampler's exposure check, and hands it to `register_pair`.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2GRAY)


def _flat(image: np.ndarray, threshold: float) -> bool:
    return float(cv2.meanStdDev(image)[1][0, 0]) < threshold  # one pass; numpy's std takes three


def _shrink(image: np.ndarray, factor: int) -> np.ndarray:
    """Average factor×factor blocks. Rows and columns that do not fill a block are dropped, which
    keeps the origin, and so every measured shift, where it was."""
    if factor == 1:
        return image
    rows, columns = image.shape[0] - image.shape[0] % factor, image.shape[1] - image.shape[1] % factor
    return cv2.resize(image[:rows, :columns], (columns // factor, rows // factor), interpolation=cv2.INTER_AREA)


def _parabola_offset(minus: float, center: float, plus: float) -> float:
    denominator = minus - 2.0 * center + plus
    if denominator >= 0 or not np.isfinite(denominator):
        return 0.0
    return float(np.clip(0.5 * (minus - plus) / denominator, -0.5, 0.5))


class _NccAtShift:
    """TM_CCOEFF_NORMED of the template at single integer shifts (what cv2.matchTemplate computes for all).

    The template, zero-padded to the image width, meets each shifted window as one contiguous slice of
    the flattened image, so one shift costs one dot product. Window sums and sums of squares come from
    row sums of the columns every window covers plus running sums of the two 2·search wide side bands.
    """

    def __init__(self, image: np.ndarray, template: np.ndarray, search: int):
        image = np.ascontiguousarray(image, dtype=np.float32)
        height, width = image.shape
        self.search, self.width = search, width
        self.rows, self.columns = template.shape  # (H - 2·search, W - 2·search)
        # (rows, W) flattened, less the trailing zeros of its last row: the mean-free template.
        padded = np.zeros((self.rows, width), np.float32)
        np.subtract(template, np.float32(template.mean(dtype=np.float64)), out=padded[:, : self.columns])
        self.template = padded.ravel()[: self.rows * width - (width - self.columns)]
        self.template_energy = float(np.dot(self.template, self.template))
        self.image = image.ravel()
        band = 2 * search
        self.sums = self._window_table(image, band)
        self.squares = self._window_table(cv2.multiply(image, image), band)
        self.cache: dict[tuple[int, int], float] = {}

    def _window_table(self, image: np.ndarray, band: int) -> np.ndarray:
        """(H+1, 2·search+1): running sums over rows of each window column range (left edge = index)."""
        width = image.shape[1]
        core = cv2.reduce(image[:, band:width - band], 1, cv2.REDUCE_SUM, dtype=cv2.CV_64F)  # (H, 1)
        left = image[:, :band].astype(np.float64)
        right = image[:, width - band:].astype(np.float64)
        # Window with left edge l covers left-band columns l.. and right-band columns ..l-1.
        left_suffix = np.zeros((image.shape[0], band + 1))
        left_suffix[:, :band] = np.cumsum(left[:, ::-1], axis=1)[:, ::-1]
        right_prefix = np.zeros((image.shape[0], band + 1))
        right_prefix[:, 1:] = np.cumsum(right, axis=1)
        table = np.zeros((image.shape[0] + 1, band + 1))
        np.cumsum(core + left_suffix + right_prefix, axis=0, out=table[1:])
        return table

    def __call__(self, dy: int, dx: int) -> float:
        key = (dy, dx)
        if key not in self.cache:
            top, left = self.search + dy, self.search + dx
            start = top * self.width + left
            product = float(np.dot(self.template, self.image[start:start + len(self.template)]))
            count = self.rows * self.columns
            total = self.sums[top + self.rows, left] - self.sums[top, left]
            squares = self.squares[top + self.rows, left] - self.squares[top, left]
            variance = squares - total * total / count
            denominator = np.sqrt(max(variance, 0.0) * self.template_energy)
            self.cache[key] = product / denominator if denominator > 1e-12 else 0.0
        return self.cache[key]


def measure_shift(nir: np.ndarray, rgb: np.ndarray, nir_bits: int = 8, max_search: int = 8,
                  rgb_luminance: np.ndarray | None = None) -> ShiftEstimate:
    """Shift (dy, dx) of the RGB frame's content relative to the NIR frame, with a confidence score.

    Coarse to fine: frames are block-averaged to ≤ 480 px, the ±max_search correlation runs on
    half of that, the integer peak is found again by hill climbing at measuring size and fitted
    there to sub-pixel precision. `rgb_luminance`: `luminance(rgb)` when the caller
    already has it (ingest's sampler computes it for the exposure check).
    """
    nir = np.asarray(nir)
    rgb = np.asarray(rgb)
    if nir.ndim != 2 or rgb.shape != nir.shape + (3,):
        raise ValueError(f"NIR {nir.shape} and RGB {rgb.shape} frames do not match (expected (H,W) and (H,W,3))")
    if min(nir.shape) < 12:
        return ShiftEstimate(0.0, 0.0, 0.0)  # too small to hold structure worth aligning
    # One channel before any resize: a third of the pixels to resample.
    gray = luminance(rgb) if rgb_luminance is None else rgb_luminance
    # Shrink the integer frames first: converting full-size frames to float costs more than measuring.
    factor = max(1, math.ceil(max(nir.shape) / _MEASURE_SIDE))
    nir, gray = _shrink(nir, factor), _shrink(gray, factor)
    # NCC ignores scale, so frames stay in their own units (NIR levels, 8-bit luminance) and 8-bit
    # ones stay uint8 (OpenCV's fixed-point blur and exact int16 Sobel); "flat" thresholds below are
    # 1e-6 of full scale, in those units.
    nir_image = nir if nir.dtype == np.uint8 else nir.astype(np.float32)
    flat_nir, flat_rgb = 1e-6 * float(2 ** int(nir_bits) - 1), 1e-6 * 255.0
    search = math.ceil(max_search / factor) + 1  # +1: room for the sub-pixel fit at the bound
    search = max(1, min(search, (min(nir_image.shape) - 4) // 3))
    nir_gradient = _gradient_magnitude(nir_image)
    rgb_gradient = _gradient_magnitude(gray)
    if min(nir_image.shape) >= max(_MIN_COARSE_SIDE, 6 * search):
        found = _coarse_to_fine(nir_gradient, rgb_gradient, search, flat_nir, flat_rgb)
        if found is None:
            return ShiftEstimate(0.0, 0.0, 0.0)  # flat frame: nothing to align on
        row, column, surface = found
    else:
        template = nir_gradient[search:-search, search:-search]
        if _flat(template, flat_nir) or _flat(rgb_gradient, flat_rgb):
            return ShiftEstimate(0.0, 0.0, 0.0)  # flat frame: nothing to align on
        # (2·search+1, 2·search+1): NCC of the NIR centre against the RGB image at each integer shift.
        table = cv2.matchTemplate(rgb_gradient, template, cv2.TM_CCOEFF_NORMED)
        table = np.nan_to_num(table, nan=0.0, posinf=0.0, neginf=0.0)
        row, column = np.unravel_index(int(np.argmax(table)), table.shape)
        row, column = int(row) - search, int(column) - search

        def surface(dy, dx):
            return float(table[dy + search, dx + search])
    peak = surface(row, column)
    sub_row, sub_column = _subpixel_offset(surface, row, column, search)
    return ShiftEstimate(float((row + sub_row) * factor), float((column + sub_column) * factor),
                         float(np.clip(peak, 0.0, 1.0)))


def _subpixel_offset(surface, row: int, column: int, search: int) -> tuple[float, float]:
    """Sub-pixel (dy, dx) of the correlation peak at integer (row, column).

    A 2-D quadratic through the 3×3 values: road scenes are full of long oblique edges (lane marks,
    kerbs) whose correlation peak is a tilted ridge, and fitting rows and columns apart slides the
    estimate along it (0.2 px median error on real road video, against 0.1 px for the 2-D fit).
    At the search bound, or where the fit has no maximum, each axis gets its own parabola.
    """
    peak = surface(row, column)
    if abs(row) < search and abs(column) < search:
        up, down = surface(row - 1, column), surface(row + 1, column)
        left, right = surface(row, column - 1), surface(row, column + 1)
        gradient_y, gradient_x = 0.5 * (down - up), 0.5 * (right - left)
        curvature_y, curvature_x = down - 2.0 * peak + up, right - 2.0 * peak + left
        cross = 0.25 * (surface(row + 1, column + 1) - surface(row + 1, column - 1)
                        - surface(row - 1, column + 1) + surface(row - 1, column - 1))
        determinant = curvature_y * curvature_x - cross * cross
        if curvature_y < 0 and determinant > 0:  # negative definite: the quadratic has a maximum
            offset_y = -(curvature_x * gradient_y - cross * gradient_x) / determinant
            offset_x = -(curvature_y * gradient_x - cross * gradient_y) / determinant
            return float(np.clip(offset_y, -1.0, 1.0)), float(np.clip(offset_x, -1.0, 1.0))
    offset_y = offset_x = 0.0
    if -search < row < search:
        offset_y = _parabola_offset(surface(row - 1, column), peak, surface(row + 1, column))
    if -search < column < search:
        offset_x = _parabola_offset(surface(row, column - 1), peak, surface(row, column + 1))
    return offset_y, offset_x


def _coarse_to_fine(nir_gradient: np.ndarray, rgb_gradient: np.ndarray, search: int, flat_nir: float, flat_rgb: float):
    """Integer peak (dy, dx) within ±search and the NCC function at measuring size; None if flat."""
    height, width = nir_gradient.shape
    # (H/2, W/2): the full ±search window costs a quarter as much on half-size gradient maps.
    half = (width // 2, height // 2)
    nir_small = cv2.resize(nir_gradient, half, interpolation=cv2.INTER_AREA)
    rgb_small = cv2.resize(rgb_gradient, half, interpolation=cv2.INTER_AREA)
    coarse_search = (search + 1) // 2
    if _flat(nir_small, flat_nir) or _flat(rgb_small, flat_rgb):
        return None
    coarse = cv2.matchTemplate(rgb_small, nir_small[coarse_search:-coarse_search, coarse_search:-coarse_search],
                               cv2.TM_CCOEFF_NORMED)
    coarse = np.nan_to_num(coarse, nan=0.0, posinf=0.0, neginf=0.0)
    coarse_row, coarse_column = np.unravel_index(int(np.argmax(coarse)), coarse.shape)
    ncc = _NccAtShift(rgb_gradient, nir_gradient[search:-search, search:-search], search)
    row = int(np.clip(2 * (int(coarse_row) - coarse_search), -search, search))
    column = int(np.clip(2 * (int(coarse_column) - coarse_search), -search, search))
    # Hill climb over the 8 neighbours: the coarse peak is within a pixel or two of the measuring-size one.
    while True:
        best = (ncc(row, column), row, column)
        for step_row in (-1, 0, 1):
            for step_column in (-1, 0, 1):
                candidate_row, candidate_column = row + step_row, column + step_column
                if abs(candidate_row) <= search and abs(candidate_column) <= search:
                    best = max(best, (ncc(candidate_row, candidate_column), candidate_row, candidate_column))
        if (best[1], best[2]) == (row, column):
            return row, column, ncc
        row, column = best[1], best[2]


def apply_shift(rgb: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Warp the RGB frame onto the NIR frame: output(y, x) = rgb(y + dy, x + dx), borders replicated."""
    if abs(dy) < 1e-6 and abs(dx) < 1e-6:
        return rgb
    matrix = np.float32([[1, 0, -dx], [0, 1, -dy]])
    height, width = rgb.shape[:2]
    return cv2.warpAffine(rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class RegistrationPolicy:
    """Which pairs to keep: shifts up to `max_shift` px are corrected, beyond it the pair is rejected.

    `min_score`: below it the frames share too little structure to measure (sky, darkness, blur).
    `correct_above`: smaller shifts are left alone (measurement noise; interpolation would blur RGB).
    """

    max_shift: float = 4.0
    min_score: float = 0.1
    correct_above: float = 1.0
    max_search: int = 8

    def check(self, estimate: ShiftEstimate) -> str | None:
        """Reason to reject the pair ("low_structure", "shift_beyond_bound"), or None to keep it."""
        if estimate.score < self.min_score:
            return "low_structure"
        if estimate.magnitude > self.max_shift:
            return "shift_beyond_bound"
        return None


@dataclass(frozen=True)
class Registered:
    rgb: np.ndarray  # corrected (or untouched) RGB frame
    estimate: ShiftEstimate  # rounded as stored: 0.001 px, 0.0001 score
    rejected: str | None  # reason, or None when the pair is kept
    corrected: bool = False  # kept, and its RGB frame was moved onto the NIR frame


def register_pair(nir: np.ndarray, rgb: np.ndarray, nir_bits: int, policy: RegistrationPolicy,
                  rgb_luminance: np.ndarray | None = None) -> Registered:
    """Measure, check and correct one pair: the one registration step of ingest and import-pairs.

    The estimate is rounded to 0.001 px and 0.0001 score before it is checked or applied: the last
    float bits of OpenCV's correlation vary with the process's library state, and a shard must not
    (same inputs, same bytes).
    """
    measured = measure_shift(nir, rgb, nir_bits, max_search=policy.max_search, rgb_luminance=rgb_luminance)
    estimate = ShiftEstimate(round(measured.dy, 3), round(measured.dx, 3), round(measured.score, 4))
    reason = policy.check(estimate)
    corrected = reason is None and estimate.magnitude > policy.correct_above
    if corrected:
        rgb = apply_shift(rgb, estimate.dy, estimate.dx)
    return Registered(rgb, estimate, reason, corrected)


def summarize_shifts(shifts, scores) -> dict:
    """Figures for reports and manifests: how far pairs were off and how confident the measurement was."""
    shifts = np.asarray(list(shifts), dtype=np.float64).reshape(-1, 2)
    scores = np.asarray(list(scores), dtype=np.float64).reshape(-1)
    count = int(len(shifts))
    if count == 0:
        return {"count": 0}
    magnitude = np.hypot(shifts[:, 0], shifts[:, 1])
    return {
        "count": count,
        "median_shift_px": round(float(np.median(magnitude)), 4),
        "mean_shift_px": round(float(np.mean(magnitude)), 4),
        "max_shift_px": round(float(np.max(magnitude)), 4),
        "within_0_5px": round(float(np.mean(magnitude <= 0.5)), 4),
        "within_1px": round(float(np.mean(magnitude <= 1.0)), 4),
        "median_dy": round(float(np.median(shifts[:, 0])), 4),
        "median_dx": round(float(np.median(shifts[:, 1])), 4),
        "median_score": round(float(np.median(scores)), 4) if len(scores) else None,
        "min_score": round(float(np.min(scores)), 4) if len(scores) else None,
    }
