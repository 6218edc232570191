"""pipeline/bench/timing.py: what the benchmark measures (frames, shapes, devices), never how fast."""
from __future__ import annotations

import pytest
import torch

from nircolor.models import parse_model_name
from nircolor.models.inference import resolve_device
from nircolor.pipeline.bench.timing import ModelTiming, benchmark_model, describe_device, markdown_table, time_generator


def test_time_generator_times_exactly_the_requested_frames():
    calls = []
    generator = parse_model_name("honari-64-5").tiny().build()
    generator.register_forward_hook(lambda module, inputs, output: calls.append(tuple(inputs[0].shape)))
    seconds = time_generator(generator, 30, 50, torch.device("cpu"), repeats=3, warmup=2)
    assert len(seconds) == 3 and all(value > 0 for value in seconds)
    assert calls == [(1, 1, 30, 50)] * 5  # warmup frames run but are not timed
    assert not torch.is_inference_mode_enabled() and not generator.training


def test_benchmark_times_each_mode_on_its_own_copy_and_reports_a_failing_mode():
    timing = benchmark_model("johnson-6", 24, 32, torch.device("cpu"), repeats=2, warmup=0,
                             modes=("fp32", "bf16", "no-such-mode"))
    assert len(timing.seconds["fp32"]) == 2 and len(timing.seconds["bf16"]) == 2
    assert set(timing.errors) == {"no-such-mode"}
    assert timing.median_ms("no-such-mode") is None and "no-such-mode" in timing.error


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_describe_device_says_whether_the_cpu_has_bf16_units():
    text = describe_device(torch.device("cpu"))
    assert ("BF16" in text or "AMX" in text) != ("no bf16 units" in text)


def test_markdown_table_puts_modes_side_by_side_beside_the_paper():
    timings = [
        ModelTiming("johnson-6", 1_969_731, 219.2, {"fp32": (0.5, 0.25, 0.75), "bf16-compiled": (0.1, 0.1, 0.125)},
                    compile_seconds={"bf16-compiled": 12.5}),
        ModelTiming("unet-64-s", 54_408_000, 144.4, {"fp32": (1.0,)}, errors={"bf16-compiled": "out of memory"}),
    ]
    lines = markdown_table(timings, 768, 1024, "CPU test", "nircolor bench models",
                           ("fp32", "bf16-compiled")).splitlines()
    johnson = next(line for line in lines if line.startswith("| johnson-6 "))
    unet = next(line for line in lines if line.startswith("| unet-64-s "))
    # median 500 ms fp32, 100 ms compiled (5×), 12.5 s to compile, paper 2.0M params and 128 ms on the TITAN X
    assert [cell.strip() for cell in johnson.split("|")[1:-1]] == [
        "johnson-6", "1.97", "2.0", "219.2", "500.0", "100.0", "12.5", "5.0×", "128"]
    assert "failed: out of memory" in unet and unet.rstrip().endswith("| 89 |")
    assert all(line.count("|") == lines[2].count("|") for line in lines[2:])


@pytest.mark.gpu
def test_cuda_timing_runs_bf16_on_the_gpu():
    generator = parse_model_name("johnson-6").tiny().build()
    seconds = time_generator(generator, 64, 96, torch.device("cuda"), repeats=2, warmup=1, mode="bf16")
    assert len(seconds) == 2
    assert next(generator.parameters()).is_cuda
