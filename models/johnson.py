"""Johnson et al. (ECCV 2016) image transformation network, the paper's "Johnson-6" (Table 3).

Names are `johnson-<blocks>[-w<width>]`; the suffix gives a width other than the paper's 32
channels (the test size is `johnson-1-w4`).

Interpretation: the 32-channel network of Johnson et al.'s supplement: 9×9 stem, two stride-2
3×3 downsamplings to 128 channels, `blocks` residual blocks (two 3×3 convs each), two stride-1/2
transposed 3×3 upsamplings and a 9×9 output convolution. Per-sample normalization and ReLU as in
the original; the output goes through a sigmoid to land in [0,1]. 1.97M parameters ≈ paper's 2.0M.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nircolor.models.common import Generator, norm, xavier_init
from nircolor.models.names import ModelNameError, split_width_suffix, width_suffix

PAPER_WIDTH = 32


@dataclass(frozen=True)
class JohnsonConfig:
    blocks: int = 6
    base_channels: int = PAPER_WIDTH

    family = "johnson"

    @property
    def name(self) -> str:
        return f"johnson-{self.blocks}" + width_suffix(self.base_channels, PAPER_WIDTH)

    @classmethod
    def from_name_parts(cls, parts: list[str]) -> "JohnsonConfig":
        parts, width = split_width_suffix(parts, PAPER_WIDTH)
        if len(parts) != 1 or not parts[0].isdigit() or width < 1:
            raise ModelNameError("johnson names are johnson-<blocks>[-c][-w<width>], e.g. johnson-6 or johnson-1-w4")
        return cls(blocks=int(parts[0]), base_channels=width)

    def build(self) -> "Johnson":
        return Johnson(self)

    def tiny(self) -> "JohnsonConfig":
        return JohnsonConfig(blocks=1, base_channels=4)


def _conv_block(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, padding_mode="reflect"),
        norm(out_channels),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            _conv_block(channels, channels, 3),
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"),
            norm(channels),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features + self.body(features)


class Johnson(Generator):
    size_multiple = 4

    def __init__(self, config: JohnsonConfig):
        super().__init__(config)
        width = config.base_channels
        self.encoder = nn.Sequential(
            _conv_block(1, width, 9),
            _conv_block(width, 2 * width, 3, stride=2),
            _conv_block(2 * width, 4 * width, 3, stride=2),
        )
        self.residual_blocks = nn.Sequential(*[ResidualBlock(4 * width) for _ in range(config.blocks)])
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(4 * width, 2 * width, 3, stride=2, padding=1, output_padding=1),
            norm(2 * width),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * width, width, 3, stride=2, padding=1, output_padding=1),
            norm(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 3, 9, padding=4, padding_mode="reflect"),
        )
        xavier_init(self)

    def image_layers(self) -> list[nn.Module]:
        return [self.encoder[0]]

    def rgb_layer(self) -> nn.Module:
        return self.decoder[-1]

    def forward_padded(self, nir: torch.Tensor) -> torch.Tensor:
        features = self.encoder(nir)  # (B,128,H/4,W/4)
        features = self.residual_blocks(features)  # (B,128,H/4,W/4)
        return torch.sigmoid(self.decoder(features))  # (B,3,H,W)
