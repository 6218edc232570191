"""Export a generator checkpoint for deployment: ONNX (onnxruntime & co.) and a torch.export program.

`export_checkpoint(CHECKPOINT, OUT)` writes OUT/model.onnx, OUT/model.pt2 and OUT/export.json,
all with dynamic batch, height and width (the padding and cropping of models.common.Generator
are part of the graph), then runs both artifacts against the eager generator before OUT exists.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from nircolor.dataset_tools import atomic
from nircolor.models.checkpoint import WEIGHTS_FILE, CheckpointError, load_generator

ONNX_FILE = "model.onnx"
PT2_FILE = "model.pt2"
EXPORT_FILE = "export.json"
PT2_METADATA_FILE = "nircolor.json"  # inside model.pt2 (torch.export.save's extra_files)
FORMAT_VERSION = 1
# 18: the opset the exporter's ATen→ONNX library is written in (no version conversion), and
# what onnxruntime ≥ 1.14 and most other runtimes read.
OPSET = 18
INPUT_NAME, OUTPUT_NAME = "nir", "rgb"
TOLERANCE = 1e-3  # max abs difference to eager PyTorch, on outputs in [0, 1]
# Not multiples of any family's size_multiple; the first one also runs as a batch of 2.
DEFAULT_CHECK_SIZES = ((64, 96), (100, 75), (130, 200))
MIN_SIDE = 8  # the smallest frame side every family runs (Johnson's 9×9 reflect padding needs ≥ 5)

# ONNX metadata_props keys; models/onnx_engine.py reads them back.
META_MODEL = "nircolor.model"
META_PREPROCESSING = "nircolor.preprocessing"
META_VERSION = "nircolor.version"
META_WEIGHTS_SHA256 = "nircolor.checkpoint_sha256"
META_CHECKPOINT = "nircolor.checkpoint_info"  # the whole config.json document


class ExportError(ValueError):
    """An export that cannot be made or read; the message names the path and the problem."""


@dataclass(frozen=True)
class ExportCheck:
    """One artifact run on one random batch against the eager generator."""

    artifact: str  # "onnx" or "pt2"
    batch: int
    height: int
    width: int
    max_abs_difference: float


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    model_name: str
    files: tuple[Path, ...]
    checks: tuple[ExportCheck, ...]
    opset: int
    seconds: float


def export_checkpoint(
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    check_sizes: tuple[tuple[int, int], ...] | None = None,
    *,
    overwrite: bool = False,
    tolerance: float = TOLERANCE,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export `checkpoint` into the folder `out_dir` (built beside it, renamed when checked).

    `check_sizes` (height, width) default to DEFAULT_CHECK_SIZES plus one frame larger than the
    model's minimum padded size, so both branches of the padding rule run. Raises ExportError.
    """
    started = time.perf_counter()
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    say = progress or (lambda message: None)
    if out_dir.exists() and not overwrite:
        raise ExportError(f"{out_dir}: already exists (--overwrite, or overwrite=True, replaces it)")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a folder")
    try:
        generator = load_generator(checkpoint)
    except CheckpointError as error:
        raise ExportError(str(error)) from None
    name = generator.config.name
    cases = _check_cases(generator, check_sizes)
    metadata = {
        META_MODEL: name,
        META_PREPROCESSING: json.dumps(generator.checkpoint_info["preprocessing"], sort_keys=True),
        META_VERSION: nircolor_version(),
        META_WEIGHTS_SHA256: _sha256(checkpoint / WEIGHTS_FILE),
        META_CHECKPOINT: json.dumps(generator.checkpoint_info, sort_keys=True),
    }

    tmp = atomic.temporary_path(out_dir)
    try:
        atomic.discard(tmp)
        tmp.mkdir(parents=True)
        say(f"torch.export of {name} (dynamic batch, height, width)")
        program = _export_program(generator, checkpoint)
        torch.export.save(program, tmp / PT2_FILE, extra_files={PT2_METADATA_FILE: json.dumps(metadata)})
        say(f"ONNX opset {OPSET}")
        _export_onnx(program, generator, checkpoint, tmp / ONNX_FILE, metadata)
        say("checking both against PyTorch on " + ", ".join(f"{b}×{h}×{w}" for b, h, w in cases))
        checks = _check(generator, checkpoint, tmp, cases)
        for check in checks:
            if not check.max_abs_difference <= tolerance:  # also catches NaN
                raise ExportError(
                    f"{checkpoint}: the exported {check.artifact} model differs from PyTorch by "
                    f"{check.max_abs_difference:.3g} (> {tolerance:g}) on a {check.batch}×{check.height}×{check.width} "
                    f"batch; nothing written to {out_dir}"
                )
        document = {
            "format_version": FORMAT_VERSION,
            "model": name,
            "checkpoint": str(checkpoint),
            "checkpoint_sha256": metadata[META_WEIGHTS_SHA256],
            "preprocessing": generator.checkpoint_info["preprocessing"],
            "nircolor_version": metadata[META_VERSION],
            "torch_version": torch.__version__,
            "onnx": {"file": ONNX_FILE, "opset": OPSET, "input": INPUT_NAME, "output": OUTPUT_NAME},
            "pt2": {"file": PT2_FILE},
            # (min, max) of each dynamic dimension; null: no upper bound.
            "dims": {"batch": [1, None], "height": [MIN_SIDE, None], "width": [MIN_SIDE, None]},
            "size_multiple": generator.size_multiple,
            "min_size": generator.min_size,
            "tolerance": tolerance,
            "checks": [asdict(check) for check in checks],
        }
        (tmp / EXPORT_FILE).write_text(json.dumps(document, indent=2) + "\n")
        files = tuple(out_dir / path.name for path in sorted(tmp.iterdir()))
        atomic.commit(tmp, out_dir)
    except BaseException as error:  # Ctrl-C included: never a half-written folder
        atomic.discard(tmp)
        if isinstance(error, ExportError) or not isinstance(error, Exception):
            raise
        raise ExportError(f"{checkpoint}: export of {name} failed ({_one_line(error)})") from None
    return ExportResult(out_dir, name, files, tuple(checks), OPSET, time.perf_counter() - started)


