"""`nircolor bench models`: ms per 1024×768 frame for each Table-3 network (paper §4.5) in each inference mode."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nircolor.dataset_tools import atomic
from nircolor.jobs.runtime import console, fail, frame_size
from nircolor.models import TABLE3_NAMES, ModelNameError, parse_model_name
from nircolor.models.inference import resolve_device
from nircolor.pipeline.bench.timing import MODE_TITLES, MODES, benchmark_model, default_modes, describe_device, markdown_table
from nircolor.models.zoo import paper_model

QUICK_HEIGHT, QUICK_WIDTH = 384, 512


def bench_models(
    names: list[str] = typer.Option(None, "--names", help="Models to time (repeat or comma-separate); default: every Table-3 network."),
    repeats: int = typer.Option(3, min=1, help="Timed frames per model (the median is reported)."),
    warmup: int = typer.Option(1, min=0, help="Untimed frames first (allocation, cuDNN autotuning)."),
    size: str | None = typer.Option(None, "--size", help="Frame size WxH (default 1024x768)."),
    height: int = typer.Option(768, min=1, hidden=True, help="Older spelling of --size."),
    width: int = typer.Option(1024, min=1, hidden=True, help="Older spelling of --size."),
    quick: bool = typer.Option(False, help=f"A {QUICK_WIDTH}×{QUICK_HEIGHT} frame instead (a quarter of the pixels)."),
    device: str = typer.Option("auto", help="auto (CUDA when available), cpu, cuda or cuda:N."),
    modes: str = typer.Option(None, help=f"Comma-separated, from {', '.join(MODES)}; default: every mode the device runs."),
    output: Path = typer.Option(None, help="Also write the results as a markdown table to this file."),
) -> None:
    """Time each network on one frame in float32, bf16, bf16 compiled and onnxruntime, side by side."""
    if size is not None:
        width, height = frame_size(size, minimum=1)
    if quick:
        height, width = QUICK_HEIGHT, QUICK_WIDTH
    try:
        selected = [parse_model_name(name).name for item in (names or TABLE3_NAMES) for name in item.split(",") if name.strip()]
        target = resolve_device(device)
        chosen = tuple(mode.strip() for mode in modes.split(",") if mode.strip()) if modes else default_modes(target)
        unknown = [mode for mode in chosen if mode not in MODES]
        if unknown or not chosen:
            raise ValueError(f"--modes {modes!r}: choose from {', '.join(MODES)}")
    except (ModelNameError, ValueError, RuntimeError) as error:
        fail(str(error))
    device_text = describe_device(target)
    console.print(f"[bold]{device_text}[/]; {width}×{height} frame, {warmup} warmup + {repeats} timed per model and mode "
                  f"({', '.join(chosen)})")

    timings = []
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("timing", total=len(selected))
        for name in selected:
            progress.update(task, description=f"timing {name}")
            timings.append(benchmark_model(name, height, width, target, repeats, warmup, chosen))
            progress.advance(task)

    console.print(_summary(timings, width, height, device_text, chosen))
    if output is not None:
        command = "nircolor " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
        atomic.write_text(output, markdown_table(timings, height, width, device_text, command, chosen))
        console.print(f"markdown table written to {output}")
    failed = [timing.name for timing in timings if timing.error]
    if failed:
        fail(f"could not time {', '.join(failed)} (see the table)")


def _summary(timings, width: int, height: int, device_text: str, modes: tuple[str, ...]) -> Table:
    table = Table(title=f"median ms per {width}×{height} frame ({device_text})")
    for column in ("model", "params (M)", "GFLOPs", *(MODE_TITLES[mode] for mode in modes), "compile s", "paper TITAN X ms"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for timing in timings:
        paper = paper_model(timing.name)
        cells = [f"{timing.median_ms(mode):.1f}" if timing.median_ms(mode) is not None
                 else f"[red]{escape(timing.errors.get(mode, '-'))}[/]" for mode in modes]
        table.add_row(
            timing.name, f"{timing.parameters / 1e6:.2f}", f"{timing.gflops:.1f}", *cells,
            ", ".join(f"{seconds:.0f}" for seconds in timing.compile_seconds.values()) or "-",
            f"{1000 * paper.titan_x_seconds:.0f}" if paper and paper.titan_x_seconds else "-",
        )
    return table
