"""Two-camera rigs: the RGB→NIR homography, read from a recording or estimated from frame pairs.

NIR reflectance differs from visible colour, so estimation matches structure, not intensity: SIFT on
locally normalized gradient magnitudes, matches pooled over frames, a similarity RANSAC then a homography
RANSAC, then ECC on the gradient images of the best frames.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

from nircolor.dataset_tools.registration import luminance

MIN_INLIERS = 12
_RATIO = 0.9  # Lowe's ratio test, loose: cross-modal descriptors are less distinctive; RANSAC sorts them
_SIMILARITY_PX = 8.0  # similarity-stage tolerance, NIR pixels (or 2 % of the diagonal): room for perspective
_RANSAC_PX = 3.0  # homography inlier threshold, NIR pixels
# Matches scattered at random within that threshold are 2 px off on average: a fit no closer than
# that is chance agreement (a mirrored view matched unmirrored finds one), not the rig.
_MAX_MEAN_ERROR_PX = 2.0
_EDGE_FLOOR = 0.05  # Sobel response of a ~1.5 % step: flat-field sensor noise stays far below it
_ECC_FRAMES = 3  # frames (most matches first) refined by ECC; the median of their results is kept
_ECC_MAX_MOVE = 0.03  # of the NIR diagonal: an ECC result further from the feature estimate has diverged


class CalibrationError(ValueError):
    """The frames do not determine a trustworthy homography."""


@dataclass(frozen=True)
class Calibration:
    homography: np.ndarray  # (3, 3) float64, RGB pixel (x, y, 1) → NIR pixel, H[2, 2] == 1
    reprojection_error_px: float  # mean NIR-pixel distance of the inlier matches under `homography`
    frames_used: int
    matches: int
    inliers: int


def parse_homography(value, where: str) -> np.ndarray:
    """A JSON homography (3 rows of 3 numbers, or 9 numbers row-major) as float64 (3, 3), H[2, 2] == 1."""

    def fail(reason: str):
        raise ValueError(f"{where}: homography must be {reason}")

    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        fail(f"a list of 3 rows of 3 numbers or of 9 numbers, not {type(value).__name__}")
    if len(value) == 9 and not any(isinstance(v, (list, tuple)) for v in value):
        flat = list(value)
    elif len(value) == 3 and all(isinstance(row, (list, tuple)) and len(row) == 3 for row in value):
        flat = [v for row in value for v in row]
    else:
        fail("3 rows of 3 numbers or a flat list of 9 numbers")
    for v in flat:
        # bool is an int subclass, but `true` in a matrix is a typo, not a 1.
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            fail(f"made of real numbers; {v!r} is not one")
        if not math.isfinite(v):
            fail(f"made of finite numbers; {v!r} is not one")
    matrix = np.array(flat, dtype=np.float64).reshape(3, 3)
    if abs(matrix[2, 2]) > 1e-12 * np.abs(matrix).max():
        matrix /= matrix[2, 2]
    # |det| catches collapsed scales, the condition number near-rank-deficient matrices of any scale.
    if abs(np.linalg.det(matrix)) < 1e-9 or np.linalg.cond(matrix) > 1e12:
        fail("invertible; this one is singular")
    return matrix


def warp_to_nir(rgb: np.ndarray, homography, nir_height: int, nir_width: int) -> np.ndarray:
    """The RGB frame (h, w, 3) uint8 resampled onto the NIR grid (nir_height, nir_width, 3), uncovered pixels 0."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"warp_to_nir: RGB frame must be (h, w, 3) uint8, not {rgb.shape} {rgb.dtype}")
    matrix = parse_homography(homography, "warp_to_nir")
    return cv2.warpPerspective(rgb, matrix, (int(nir_width), int(nir_height)), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def coverage(homography, rgb_size: tuple[int, int], nir_size: tuple[int, int]) -> float:
    """Fraction of NIR pixels the warped RGB frame covers; sizes are (width, height)."""
    matrix = parse_homography(homography, "coverage")
    # Warping a mask is exact per pixel and, unlike clipping the corner polygon, survives corners
    # that the perspective part sends behind the camera.
    mask = np.full((int(rgb_size[1]), int(rgb_size[0])), 255, np.uint8)
    warped = cv2.warpPerspective(mask, matrix, (int(nir_size[0]), int(nir_size[1])), flags=cv2.INTER_NEAREST,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return float(np.count_nonzero(warped)) / warped.size


def _grid(size: tuple[int, int], steps: int = 11) -> np.ndarray:
    xs, ys = np.meshgrid(np.linspace(0, size[0] - 1, steps), np.linspace(0, size[1] - 1, steps))
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), matrix).reshape(-1, 2)


