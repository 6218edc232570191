"""Metrics against hand-computed values and the published CIEDE2000 test data (Sharma et al. 2005)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nircolor.pipeline import metrics
from nircolor.pipeline.evaluate import score_frame
from nircolor.pipeline.evaluation_results import MetricTotals

# Rows of Table 1 of Sharma, Wu & Dalal (2005): L1 a1 b1 L2 a2 b2 ΔE00. They cover the hue
# wrap-around near ±180°, zero-chroma pairs, the blue-region rotation term and dark colours.
SHARMA_ROWS = np.array([
    [50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425],
    [50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615],
    [50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000],
    [50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195],
    [50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461],
    [50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065],
    [50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535],
    [60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644],
    [22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373],
    [90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381],
    [2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082],
])


def test_l1_is_mean_absolute_difference_over_pixels_and_channels():
    target = np.zeros((2, 2, 3))
    prediction = np.zeros((2, 2, 3))
    prediction[0, 0] = [0.3, 0.0, 0.0]  # one channel of one pixel off by 0.3
    prediction[1, 1] = [0.1, 0.1, 0.1]
    # (0.3 + 3·0.1) / 12 values
    assert metrics.l1_error(prediction, target) == pytest.approx(0.6 / 12)


def test_l1_reads_uint8_as_fractions_of_255():
    prediction = np.full((1, 1, 3), 255, np.uint8)
    target = np.full((1, 1, 3), 204, np.uint8)
    assert metrics.l1_error(prediction, target) == pytest.approx(51 / 255)


def test_psnr_of_a_known_mse():
    target = np.zeros((4, 4, 3))
    prediction = np.full((4, 4, 3), 0.1)  # MSE = 0.01 → 10·log10(1/0.01) = 20 dB
    assert metrics.psnr(prediction, target) == pytest.approx(20.0)
    assert metrics.psnr(target, target) == math.inf


def test_ssim_of_identical_images_is_one():
    image = np.random.default_rng(0).random((24, 24, 3))
    assert metrics.ssim(image, image) == pytest.approx(1.0)
    assert metrics.ssim(image, image, channels="rgb") == pytest.approx(1.0)


def test_ssim_of_flat_images_is_the_luminance_term():
    # No variance and no covariance: SSIM = (2ab + C1) / (a² + b² + C1).
    a, b = 0.2, 0.6
    c1 = 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert metrics.ssim(np.full((16, 16, 3), a), np.full((16, 16, 3), b)) == pytest.approx(expected)


def _reference_ssim(first: np.ndarray, second: np.ndarray) -> float:
    """Direct window-by-window SSIM with an explicit 11×11 gaussian (σ = 1.5), valid windows only."""
    offsets = np.arange(-5, 6)
    kernel = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 1.5**2))
    kernel /= kernel.sum()
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for row in range(5, first.shape[0] - 5):
        for col in range(5, first.shape[1] - 5):
            x = first[row - 5:row + 6, col - 5:col + 6]
            y = second[row - 5:row + 6, col - 5:col + 6]
            mx, my = (kernel * x).sum(), (kernel * y).sum()
            vx, vy = (kernel * (x - mx) ** 2).sum(), (kernel * (y - my) ** 2).sum()
            cov = (kernel * (x - mx) * (y - my)).sum()
            values.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_ssim_matches_a_direct_windowed_computation():
    rng = np.random.default_rng(1)
    target = rng.random((18, 20, 3))
    prediction = np.clip(target * 0.7 + rng.normal(0, 0.1, target.shape), 0, 1)
    expected = _reference_ssim(metrics.luminance(prediction), metrics.luminance(target))
    assert metrics.ssim(prediction, target) == pytest.approx(expected, rel=1e-9)
    assert 0.0 < expected < 0.99


@pytest.mark.parametrize("row", SHARMA_ROWS, ids=[f"pair{i}" for i in range(len(SHARMA_ROWS))])
def test_ciede2000_matches_sharma_et_al(row):
    assert float(metrics.ciede2000(row[0:3], row[3:6])) == pytest.approx(row[6], abs=1e-4)
    # The formula is symmetric in its two colours.
    assert float(metrics.ciede2000(row[3:6], row[0:3])) == pytest.approx(row[6], abs=1e-4)


def test_ciede2000_is_vectorized_over_pixels():
    values = metrics.ciede2000(SHARMA_ROWS[:, 0:3].reshape(13, 1, 3), SHARMA_ROWS[:, 3:6].reshape(13, 1, 3))
    assert values.shape == (13, 1)
    np.testing.assert_allclose(values[:, 0], SHARMA_ROWS[:, 6], atol=1e-4)


def test_delta_e_of_rgb_images_uses_lab():
    white = np.ones((2, 2, 3))
    black = np.zeros((2, 2, 3))
    assert metrics.rgb_to_lab(white)[0, 0, 0] == pytest.approx(100.0, abs=0.01)
    # Black vs white differ only in L* (0 vs 100); the mean L* is 50, where S_L = 1: ΔE00 = 100.
    assert metrics.delta_e(white, black) == pytest.approx(100.0, abs=0.02)
    # Against mid gray (L* = L): ΔE00 = (100 − L) / S_L, S_L = 1 + 0.015·m² / sqrt(20 + m²), m = L̄ − 50 = L/2.
    gray = np.full((2, 2, 3), 0.5)
    lightness = metrics.rgb_to_lab(gray)[0, 0, 0]
    half = lightness / 2
    expected = (100.0 - lightness) / (1 + 0.015 * half**2 / math.sqrt(20 + half**2))
    assert metrics.delta_e(white, gray) == pytest.approx(expected, abs=0.02)
    assert metrics.delta_e(white, white) == pytest.approx(0.0, abs=1e-6)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.l1_error(np.zeros((2, 2, 3)), np.zeros((2, 3, 3)))


def test_angular_error_is_the_mean_angle_between_rgb_vectors_in_degrees():
    target = np.array([[[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.2, 0.4, 0.0]]])
    prediction = np.array([[[0.0, 1.0, 0.0],  # orthogonal: 90°
                            [0.1, 0.1, 0.1],  # same direction, other brightness: 0°
                            [0.4, 0.4, 0.0]]])  # 45° vs atan2(0.4, 0.2) = 63.43°: 18.43°
    expected = (90.0 + 0.0 + (math.degrees(math.atan2(0.4, 0.2)) - 45.0)) / 3
    assert metrics.angular_error(prediction, target) == pytest.approx(expected)


def test_angular_error_leaves_out_black_pixels_and_averages_frames():
    target = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])  # the black pixel has no direction
    prediction = np.array([[[0.0, 0.0, 1.0], [0.3, 0.1, 0.0]]])
    assert metrics.angular_error(prediction, target) == pytest.approx(90.0)
    frames_target = np.stack([target, np.full((1, 2, 3), 0.5)])
    frames_prediction = np.stack([prediction, np.full((1, 2, 3), 0.5)])  # second frame: 0°
    assert metrics.angular_error(frames_prediction, frames_target) == pytest.approx(45.0)
    assert metrics.angular_error(np.zeros((2, 2, 3)), np.zeros((2, 2, 3))) == 0.0


def test_evaluation_psnr_is_the_mean_of_per_frame_psnr_not_the_pooled_one():
    target = np.zeros((4, 4, 3))
    totals = MetricTotals()
    for offset in (0.1, 0.01):  # MSE 1e-2 → 20 dB, MSE 1e-4 → 40 dB
        totals.add(score_frame(np.full((4, 4, 3), offset), target))
    assert totals.means()["psnr"] == pytest.approx(30.0)  # pooled MSE would give 22.97 dB
    assert totals.means()["angular_error"] == pytest.approx(0.0)  # black target: no direction anywhere
