"""Inference speed of a generator on one frame, the measurement behind Table 3's timing column (§4.5).

Each model runs in several modes side by side (models/inference.py): float32 eager, bf16 eager
(autocast + channels_last), bf16 compiled (inductor, frozen) and the exported ONNX graph in
onnxruntime. Every frame is timed by models/timing.py, the timing evaluate's ms/frame uses too
(batch 1, torch.inference_mode, CUDA synchronized). A compiled mode's first frame (the
compilation) is reported apart and never timed.
"""
from __future__ import annotations

import platform
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nircolor.models.checkpoint import save_generator
from nircolor.models.common import count_parameters
from nircolor.models.export import export_checkpoint
from nircolor.models.flops import generator_gflops
from nircolor.models.inference import InferenceEngine, InferenceOptions, cpu_bf16_units
from nircolor.models.names import parse_model_name
from nircolor.models.onnx_engine import OnnxEngine
from nircolor.models.timing import compiles, time_frames
from nircolor.models.zoo import paper_model

MODES = ("fp32", "bf16", "bf16-compiled", "onnxruntime")
MODE_TITLES = {"fp32": "fp32 eager", "bf16": "bf16 eager", "bf16-compiled": "bf16 compiled", "onnxruntime": "onnxruntime fp32"}


@dataclass
class ModelTiming:
    name: str
    parameters: int
    gflops: float  # per frame at the timed size
    seconds: dict[str, tuple[float, ...]] = field(default_factory=dict)  # mode → one entry per timed frame
    errors: dict[str, str] = field(default_factory=dict)  # mode → why it could not be timed (others still are)
    compile_seconds: dict[str, float] = field(default_factory=dict)  # compiled modes: the first frame's time

    def median_ms(self, mode: str) -> float | None:
        return 1000 * statistics.median(self.seconds[mode]) if self.seconds.get(mode) else None

    def min_ms(self, mode: str) -> float | None:
        return 1000 * min(self.seconds[mode]) if self.seconds.get(mode) else None

    @property
    def error(self) -> str | None:
        return "; ".join(f"{mode}: {error}" for mode, error in self.errors.items()) or None


def default_modes(device: torch.device) -> tuple[str, ...]:
    """Every mode this device can run (onnxruntime here is the CPU provider only)."""
    return MODES if device.type == "cpu" else ("fp32", "bf16", "bf16-compiled")


def describe_device(device: torch.device) -> str:
    """One line naming the hardware (and the CPU's bf16 units) the timings ran on."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    threads = torch.get_num_threads()
    units = cpu_bf16_units() or "no bf16 units"
    return f"CPU {_cpu_name()} ({units}), {threads} torch thread{'s' if threads != 1 else ''}, torch {torch.__version__}"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def prepare(generator: torch.nn.Module, device: torch.device, mode: str, scratch: Path):
    """A callable (B,1,H,W) → (B,3,H,W) running `generator` the way `mode` says."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if mode == "onnxruntime":
        checkpoint = save_generator(generator, scratch / "checkpoint")
        export_checkpoint(checkpoint, scratch / "export", check_sizes=((64, 96),))
        return OnnxEngine(scratch / "export", threads=torch.get_num_threads())
    return InferenceEngine(generator, device, mode_options(mode))


def mode_options(mode: str) -> InferenceOptions:
    """The inference settings of a PyTorch mode (every mode but onnxruntime)."""
    return InferenceOptions("fp32" if mode == "fp32" else "bf16", compile=mode == "bf16-compiled")


def time_generator(generator: torch.nn.Module, height: int, width: int, device: torch.device, repeats: int,
                   warmup: int, mode: str = "fp32") -> tuple[float, ...]:
    """time_frames for one mode of a generator (fresh copy of nothing: bf16 modes wrap its layers)."""
    with tempfile.TemporaryDirectory() as scratch:
        return time_frames(prepare(generator, device, mode, Path(scratch)), height, width, device, repeats, warmup)


def benchmark_model(name: str, height: int, width: int, device: torch.device, repeats: int, warmup: int,
                    modes: tuple[str, ...] = ("fp32",)) -> ModelTiming:
    """Time one named generator in each mode (fresh Xavier weights: speed does not depend on training)."""
    config = parse_model_name(name)
    torch.manual_seed(0)
    timing = ModelTiming(config.name, count_parameters(config.build()), generator_gflops(config, height, width))
    for mode in modes:
        torch.manual_seed(0)
        generator = config.build()  # each mode its own copy: bf16 wraps layers in place
        try:
            with tempfile.TemporaryDirectory() as scratch:
                engine = prepare(generator, device, mode, Path(scratch))
                timing.seconds[mode] = time_frames(engine, height, width, device, repeats, warmup)
                if compiles(engine):
                    timing.compile_seconds[mode] = engine.compile_seconds
        except Exception as error:  # e.g. out of memory, an export the graph cannot take: time the others
            timing.errors[mode] = (str(error).splitlines() or [type(error).__name__])[0][:200]
        finally:
            del generator
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return timing


def markdown_table(timings: list[ModelTiming], height: int, width: int, device_text: str, command: str,
                   modes: tuple[str, ...] = ("fp32",)) -> str:
    """The table for docs/benchmarks.md: median ms per mode, beside the paper's TITAN X (Pascal) timings."""
    frames = max((len(values) for timing in timings for values in timing.seconds.values()), default=0)
    compiled = [mode for mode in modes if mode.endswith("compiled")]
    columns = [f"{MODE_TITLES[mode]} ms" for mode in modes] + [f"{MODE_TITLES[mode]}: compile s" for mode in compiled]
    lines = [
        f"Device: {device_text}. Frame {width}×{height}, batch 1, median of {frames} timed frames per mode. "
        f"Command: `{command}`",
        "",
        "| model | params (M) | paper params (M) | GFLOPs/frame | " + " | ".join(columns) + " | best vs fp32 | paper TITAN X ms |",
        "|---|" + "---:|" * (len(columns) + 5),
    ]
    for timing in timings:
        paper = paper_model(timing.name)
        paper_params = f"{paper.parameters_m:.1f}" if paper and paper.parameters_m else "-"
        paper_ms = f"{1000 * paper.titan_x_seconds:.0f}" if paper and paper.titan_x_seconds else "-"
        cells = []
        for mode in modes:
            median = timing.median_ms(mode)
            cells.append(f"{median:.1f}" if median is not None else f"failed: {timing.errors.get(mode, 'not run')}")
        cells += [f"{timing.compile_seconds[mode]:.1f}" if mode in timing.compile_seconds else "-" for mode in compiled]
        measured = [timing.median_ms(mode) for mode in modes if timing.median_ms(mode) is not None]
        baseline = timing.median_ms("fp32")
        speedup = f"{baseline / min(measured):.1f}×" if baseline and measured else "-"
        lines.append(
            f"| {timing.name} | {timing.parameters / 1e6:.2f} | {paper_params} | {timing.gflops:.1f} | "
            + " | ".join(cells) + f" | {speedup} | {paper_ms} |"
        )
    return "\n".join(lines) + "\n"
