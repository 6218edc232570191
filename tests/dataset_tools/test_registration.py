"""Registration (acceptance 2): injected whole- and sub-pixel shifts are measured within 0.5 px and corrected."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import nircolor.dataset_tools.registration as registration
from nircolor.dataset_tools.registration import (
    RegistrationPolicy,
    ShiftEstimate,
    apply_shift,
    luminance,
    measure_shift,
    register_pair,
    summarize_shifts,
)
from nircolor.dataset_tools.video import iter_frames
from nircolor.pipeline.bench.registration import displace, nir_stand_in


def _scene(height=192, width=256, seed=0):
    """A drawn road scene whose NIR and RGB differ in intensity (vegetation bright in NIR) but share edges."""
    rng = np.random.default_rng(seed)
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[: height // 3] = (150, 180, 230)  # sky
    rgb[height // 3:] = (70, 70, 75)  # road
    nir = np.zeros((height, width), np.float32)
    nir[: height // 3] = 0.3
    nir[height // 3:] = 0.25
    for _ in range(25):
        center = (int(rng.integers(0, width)), int(rng.integers(height // 4, height)))
        radius = int(rng.integers(5, 25))
        green = tuple(int(v) for v in (rng.integers(20, 60), rng.integers(90, 160), rng.integers(20, 60)))
        cv2.circle(rgb, center, radius, green, -1)  # tree: dark green in RGB ...
        cv2.circle(nir, center, radius, float(rng.uniform(0.7, 0.95)), -1)  # ... bright in NIR
    for _ in range(6):
        x, y = int(rng.integers(0, width - 40)), int(rng.integers(height // 2, height - 20))
        color = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.rectangle(rgb, (x, y), (x + 36, y + 16), color, -1)  # car
        cv2.rectangle(nir, (x, y), (x + 36, y + 16), float(rng.uniform(0.1, 0.6)), -1)
    cv2.line(rgb, (0, height - 30), (width, height // 2), (240, 240, 240), 2)  # lane marking
    cv2.line(nir, (0, height - 30), (width, height // 2), 0.9, 2)
    nir = np.clip(nir + rng.normal(0, 0.01, nir.shape), 0, 1)
    nir10 = np.round(nir * 1023).astype(np.uint16)  # 10-bit NIR at native depth
    return nir10, rgb


@pytest.mark.parametrize("dy,dx", [(3.0, 0.0), (0.0, -3.0), (2.4, -1.7), (-1.3, 2.4), (0.0, 0.0)])
def test_injected_shift_is_measured_and_corrected(dy, dx):
    nir, rgb = _scene()
    moved = displace(rgb, dy, dx)
    estimate = measure_shift(nir, moved, nir_bits=10)
    assert abs(estimate.dy - dy) < 0.5 and abs(estimate.dx - dx) < 0.5
    assert estimate.score > 0.3
    corrected = apply_shift(moved, estimate.dy, estimate.dx)
    residual = measure_shift(nir, corrected, nir_bits=10)
    assert residual.magnitude < 0.5
    # Away from the replicated border, the corrected RGB is close to the original.
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(corrected[inner].astype(int) - rgb[inner].astype(int)).mean() < 6


def test_policy_rejects_far_shifts_and_flat_frames():
    nir, rgb = _scene(seed=1)
    policy = RegistrationPolicy(max_shift=4.0)
    far = register_pair(nir, displace(rgb, 6.0, 0.0), 10, policy)
    assert far.rejected == "shift_beyond_bound" and abs(far.estimate.dy - 6.0) < 0.5
    near = register_pair(nir, displace(rgb, 0.0, 2.0), 10, policy)
    assert near.rejected is None
    assert measure_shift(nir, near.rgb, nir_bits=10).magnitude < 0.5  # returned RGB is corrected
    rng = np.random.default_rng(0)
    flat_nir = (500 + rng.integers(0, 4, (128, 128))).astype(np.uint16)
    flat_rgb = (120 + rng.integers(0, 3, (128, 128, 3))).astype(np.uint8)
    assert register_pair(flat_nir, flat_rgb, 10, policy).rejected == "low_structure"
    assert policy.check(ShiftEstimate(0.0, 0.0, 0.9)) is None


def test_register_pair_stores_the_estimate_rounded_and_says_when_it_corrected():
    nir, rgb = _scene(seed=2)
    moved = displace(rgb, 0.0, 2.3)
    measured = measure_shift(nir, moved, nir_bits=10)
    registered = register_pair(nir, moved, 10, RegistrationPolicy(max_shift=4.0))
    # Rounded so that shard bytes do not depend on the last float bits of the process's OpenCV.
    assert registered.estimate == ShiftEstimate(round(measured.dy, 3), round(measured.dx, 3), round(measured.score, 4))
    assert registered.corrected and registered.rejected is None
    assert np.array_equal(registered.rgb, apply_shift(moved, registered.estimate.dy, registered.estimate.dx))
    still = register_pair(nir, rgb, 10, RegistrationPolicy(max_shift=4.0))
    assert not still.corrected and still.rgb is rgb  # below correct_above: left alone


def test_summary_figures():
    summary = summarize_shifts([(0, 0), (0.3, 0.4), (0, 1.0), (3, 4)], [0.5, 0.6, 0.7, 0.8])
    assert summary["count"] == 4 and summary["max_shift_px"] == 5.0
    assert summary["within_0_5px"] == 0.5 and summary["within_1px"] == 0.75
    assert summary["median_shift_px"] == 0.75
    assert summarize_shifts([], []) == {"count": 0}


def test_real_pair_with_injected_shift(shared_data):
    folder = shared_data / "pairs" / "vcip2020" / "val"
    nir = cv2.imread(str(folder / "validation_0004_nir.png"), cv2.IMREAD_GRAYSCALE)
    rgb = cv2.cvtColor(cv2.imread(str(folder / "validation_0004_rgb.png")), cv2.COLOR_BGR2RGB)
    base = measure_shift(nir, rgb, nir_bits=8)
    moved = measure_shift(nir, displace(rgb, -2.4, 3.0), nir_bits=8)
    assert abs(moved.dy - base.dy + 2.4) < 0.5 and abs(moved.dx - base.dx - 3.0) < 0.5


@pytest.mark.parametrize("dy,dx", [(3.0, 0.0), (2.4, -1.7), (-6.6, 7.2)])
def test_coarse_to_fine_finds_the_exhaustive_search_peak(monkeypatch, dy, dx):
    """The half-size search plus the hill climb at measuring size must land where the full ±8 px search does."""
    nir, rgb = _scene(480, 640, seed=2)
    moved = displace(rgb, dy, dx)
    fast = measure_shift(nir, moved, nir_bits=10)
    monkeypatch.setattr(registration, "_MIN_COARSE_SIDE", 10**6)  # force the one-level full search
    exhaustive = measure_shift(nir, moved, nir_bits=10)
    assert abs(fast.dy - exhaustive.dy) < 1e-3 and abs(fast.dx - exhaustive.dx) < 1e-3
    assert abs(fast.score - exhaustive.score) < 1e-4
    assert abs(fast.dy - dy) < 1.0 and abs(fast.dx - dx) < 1.0


def _oblique_scene(seed, height=240, width=320):
    """Long oblique edges (lane marks, kerbs) and a few blobs: the correlation peak is a tilted ridge."""
    rng = np.random.default_rng(seed)
    nir = np.full((height, width), 0.3, np.float32)
    rgb = np.full((height, width, 3), (90, 90, 95), np.uint8)
    for _ in range(8):
        x0 = int(rng.integers(-width // 2, width))
        slope = float(rng.uniform(0.4, 0.9)) * (1 if rng.random() < 0.5 else -1)
        start, end = (x0, height), (int(x0 + slope * height * 1.5), 0)
        level, thickness = float(rng.uniform(0.6, 0.9)), int(rng.integers(2, 5))
        cv2.line(nir, start, end, level, thickness)
        cv2.line(rgb, start, end, (230, 230, 220) if rng.random() < 0.5 else (30, 30, 30), thickness)
    for _ in range(3):
        center, radius = (int(rng.integers(0, width)), int(rng.integers(0, height))), int(rng.integers(3, 7))
        cv2.circle(nir, center, radius, 0.9, -1)
        cv2.circle(rgb, center, radius, (40, 120, 40), -1)
    nir = np.clip(nir + rng.normal(0, 0.01, nir.shape), 0, 1)
    return (nir * 255).astype(np.uint8), rgb


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_sub_pixel_shift_along_oblique_edges(seed):
    """Fitting rows and columns apart slides along a tilted ridge (errors up to 0.33 px on these
    scenes); the 2-D fit stays within 0.15 px."""
    nir, rgb = _oblique_scene(seed)
    for dy, dx in [(0.4, -1.3), (-2.6, 0.7), (1.5, 2.5), (0.0, 0.3)]:
        estimate = measure_shift(nir, displace(rgb, dy, dx), nir_bits=8)
        assert np.hypot(estimate.dy - dy, estimate.dx - dx) < 0.15, (dy, dx, estimate)


def test_given_luminance_is_used_as_is():
    nir, rgb = _oblique_scene(1)
    moved = displace(rgb, 1.2, -0.8)
    own = measure_shift(nir, moved, nir_bits=8)
    assert measure_shift(nir, moved, nir_bits=8, rgb_luminance=luminance(moved)) == own
    # A different luminance changes the answer: proof the argument is what gets measured.
    assert measure_shift(nir, moved, nir_bits=8, rgb_luminance=luminance(rgb)) != own


def test_real_road_video_with_injected_shifts(shared_data):
    """A real 960×540 dash-cam frame (measured at half size) against a NIR stand-in with its own tone
    curve: injected sub-pixel shifts come back within 0.2 px median, 0.6 px at worst."""
    video = shared_data / "videos" / "udacity_solidWhiteRight.mp4"
    frames = [frame.array for frame in iter_frames(video, kind="rgb")][::20]
    rng = np.random.default_rng(0)
    errors = []
    for rgb in frames:
        nir = nir_stand_in(rgb, rng)
        for dy, dx in rng.uniform(-3.5, 3.5, (3, 2)):
            estimate = measure_shift(nir, displace(rgb, dy, dx), nir_bits=8)
            errors.append(np.hypot(estimate.dy - dy, estimate.dx - dx))
    assert np.median(errors) < 0.2 and max(errors) < 0.6, np.round(errors, 3)
