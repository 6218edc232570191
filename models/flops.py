"""FLOP counts of a generator for one frame, measured on PyTorch's meta device (no memory, no compute)."""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode


def generator_gflops(config, height: int = 768, width: int = 1024) -> float:
    """GFLOPs (2 × multiply-adds) of one `height`×`width` frame through the generator of `config`."""
    with torch.device("meta"):
        generator = config.build()
        nir = torch.empty(1, 1, height, width)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        generator(nir)
    return counter.get_total_flops() / 1e9
