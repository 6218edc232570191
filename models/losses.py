"""The losses of §3.5 as pure functions on discriminator probabilities/logits and images.

The discriminator returns logits; probabilities D(·) = sigmoid(logits). Binary cross-entropy on
logits is the numerically stable form of the paper's log-likelihoods.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 0.9) -> torch.Tensor:
    """L_AD with one-sided label smoothing: real targets are `real_label`, fake targets stay 0."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """L_AG: the non-saturating generator loss -log D(G(x))."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def l1_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_L1, and the paper's L1 error: mean absolute error over pixels and channels in [0,1]."""
    return (output - target).abs().mean()


def generator_loss(fake_logits: torch.Tensor | None, output: torch.Tensor, target: torch.Tensor, l1_weight: float) -> torch.Tensor:
    """L_G = (1-λ)·L_AG + λ·L_L1; with λ = 1 no discriminator is needed (fake_logits may be None)."""
    l1 = l1_loss(output, target)
    if l1_weight >= 1.0 or fake_logits is None:
        return l1
    return (1.0 - l1_weight) * generator_adversarial_loss(fake_logits) + l1_weight * l1
