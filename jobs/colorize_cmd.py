"""`nircolor colorize CHECKPOINT INPUTS... --out DIR`: NIR recordings or videos → RGB videos + reports."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import typer
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from nircolor.jobs import object_storage
from nircolor.jobs.json_output import emit, json_mode, json_option
from nircolor.jobs.progress import LoggedProgress
from nircolor.jobs.runtime import ADDRESS_HELP, COMPILE_HELP, PRECISION_HELP, console, fail, inference_options, init_ray
from nircolor.models.inference import PRECISIONS
from nircolor.models.checkpoint import CheckpointError
from nircolor.models.export import ExportError
from nircolor.pipeline.colorize import ColorizeOptions, ColorizeSummary, colorize_inputs, describe_model
from nircolor.pipeline.colorize_worker import ENGINES

CODEC_CHOICES = ("h264", "hevc", "ffv1")


class FramesPerSecondColumn(ProgressColumn):
    """Frames per second since the task started (not a short-window estimate)."""

    def render(self, task) -> Text:
        elapsed = task.elapsed or 0.0
        return Text(f"{task.completed / elapsed:7.1f} fps" if elapsed > 0 else "      - fps", style="cyan")


class ColorizeProgress:
    """Rich bars: one per recording and one overall, fed by `colorize_inputs` progress events."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.overall = progress.add_task("all inputs", total=0)
        self.tasks: dict[str, int] = {}

    def __call__(self, event: str, **fields) -> None:
        if event == "planned":
            self.tasks[fields["name"]] = self.progress.add_task(fields["name"], total=fields["frames"] or None)
            overall = self.progress.tasks[self.overall]
            self.progress.update(self.overall, total=(overall.total or 0) + fields["frames"])
        elif event == "frames" and fields["name"] in self.tasks:
            self.progress.advance(self.tasks[fields["name"]], fields["frames"])
            self.progress.advance(self.overall, fields["frames"])
        elif event == "finished":
            entry = fields["entry"]
            task = self.tasks.get(entry.name)
            if task is not None:
                done = self.progress.tasks[task].completed
                self.progress.update(task, total=done, description=f"{entry.name} [{_status_style(entry.status)}]")
                self.progress.stop_task(task)
            object_storage.push_now()  # an --out in object storage gets each video as it is finished


def colorize(
    checkpoint: Path = typer.Argument(..., help="Checkpoint directory (config.json + generator.safetensors); with --engine onnxruntime a `nircolor export` folder or .onnx file."),
    inputs: list[Path] = typer.Argument(..., help="Recording folders (recording.json) or NIR video files."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: <name>.mp4 (<name>.mkv with --codec ffv1), <name>.json report (and <name>.review.mp4). Videos carry colour tags and the input's sound."),
    codec: Literal[CODEC_CHOICES] = typer.Option("h264", help="Output codec: h264 or hevc (4:2:0, tagged BT.709 from 1280 wide or over 576 lines, BT.601 below; an odd width/height is encoded one larger, its last column/row repeated) or ffv1 (lossless RGB, Matroska)."),
    crf: int = typer.Option(18, help="Constant rate factor for h264/hevc (lower = better)."),
    preset: str = typer.Option("veryfast", help="x264/x265 preset (ultrafast … veryslow)."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Also write NIR | colorized | RGB ground truth."),
    batch_size: int = typer.Option(8, min=1, help="Frames per inference batch."),
    workers: int = typer.Option(0, min=0, help="Actors; 0 = one per GPU, or one per 2 CPUs."),
    segment_seconds: float = typer.Option(20.0, min=0.0, help="Cut longer recordings into segments of about this length, colorized in parallel (0 = never). Cuts fall on keyframes at least 10 s apart."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    precision: Literal[PRECISIONS] = typer.Option("auto", help=PRECISION_HELP),
    compile_model: bool = typer.Option(None, "--compile/--no-compile", help=COMPILE_HELP, show_default=False),
    engine: Literal["torch", "onnxruntime"] = typer.Option("torch", help="torch (the checkpoint) or onnxruntime (an exported model, CPU, float32)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo outputs even when their report shows the same input, checkpoint and options (otherwise those are skipped and any other is redone)."),
    address: str = typer.Option(None, help=ADDRESS_HELP),
    as_json: bool = json_option(),
) -> None:
    """Colorize NIR recordings or videos with a trained generator (same frame times as the input)."""
    if codec not in CODEC_CHOICES:
        fail(f"--codec {codec!r} is not one of {', '.join(CODEC_CHOICES)}")
    if engine not in ENGINES:
        fail(f"--engine {engine!r} is not one of {', '.join(ENGINES)}")
    options = ColorizeOptions(
        codec=codec, crf=crf, preset=preset, side_by_side=side_by_side, batch_size=batch_size,
        workers=workers or None, segment_seconds=segment_seconds or None, device=device, overwrite=overwrite,
        engine=engine, inference=inference_options(precision, compile_model), executor="ray",
    )
    try:
        describe_model(checkpoint, engine)  # a wrong path fails in one line, before Ray starts
    except (CheckpointError, ExportError) as error:
        fail(str(error))
    with json_mode(as_json):
        init_ray(address)
        columns = (TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.completed:>7.0f}/{task.total} frames"), FramesPerSecondColumn(), TimeElapsedColumn())
        try:
            with LoggedProgress(*columns, console=console, transient=False) as progress:
                summary = colorize_inputs(checkpoint, inputs, out, options, progress=ColorizeProgress(progress))
        except (CheckpointError, ExportError, ValueError) as error:
            fail(str(error))
        print_summary(summary)
        if as_json:
            emit("colorize", {**dataclasses.asdict(summary), "frames": summary.frames, "fps": summary.fps,
                              "failed": [entry.name for entry in summary.outputs if entry.status == "failed"]})
        if summary.failed:
            raise typer.Exit(1)


def print_summary(summary: ColorizeSummary) -> None:
    table = Table(title=f"colorize: {summary.model}, {summary.workers} worker(s)")
    for column in ("input", "status", "frames", "seconds", "fps", "output / problem"):
        table.add_column(column, justify="right" if column in ("frames", "seconds", "fps") else "left")
    for entry in summary.outputs:
        table.add_row(
            entry.name, _status_style(entry.status), str(entry.frames), f"{entry.duration_seconds:.2f}",
            f"{entry.fps:.1f}" if entry.status == "done" else "-",
            "[red]see below[/]" if entry.status == "failed" else entry.output + (" [yellow](warning below)[/]" if entry.warning else ""),
        )
    console.print(table)
    # Problems on whole lines of their own, so paths stay copyable in any terminal width.
    for entry in summary.outputs:
        if entry.status == "failed":
            console.print(f"[red]failed:[/] {entry.error}", soft_wrap=True)
        elif entry.warning:
            console.print(f"[yellow]warning:[/] {entry.warning}", soft_wrap=True)
    counts = {status: sum(1 for e in summary.outputs if e.status == status) for status in ("done", "skipped", "failed")}
    console.print(
        f"{counts['done']} colorized, {counts['skipped']} already done, {counts['failed']} failed; "
        f"{summary.frames} frames in {summary.wall_seconds:.1f} s ({summary.fps:.1f} frames/s overall)"
    )


def _status_style(status: str) -> str:
    return {"done": "[green]done[/]", "skipped": "[yellow]skipped[/]", "failed": "[red]failed[/]"}.get(status, status)
