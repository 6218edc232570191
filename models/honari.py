"""Recombinator Networks (Honari et al., CVPR 2016) as the paper's `honari-<nc>-<branches>[-i]` (§3.4, Table 3).

A static down path (3×3 convs, 2×2 average pooling) yields one feature map per scale; going
back coarse to fine, each branch concatenates the nearest-neighbour-upsampled output of the
coarser branch with its own features and convolves them (the RCN recombination).

Interpretation (the paper names only nc = 64 and 5 branches): every 3×3 convolution has nc
filters and is followed by per-sample normalization and ReLU (as in the original RCN); one
convolution per scale going down (the first reads the NIR frame), one more at the coarsest
scale, one after each recombination, then a 3×3 output convolution and a sigmoid. Up- and
downsampling stay static (average pooling, nearest neighbour), as §3.4 says of RCNs. `i`
replaces each 3×3 convolution except the output one (three channels cannot split into four
branches) with the stride-1 inception module of Figure 2 (models/inception.py).
honari-64-5: 0.48M parameters (paper 0.5M); honari-64-5-i: 0.23M (paper 0.2M).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nircolor.models.common import Generator, norm, xavier_init
from nircolor.models.inception import Inception
from nircolor.models.names import ModelNameError


@dataclass(frozen=True)
class HonariConfig:
    base_channels: int = 64
    branches: int = 5
    inception: bool = False  # `i`: inception modules instead of the 3×3 convolutions

    family = "honari"

    @property
    def name(self) -> str:
        return f"honari-{self.base_channels}-{self.branches}" + ("-i" if self.inception else "")

    @classmethod
    def from_name_parts(cls, parts: list[str]) -> "HonariConfig":
        valid = len(parts) in (2, 3) and parts[0].isdigit() and parts[1].isdigit() and parts[2:] in ([], ["i"])
        if not valid:
            raise ModelNameError("honari names are honari-<nc>-<branches>[-i][c], e.g. honari-64-5 or honari-64-5-i")
        base_channels, branches, inception = int(parts[0]), int(parts[1]), len(parts) == 3
        if base_channels < 4 or branches < 1 or (inception and base_channels % 4):
            raise ModelNameError("honari needs nc ≥ 4 (a multiple of 4 with i) and at least one branch")
        return cls(base_channels=base_channels, branches=branches, inception=inception)

    def build(self) -> "Honari":
        return Honari(self)

    def tiny(self) -> "HonariConfig":
        return HonariConfig(base_channels=4, branches=self.branches, inception=self.inception)


def _layer(in_channels: int, out_channels: int, inception: bool) -> nn.Sequential:
    """3×3 convolution (or stride-1 inception module) → per-sample norm → ReLU, same resolution."""
    if inception:
        body: nn.Module = Inception(in_channels, out_channels, leaky=False)
    else:
        body = nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="reflect", bias=False)
    return nn.Sequential(body, norm(out_channels), nn.ReLU(inplace=True))


class Honari(Generator):
    def __init__(self, config: HonariConfig):
        super().__init__(config)
        width, branches = config.base_channels, config.branches
        # The coarsest branch works at 1/2^(branches-1); keep it at least 2×2 for the normalization.
        self.size_multiple = 2 ** (branches - 1)
        self.min_size = 2**branches
        self.down = nn.ModuleList(
            [_layer(1 if scale == 0 else width, width, config.inception) for scale in range(branches)]
        )
        self.coarsest = _layer(width, width, config.inception)
        # recombine[k] works at scale k (k = branches-2 … 0): [upsampled coarser, own] → nc.
        self.recombine = nn.ModuleList([_layer(2 * width, width, config.inception) for _ in range(branches - 1)])
        self.output = nn.Conv2d(width, 3, 3, padding=1, padding_mode="reflect")
        xavier_init(self)

    def image_layers(self) -> list[nn.Module]:
        return [self.down[0]]

    def rgb_layer(self) -> nn.Module:
        return self.output

    def forward_padded(self, nir: torch.Tensor) -> torch.Tensor:
        scales = []
        features = nir  # (B,1,H,W)
        for scale, layer in enumerate(self.down):
            if scale > 0:
                features = F.avg_pool2d(features, 2)  # (B,nc,H/2^scale,W/2^scale)
            features = layer(features)
            scales.append(features)
        features = self.coarsest(features)  # (B,nc,H/2^(b-1),W/2^(b-1))
        for scale in reversed(range(len(scales) - 1)):
            upsampled = F.interpolate(features, scale_factor=2, mode="nearest")  # (B,nc,H/2^scale,…)
            features = self.recombine[scale](torch.cat([upsampled, scales[scale]], dim=1))
        return torch.sigmoid(self.output(features))  # (B,3,H,W)
