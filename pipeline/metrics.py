"""Image metrics for colorization quality: the paper's L1 error (§4, Tables 1–3), PSNR, SSIM, CIEDE2000,
and the angular error (AE) that NIR-colorization papers on VCIP 2020 report.

Every function takes RGB as float arrays in [0,1] (or uint8, converted by `as_unit_float`) shaped
(H,W,3) or (N,H,W,3); results are per-frame means unless a function says otherwise.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter

# SSIM constants of Wang et al. 2004: K1, K2, gaussian window σ = 1.5 truncated to 11×11.
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # radius int(3.5·1.5 + 0.5) = 5 → an 11×11 window
# ITU-R BT.601 luma weights: SSIM is measured on this luminance channel.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def as_unit_float(rgb: np.ndarray) -> np.ndarray:
    """uint8 → float64 / 255; float arrays are taken as already in [0,1]."""
    array = np.asarray(rgb)
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255.0
    return array.astype(np.float64, copy=False)


def l1_error(prediction: np.ndarray, target: np.ndarray) -> float:
    """The paper's L1 error: mean absolute difference over pixels and channels, values in [0,1]."""
    prediction, target = _checked_pair(prediction, target)
    return float(np.mean(np.abs(prediction - target)))


def mean_squared_error(prediction: np.ndarray, target: np.ndarray) -> float:
    prediction, target = _checked_pair(prediction, target)
    return float(np.mean((prediction - target) ** 2))


