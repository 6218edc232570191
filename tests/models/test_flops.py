"""models/flops.py: the FLOP count of one frame (DESIGN "Models": unet-64-s ≈144 GFLOPs at 1024×768)."""
from __future__ import annotations

import pytest

from nircolor.models import parse_model_name
from nircolor.models.flops import generator_gflops


def test_unet_64_s_at_1024x768_is_the_planned_144_gflops():
    # 144.351 GFLOPs (2 × multiply-adds) as measured while planning; 0.5% tolerance.
    assert generator_gflops(parse_model_name("unet-64-s"), 768, 1024) == pytest.approx(144.35, rel=0.005)


def test_flops_grow_with_the_padded_frame_area():
    config = parse_model_name("unet-64-s").tiny()
    small = generator_gflops(config, 256, 512)
    # Every layer's cost is proportional to its map's area: twice the sides, four times the FLOPs.
    assert generator_gflops(config, 512, 1024) == pytest.approx(4 * small, rel=1e-9)
    # A frame is padded to a multiple of 256 first: one pixel less costs the same.
    assert generator_gflops(config, 255, 511) == small