def homography_error(estimated, true, rgb_size: tuple[int, int]) -> float:
    """Mean NIR-pixel distance between a grid over the RGB frame (width, height) mapped by both homographies."""
    grid = _grid(rgb_size)
    estimated = parse_homography(estimated, "estimated")
    true = parse_homography(true, "true")
    return float(np.linalg.norm(_apply(estimated, grid) - _apply(true, grid), axis=1).mean())


def _structure(unit: np.ndarray) -> np.ndarray:
    """Gradient magnitude of an image in [0, 1] over its local mean, float32, edges ≈ 1..8.

    The magnitude is polarity-free, so an edge dark-to-bright in RGB and bright-to-dark in NIR agree;
    dividing by the neighbourhood's mean evens out the cameras' different contrasts per edge.
    """
    blurred = cv2.GaussianBlur(unit, (5, 5), 1.0)
    gx = cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(blurred, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = cv2.magnitude(gx, gy)
    # The floor keeps flat regions' sensor noise from being amplified into texture.
    floor = max(0.02 * float(magnitude.max()), _EDGE_FLOOR)
    structure = magnitude / (cv2.GaussianBlur(magnitude, (0, 0), 6.0) + floor)
    structure[_scene_mask(unit) == 0] = 0
    return structure


def _scene_mask(unit: np.ndarray) -> np.ndarray:
    """255 where a frame shows the scene; 0 on black corners of undistorted frames and letterbox bars
    (flat and dark) and the edge around them, which belongs to the camera and would pull ECC towards
    the other camera's frame border."""
    window = np.ones((5, 5), np.uint8)
    flat_dark = (cv2.dilate(unit, window) - cv2.erode(unit, window) <= 2 / 255) & (unit <= 3 / 255)
    border = cv2.dilate(flat_dark.astype(np.uint8), np.ones((9, 9), np.uint8))
    return np.where(border > 0, 0, 255).astype(np.uint8)


def _to_uint8(structure: np.ndarray) -> np.ndarray:
    return np.clip(structure * 64.0, 0, 255).astype(np.uint8)  # a fixed scale: noise stays faint


def _check_pair(nir: np.ndarray, rgb: np.ndarray, index: int) -> None:
    if nir.ndim != 2 or nir.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"frame {index}: NIR must be (H, W) uint8 or uint16, not {nir.shape} {nir.dtype}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"frame {index}: RGB must be (h, w, 3) uint8, not {rgb.shape} {rgb.dtype}")


def _correlation(warp: np.ndarray, nir_structure: np.ndarray, rgb_structure: np.ndarray, rgb_mask: np.ndarray) -> float:
    """ECC's criterion for `warp` (NIR → RGB pixels) over the NIR pixels the RGB frame covers."""
    size = (nir_structure.shape[1], nir_structure.shape[0])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(rgb_structure, warp, size, flags=flags)
    covered = cv2.warpPerspective(rgb_mask, warp, size, flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    return float(cv2.computeECC(nir_structure, warped, covered))


def _refine_ecc(matrix: np.ndarray, nir_structure: np.ndarray, rgb_structure: np.ndarray, rgb_mask: np.ndarray):
    """ECC on the structure images from the feature estimate; None when it fails or correlates worse."""
    start = np.linalg.inv(matrix).astype(np.float32)  # ECC's warp maps template (NIR) → input (RGB) pixels
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-6)
    try:
        _, warp = cv2.findTransformECC(nir_structure, rgb_structure, start.copy(), cv2.MOTION_HOMOGRAPHY,
                                       criteria, rgb_mask, 5)
    except cv2.error:
        return None
    refined = np.linalg.inv(warp.astype(np.float64))
    refined /= refined[2, 2]
    # Feature estimates from unevenly spread matches can be a few pixels off (ECC fixes that), but a
    # result far away, or one that matches the structure worse, has slid into another optimum.
    rgb_size = (rgb_structure.shape[1], rgb_structure.shape[0])
    limit = _ECC_MAX_MOVE * math.hypot(*nir_structure.shape)
    if not np.all(np.isfinite(refined)) or homography_error(refined, matrix, rgb_size) > limit:
        return None
    if _correlation(warp, nir_structure, rgb_structure, rgb_mask) <= _correlation(start, nir_structure, rgb_structure,
                                                                                    rgb_mask):
        return None
    return refined


def _robust_inliers(rgb_points: np.ndarray, nir_points: np.ndarray, nir_shape) -> np.ndarray:
    """Matches consistent with one similarity transform, within a loose tolerance for perspective."""
    # Cross-modal matches are mostly wrong (a few % right): a 4-point homography sample would need
    # ~10⁶ RANSAC draws, a 2-point similarity sample needs thousands.
    tolerance = max(_SIMILARITY_PX, 0.02 * math.hypot(*nir_shape))
    similarity, mask = cv2.estimateAffinePartial2D(rgb_points, nir_points, method=cv2.RANSAC, maxIters=20000,
                                                   ransacReprojThreshold=tolerance, confidence=0.9999)
    if similarity is None:
        return np.zeros(len(rgb_points), bool)
    return mask.ravel().astype(bool)


def _degenerate(matrix: np.ndarray, rgb_inliers: np.ndarray, nir_inliers: np.ndarray,
                rgb_size: tuple[int, int], nir_size: tuple[int, int]) -> str | None:
    """Why a fitted homography cannot be a camera pair's, or None."""
    width, height = rgb_size
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)
    depth = corners @ matrix[2, :2] + matrix[2, 2]  # linear, so positive at the corners means everywhere
    determinant = np.linalg.det(matrix)
    if determinant <= 0 or np.any(depth <= 0):
        return "mirrors the RGB frame or folds it over the horizon"
    scale = np.sqrt(determinant / depth**3)  # local linear scale: |Jacobian| = det(H) / depth³
    if scale.min() < 0.05 or scale.max() > 20:
        return f"scales the RGB frame by {scale.min():.3g}..{scale.max():.3g}, outside 0.05..20"
    for points, (w, h), name in ((rgb_inliers, rgb_size, "RGB"), (nir_inliers, nir_size, "NIR")):
        spread = cv2.contourArea(cv2.convexHull(points.astype(np.float32))) / (w * h)
        if spread < 0.05:  # a homography fitted to one corner extrapolates wildly elsewhere
            return f"rests on matches spanning only {spread:.1%} of the {name} frame"
    return None


