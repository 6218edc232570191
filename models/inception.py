"""The residual inception module of the paper's Figure 2 (§3.3), as a down- or upsampling step.

Four branches, each 1/4 of the output channels, concatenated. The starred layers of Figure 2 are
stride-2 convolutions (down) or stride-1/2 transposed convolutions (up); average pooling becomes
bilinear upsampling when going up. The optional residual path scales the input the same way.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nircolor.models.common import norm

# Interpretation of Figure 2 (the figure itself is an image; the text fixes only the rules above):
#   branch 1: 4×4* conv                       (the plain strided conv, at 1/4 width)
#   branch 2: 1×1 conv → 4×4* conv
#   branch 3: 1×1 conv → 3×3 conv → 4×4* conv
#   branch 4: 2×2 average pooling* (down) or bilinear ×2 (up) → 1×1 conv
# Starred convolutions use U-Net's 4×4/stride-2/padding-1 geometry so H and W halve or double
# exactly. Inside a branch, convolutions are separated by norm + the caller's activation (the
# module's input is already normalized and activated by its caller, as §3.4 says).
# Residual path (`residual=True`): 2×2 average pooling (down) or bilinear ×2 (up) of the input;
# when channel counts differ a 1×1 convolution projects it (the paper does not say how channels
# are matched; projection is the usual choice in Inception-ResNet).


def _activation(leaky: bool) -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True) if leaky else nn.ReLU(inplace=True)


def _reduce(in_channels: int, branch_channels: int, leaky: bool) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, branch_channels, 1, bias=False), norm(branch_channels), _activation(leaky)]


class _Inception(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, direction: str, residual: bool, leaky: bool):
        super().__init__()
        if out_channels % 4:
            raise ValueError(f"inception modules need output channels divisible by 4, got {out_channels}")
        branch = out_channels // 4
        self.direction = direction

        def scaled(channels_in: int, channels_out: int) -> nn.Module:
            if direction == "down":
                return nn.Conv2d(channels_in, channels_out, 4, stride=2, padding=1, bias=False)
            if direction == "up":
                return nn.ConvTranspose2d(channels_in, channels_out, 4, stride=2, padding=1, bias=False)
            return nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False)

        self.branches = nn.ModuleList(
            [
                nn.Sequential(scaled(in_channels, branch)),
                nn.Sequential(*_reduce(in_channels, branch, leaky), scaled(branch, branch)),
                nn.Sequential(
                    *_reduce(in_channels, branch, leaky),
                    nn.Conv2d(branch, branch, 3, padding=1, bias=False),
                    norm(branch),
                    _activation(leaky),
                    scaled(branch, branch),
                ),
                nn.Conv2d(in_channels, branch, 1, bias=False),  # applied after _rescale
            ]
        )
        self.residual = residual
        self.projection = (
            nn.Conv2d(in_channels, out_channels, 1, bias=False)
            if residual and in_channels != out_channels
            else nn.Identity()
        )

    def _rescale(self, features: torch.Tensor) -> torch.Tensor:
        if self.direction == "down":
            return F.avg_pool2d(features, 2)
        if self.direction == "up":
            return F.interpolate(features, scale_factor=2, mode="bilinear", align_corners=False)
        return features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        rescaled = self._rescale(features)
        outputs = [branch(features) for branch in self.branches[:3]]
        outputs.append(self.branches[3](rescaled))
        result = torch.cat(outputs, dim=1)  # (B,out,H/2|2H|H,...)
        if self.residual:
            result = result + self.projection(rescaled)
        return result


class InceptionDown(_Inception):
    """(B,in,H,W) -> (B,out,H/2,W/2); H and W must be even."""

    def __init__(self, in_channels: int, out_channels: int, residual: bool = False, leaky: bool = True):
        super().__init__(in_channels, out_channels, "down", residual, leaky)


class InceptionUp(_Inception):
    """(B,in,H,W) -> (B,out,2H,2W)."""

    def __init__(self, in_channels: int, out_channels: int, residual: bool = False, leaky: bool = False):
        super().__init__(in_channels, out_channels, "up", residual, leaky)


class Inception(_Inception):
    """(B,in,H,W) -> (B,out,H,W): the same module without scaling (stride 1)."""

    def __init__(self, in_channels: int, out_channels: int, residual: bool = False, leaky: bool = True):
        super().__init__(in_channels, out_channels, "same", residual, leaky)
