"""`nircolor export CHECKPOINT OUT`: ONNX + torch.export program of a generator, checked against PyTorch."""
from __future__ import annotations

import re
import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from nircolor.jobs.runtime import console, fail
from nircolor.models.export import DEFAULT_CHECK_SIZES, TOLERANCE, ExportError, ExportResult, export_checkpoint


def export(
    checkpoint: Path = typer.Argument(..., help="Checkpoint directory (config.json + generator.safetensors)."),
    out: Path = typer.Argument(..., help="Folder to write: model.onnx, model.pt2, export.json."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
    check_size: list[str] = typer.Option(
        None, "--check-size", metavar="HxW",
        help="Frame size to check the exports on (repeatable; default "
             + ", ".join(f"{h}x{w}" for h, w in DEFAULT_CHECK_SIZES) + " and one above the model's minimum size).",
    ),
) -> None:
    """Export a checkpoint to ONNX (opset 18) and torch.export, dynamic batch × height × width."""
    sizes = tuple(_parse_size(text) for text in check_size) if check_size else None
    started = time.perf_counter()

    def progress(step: str) -> None:
        console.print(f"[dim]{time.perf_counter() - started:6.1f} s[/]  {escape(step)}")

    try:
        result = export_checkpoint(checkpoint, out, sizes, overwrite=overwrite, progress=progress)
    except ExportError as error:
        fail(str(error))
    _print_result(result)


def _parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[x×]\s*(\d+)\s*", text)
    if not match:
        fail(f"--check-size {text!r}: expected HEIGHTxWIDTH, e.g. 100x75")
    return int(match.group(1)), int(match.group(2))


def _print_result(result: ExportResult) -> None:
    console.print(f"{result.model_name}: max |difference| to eager PyTorch (tolerance {TOLERANCE:g})")
    table = Table()
    table.add_column("frames (B×H×W)")
    artifacts = sorted({check.artifact for check in result.checks})
    for artifact in artifacts:
        table.add_column(artifact, justify="right")
    rows: dict[tuple[int, int, int], dict[str, float]] = {}
    for check in result.checks:
        rows.setdefault((check.batch, check.height, check.width), {})[check.artifact] = check.max_abs_difference
    for (batch, height, width), values in rows.items():
        table.add_row(f"{batch}×{height}×{width}", *(f"{values[artifact]:.2e}" for artifact in artifacts))
    console.print(table)
    for path in result.files:
        console.print(f"  {escape(str(path))}  ({path.stat().st_size / 1e6:.1f} MB)")
    console.print(f"exported {result.model_name} (ONNX opset {result.opset}) to {escape(str(result.out_dir))} "
                  f"in {result.seconds:.1f} s")
