"""Building blocks shared by every generator family (paper §3, §4.2).

The paper keeps batch-norm in "training mode" at inference with batch size 1. That is
normalization over H×W per sample and channel with BN's trainable β/γ, i.e. instance
normalization with affine parameters, so a frame's output never depends on its batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def norm(channels: int) -> nn.Module:
    """Per-sample normalization standing in for the paper's batch-1 batch norm."""
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)


def xavier_init(module: nn.Module) -> None:
    """Xavier (Glorot) uniform weights and zero biases, as in §4.2."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class Generator(nn.Module):
    """Base class: NIR (B,1,H,W) in [0,1] -> RGB (B,3,H,W) in [0,1] for any H, W.

    Subclasses set `size_multiple` (the product of their downsampling strides, or more) and
    implement `forward_padded`; this class pads by edge replication and crops back.
    """

    size_multiple: int = 1
    # Smallest padded side; keeps per-sample normalization away from 1×1 maps.
    min_size: int = 1

    def __init__(self, config):
        super().__init__()
        self.config = config

    def forward_padded(self, nir: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, nir: torch.Tensor) -> torch.Tensor:
        if nir.dim() != 4 or nir.shape[1] != 1:
            raise ValueError(
                f"{self.config.name} expects NIR frames shaped (batch, 1, height, width), "
                f"got {tuple(nir.shape)}"
            )
        height, width = nir.shape[-2:]
        padded_height = max(_round_up(height, self.size_multiple), self.min_size)
        padded_width = max(_round_up(width, self.size_multiple), self.min_size)
        pad_bottom, pad_right = padded_height - height, padded_width - width
        if pad_bottom or pad_right:
            nir = F.pad(nir, (0, pad_right, 0, pad_bottom), mode="replicate")
        rgb = self.forward_padded(nir)
        return rgb[..., :height, :width]


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
