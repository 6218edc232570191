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

    def image_layers(self) -> list[nn.Module]:  # pragma: no cover
        """The first block on the NIR image (or on each pyramid level), up to its first normalization.

        bf16 keeps 8 significant bits: rounding the image, or an affine map of it, before a
        normalization subtracts its mean would cost the picture most of its grey levels, so
        reduced-precision inference keeps these blocks in float32 (models/inference.py).
        """
        raise NotImplementedError

    def rgb_layer(self) -> nn.Module:  # pragma: no cover
        """The convolution that writes the RGB logits (the sigmoid follows it).

        bf16 logits would carry 8 significant bits, about 1/255 after the sigmoid, so
        reduced-precision inference keeps this layer and its output in float32.
        """
        raise NotImplementedError

    def forward(self, nir: torch.Tensor) -> torch.Tensor:
        if nir.dim() != 4 or nir.shape[1] != 1:
            raise ValueError(
                f"{self.config.name} expects NIR frames shaped (batch, 1, height, width), "
                f"got {tuple(nir.shape)}"
            )
        # Written for torch.export (models/export.py) too, where height and width are symbolic:
        # no Python branch on them, and the padded size is a whole number of size_multiple blocks
        # so the shape solver sees every level's size as an exact multiple. Same numbers as eager.
        height, width = nir.shape[-2:]
        padded_height = _padded_size(height, self.size_multiple, self.min_size)
        padded_width = _padded_size(width, self.size_multiple, self.min_size)
        nir = F.pad(nir, (0, padded_width - width, 0, padded_height - height), mode="replicate")
        rgb = self.forward_padded(nir)  # (B,3,padded_height,padded_width)
        return rgb[..., :height, :width]


def _padded_size(size, multiple: int, min_size: int):
    """`size` rounded up to a multiple of `multiple`, and to at least `min_size` (a multiple too).

    Ceilings by positive floor division only: the ONNX exporter turns a symbolic `//` into a
    truncating Div, which is floor division only for non-negative operands.
    """
    blocks = (size + multiple - 1) // multiple
    least = (min_size + multiple - 1) // multiple
    if least > 1:
        blocks = torch.sym_max(blocks, least)
    return blocks * multiple


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