def nircolor_version() -> str:
    try:
        return importlib.metadata.version("nircolor")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _export_program(generator: torch.nn.Module, checkpoint: Path):
    if not hasattr(torch, "sym_max") or not hasattr(torch.export, "Dim"):
        raise ExportError(f"{checkpoint}: export needs torch ≥ 2.6, this is {torch.__version__}")
    # A batch of 2 and frames above the minimum padded size that are no multiple of anything:
    # torch.export specializes dimensions whose example is 0 or 1 and branches taken only by
    # the example; the checks run the other branches.
    height = max(generator.size_multiple * _least_blocks(generator), 32) + 3
    example = torch.zeros(2, 1, height, height + 2 * generator.size_multiple + 2)
    dynamic = {
        INPUT_NAME: {
            0: torch.export.Dim("batch", min=1),
            2: torch.export.Dim("height", min=MIN_SIDE),
            3: torch.export.Dim("width", min=MIN_SIDE),
        }
    }
    with _quiet(), _size_oblivious():
        return torch.export.export(generator, (example,), dynamic_shapes=dynamic)


def _export_onnx(program, generator, checkpoint: Path, path: Path, metadata: dict[str, str]) -> None:
    # torch.onnx's dynamo exporter from the program above (the legacy TorchScript exporter would
    # bake frame sizes into the padding arithmetic).
    if importlib.util.find_spec("onnxscript") is None:
        raise ExportError(f"{checkpoint}: ONNX export needs onnxscript (pip install onnxscript)")
    with _quiet(), _size_oblivious():
        onnx_program = torch.onnx.export(
            program,
            (torch.zeros(2, 1, 64, 96),),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=OPSET,
            custom_translation_table={torch.ops.aten.instance_norm.default: _instance_norm_float64_statistics},
            verbose=False,
        )
    onnx_program.model.metadata_props.update(metadata)
    onnx_program.model.doc_string = f"nircolor {metadata[META_VERSION]} {generator.config.name}: NIR (B,1,H,W) in [0,1] -> RGB (B,3,H,W) in [0,1]"
    onnx_program.save(path)  # weights inline below 2 GB, else beside it as model.onnx.data


