"""`nircolor bench colorize`: end-to-end colorization frames/s against model-only frames/s."""
from __future__ import annotations

import os

import torch
import typer
from rich.table import Table

from nircolor.jobs.runtime import console, fail, frame_size
from nircolor.models import CheckpointError, ModelNameError
from nircolor.models.export import ExportError
from nircolor.pipeline.bench.timing import MODES, describe_device
from nircolor.pipeline.bench.colorize import run_colorize_bench
from nircolor.pipeline.colorize_worker import torch_threads


def bench_colorize(
    model: str = typer.Option("johnson-6", help="Model name (random weights) when no --checkpoint is given."),
    checkpoint: str = typer.Option(None, help="A trained checkpoint instead of --model."),
    size: str | None = typer.Option(None, "--size", help="Synthetic clip frame size WxH (default 320x240)."),
    width: int = typer.Option(320, min=16, hidden=True, help="Older spelling of --size."),
    height: int = typer.Option(240, min=16, hidden=True, help="Older spelling of --size."),
    frames: int = typer.Option(64, min=1, help="Frames of the synthetic NIR clip."),
    batch_size: int = typer.Option(8, min=1),
    device: str = typer.Option("auto", help="auto, cpu or cuda (bf16 + channels_last)."),
    codec: str = typer.Option("h264"),
    preset: str = typer.Option("veryfast"),
    repeats: int = typer.Option(3, min=1, help="Alternating runs of each; the best of each is reported."),
    threads: int = typer.Option(0, min=0, help="torch threads (0 = torch's default)."),
    modes: str = typer.Option("fp32,bf16,bf16-compiled,onnxruntime", help=f"Comma-separated, from {', '.join(MODES)}."),
) -> None:
    """Colorize a synthetic clip end to end and compare with the model alone (same batch, device)."""
    if size is not None:
        width, height = frame_size(size, minimum=16)
    chosen = tuple(mode.strip() for mode in modes.split(",") if mode.strip())
    if not chosen or any(mode not in MODES for mode in chosen):
        fail(f"--modes {modes!r}: choose from {', '.join(MODES)}")
    load_before = os.getloadavg()[0]
    try:
        results = run_colorize_bench(model, checkpoint, width, height, frames, batch_size, device, codec, preset,
                                     repeats, threads or None, modes=chosen)
    except (ModelNameError, CheckpointError, ExportError, RuntimeError, ValueError) as error:
        fail(str(error))
    first = results[0]
    table = Table(title=f"colorize {first.model} {first.width}×{first.height}, batch {first.batch_size}, "
                        f"{first.device} ({first.threads} threads), {first.frames} frames, {codec} {preset}")
    for column in ("mode", "model-only fps", "end-to-end fps", "ratio", "CPU s/frame model", "CPU s/frame end-to-end",
                   "CPU ratio", "decode s", "inference s", "encode s", "wall s", "compile s"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for result in results:
        table.add_row(
            result.mode, f"{result.model_fps:.2f}", f"{result.end_to_end_fps:.2f}", f"{100 * result.ratio:.0f}%",
            f"{result.model_cpu_per_frame:.3f}", f"{result.end_to_end_cpu_per_frame:.3f}",
            f"{100 * result.cpu_ratio:.0f}%", f"{result.decode_seconds:.2f}", f"{result.inference_seconds:.2f}",
            f"{result.encode_seconds:.2f}", f"{result.wall_seconds:.2f}",
            f"{result.compile_seconds:.1f}" if result.compile_seconds else "-",
        )
    console.print(table)
    with torch_threads(threads or None):  # the threads the runs had (workers set them per task only)
        machine = describe_device(torch.device(first.device))
    console.print(f"machine: {machine}, {os.cpu_count()} CPUs, "
                  f"load average {load_before:.2f} before / {os.getloadavg()[0]:.2f} after; best of {repeats} runs each. "
                  "Decode, inference and encode overlap in threads, so their sum can exceed the wall time.")