def _frame_matches(nir_structure: np.ndarray, rgb_structure: np.ndarray, sift, matcher):
    """(RGB points, NIR points) of one frame's SIFT matches on the structure images."""
    nir_image, rgb_image = _to_uint8(nir_structure), _to_uint8(rgb_structure)
    nir_keys, nir_descriptors = sift.detectAndCompute(nir_image, None)
    rgb_keys, rgb_descriptors = sift.detectAndCompute(rgb_image, None)
    if len(nir_keys) < 2 or len(rgb_keys) < 2:
        return [], []
    pairs = matcher.knnMatch(rgb_descriptors, nir_descriptors, k=2)
    good = [m for m, n in pairs if m.distance < _RATIO * n.distance]
    return [rgb_keys[m.queryIdx].pt for m in good], [nir_keys[m.trainIdx].pt for m in good]


def mirror_matrix(rgb_width: int) -> np.ndarray:
    """RGB pixel → the same pixel of the left-right mirrored frame (x → width − 1 − x)."""
    return np.array([[-1.0, 0.0, rgb_width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def estimate_homography(pairs: Iterable[tuple[np.ndarray, np.ndarray]], nir_bits: int, *,
                        max_frames: int = 30, mirrored: bool = False) -> Calibration:
    """The RGB→NIR homography of a rig from up to `max_frames` (NIR, RGB) frame pairs.

    `mirrored`: the RGB camera sees the scene mirrored (through a mirror or beam splitter, or with
    its image flipped), so the homography reverses orientation. SIFT matches rotated views but not
    mirrored ones: the frames are matched flipped left-right and the flip is folded into the result.
    An upside-down mirror image is that flip turned by 180°, so one flag covers every mirroring."""
    if not 1 <= nir_bits <= 16:
        raise ValueError(f"nir_bits must be 1..16, not {nir_bits}")
    sift, matcher = cv2.SIFT_create(), cv2.BFMatcher(cv2.NORM_L2)
    rgb_points, nir_points, best = [], [], []  # best: (matches, NIR and RGB structure, RGB mask) for ECC
    shapes, frames_used = None, 0
    for index, (nir, rgb) in enumerate(pairs):
        if index >= max_frames:
            break
        nir, rgb = np.asarray(nir), np.asarray(rgb)
        _check_pair(nir, rgb, index)
        if shapes is None:
            shapes = (nir.shape, rgb.shape)
        elif shapes != (nir.shape, rgb.shape):
            raise ValueError(f"frame {index}: sizes {nir.shape}, {rgb.shape} differ from frame 0's {shapes}")
        frames_used += 1
        if mirrored:
            rgb = np.ascontiguousarray(rgb[:, ::-1])
        nir_unit = (nir & ((1 << nir_bits) - 1)).astype(np.float32) / float((1 << nir_bits) - 1)
        nir_structure = _structure(nir_unit)
        rgb_unit = luminance(rgb).astype(np.float32) / 255.0
        rgb_structure = _structure(rgb_unit)
        frame_rgb, frame_nir = _frame_matches(nir_structure, rgb_structure, sift, matcher)
        rgb_points += frame_rgb
        nir_points += frame_nir
        best.append((len(frame_rgb), nir_structure, rgb_structure, _scene_mask(rgb_unit)))
        best = sorted(best, key=lambda item: -item[0])[:_ECC_FRAMES]  # bounded memory on long recordings
    matches = len(rgb_points)
    # Cross-modal matching of a mirrored view finds next to nothing that agrees: say what to try.
    hint = (" (calibrated as mirrored: is the RGB camera's view really mirrored?)" if mirrored
            else " (if the RGB camera sees the scene mirrored, calibrate with --mirrored)")
    if matches < MIN_INLIERS:
        raise CalibrationError(f"only {matches} feature matches in {frames_used} frames; "
                               f"at least {MIN_INLIERS} are needed (are the frames featureless?)")
    rgb_points, nir_points = np.float64(rgb_points), np.float64(nir_points)
    inlier = _robust_inliers(rgb_points, nir_points, shapes[0])
    matrix = None
    if inlier.sum() >= MIN_INLIERS:
        matrix, mask = cv2.findHomography(rgb_points[inlier], nir_points[inlier], cv2.RANSAC, _RANSAC_PX,
                                          maxIters=5000, confidence=0.9999)
        inlier[inlier] = mask.ravel().astype(bool) if matrix is not None else False
    if matrix is None or inlier.sum() < MIN_INLIERS:
        raise CalibrationError(f"only {int(inlier.sum())} of {matches} feature matches agree on a "
                               f"homography; at least {MIN_INLIERS} are needed{hint}")
    rgb_size, nir_size = (shapes[1][1], shapes[1][0]), (shapes[0][1], shapes[0][0])
    try:
        matrix = parse_homography(matrix, "estimated")
    except ValueError:
        raise CalibrationError("the feature matches give a singular homography") from None
    reason = _degenerate(matrix, rgb_points[inlier], nir_points[inlier], rgb_size, nir_size)
    if reason:
        raise CalibrationError(f"the estimated homography {reason}{hint}")
    grid = _grid(rgb_size)
    refined = [r for r in (_refine_ecc(matrix, n, rgb, mask) for _, n, rgb, mask in best) if r is not None]
    if refined:
        # The median of each frame's mapped grid, refitted, pools the frames and outvotes a stray one.
        mapped = np.median([_apply(r, grid) for r in refined], axis=0)
        matrix = parse_homography(cv2.findHomography(grid, mapped, 0)[0], "refined")
    errors = np.linalg.norm(_apply(matrix, rgb_points[inlier]) - nir_points[inlier], axis=1)
    if errors.mean() > _MAX_MEAN_ERROR_PX:
        raise CalibrationError(f"the {int(inlier.sum())} of {matches} feature matches that agree on a homography "
                               f"are {errors.mean():.1f} px off on average, no closer than chance{hint}")
    if mirrored:  # the points above are in the flipped frame; the errors, NIR distances, stay as they are
        matrix = parse_homography(matrix @ mirror_matrix(rgb_size[0]), "mirrored")
    return Calibration(matrix, float(errors.mean()), frames_used, matches, int(inlier.sum()))
