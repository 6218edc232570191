"""models/timing.py: what the benchmark measures (frames, shapes, devices), never how fast."""
from __future__ import annotations

import pytest
import torch

from models import parse_model_name
from models.timing import ModelTiming, describe_device, markdown_table, resolve_device, time_generator


def test_time_generator_times_exactly_the_requested_frames():
    calls = []
    generator = parse_model_name("honari-64-5").tiny().build()
    generator.register_forward_hook(lambda module, inputs, output: calls.append(tuple(inputs[0].shape)))
    seconds = time_generator(generator, 30, 50, torch.device("cpu"), repeats=3, warmup=2)
    assert len(seconds) == 3 and all(value > 0 for value in seconds)
    assert calls == [(1, 1, 30, 50)] * 5  # warmup frames run but are not timed
    assert not torch.is_inference_mode_enabled() and not generator.training


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_describe_device_names_the_precision():
    assert "float32" in describe_device(torch.device("cpu"))


def test_markdown_table_reports_failures_beside_the_paper():
    timings = [
        ModelTiming("johnson-6", 1_969_731, 219.2, (0.5, 0.25, 0.75)),
        ModelTiming("unet-64-s", 54_408_000, 144.4, (), error="CUDA out of memory"),
    ]
    lines = markdown_table(timings, 768, 1024, "CPU test", "nircolor bench models").splitlines()
    johnson = next(line for line in lines if line.startswith("| johnson-6 "))
    unet = next(line for line in lines if line.startswith("| unet-64-s "))
    # median 500 ms, min 250 ms, 3 frames, paper 2.0M params and 128 ms on the TITAN X
    assert [cell.strip() for cell in johnson.split("|")[1:-1]] == ["johnson-6", "1.97", "2.0", "219.2", "500.0", "250.0", "3", "128"]
    assert "failed: CUDA out of memory" in unet and unet.rstrip().endswith("| 89 |")
    assert all(line.count("|") == lines[2].count("|") for line in lines[2:])


@pytest.mark.gpu
def test_cuda_timing_uses_bf16_and_channels_last():
    generator = parse_model_name("johnson-6").tiny().build()
    seconds = time_generator(generator, 64, 96, torch.device("cuda"), repeats=2, warmup=1)
    assert len(seconds) == 2
    assert next(generator.parameters()).is_cuda
    assert "bf16" in describe_device(torch.device("cuda"))
