"""Estuary networks `estuary-<nc>[-<flags i,s,r>]` (paper §3.4, Figure 3, Tables 1–3).

An input pyramid feeds one encoder branch per scale; every branch downsamples to the lowest
scale, and the decoder joins all branches' feature maps of a resolution (hypercolumns).

Interpretation of what the paper leaves open (checked against Table 3's parameter counts):
- Seven scales (full size down to 1/64, built by 2×2 average pooling); branch `s` starts at
  1/2^s and downsamples 7−s times to 1/128, so the longest branch has seven downsamplings.
- Channels per branch: nc after its first downsampling, doubling per step up to 8·nc.
- Decoder: at each resolution from 1/128 up, the concatenation of all branches' maps there
  (only at 1/128 without `s`) and the previous decoder output goes through norm + ReLU and one
  upsampling module whose output keeps the full width of the next resolution's hypercolumn
  (the sum of all branches' channels there); the last module outputs RGB, then a sigmoid.
  A decoder as narrow as one branch would give ~32M parameters instead of the paper's 68.6M.
- Down/up modules are 4×4 stride-2 (transposed) convolutions, or with `i` the inception modules
  of models/inception.py; the last RGB layer stays a transposed convolution (three channels do
  not split into four branches). Every module's input except the raw pyramid images is
  normalized (per sample, models.common.norm) and activated first: LeakyReLU 0.2 in the
  encoders, ReLU in the decoder (§3.4).
- `s`: skip connections = the decoder reads the encoders' hypercolumns at every resolution.
  `r`: residual connections around every down/up module (2×2 average pooling or bilinear ×2 of
  the module's input, 1×1 projection when channel counts differ), for convolutions too.
- Inputs are padded to a multiple of 128 and at least 256×256, so the lowest scale is at least
  2×2 and per-sample normalization never sees a 1×1 map.
Measured (tests/models/test_zoo.py): estuary-32-s 67.97M (paper 68.6M), estuary-32-is 26.83M
(paper 28.3M); hypercolumn widths of estuary-32 from 1/2 to 1/128: 32, 96, 224, 480, 736, 992, 1248.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nircolor.models.common import Generator, norm, xavier_init
from nircolor.models.inception import InceptionDown, InceptionUp
from nircolor.models.names import ModelNameError

SCALES = 7
DOWNSAMPLINGS = 7  # in the longest (full-resolution) branch
CHANNEL_CAP = 8  # times nc
FLAG_ORDER = "isr"


@dataclass(frozen=True)
class EstuaryConfig:
    base_channels: int = 16
    inception: bool = False  # `i`: inception modules instead of (transposed) strided convolutions
    skip: bool = False  # `s`: decoder reads every resolution's hypercolumn
    residual: bool = False  # `r`: residual paths around every down/up module

    family = "estuary"

    @property
    def name(self) -> str:
        flags = "".join(
            flag
            for flag, enabled in zip(FLAG_ORDER, (self.inception, self.skip, self.residual))
            if enabled
        )
        return f"estuary-{self.base_channels}" + (f"-{flags}" if flags else "")

    @classmethod
    def from_name_parts(cls, parts: list[str]) -> "EstuaryConfig":
        flags = parts[1] if len(parts) == 2 else ""
        if (
            len(parts) not in (1, 2)
            or not parts[0].isdigit()
            or (len(parts) == 2 and not flags)
            or any(flag not in FLAG_ORDER for flag in flags)
            or len(set(flags)) != len(flags)
        ):
            raise ModelNameError("estuary names are estuary-<nc>[-<flags from i,s,r,c>], e.g. estuary-16-isr")
        base_channels = int(parts[0])
        if base_channels < 4 or ("i" in flags and base_channels % 4):
            raise ModelNameError("estuary width must be at least 4 (a multiple of 4 with i)")
        return cls(
            base_channels=base_channels,
            inception="i" in flags,
            skip="s" in flags,
            residual="r" in flags,
        )

    def build(self) -> "Estuary":
        return Estuary(self)

    def tiny(self) -> "EstuaryConfig":
        return EstuaryConfig(4, self.inception, self.skip, self.residual)


class ScaledConvolution(nn.Module):
    """4×4 stride-2 convolution (down) or transposed convolution (up), optionally residual."""

    def __init__(self, in_channels: int, out_channels: int, direction: str, residual: bool, bias: bool = False):
        super().__init__()
        convolution = nn.Conv2d if direction == "down" else nn.ConvTranspose2d
        self.convolution = convolution(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)
        self.direction = direction
        self.residual = residual
        self.projection = (
            nn.Conv2d(in_channels, out_channels, 1, bias=False)
            if residual and in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        result = self.convolution(features)
        if self.residual:
            if self.direction == "down":
                rescaled = F.avg_pool2d(features, 2)
            else:
                rescaled = F.interpolate(features, scale_factor=2, mode="bilinear", align_corners=False)
            result = result + self.projection(rescaled)
        return result


def branch_channels(base_channels: int, step: int) -> int:
    """Channels after a branch's `step`-th downsampling (0-based): nc, 2nc, 4nc, 8nc, 8nc, ..."""
    return base_channels * min(2**step, CHANNEL_CAP)


