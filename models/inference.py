"""How a generator runs for inference: the one precision path of colorize, evaluate and bench.

- fp32: float32 eager, as trained.
- bf16: bf16 autocast + channels_last, which oneDNN runs on the CPU's AVX-512-BF16 / AMX units
  (and CUDA on tensor cores). The layers whose rounding shows in the picture stay float32: the
  generator's `image_layers()`, the first block on the NIR image up to its first normalization
  (bf16 keeps 8 significant bits: the image would lose half its grey levels), and its
  `rgb_layer()`, so the sigmoid reads float32 logits. Normalizations run in bf16 (in float32 they
  cost a quarter of the time and changed nothing measurable, docs/benchmarks.md).
- compiled: `torch.compile` (inductor, weights frozen into the graph) of either. The first frame
  of each size compiles (tens of seconds on 2 cores), so it pays only on long jobs.

`auto` precision picks bf16 only where the hardware has bf16 units and the model family keeps
the accuracy bound below (measured on trained checkpoints, docs/benchmarks.md); else float32.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

PRECISIONS = ("auto", "fp32", "bf16")

# The bound bf16 must keep against float32 on outputs in [0, 255]: this close on 99.9% of values,
# and never further than the maximum.
BOUND_TYPICAL = 2.0
BOUND_QUANTILE = 0.999
BOUND_MAXIMUM = 8.0

# Families whose checkpoints keep the bound in bf16 with the float32 layers above, with a margin
# (`nircolor bench precision`, docs/benchmarks.md). Honari and Limmer stay float32 under `auto`:
# trained, they come within 15% of the bound (p99.9 at 1.7–1.8/255), a tiny honari-64-5-i
# exceeds it, and untrained weights exceed it two to four times.
BF16_FAMILIES = frozenset({"unet", "estuary", "johnson"})

# `auto` compiles when a worker has at least this many frames ahead: compiling costs 20–80 s on
# 2 cores and saves 0.15–0.6 s per 1024×768 frame (docs/benchmarks.md).
COMPILE_MIN_FRAMES = 500


@dataclass(frozen=True)
class InferenceOptions:
    """What the user chose; `InferenceEngine` resolves `auto` against the device and the model."""

    precision: str = "auto"  # auto, fp32 or bf16
    compile: bool | None = None  # None: compile when the job is long (COMPILE_MIN_FRAMES)

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")

    def with_frames(self, frames: int, device: torch.device | str = "cpu") -> "InferenceOptions":
        """Settle `compile=None` for a worker that has `frames` frames ahead."""
        if self.compile is not None:
            return self
        return InferenceOptions(self.precision, compile=should_compile(frames, device))


def should_compile(frames: int, device: torch.device | str = "cpu") -> bool:
    return torch.device(device).type == "cpu" and frames >= COMPILE_MIN_FRAMES


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """`auto` (or None) picks CUDA when available, else the CPU; a CUDA device must exist."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device {device!r} is not a device (use auto, cpu, cuda or cuda:N)") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine")
    return resolved


