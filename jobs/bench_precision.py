"""`nircolor bench precision CHECKPOINT...`: how far bf16 inference moves each model's output from float32.

The figures behind `--precision auto` (BF16_FAMILIES in models/inference.py): a family keeps bf16 only
where its trained checkpoints stay within 2/255 of float32 on 99.9% of values and 8/255 everywhere.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import numpy as np
import torch
import typer
from rich.table import Table

from nircolor.dataset_tools import atomic
from nircolor.jobs.runtime import console, fail, frame_size
from nircolor.models import CheckpointError, load_generator
from nircolor.models.inference import (BOUND_MAXIMUM, BOUND_QUANTILE, BOUND_TYPICAL, cpu_bf16_units, measure_bf16,
                              resolve_device, resolve_precision, textured_nir)
from nircolor.models.preprocess import nir_to_tensor
from nircolor.pipeline.evaluate import EvaluationError, open_split


def bench_precision(
    checkpoints: list[Path] = typer.Argument(..., help="Checkpoint directories (trained: weights matter here)."),
    data: Path = typer.Option(None, "--data", help="Dataset whose frames to run (default: synthetic texture)."),
    split: str = typer.Option("eval", help="Split of --data."),
    frames: int = typer.Option(8, min=1, help="Frames per checkpoint."),
    size: str | None = typer.Option(None, "--size", help="Synthetic frame size WxH without --data (default 256x256)."),
    height: int = typer.Option(256, min=8, hidden=True, help="Older spelling of --size."),
    width: int = typer.Option(256, min=8, hidden=True, help="Older spelling of --size."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    output: Path = typer.Option(None, help="Also write the table as markdown to this file."),
) -> None:
    """bf16 (with float32 image layers and normalization) against float32, per checkpoint."""
    if size is not None:
        width, height = frame_size(size, minimum=8)
    try:
        target = resolve_device(device)
        nir = _frames(data, split, frames, height, width)
    except (EvaluationError, ValueError) as error:
        fail(str(error))
    units = cpu_bf16_units() if target.type == "cpu" else torch.cuda.get_device_name(target)
    console.print(f"{nir.shape[0]} frames of {nir.shape[3]}×{nir.shape[2]} "
                  f"({'from ' + str(data) if data else 'synthetic'}); device {target} ({units or 'no bf16 units'})")
    rows = []
    for checkpoint in checkpoints:
        try:
            generator = load_generator(checkpoint, device=target)
        except CheckpointError as error:
            rows.append((str(checkpoint), "-", "-", None, error))
            continue
        error = measure_bf16(generator, nir, target)
        rows.append((str(checkpoint), generator.config.name, generator.checkpoint_info.get("training_step"), error, None))
        del generator
    table = Table(title=f"bf16 against float32 (bound: ≤ {BOUND_TYPICAL:g}/255 on {100 * BOUND_QUANTILE:g}% "
                        f"of values, ≤ {BOUND_MAXIMUM:g}/255 everywhere)")
    for column in ("checkpoint", "model", "step", "max /255", f"p{100 * BOUND_QUANTILE:g} /255",
                   f"share > {BOUND_TYPICAL:g}/255", "within bound", "auto"):
        table.add_column(column)
    lines = ["| model | step | max /255 | p99.9 /255 | share > 2/255 | within bound | `auto` runs it in |",
             "|---|---:|---:|---:|---:|---|---|"]
    for checkpoint, name, step, error, problem in rows:
        if problem is not None:
            table.add_row(checkpoint, f"[red]{problem}[/]", *["-"] * 6)
            continue
        family = name.split("-")[0]
        auto = resolve_precision("auto", target, family)
        cells = [f"{error.maximum:.2f}", f"{error.quantile:.2f}", f"{100 * error.over_typical:.3f}%",
                 "yes" if error.within_bound else "no", auto]
        table.add_row(checkpoint, name, str(step), *cells)
        lines.append(f"| {name} | {step} | " + " | ".join(cells) + " |")
    console.print(table)
    if output is not None:
        command = "nircolor " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
        header = f"Device: {target} ({units or 'no bf16 units'}); {nir.shape[0]} frames of {nir.shape[3]}×{nir.shape[2]}. Command: `{command}`\n\n"
        atomic.write_text(output, header + "\n".join(lines) + "\n")
        console.print(f"markdown table written to {output}")
    if any(problem is not None for *_, problem in rows):
        raise typer.Exit(1)


def _frames(data: Path | None, split: str, count: int, height: int, width: int) -> torch.Tensor:
    """(N,1,H,W) in [0,1]: the first frames of a dataset split, or smooth synthetic texture."""
    if data is None:
        return textured_nir(count, height, width)
    batches = []
    for shard in open_split(data, split):
        with shard:
            nir, _ = shard.frames(0, count - sum(len(b) for b in batches))
        if len(nir):
            batches.append(nir_to_tensor(np.asarray(nir), shard.nir_bits))
        if sum(len(b) for b in batches) >= count:
            break
    if not batches:
        raise EvaluationError(f"{data}: the {split!r} split has no frames")
    return torch.cat(batches)[:count]