def psnr(prediction: np.ndarray, target: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for a peak of 1.0; +inf for identical images."""
    mse = mean_squared_error(prediction, target)
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(1.0 / mse))


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(…,3) RGB in [0,1] → (…) BT.601 luma in [0,1]."""
    return as_unit_float(rgb) @ LUMA_WEIGHTS


def ssim(prediction: np.ndarray, target: np.ndarray, channels: str = "luminance") -> float:
    """Structural similarity (Wang et al. 2004) with a gaussian window, data range 1.

    `channels="luminance"` (the default, used in the evaluation tables) compares BT.601 luma;
    `"rgb"` averages SSIM over the three channels. For (N,H,W,3) input the frames' mean is returned.
    """
    prediction, target = _checked_pair(prediction, target)
    if prediction.ndim == 3:
        prediction, target = prediction[None], target[None]
    if channels == "luminance":
        planes = [(luminance(prediction), luminance(target))]
    elif channels == "rgb":
        planes = [(prediction[..., c], target[..., c]) for c in range(3)]
    else:
        raise ValueError(f"channels must be 'luminance' or 'rgb', got {channels!r}")
    values = [ssim_map(x[i], y[i]).mean() for x, y in planes for i in range(x.shape[0])]
    return float(np.mean(values))


def ssim_map(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two (H,W) planes in [0,1], borders where the window leaves the image cropped."""
    c1 = (SSIM_K1 * 1.0) ** 2
    c2 = (SSIM_K2 * 1.0) ** 2

    def blur(plane: np.ndarray) -> np.ndarray:
        return gaussian_filter(plane, sigma=SSIM_SIGMA, truncate=SSIM_TRUNCATE, mode="reflect")

    first = first.astype(np.float64, copy=False)
    second = second.astype(np.float64, copy=False)
    mean_first, mean_second = blur(first), blur(second)
    variance_first = blur(first * first) - mean_first**2
    variance_second = blur(second * second) - mean_second**2
    covariance = blur(first * second) - mean_first * mean_second
    numerator = (2 * mean_first * mean_second + c1) * (2 * covariance + c2)
    denominator = (mean_first**2 + mean_second**2 + c1) * (variance_first + variance_second + c2)
    full = numerator / denominator
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    # Same crop as Wang et al.'s reference (and scikit-image): only windows fully inside the image.
    if first.shape[0] > 2 * radius and first.shape[1] > 2 * radius:
        return full[radius:-radius, radius:-radius]
    return full


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0,1] (…,3) → CIE L*a*b* (D65) via OpenCV's float conversion: L in [0,100]."""
    array = np.ascontiguousarray(as_unit_float(rgb), dtype=np.float32)
    shape = array.shape
    flat = array.reshape(-1, 1, 3)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(shape).astype(np.float64)


def ciede2000(lab_first: np.ndarray, lab_second: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (kL = kC = kH = 1), elementwise over (…,3) Lab arrays.

    Follows Sharma, Wu & Dalal, "The CIEDE2000 color-difference formula: implementation notes"
    (2005), including their conventions for zero chroma and for the mean hue across ±180°.
    """
    lab_first = np.asarray(lab_first, dtype=np.float64)
    lab_second = np.asarray(lab_second, dtype=np.float64)
    l1, a1, b1 = lab_first[..., 0], lab_first[..., 1], lab_first[..., 2]
    l2, a2, b2 = lab_second[..., 0], lab_second[..., 1], lab_second[..., 2]

    chroma_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0
    chroma_mean7 = chroma_mean**7
    g = 0.5 * (1.0 - np.sqrt(chroma_mean7 / (chroma_mean7 + 25.0**7)))
    a1_prime, a2_prime = (1.0 + g) * a1, (1.0 + g) * a2
    c1_prime, c2_prime = np.hypot(a1_prime, b1), np.hypot(a2_prime, b2)
    h1_prime = np.degrees(np.arctan2(b1, a1_prime)) % 360.0
    h2_prime = np.degrees(np.arctan2(b2, a2_prime)) % 360.0
    # Hue is undefined at zero chroma; Sharma et al. set it (and its difference) to 0.
    h1_prime = np.where(c1_prime == 0, 0.0, h1_prime)
    h2_prime = np.where(c2_prime == 0, 0.0, h2_prime)
    chroma_zero = (c1_prime * c2_prime) == 0

    delta_l = l2 - l1
    delta_c = c2_prime - c1_prime
    hue_difference = h2_prime - h1_prime
    delta_h_angle = np.where(
        hue_difference > 180.0, hue_difference - 360.0,
        np.where(hue_difference < -180.0, hue_difference + 360.0, hue_difference),
    )
    delta_h_angle = np.where(chroma_zero, 0.0, delta_h_angle)
    delta_h = 2.0 * np.sqrt(c1_prime * c2_prime) * np.sin(np.radians(delta_h_angle / 2.0))

    l_mean = (l1 + l2) / 2.0
    c_mean = (c1_prime + c2_prime) / 2.0
    hue_sum = h1_prime + h2_prime
    h_mean = np.where(
        np.abs(h1_prime - h2_prime) <= 180.0, hue_sum / 2.0,
        np.where(hue_sum < 360.0, (hue_sum + 360.0) / 2.0, (hue_sum - 360.0) / 2.0),
    )
    h_mean = np.where(chroma_zero, hue_sum, h_mean)

    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_mean - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_mean))
        + 0.32 * np.cos(np.radians(3.0 * h_mean + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_mean - 63.0))
    )
    delta_theta = 30.0 * np.exp(-(((h_mean - 275.0) / 25.0) ** 2))
    c_mean7 = c_mean**7
    rotation_c = 2.0 * np.sqrt(c_mean7 / (c_mean7 + 25.0**7))
    weight_l = 1.0 + 0.015 * (l_mean - 50.0) ** 2 / np.sqrt(20.0 + (l_mean - 50.0) ** 2)
    weight_c = 1.0 + 0.045 * c_mean
    weight_h = 1.0 + 0.015 * c_mean * t
    rotation = -np.sin(np.radians(2.0 * delta_theta)) * rotation_c

    term_l = delta_l / weight_l
    term_c = delta_c / weight_c
    term_h = delta_h / weight_h
    return np.sqrt(term_l**2 + term_c**2 + term_h**2 + rotation * term_c * term_h)


def delta_e(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean CIEDE2000 ΔE over pixels between two RGB images in [0,1] (Lab via OpenCV, D65)."""
    prediction, target = _checked_pair(prediction, target)
    return float(np.mean(ciede2000(rgb_to_lab(prediction), rgb_to_lab(target))))


def angular_error(prediction: np.ndarray, target: np.ndarray) -> float:
    """Angular error in degrees: per pixel the angle between the two RGB vectors (arccos of their
    normalized dot product), mean over pixels; for (N,H,W,3) input the frames' mean.

    Pixels where either vector is black have no direction and are left out; a frame with no
    such pixel left scores 0.
    """
    prediction, target = _checked_pair(prediction, target)
    if prediction.ndim == 4:
        return float(np.mean([angular_error(p, t) for p, t in zip(prediction, target)]))
    first, second = prediction.reshape(-1, 3), target.reshape(-1, 3)
    norms = np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1)
    defined = norms > 0
    if not defined.any():
        return 0.0
    cosine = np.einsum("ij,ij->i", first[defined], second[defined]) / norms[defined]
    return float(np.degrees(np.mean(np.arccos(np.clip(cosine, -1.0, 1.0)))))


def frame_metrics(prediction: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """All table metrics for one (H,W,3) frame pair in [0,1]."""
    return {
        "l1": l1_error(prediction, target),
        "psnr": psnr(prediction, target),
        "ssim": ssim(prediction, target),
        "delta_e": delta_e(prediction, target),
        "angular_error": angular_error(prediction, target),
    }


METRIC_NAMES = ("l1", "psnr", "ssim", "delta_e", "angular_error")


def _checked_pair(prediction: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prediction, target = as_unit_float(prediction), as_unit_float(target)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {prediction.shape} and target {target.shape} differ in shape")
    if prediction.shape[-1] != 3 and prediction.ndim >= 3:
        raise ValueError(f"RGB arrays must end in 3 channels, got shape {prediction.shape}")
    return prediction, target
