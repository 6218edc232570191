"""The paper's U-Net baselines `unet-<nc>-[i]s` (§3.1, Table 3), built like pix2pix's 8-down U-Net.

Eight 4×4 stride-2 downsamplings (LeakyReLU 0.2, no bias before normalization), eight transposed
upsamplings (ReLU) with skip concatenation, sigmoid output. `i` swaps the strided and transposed
convolutions for the inception modules of Figure 2 (models/inception.py).

Interpretation: as in pix2pix, the outermost down layer and the bottleneck (innermost down layer)
have no normalization, so per-sample normalization never sees the 1×1 bottleneck that a
256×256 input reaches; the smallest normalized map is 2×2. The generator pads every input up
to a multiple of 256 (1024×768 reaches 4×3 at the bottleneck); with `i` to at least 512×512,
because inception modules normalize inside their branches, also when reading the bottleneck. With `i` the outermost up layer
stays a transposed convolution, because three output channels cannot split into four branches.
Measured: unet-64-s 54.41M parameters (paper 54.4M), unet-64-is 22.66M (paper 25.1M).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nircolor.models.common import Generator, norm, xavier_init
from nircolor.models.inception import InceptionDown, InceptionUp
from nircolor.models.names import ModelNameError

DOWNSAMPLINGS = 8


@dataclass(frozen=True)
class UNetConfig:
    base_channels: int = 64
    inception: bool = False  # `i`: inception modules instead of (transposed) strided convolutions

    family = "unet"

    @property
    def name(self) -> str:
        return f"unet-{self.base_channels}-{'i' if self.inception else ''}s"

    @classmethod
    def from_name_parts(cls, parts: list[str]) -> "UNetConfig":
        if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in ("s", "is"):
            raise ModelNameError("unet names are unet-<nc>-[i]s[c], e.g. unet-64-s or unet-64-is")
        base_channels = int(parts[0])
        if base_channels < 4 or (parts[1] == "is" and base_channels % 4):
            raise ModelNameError("unet width must be at least 4 (a multiple of 4 with i)")
        return cls(base_channels=base_channels, inception=parts[1] == "is")

    def build(self) -> "UNet":
        return UNet(self)

    def tiny(self) -> "UNetConfig":
        return UNetConfig(base_channels=4, inception=self.inception)


def _encoder_channels(base_channels: int) -> list[int]:
    # nc, 2nc, 4nc, 8nc, then 8nc to the bottleneck (pix2pix's unet_256).
    return [base_channels * min(2**level, 8) for level in range(DOWNSAMPLINGS)]


class UNet(Generator):
    size_multiple = 2**DOWNSAMPLINGS
    min_size = 2**DOWNSAMPLINGS

    def __init__(self, config: UNetConfig):
        super().__init__(config)
        channels = _encoder_channels(config.base_channels)
        innermost = DOWNSAMPLINGS - 1

        self.downs = nn.ModuleList()
        for level, out_channels in enumerate(channels):
            in_channels = 1 if level == 0 else channels[level - 1]
            layers: list[nn.Module] = [] if level == 0 else [nn.LeakyReLU(0.2)]
            if config.inception:
                layers.append(InceptionDown(in_channels, out_channels))
            else:
                layers.append(nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False))
            if 0 < level < innermost:
                layers.append(norm(out_channels))
            self.downs.append(nn.Sequential(*layers))

        # ups[0] leaves the bottleneck; ups[k] (k > 0) reads its input concatenated with the skip.
        self.ups = nn.ModuleList()
        for level in reversed(range(DOWNSAMPLINGS)):
            in_channels = channels[level] * (1 if level == innermost else 2)
            layers = [nn.ReLU()]
            if level == 0:
                layers.append(nn.ConvTranspose2d(in_channels, 3, 4, stride=2, padding=1))
            else:
                out_channels = channels[level - 1]
                if config.inception:
                    layers.append(InceptionUp(in_channels, out_channels))
                else:
                    layers.append(nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False))
                layers.append(norm(out_channels))
            self.ups.append(nn.Sequential(*layers))
        if config.inception:
            # Inception branches normalize inside the module, also in the first up module that
            # reads the bottleneck: pad to at least 512 so that bottleneck is 2×2 or larger.
            self.min_size = 2 * 2**DOWNSAMPLINGS
        xavier_init(self)

    def image_layers(self) -> list[nn.Module]:
        return [self.downs[0]]

    def rgb_layer(self) -> nn.Module:
        return self.ups[-1][-1]

    def forward_padded(self, nir: torch.Tensor) -> torch.Tensor:
        skips = []
        features = nir  # (B,1,H,W)
        for down in self.downs:
            features = down(features)
            skips.append(features)
        # features: (B,8nc,H/256,W/256)
        for step, up in enumerate(self.ups):
            if step > 0:
                features = torch.cat([features, skips[DOWNSAMPLINGS - 1 - step]], dim=1)
            features = up(features)  # resolution doubles
        return torch.sigmoid(features)  # (B,3,H,W)
