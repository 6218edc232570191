"""Training settings beyond the paper's §4.2 recipe, for small real datasets: learning-rate schedules
and paired augmentation. Every one is off by default (the paper's constant η, crops and flips only)
and a pure function of (seed, step, pair), so a resumed run continues exactly.

Why they exist: on ~400 real VCIP 2020 pairs the paper's settings stall at the mean colour
(docs/results.md); the NIR colorizers that do well there (MCFNet, ColorMamba) decay the learning
rate, use Adam β1 = 0.5 and train on random scale-crops with flips and contrast jitter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

SCHEDULES = ("constant", "linear", "cosine", "step")


@dataclass(frozen=True)
class LearningRateSchedule:
    """η(step) = η0 · factor(step). `constant` is the paper's; `linear` and `cosine` decay from η0 to
    `final_fraction`·η0 at `total_steps`; `step` multiplies by `gamma` every `step_every` steps."""

    kind: str = "constant"
    total_steps: int = 60_000
    final_fraction: float = 0.0
    step_every: int = 0
    gamma: float = 0.5

    def __post_init__(self):
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown learning-rate schedule {self.kind!r}; choose from {', '.join(SCHEDULES)}")
        if self.kind == "step" and self.step_every < 1:
            raise ValueError("the step schedule needs --lr-step-every of at least 1")
        if not 0.0 <= self.final_fraction <= 1.0:
            raise ValueError(f"the final learning-rate fraction must lie in [0, 1], got {self.final_fraction}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"the step schedule's gamma must lie in (0, 1], got {self.gamma}")

    def factor(self, step: int) -> float:
        """The multiplier of η0 for the step about to be taken (0-based)."""
        if self.kind == "constant":
            return 1.0
        if self.kind == "step":
            return self.gamma ** (step // self.step_every)
        progress = min(max(step / max(self.total_steps, 1), 0.0), 1.0)
        if self.kind == "linear":
            shape = 1.0 - progress
        else:
            shape = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.final_fraction + (1.0 - self.final_fraction) * shape


@dataclass(frozen=True)
class Augmentation:
    """Paired augmentation beyond the paper's crops and flips.

    `scale_min` < 1 takes a random region of `s`× the training size (s uniform in [scale_min, 1]) and
    resizes it back, so the network sees objects up to 1/scale_min larger. `contrast` > 0 stretches
    the NIR input's contrast about its mean by a factor uniform in [1 − contrast, 1 + contrast]; the
    RGB target stays as recorded (the colours to learn do not change with the NIR exposure).
    """

    scale_min: float = 1.0
    contrast: float = 0.0

    def __post_init__(self):
        if not 0.1 <= self.scale_min <= 1.0:
            raise ValueError(f"the scale-crop minimum must lie in [0.1, 1], got {self.scale_min}")
        if not 0.0 <= self.contrast < 1.0:
            raise ValueError(f"the contrast jitter must lie in [0, 1), got {self.contrast}")

    @property
    def scales(self) -> bool:
        return self.scale_min < 1.0

    def scale_crop(self, nir: np.ndarray, rgb: np.ndarray, size: tuple[int, int],
                   random: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A random region of s·size (at least 8 px a side) of the frame, resized to `size` (H, W)."""
        height, width = nir.shape
        scale = float(random.uniform(self.scale_min, 1.0))
        region_h = min(height, max(8, round(scale * size[0])))
        region_w = min(width, max(8, round(scale * size[1])))
        top = int(random.integers(0, height - region_h + 1))
        left = int(random.integers(0, width - region_w + 1))
        nir = nir[top : top + region_h, left : left + region_w]
        rgb = rgb[top : top + region_h, left : left + region_w]
        if (region_h, region_w) != tuple(size):
            target = (size[1], size[0])  # cv2 takes (width, height)
            nir = cv2.resize(np.ascontiguousarray(nir), target, interpolation=cv2.INTER_LINEAR)
            rgb = cv2.resize(np.ascontiguousarray(rgb), target, interpolation=cv2.INTER_LINEAR)
        return nir, rgb

    def jitter_contrast(self, nir: torch.Tensor, random: np.random.Generator) -> torch.Tensor:
        """(1,H,W) NIR in [0,1] with its contrast scaled about its mean, clamped to [0,1]."""
        if self.contrast <= 0.0:
            return nir
        factor = float(random.uniform(1.0 - self.contrast, 1.0 + self.contrast))
        mean = nir.mean()
        return ((nir - mean) * factor + mean).clamp(0.0, 1.0)


PAPER_AUGMENTATION = Augmentation()
