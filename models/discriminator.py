"""The discriminator of §4.2: a single downsampling convolution with 128 filters.

Conditional (sees NIR and RGB, as pix2pix) or unconditional (RGB only). The single strided conv
gives 128 feature maps at half resolution; a 1×1 convolution reads them out to one logit per
location (a patch discriminator), averaged by the loss. The paper leaves the read-out open; this is
the smallest one that turns 128 maps into a probability.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nircolor.models.common import xavier_init


@dataclass(frozen=True)
class DiscriminatorConfig:
    conditional: bool = False
    filters: int = 128


class Discriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig = DiscriminatorConfig()):
        super().__init__()
        self.config = config
        in_channels = 4 if config.conditional else 3
        self.down = nn.Conv2d(in_channels, config.filters, kernel_size=4, stride=2, padding=1)
        self.activation = nn.LeakyReLU(0.2)
        self.readout = nn.Conv2d(config.filters, 1, kernel_size=1)
        xavier_init(self)

    def forward(self, rgb: torch.Tensor, nir: torch.Tensor | None = None) -> torch.Tensor:
        if self.config.conditional:
            if nir is None:
                raise ValueError("a conditional discriminator needs the NIR input too")
            rgb = torch.cat([nir, rgb], dim=1)  # (B,4,H,W)
        features = self.activation(self.down(rgb))  # (B,128,H/2,W/2)
        return self.readout(features)  # (B,1,H/2,W/2) logits
