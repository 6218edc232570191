"""Tiny generators trained for a few steps on synthetic pairs: weights that have moved off their
initialization, for the tests that measure how inference settings change outputs."""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from nircolor.models import parse_model_name
from nircolor.models.inference import textured_nir  # noqa: F401  (the tests' frames, as bench precision's)

# One tiny config per family, with the flags that change the layers (inception, skip, residual).
FAMILY_NAMES = ("unet-64-s", "unet-64-is", "estuary-16-isr", "estuary-32-s", "johnson-6", "honari-64-5",
                "honari-64-5-i", "limmer-3-12-3-bp")


def colour_target(nir: torch.Tensor) -> torch.Tensor:
    """A fixed NIR → RGB mapping the generators can learn a little of in a few steps."""
    return torch.cat([nir * 0.9, 0.6 * nir + 0.2, 1.0 - nir], dim=1)


def perturbed_tiny(name: str) -> torch.nn.Module:
    """A tiny generator whose weights differ from a fresh initialization (norm affines included), eval mode."""
    torch.manual_seed(0)
    generator = parse_model_name(name).tiny().build()
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return generator.eval()


def trained_tiny(name: str, steps: int = 25, size: int = 64, seed: int = 0, width: int | None = None) -> torch.nn.Module:
    """The tiny version of `name` (or `width` channels), trained with L1 and Adam for `steps` steps (eval mode)."""
    torch.manual_seed(seed)
    config = parse_model_name(name).tiny()
    if width is not None:
        config = dataclasses.replace(config, base_channels=width)
    generator = config.build()
    optimizer = torch.optim.Adam(generator.parameters(), lr=2e-3, betas=(0.5, 0.999))
    nir = textured_nir(steps, size, size, seed)
    for step in range(steps):
        batch = nir[step : step + 1]
        loss = F.l1_loss(generator(batch), colour_target(batch))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return generator.eval()