@lru_cache(maxsize=None)
def _cpu_flags() -> frozenset[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_bf16_units() -> str:
    """The CPU's bf16 matrix units by name ("AMX, AVX-512-BF16"), or "" when it has none."""
    flags = _cpu_flags()
    return ", ".join(title for flag, title in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512-BF16")) if flag in flags)


def has_bf16_units(device: torch.device) -> bool:
    """bf16 runs fast here: a CUDA GPU with bf16, or a CPU with AMX or AVX-512-BF16."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(cpu_bf16_units())


def resolve_precision(precision: str, device: torch.device, family: str) -> str:
    """-> "fp32" or "bf16"; `auto` needs both bf16 units and a family that keeps the bound."""
    if precision not in PRECISIONS:
        raise ValueError(f"--precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bf16" if has_bf16_units(device) and family in BF16_FAMILIES else "fp32"


class Float32(nn.Module):
    """Runs the wrapped layer in float32 inside a bf16 autocast region; its output is bf16 again.

    Returning bf16 keeps the rest of the network in bf16: a float32 output would flow on through
    activations, skips and concatenations and double their memory traffic.
    """

    def __init__(self, layer: nn.Module, output_dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        self.layer = layer
        self.output_dtype = output_dtype

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with torch.autocast(features.device.type, enabled=False):
            return self.layer(features.float()).to(self.output_dtype)


def keep_float32_layers(generator: nn.Module) -> int:
    """Wrap, in place, the layers that read the NIR image and the RGB layer in Float32; returns how many."""
    output_dtypes = {id(layer): torch.bfloat16 for layer in generator.image_layers()}
    output_dtypes[id(generator.rgb_layer())] = torch.float32  # the sigmoid reads float32 logits
    return _wrap(generator, output_dtypes)


def _wrap(module: nn.Module, output_dtypes: dict[int, torch.dtype]) -> int:
    wrapped = 0
    for name, child in list(module.named_children()):
        if isinstance(child, Float32):
            continue
        if id(child) in output_dtypes:
            setattr(module, name, Float32(child, output_dtypes[id(child)]))
            wrapped += 1
        else:
            wrapped += _wrap(child, output_dtypes)
    return wrapped


class InferenceEngine:
    """A generator prepared for inference: (B,1,H,W) NIR in [0,1] → (B,3,H,W) float32 RGB.

    Takes ownership of `generator` (bf16 wraps some of its layers in place).
    """

    def __init__(self, generator: nn.Module, device: torch.device | str = "cpu",
                 options: InferenceOptions = InferenceOptions()):
        self.device = resolve_device(device)
        self.model_name = generator.config.name
        self.precision = resolve_precision(options.precision, self.device, generator.config.family)
        self.compiled = bool(options.compile)
        self.compile_seconds = 0.0  # first call at each new input shape, when compiled
        generator = generator.to(self.device).eval()
        self.channels_last = self.precision == "bf16"
        if self.channels_last:
            keep_float32_layers(generator)
            generator = generator.to(memory_format=torch.channels_last)
        self._forward = generator
        if self.compiled:
            # Freezing folds the weights into the graph as constants (and lets oneDNN pre-pack them);
            # dynamic=False: a new frame size recompiles rather than running slower generic kernels.
            self._forward = torch.compile(generator, dynamic=False, options={"freezing": True})
        self._batch_for_size: dict[tuple[int, int], int] = {}
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # one frame size for hours: let cuDNN pick kernels

    @property
    def description(self) -> str:
        parts = ["bf16 autocast + channels_last" if self.precision == "bf16" else "float32"]
        if self.compiled:
            parts.append("compiled (inductor, frozen)")
        return ", ".join(parts)

    @torch.inference_mode()
    def __call__(self, nir: torch.Tensor) -> torch.Tensor:
        nir = nir.to(self.device, torch.float32, non_blocking=True)
        batch = nir.shape[0]
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        if self.compiled:
            # Always a fresh inference-mode tensor: the compiled graph's guards also check the input's
            # dispatch keys, which differ for a tensor made outside inference mode (a recompile).
            nir, started = self._pad_batch(nir).clone(memory_format=layout), time.perf_counter()
        else:
            nir = nir.contiguous(memory_format=layout)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            rgb = self._forward(nir)
        if self.compiled and self._note_shape(nir):
            self.compile_seconds += time.perf_counter() - started
        return rgb[:batch].float().contiguous()

    def _pad_batch(self, nir: torch.Tensor) -> torch.Tensor:
        """A short last batch is padded to the batch size already compiled (no second compile)."""
        size = tuple(nir.shape[-2:])
        compiled_batch = self._batch_for_size.get(size, 0)
        if 0 < nir.shape[0] < compiled_batch:
            padding = nir[-1:].expand(compiled_batch - nir.shape[0], -1, -1, -1)
            nir = torch.cat([nir, padding])
        return nir

    def _note_shape(self, nir: torch.Tensor) -> bool:
        """Remember this input shape; True when it is new (its call included the compilation)."""
        size = tuple(nir.shape[-2:])
        if nir.shape[0] <= self._batch_for_size.get(size, 0):
            return False
        self._batch_for_size[size] = nir.shape[0]
        return True


@dataclass(frozen=True)
class PrecisionError:
    """How far bf16 output lies from float32 output, in 1/255 steps of the [0, 1] range."""

    maximum: float
    quantile: float  # at BOUND_QUANTILE of all values
    over_typical: float  # fraction of values further than BOUND_TYPICAL

    @property
    def within_bound(self) -> bool:
        return self.quantile <= BOUND_TYPICAL and self.maximum <= BOUND_MAXIMUM


def precision_error(reference: torch.Tensor, candidate: torch.Tensor) -> PrecisionError:
    difference = (candidate.float() - reference.float()).abs().flatten() * 255.0
    return PrecisionError(
        maximum=float(difference.max()),
        quantile=float(torch.quantile(difference[:: max(1, difference.numel() // 4_000_000)], BOUND_QUANTILE)),
        over_typical=float((difference > BOUND_TYPICAL).float().mean()),
    )


def textured_nir(count: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """(count,1,H,W) in [0,1]: smooth random structure at several scales, like a real scene's."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.zeros(count, 1, height, width)
    for scale in (4, 16, 64):
        coarse = torch.rand(count, 1, max(2, height // scale), max(2, width // scale), generator=generator)
        frames += nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    low, high = frames.amin(dim=(2, 3), keepdim=True), frames.amax(dim=(2, 3), keepdim=True)
    return (frames - low) / (high - low)


def measure_bf16(generator: nn.Module, frames: torch.Tensor, device: torch.device | str = "cpu",
                 batch_size: int = 4) -> PrecisionError:
    """bf16 (with its float32 layers) against float32 on `frames` (N,1,H,W); leaves `generator` as it was."""
    fp32 = InferenceEngine(copy.deepcopy(generator), device, InferenceOptions("fp32", compile=False))
    bf16 = InferenceEngine(copy.deepcopy(generator), device, InferenceOptions("bf16", compile=False))
    batches = torch.split(frames, batch_size)
    reference = torch.cat([fp32(batch).cpu() for batch in batches])
    candidate = torch.cat([bf16(batch).cpu() for batch in batches])
    return precision_error(reference, candidate)
