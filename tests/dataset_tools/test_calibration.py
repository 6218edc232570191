"""Two-camera calibration: a synthetic rig's RGB→NIR homography is recovered within 0.5 px; bad input is refused."""
from __future__ import annotations

import math
import re

import cv2
import numpy as np
import pytest

from nircolor.dataset_tools.calibration import (
    Calibration,
    CalibrationError,
    coverage,
    estimate_homography,
    homography_error,
    parse_homography,
    warp_to_nir,
)

SCENE_SIZE = (900, 700)  # (width, height)
RGB_SIZE = (400, 300)
NIR_SIZE = (320, 240)
FRAMES = 4


def make_scene(seed: int = 0) -> np.ndarray:
    """(700, 900, 3) float32 colours in [0, 1]: smooth blobs, then shapes and lines with hard edges."""
    rng = np.random.default_rng(seed)
    width, height = SCENE_SIZE
    scene = cv2.resize(rng.random((14, 18, 3), dtype=np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    scene = np.clip(scene, 0, 1)
    for _ in range(140):
        colour = tuple(float(c) for c in rng.random(3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        kind = rng.integers(0, 4)
        if kind == 0:
            cv2.circle(scene, (x, y), int(rng.integers(4, 30)), colour, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(scene, (x, y), (x + int(rng.integers(6, 60)), y + int(rng.integers(6, 60))), colour, -1)
        elif kind == 2:
            end = (x + int(rng.integers(-80, 80)), y + int(rng.integers(-80, 80)))
            cv2.line(scene, (x, y), end, colour, int(rng.integers(1, 5)), cv2.LINE_AA)
        else:
            points = (np.array([x, y]) + rng.integers(-40, 40, (5, 2))).astype(np.int32)
            cv2.fillPoly(scene, [points], colour, cv2.LINE_AA)
    return scene


def nir_response(scene: np.ndarray) -> np.ndarray:
    """A NIR-like reflectance, nearly uncorrelated with luminance (r ≈ 0.1): green bright unless blue,
    red dark when mid-level and bright when saturated or absent."""
    red, green, blue = scene[..., 0], scene[..., 1], scene[..., 2]
    return np.clip(0.1 + 0.8 * np.sqrt(green) * (1 - blue) + 0.6 * (red - 0.5) ** 2 - 0.3 * red, 0, 1)


def similarity(angle_deg: float, scale: float, centre_from, centre_to, shift=(0.0, 0.0)) -> np.ndarray:
    """Rotate by angle and scale about centre_from, landing on centre_to + shift."""
    c, s = scale * math.cos(math.radians(angle_deg)), scale * math.sin(math.radians(angle_deg))
    to_origin = np.array([[1, 0, -centre_from[0]], [0, 1, -centre_from[1]], [0, 0, 1]], float)
    rotate = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], float)
    back = np.array([[1, 0, centre_to[0] + shift[0]], [0, 1, centre_to[1] + shift[1]], [0, 0, 1]], float)
    return back @ rotate @ to_origin


class Rig:
    """RGB and NIR cameras viewing the scene through different homographies (scene pixel → camera pixel).

    The NIR camera is rotated by `angle_deg` and zoomed by `scale` relative to the RGB one, on top of
    the 0.8 NIR-per-RGB pixel ratio of their frame widths.
    """

    def __init__(self, angle_deg: float, scale: float, shift=(0.0, 0.0), seed: int = 1):
        centre = (SCENE_SIZE[0] / 2, SCENE_SIZE[1] / 2)
        self.to_rgb = similarity(0.0, 1.0, centre, (RGB_SIZE[0] / 2, RGB_SIZE[1] / 2), (3.3, -2.1))
        self.to_rgb[2, :2] = (2e-5, -1e-5)  # a little perspective, so the answer is a true homography
        self.to_nir = similarity(angle_deg, 0.8 * scale, centre, (NIR_SIZE[0] / 2, NIR_SIZE[1] / 2), shift)
        self.seed = seed

    @property
    def true_homography(self) -> np.ndarray:
        matrix = self.to_nir @ np.linalg.inv(self.to_rgb)
        return matrix / matrix[2, 2]

    def frames(self, scene: np.ndarray, count: int = FRAMES, nir_bits: int = 8):
        """(NIR, RGB) pairs, the scene moving between frames; NIR uint8, or uint16 holding nir_bits bits."""
        nir_scene = nir_response(scene)
        rng = np.random.default_rng(self.seed)  # the same noise whichever test asks first
        top = (1 << nir_bits) - 1
        for index in range(count):
            turn = 2 * math.pi * index / count  # a circle of ≤ 70 px keeps both views inside the scene
            move = np.array([[1, 0, 70 * math.cos(turn)], [0, 1, 50 * math.sin(turn)], [0, 0, 1]])
            rgb = cv2.warpPerspective(scene, self.to_rgb @ move, RGB_SIZE, flags=cv2.INTER_LINEAR)
            nir = cv2.warpPerspective(nir_scene, self.to_nir @ move, NIR_SIZE, flags=cv2.INTER_LINEAR)
            rgb = np.clip(rgb + rng.normal(0, 0.01, rgb.shape), 0, 1)
            nir = np.clip(nir + rng.normal(0, 0.01, nir.shape), 0, 1)
            nir = np.round(nir * top).astype(np.uint8 if nir_bits <= 8 else np.uint16)
            yield nir, np.round(rgb * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return make_scene()


def structure(image: np.ndarray) -> np.ndarray:
    image = cv2.GaussianBlur(image.astype(np.float32), (5, 5), 1.0)
    return cv2.magnitude(cv2.Sobel(image, cv2.CV_32F, 1, 0), cv2.Sobel(image, cv2.CV_32F, 0, 1))


def correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    a, b = a[mask] - a[mask].mean(), b[mask] - b[mask].mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


RIGS = {
    "rotate-5": Rig(-5.0, 1.0, (6, -4)),
    "rotate+5": Rig(5.0, 1.0, (-8, 5)),
    "scale0.8": Rig(0.0, 0.8, (3, 2)),
    "scale1.2": Rig(0.0, 1.2, (-4, 3)),
    "rotate+3-scale0.9": Rig(3.0, 0.9, (10, -6)),
}


@pytest.mark.parametrize("name", RIGS)
def test_estimate_recovers_the_rig(scene, name):
    rig = RIGS[name]
    calibration = estimate_homography(rig.frames(scene), nir_bits=8)
    assert isinstance(calibration, Calibration)
    error = homography_error(calibration.homography, rig.true_homography, RGB_SIZE)
    assert error < 0.5, f"{name}: {error:.3f} px from the true homography"
    assert calibration.reprojection_error_px < 2.0
    assert calibration.homography.shape == (3, 3) and calibration.homography[2, 2] == pytest.approx(1.0)
    assert calibration.frames_used == FRAMES
    assert 12 <= calibration.inliers <= calibration.matches


def test_sixteen_bit_nir_uses_only_the_low_bits(scene):
    rig = RIGS["rotate+5"]
    rng = np.random.default_rng(7)
    # Junk in the top 4 bits of a 12-bit camera's 16-bit words must be ignored.
    frames = [(nir | (rng.integers(0, 16, nir.shape, dtype=np.uint16) << 12), rgb)
              for nir, rgb in rig.frames(scene, nir_bits=12)]
    assert frames[0][0].dtype == np.uint16 and frames[0][0].max() > 4095
    calibration = estimate_homography(frames, nir_bits=12)
    assert homography_error(calibration.homography, rig.true_homography, RGB_SIZE) < 0.5


def test_max_frames_bounds_the_frames_read(scene):
    read = []

    def pairs():
        for pair in RIGS["rotate-5"].frames(scene, count=6):
            read.append(1)
            yield pair

    assert estimate_homography(pairs(), 8, max_frames=3).frames_used == 3
    assert len(read) <= 4


def test_the_rig_needs_structure_not_intensity_matching(scene):
    """Warped with the true homography the RGB frame lines up with the NIR view by edges, while their
    intensities hardly correlate (so the test rig cannot be solved by plain intensity matching)."""
    rig = RIGS["scale0.8"]
    nir, rgb = next(rig.frames(scene))
    nir_height, nir_width = nir.shape

    def scores(homography):
        warped = warp_to_nir(rgb, homography, nir_height, nir_width)
        assert warped.shape == (nir_height, nir_width, 3) and warped.dtype == np.uint8
        covered = warp_to_nir(np.full_like(rgb, 255), homography, nir_height, nir_width)[..., 0] == 255
        covered = cv2.erode(covered.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        luma = cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY)
        return correlation(structure(luma), structure(nir), covered), correlation(luma * 1.0, nir * 1.0, covered)

    aligned_structure, aligned_intensity = scores(rig.true_homography)
    one_pixel_off = np.array([[1, 0, 1.0], [0, 1, 0], [0, 0, 1]]) @ rig.true_homography
    assert aligned_structure > 0.3
    assert abs(aligned_intensity) < 0.3
    assert scores(one_pixel_off)[0] < aligned_structure - 0.02
    assert scores(np.eye(3))[0] < 0.1
    # The NIR camera sees more than the RGB one here: the uncovered border stays black.
    warped = warp_to_nir(rgb, rig.true_homography, nir_height, nir_width)
    assert not warped[0, 0].any() and not warped[-1, -1].any()
    # 400×300 RGB pixels at 0.64 NIR pixels each: 256×192 of the 320×240 NIR frame.
    assert coverage(rig.true_homography, RGB_SIZE, NIR_SIZE) == pytest.approx(0.64, abs=0.01)


def test_coverage_of_simple_placements():
    shift_half = [[1, 0, 160], [0, 1, 0], [0, 0, 1]]
    assert coverage(np.eye(3), (320, 240), (320, 240)) == 1.0
    assert coverage(shift_half, (320, 240), (320, 240)) == pytest.approx(0.5)
    assert coverage([[0.5, 0, 0], [0, 0.5, 0], [0, 0, 1]], (320, 240), (320, 240)) == pytest.approx(0.25)
    assert coverage([[1, 0, 1000], [0, 1, 0], [0, 0, 1]], (320, 240), (320, 240)) == 0.0


def test_homography_error_is_a_mean_pixel_distance():
    true = RIGS["rotate-5"].true_homography
    assert homography_error(true, true, RGB_SIZE) == pytest.approx(0.0, abs=1e-9)
    moved = np.array([[1, 0, 0.6], [0, 1, -0.8], [0, 0, 1]]) @ true
    assert homography_error(moved, true, RGB_SIZE) == pytest.approx(1.0)


def test_featureless_frames_raise():
    flat = [(np.full(NIR_SIZE[::-1], 90, np.uint8), np.full((*RGB_SIZE[::-1], 3), 120, np.uint8))] * 5
    with pytest.raises(CalibrationError, match="feature matches"):
        estimate_homography(flat, 8)
    rng = np.random.default_rng(3)
    noisy = [(np.clip(90 + rng.normal(0, 2, NIR_SIZE[::-1]), 0, 255).astype(np.uint8),
              np.clip(120 + rng.normal(0, 2, (*RGB_SIZE[::-1], 3)), 0, 255).astype(np.uint8)) for _ in range(5)]
    with pytest.raises(CalibrationError):
        estimate_homography(noisy, 8)


def test_unrelated_views_raise(scene):
    """NIR of one scene against RGB of another: matches exist, but no homography explains them."""
    nir_frames = [nir for nir, _ in RIGS["rotate-5"].frames(scene)]
    rgb_frames = [rgb for _, rgb in RIGS["rotate-5"].frames(make_scene(seed=5))]
    with pytest.raises(CalibrationError, match="agree on a homography"):
        estimate_homography(zip(nir_frames, rgb_frames), 8)


def test_bad_frames_are_value_errors(scene):
    nir, rgb = next(RIGS["rotate-5"].frames(scene))
    with pytest.raises(ValueError, match="frame 0: RGB"):
        estimate_homography([(nir, rgb[..., 0])], 8)
    with pytest.raises(ValueError, match="frame 0: NIR"):
        estimate_homography([(nir.astype(np.float32), rgb)], 8)
    with pytest.raises(ValueError, match="frame 1: sizes"):
        estimate_homography([(nir, rgb), (nir[:100], rgb)], 8)
    with pytest.raises(ValueError, match="nir_bits"):
        estimate_homography([(nir, rgb)], 0)


WHERE = "rig/recording.json"


def test_parse_accepts_nested_flat_and_normalizes():
    nested = parse_homography([[2, 0, 4], [0, 2.0, 6], [0, 0, 2]], WHERE)
    flat = parse_homography([2, 0, 4, 0, 2.0, 6, 0, 0, 2], WHERE)
    assert nested.dtype == np.float64 and nested.shape == (3, 3)
    np.testing.assert_array_equal(nested, [[1, 0, 2], [0, 1, 3], [0, 0, 1]])
    np.testing.assert_array_equal(flat, nested)
    np.testing.assert_array_equal(parse_homography(np.eye(3), WHERE), np.eye(3))
    # H[2, 2] == 0 (the origin maps to infinity) is unusual but invertible: kept as given.
    assert parse_homography([[1, 0, 0], [0, 0, 1], [0, 1, 0]], WHERE)[2, 2] == 0


@pytest.mark.parametrize("value", [
    "[[1,0,0],[0,1,0],[0,0,1]]",  # a string, not parsed JSON
    None,
    {"rows": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]},
    1.0,
    [[1, 0, 0], [0, 1, 0]],  # 2 rows
    [1, 0, 0, 0, 1, 0, 0, 0],  # 8 numbers
    [[1, 0, 0], [0, 1], [0, 0, 1]],  # ragged
    [[[1], 0, 0], [0, 1, 0], [0, 0, 1]],  # nested too deep
    [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]],  # 4 rows
    [[1, 0, float("nan")], [0, 1, 0], [0, 0, 1]],
    [1, 0, 0, 0, float("inf"), 0, 0, 0, 1],
    [[True, 0, 0], [0, 1, 0], [0, 0, 1]],
    [[1, 0, "2"], [0, 1, 0], [0, 0, 1]],
    [[1, 2, 3], [2, 4, 6], [0, 0, 1]],  # singular
    [[0, 0, 0], [0, 0, 0], [0, 0, 0]],
    [[1e-6, 0, 0], [0, 1e-6, 0], [0, 0, 1]],  # collapses the frame to a point
])
def test_parse_rejects_malformed(value):
    with pytest.raises(ValueError, match=re.escape(f"{WHERE}: homography must be")):
        parse_homography(value, WHERE)


@pytest.mark.parametrize("name", ["rotate+5", "scale0.8"])
def test_black_borders_in_the_rgb_frames_do_not_pull_the_estimate(scene, name):
    """Undistorted or letterboxed RGB frames have black corners or bars: their edges are not the scene's."""
    rig = RIGS[name]

    def bordered(frames):
        for nir, rgb in frames:
            rgb = rgb.copy()
            rgb[:24], rgb[:, :30] = 0, 0  # a black bar on top, a black strip on the left
            yield nir, rgb

    calibration = estimate_homography(bordered(rig.frames(scene)), nir_bits=8)
    error = homography_error(calibration.homography, rig.true_homography, RGB_SIZE)
    assert error < 0.5, f"{name}: {error:.3f} px from the true homography"
