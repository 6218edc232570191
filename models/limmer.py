"""The multi-scale IR-colorization network of Limmer & Lensch (ICMLA 2016), the paper's `limmer-3-12-3-bp` (§3.2, §4.5).

An image pyramid of the NIR frame; each scale is processed by its own branch of 3×3
convolutions; the branch outputs are upsampled to full resolution, concatenated and fused into
RGB by a few more convolutions, trained end to end without their post-processing step (§4.5).

Interpretation (the paper gives only the name and 1.4M parameters): `<scales>-<layers>-<fusion>`
= 3 scales (2×2 average pooling between them), 12 convolutions per scale branch, 3 fusion
convolutions (the last one the 3-channel output); `bp` = batch normalization and PReLU after
every convolution but the output (here per-sample normalization, like every family). Width 64
everywhere (a `-w<width>` suffix gives another, e.g. the test size `limmer-3-12-3-bp-w4`); branch
outputs are upsampled bilinearly. 1.37M parameters (paper 1.4M).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nircolor.models.common import Generator, norm, xavier_init
from nircolor.models.names import ModelNameError, split_width_suffix, width_suffix

GRAMMAR = "limmer names are limmer-<scales>-<layers>-<fusion layers>-bp[c][-w<width>], as the paper's limmer-3-12-3-bp"
PAPER_WIDTH = 64


@dataclass(frozen=True)
class LimmerConfig:
    scales: int = 3
    layers: int = 12  # 3×3 convolutions per scale branch
    fusion_layers: int = 3  # convolutions after the scales are concatenated, the output one included
    width: int = PAPER_WIDTH  # not part of the paper's name: a `-w<width>` suffix when it differs

    family = "limmer"

    @property
    def name(self) -> str:
        return f"limmer-{self.scales}-{self.layers}-{self.fusion_layers}-bp" + width_suffix(self.width, PAPER_WIDTH)

    @classmethod
    def from_name_parts(cls, parts: list[str]) -> "LimmerConfig":
        parts, width = split_width_suffix(parts, PAPER_WIDTH)
        valid = len(parts) == 4 and all(part.isdigit() for part in parts[:3]) and parts[3] == "bp"
        if not valid or min(int(part) for part in parts[:3]) < 1 or width < 1:
            raise ModelNameError(GRAMMAR)
        scales, layers, fusion_layers = (int(part) for part in parts[:3])
        return cls(scales=scales, layers=layers, fusion_layers=fusion_layers, width=width)

    def build(self) -> "Limmer":
        return Limmer(self)

    def tiny(self) -> "LimmerConfig":
        return LimmerConfig(self.scales, self.layers, self.fusion_layers, width=4)


def _layer(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="reflect", bias=False),
        norm(out_channels),
        nn.PReLU(out_channels),
    )


class Limmer(Generator):
    def __init__(self, config: LimmerConfig):
        super().__init__(config)
        width = config.width
        self.size_multiple = 2 ** (config.scales - 1)
        # Keep the coarsest scale at least 2×2 for the per-sample normalization.
        self.min_size = 2**config.scales
        self.branches = nn.ModuleList(
            [
                nn.Sequential(*[_layer(1 if index == 0 else width, width) for index in range(config.layers)])
                for _ in range(config.scales)
            ]
        )
        fusion: list[nn.Module] = []
        in_channels = config.scales * width
        for _ in range(config.fusion_layers - 1):
            fusion.append(_layer(in_channels, width))
            in_channels = width
        fusion.append(nn.Conv2d(in_channels, 3, 3, padding=1, padding_mode="reflect"))
        self.fusion = nn.Sequential(*fusion)
        xavier_init(self)

    def image_layers(self) -> list[nn.Module]:
        return [branch[0] for branch in self.branches]

    def rgb_layer(self) -> nn.Module:
        return self.fusion[-1]

    def forward_padded(self, nir: torch.Tensor) -> torch.Tensor:
        height, width = nir.shape[-2:]
        outputs = []
        pyramid_level = nir  # (B,1,H,W)
        for scale, branch in enumerate(self.branches):
            if scale > 0:
                pyramid_level = F.avg_pool2d(pyramid_level, 2)  # (B,1,H/2^scale,W/2^scale)
            features = branch(pyramid_level)
            if scale > 0:
                features = F.interpolate(features, size=(height, width), mode="bilinear", align_corners=False)
            outputs.append(features)  # (B,width,H,W)
        return torch.sigmoid(self.fusion(torch.cat(outputs, dim=1)))  # (B,3,H,W)
