"""models/inference.py: the one inference path (float32, bf16 with float32 layers, compiled)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import nircolor.models.inference as inference
from nircolor.models import parse_model_name
from nircolor.models.inference import (BF16_FAMILIES, Float32, InferenceEngine, InferenceOptions, keep_float32_layers,
                              measure_bf16, resolve_precision)
from tests.models.tiny_training import FAMILY_NAMES, textured_nir, trained_tiny


def test_fp32_engine_gives_exactly_the_generators_output():
    generator = trained_tiny("johnson-6", steps=3)
    nir = textured_nir(3, 40, 56, seed=1)
    with torch.inference_mode():
        expected = generator(nir)
    engine = InferenceEngine(generator, "cpu", InferenceOptions("fp32", compile=False))
    assert engine.precision == "fp32" and engine.description == "float32"
    assert torch.equal(engine(nir), expected)


def test_bf16_keeps_the_blocks_that_read_nir_and_the_rgb_layer_in_float32():
    generator = parse_model_name("estuary-16-isr").tiny().build()
    image_layers, rgb_layer = generator.image_layers(), generator.rgb_layer()
    assert len(image_layers) == 7  # one per pyramid scale
    inside = [m for layer in image_layers for m in layer.modules() if isinstance(m, (nn.Conv2d, nn.InstanceNorm2d))]
    outside = [m for m in generator.modules() if isinstance(m, nn.Conv2d) and all(m is not i for i in inside)]
    seen: dict[str, list] = {"inside": [], "outside": []}
    for key, modules in (("inside", inside), ("outside", outside)):
        for module in modules:
            module.register_forward_hook(lambda module, inputs, output, key=key: seen[key].append(output.dtype))
    assert keep_float32_layers(generator) == 8  # the 7 image blocks and the RGB layer
    wrappers = [m for m in generator.modules() if isinstance(m, Float32)]
    assert {id(m.layer) for m in wrappers} == {id(layer) for layer in image_layers + [rgb_layer]}
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        rgb = generator(textured_nir(1, 64, 64, seed=2))
    assert set(seen["inside"]) == {torch.float32}  # the image blocks ran in float32 ...
    assert set(seen["outside"]) == {torch.bfloat16}  # ... and everything else in bf16
    assert rgb.dtype == torch.float32  # the sigmoid read float32 logits


def test_auto_precision_needs_bf16_units_and_a_family_that_keeps_the_bound(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(inference, "has_bf16_units", lambda device: True)
    for family in ("unet", "estuary", "johnson", "honari", "limmer"):
        assert resolve_precision("auto", cpu, family) == ("bf16" if family in BF16_FAMILIES else "fp32")
        assert resolve_precision("fp32", cpu, family) == "fp32"
        assert resolve_precision("bf16", cpu, family) == "bf16"
    monkeypatch.setattr(inference, "has_bf16_units", lambda device: False)
    assert {resolve_precision("auto", cpu, family) for family in BF16_FAMILIES} == {"fp32"}
    with pytest.raises(ValueError, match="--precision 'fp16'"):
        InferenceOptions("fp16")


def test_compile_is_decided_by_the_frames_ahead_unless_chosen():
    assert InferenceOptions().with_frames(inference.COMPILE_MIN_FRAMES, "cpu").compile is True
    assert InferenceOptions().with_frames(inference.COMPILE_MIN_FRAMES - 1, "cpu").compile is False
    assert InferenceOptions(compile=False).with_frames(10**6, "cpu").compile is False
    assert InferenceOptions(compile=True).with_frames(1, "cpu").compile is True


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_bf16_keeps_the_accuracy_bound_where_auto_chooses_it(name):
    """bf16 within 2/255 of float32 on 99.9% of values, 8/255 at most, on trained tiny checkpoints.

    Inception variants get 16 channels: at the tiny width of 4 each of their four branches has a
    single channel, which no real model has (full-size figures: docs/benchmarks.md).
    """
    inception = getattr(parse_model_name(name), "inception", False)
    generator = trained_tiny(name, width=16 if inception else None)
    if resolve_precision("auto", torch.device("cpu"), generator.config.family) == "fp32" \
            and generator.config.family not in BF16_FAMILIES:
        pytest.skip(f"{name}: auto keeps this family in float32 (docs/benchmarks.md)")
    error = measure_bf16(generator, textured_nir(2, 96, 128, seed=5))
    assert error.within_bound, error
    assert 0 < error.maximum  # bf16 really ran: the outputs moved


@pytest.mark.slow  # tens of seconds on 2 cores: CI runs it (scripts/test.sh), plain pytest skips it
def test_compiled_engine_pads_a_short_batch_instead_of_compiling_again():
    from torch._dynamo.utils import counters  # here, not at the top: loading dynamo costs seconds per collection

    torch._dynamo.reset()
    counters.clear()
    generator = trained_tiny("johnson-6", steps=3)
    reference = InferenceEngine(trained_tiny("johnson-6", steps=3), "cpu", InferenceOptions("fp32", compile=False))
    engine = InferenceEngine(generator, "cpu", InferenceOptions("bf16", compile=True))
    nir = textured_nir(3, 32, 48, seed=3)
    first = engine(nir)
    assert engine.compile_seconds > 0
    graphs = counters["stats"]["unique_graphs"]
    last = engine(nir[:2])  # the end of a video: a short batch
    assert counters["stats"]["unique_graphs"] == graphs
    assert last.shape == (2, 3, 32, 48) and first.dtype == torch.float32
    error = inference.precision_error(reference(nir), first)
    assert error.within_bound, error
    torch.testing.assert_close(last, first[:2], rtol=0, atol=1e-6)


@pytest.mark.gpu
def test_cuda_engine_runs_bf16_channels_last_within_the_bound():
    generator = trained_tiny("unet-64-s", steps=3)
    error = measure_bf16(generator, textured_nir(2, 64, 96, seed=4), "cuda")
    assert error.within_bound, error
    engine = InferenceEngine(generator, "cuda", InferenceOptions("bf16", compile=False))
    assert engine.device.type == "cuda" and engine(textured_nir(1, 64, 96, seed=4)).is_cuda