class Estuary(Generator):
    size_multiple = 2**DOWNSAMPLINGS
    min_size = 2 * 2**DOWNSAMPLINGS

    def __init__(self, config: EstuaryConfig):
        super().__init__(config)
        nc = config.base_channels

        def down(in_channels: int, out_channels: int) -> nn.Module:
            if config.inception:
                return InceptionDown(in_channels, out_channels, residual=config.residual)
            return ScaledConvolution(in_channels, out_channels, "down", config.residual)

        def up(in_channels: int, out_channels: int) -> nn.Module:
            if config.inception:
                return InceptionUp(in_channels, out_channels, residual=config.residual)
            return ScaledConvolution(in_channels, out_channels, "up", config.residual)

        # hypercolumn_channels[level]: channels of all branches' maps at resolution 1/2^level.
        self.hypercolumn_channels = [0] * (DOWNSAMPLINGS + 1)
        self.branches = nn.ModuleList()
        for scale in range(SCALES):
            steps = nn.ModuleList()
            in_channels = 1
            for step, level in enumerate(range(scale + 1, DOWNSAMPLINGS + 1)):
                out_channels = branch_channels(nc, step)
                # The raw pyramid image is not normalized: that would erase its brightness.
                prelude = [] if step == 0 else [norm(in_channels), nn.LeakyReLU(0.2)]
                steps.append(nn.Sequential(*prelude, down(in_channels, out_channels)))
                self.hypercolumn_channels[level] += out_channels
                in_channels = out_channels
            self.branches.append(steps)

        # decoder[k] upsamples from level DOWNSAMPLINGS − k to the level above it.
        self.decoder = nn.ModuleList()
        previous_channels = 0
        for level in range(DOWNSAMPLINGS, 0, -1):
            reads_hypercolumn = config.skip or level == DOWNSAMPLINGS
            in_channels = previous_channels + (self.hypercolumn_channels[level] if reads_hypercolumn else 0)
            if level == 1:
                module = ScaledConvolution(in_channels, 3, "up", residual=False, bias=True)
                out_channels = 3
            else:
                out_channels = self.hypercolumn_channels[level - 1]
                module = up(in_channels, out_channels)
            self.decoder.append(nn.Sequential(norm(in_channels), nn.ReLU(), module))
            previous_channels = out_channels
        xavier_init(self)

    def image_layers(self) -> list[nn.Module]:
        return [steps[0] for steps in self.branches]

    def rgb_layer(self) -> nn.Module:
        return self.decoder[-1][-1].convolution

    def forward_padded(self, nir: torch.Tensor) -> torch.Tensor:
        pyramid = [nir]  # pyramid[s]: (B,1,H/2^s,W/2^s)
        for _ in range(1, SCALES):
            pyramid.append(F.avg_pool2d(pyramid[-1], 2))

        hypercolumns: list[list[torch.Tensor]] = [[] for _ in range(DOWNSAMPLINGS + 1)]
        for scale, steps in enumerate(self.branches):
            features = pyramid[scale]
            for step, module in enumerate(steps):
                features = module(features)  # resolution halves: (B,c,H/2^level,W/2^level)
                hypercolumns[scale + 1 + step].append(features)

        features = None
        for index, module in enumerate(self.decoder):
            level = DOWNSAMPLINGS - index
            inputs = [] if features is None else [features]
            if self.config.skip or level == DOWNSAMPLINGS:
                inputs.extend(hypercolumns[level])
            features = module(torch.cat(inputs, dim=1))  # (B,c,H/2^(level-1),W/2^(level-1))
        return torch.sigmoid(features)  # (B,3,H,W)
