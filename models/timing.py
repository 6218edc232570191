"""Inference speed of a generator on one frame, the measurement behind Table 3's timing column (§4.5).

CUDA: bf16 autocast, channels_last, warmup, torch.cuda.synchronize around each timed frame.
CPU: float32. Both under torch.inference_mode with batch 1, as the paper times single frames.
"""
from __future__ import annotations

import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from models.common import count_parameters
from models.flops import generator_gflops
from models.names import parse_model_name
from models.zoo import paper_model


@dataclass(frozen=True)
class ModelTiming:
    name: str
    parameters: int
    gflops: float  # per frame at the timed size
    seconds: tuple[float, ...]  # one entry per timed frame
    error: str | None = None  # why this model could not be timed (others still are)

    @property
    def median_ms(self) -> float:
        return 1000 * statistics.median(self.seconds)

    @property
    def min_ms(self) -> float:
        return 1000 * min(self.seconds)


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` picks CUDA when available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this machine has no CUDA GPU")
    return resolved


def describe_device(device: torch.device) -> str:
    """One line naming the hardware and the precision the timings use."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, bf16 autocast, channels_last, torch {torch.__version__}"
    threads = torch.get_num_threads()
    return f"CPU {_cpu_name()}, {threads} torch thread{'s' if threads != 1 else ''}, float32, torch {torch.__version__}"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_generator(generator: torch.nn.Module, height: int, width: int, device: torch.device, repeats: int, warmup: int) -> tuple[float, ...]:
    """Seconds per (1,1,height,width) frame for `repeats` frames after `warmup` untimed ones."""
    on_cuda = device.type == "cuda"
    generator = generator.to(device).eval()
    nir = torch.rand(1, 1, height, width, device=device)
    if on_cuda:
        generator = generator.to(memory_format=torch.channels_last)
        nir = nir.contiguous(memory_format=torch.channels_last)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_cuda)
    # Production colorization runs one frame size for hours: let cuDNN pick its fastest kernels
    # during the warmup frames.
    previous_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on_cuda or previous_benchmark
    seconds = []
    try:
        with torch.inference_mode(), autocast:
            for index in range(warmup + repeats):
                _synchronize(device)
                start = time.perf_counter()
                rgb = generator(nir)
                _synchronize(device)
                if index >= warmup:
                    seconds.append(time.perf_counter() - start)
                if rgb.shape != (1, 3, height, width):  # a cheap guard that the timed work was real
                    raise RuntimeError(f"generator returned {tuple(rgb.shape)} for a {width}×{height} frame")
    finally:
        torch.backends.cudnn.benchmark = previous_benchmark
    return tuple(seconds)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def benchmark_model(name: str, height: int, width: int, device: torch.device, repeats: int, warmup: int) -> ModelTiming:
    """Time one named generator (fresh Xavier weights: speed does not depend on training)."""
    config = parse_model_name(name)
    gflops = generator_gflops(config, height, width)
    torch.manual_seed(0)
    generator = config.build()
    parameters = count_parameters(generator)
    try:
        seconds = time_generator(generator, height, width, device, repeats, warmup)
    except (RuntimeError, MemoryError) as error:  # e.g. out of memory: report it, time the others
        return ModelTiming(config.name, parameters, gflops, (), error=str(error).splitlines()[0])
    finally:
        del generator
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return ModelTiming(config.name, parameters, gflops, seconds)


def markdown_table(timings: list[ModelTiming], height: int, width: int, device_text: str, command: str) -> str:
    """The table for docs/benchmarks.md, beside the paper's TITAN X (Pascal) timings."""
    lines = [
        f"Device: {device_text}. Frame {width}×{height}, batch 1. Command: `{command}`",
        "",
        "| model | params (M) | paper params (M) | GFLOPs/frame | ms/frame (median) | ms/frame (min) | frames timed | paper TITAN X ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for timing in timings:
        paper = paper_model(timing.name)
        paper_params = f"{paper.parameters_m:.1f}" if paper and paper.parameters_m else "-"
        paper_ms = f"{1000 * paper.titan_x_seconds:.0f}" if paper and paper.titan_x_seconds else "-"
        if timing.error:
            measured = f"failed: {timing.error} | - | 0"
        else:
            measured = f"{timing.median_ms:.1f} | {timing.min_ms:.1f} | {len(timing.seconds)}"
        lines.append(
            f"| {timing.name} | {timing.parameters / 1e6:.2f} | {paper_params} | {timing.gflops:.1f} | {measured} | {paper_ms} |"
        )
    return "\n".join(lines) + "\n"