def _instance_norm_float64_statistics(
    input, weight, bias, running_mean, running_var,
    use_input_stats: bool, momentum: float, eps: float, cudnn_enabled: bool,
):
    """ONNX for per-sample normalization with mean and variance summed in float64.

    onnxruntime's InstanceNormalization and float32 ReduceMean sum in float32; on maps that are
    mostly edge-padding (nearly constant) the small error of the mean, divided by a small standard
    deviation, put outputs up to 2e-3 away from PyTorch (which sums more carefully). In float64
    they agree to ~1e-6.
    """
    from onnxscript import opset18 as op  # loaded only when exporting: onnxscript takes ~1 s to import

    if not use_input_stats:
        raise NotImplementedError("instance norm with running statistics is not exported")
    axes = op.Constant(value_ints=[2, 3])
    wide = op.Cast(input, to=11)  # DOUBLE
    mean = op.ReduceMean(wide, axes, keepdims=1)
    centered = op.Sub(wide, mean)
    variance = op.ReduceMean(op.Mul(centered, centered), axes, keepdims=1)
    inverse_std = op.Reciprocal(op.Sqrt(op.Add(op.Cast(variance, to=1), op.CastLike(eps, input))))
    result = op.Mul(op.Sub(input, op.Cast(mean, to=1)), inverse_std)
    channels = op.Constant(value_ints=[0, 2, 3])  # (C,) -> (1,C,1,1)
    if weight is not None:
        result = op.Mul(result, op.Unsqueeze(weight, channels))
    if bias is not None:
        result = op.Add(result, op.Unsqueeze(bias, channels))
    return result


def _check_cases(generator, check_sizes) -> list[tuple[int, int, int]]:
    """(batch, height, width) of every check; the first size runs as a batch of 2."""
    if check_sizes is None:
        large = max(generator.size_multiple * _least_blocks(generator), 128) + 5
        check_sizes = (*DEFAULT_CHECK_SIZES, (large, large + generator.size_multiple + 2))
    sizes = [(int(height), int(width)) for height, width in check_sizes]
    if not sizes or any(min(size) < MIN_SIDE for size in sizes):
        raise ExportError(f"check sizes must be at least {MIN_SIDE}×{MIN_SIDE}, got {sizes}")
    return [(2 if index == 0 else 1, height, width) for index, (height, width) in enumerate(sizes)]


def _check(generator, checkpoint: Path, folder: Path, cases) -> list[ExportCheck]:
    from nircolor.models.onnx_engine import OnnxEngine  # here, not at the top: onnx_engine imports this module

    random = torch.Generator().manual_seed(0)
    batches = [torch.rand(batch, 1, height, width, generator=random) for batch, height, width in cases]
    with torch.no_grad():
        expected = [generator(nir) for nir in batches]
    runners = {"onnx": OnnxEngine(folder / ONNX_FILE), "pt2": _load_program(folder / PT2_FILE)}
    checks = []
    for artifact, run in runners.items():
        for (batch, height, width), nir, reference in zip(cases, batches, expected):
            with torch.no_grad():
                output = run(nir)
            if tuple(output.shape) != tuple(reference.shape):
                raise ExportError(
                    f"{checkpoint}: the exported {artifact} model returned {tuple(output.shape)} "
                    f"for a {batch}×1×{height}×{width} batch, PyTorch {tuple(reference.shape)}"
                )
            difference = (output.float() - reference).abs().max().item()
            checks.append(ExportCheck(artifact, batch, height, width, difference))
    return checks


def _load_program(path: Path):
    with _quiet():
        return torch.export.load(path).module()


def _least_blocks(generator) -> int:
    return max(1, -(-generator.min_size // generator.size_multiple))


@contextlib.contextmanager
def _size_oblivious():
    """Let torch.export assume a symbolic size is not 1 where only memory layout depends on it.

    Without it, a U-Net whose bottleneck is 1×1 for frames up to 256 pixels gets a guard
    `height > 256` from contiguity checks, and the export fails or only runs larger frames.
    (A private torch switch; without it export still works for most families.)
    """
    try:
        from torch.fx.experimental import _config as fx_config
    except ImportError:
        yield
        return
    if not hasattr(fx_config, "backed_size_oblivious"):
        yield
        return
    with fx_config.patch(backed_size_oblivious=True):
        yield


@contextlib.contextmanager
def _quiet():
    """The exporter logs a warning per torchvision operator it skips and warns about pytree internals."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
