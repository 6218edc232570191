"""`nircolor evaluate`: checkpoints on a dataset split like the paper's Tables 1–3 (§4); and
`nircolor evaluate-video`: the warping error (temporal flicker) of a colorized video beside its
ground-truth RGB's (`nircolor evaluate --video` is kept as an alias of it).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.streams import StreamSource
from nircolor.dataset_tools.writer_lock import WriterBusy, writer_lock
from nircolor.jobs.json_output import emit, json_mode, json_option
from nircolor.jobs.progress import LoggedProgress
from nircolor.jobs.runtime import COMPILE_HELP, PRECISION_HELP, console, fail, inference_options
from nircolor.models.inference import PRECISIONS
from nircolor.models.checkpoint import CheckpointError
from nircolor.pipeline.evaluate import BASELINES, EvaluationError, evaluate_checkpoints
from nircolor.pipeline.evaluation_report import json_safe
from nircolor.pipeline.evaluation_results import EvaluationResults
from nircolor.pipeline.temporal import (FLOW_METHODS, EvaluationStreams, WarpingResult, recording_sources, video_streams,
                                        warping_error_of_videos)


def evaluate(
    checkpoints: list[str] = typer.Argument(
        None, help=f"Checkpoint directories; also {' or '.join(BASELINES)} in place of a checkpoint."
    ),
    data: Path = typer.Option(None, "--data", help="Dataset folder (manifest.json + <split>/*.h5)."),
    split: Literal["eval", "train"] = typer.Option("eval", help="Split to evaluate on."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for tables, JSON and grid.png (default: ./evaluation)."),
    baselines: bool = typer.Option(False, "--baselines", help="Add the NIR-as-gray and train-mean-colour baselines."),
    no_timing: bool = typer.Option(False, "--no-timing", help="Skip timing a 1024×768 frame per model."),
    batch_size: int = typer.Option(4, min=1, help="Frames per inference batch."),
    max_frames: int = typer.Option(None, min=1, help="At most this many frames per shard (quick looks)."),
    grid_frames: int = typer.Option(4, min=1, help="Evenly spaced frames shown in grid.png."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    precision: Literal[PRECISIONS] = typer.Option("auto", help=PRECISION_HELP),
    compile_model: bool = typer.Option(None, "--compile/--no-compile", help=COMPILE_HELP, show_default=False),
    video: Path = typer.Option(None, "--video", help="Colorized video: measure its warping error instead "
                               "(the same as `nircolor evaluate-video VIDEO`)."),
    nir: Path = typer.Option(None, "--nir", help="With --video: the NIR video, or the recording folder."),
    rgb: Path = typer.Option(None, "--rgb", help="With --video: ground-truth RGB video (default: the recording's)."),
    flow: Literal[FLOW_METHODS] = typer.Option("dis", help="Optical flow for --video."),
    as_json: bool = json_option(),
) -> None:
    """Measure checkpoints (L1, PSNR, SSIM, ΔE00, AE, parameters, speed) or a colorized video's flicker."""
    if video is not None:  # the old spelling of `nircolor evaluate-video`
        measure_video(video, nir, rgb, flow, max_frames, out)
        return
    if not checkpoints and not baselines:
        fail("give checkpoint directories (or --baselines); for a colorized video: nircolor evaluate-video VIDEO --nir NIR")
    if data is None:
        fail("--data DATASET is required to evaluate checkpoints")
    inference = inference_options(precision, compile_model)
    sources = list(checkpoints or []) + [name for name in BASELINES if baselines and name not in (checkpoints or [])]
    columns = (TextColumn("evaluating {task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
               TimeElapsedColumn())
    with json_mode(as_json):
        results = _evaluate(sources, data, split, out, no_timing, batch_size, max_frames, grid_frames, device,
                            inference, columns)
        _print_results(results)
        if as_json:
            emit("evaluate", results.to_dict())
        if results.failures:  # the others are measured and reported; the exit status says one was not
            raise typer.Exit(1)


def _evaluate(sources, data, split, out, no_timing, batch_size, max_frames, grid_frames, device, inference,
              columns) -> EvaluationResults:
    try:
        # One evaluate per report folder: two would interleave one's tables with the other's grid.
        with writer_lock(out or Path("evaluation"), "evaluate"), LoggedProgress(*columns, console=console) as progress:
            models = len(sources) - sum(source in BASELINES for source in sources)
            task = progress.add_task(f"{models} model(s) + {len(sources) - models} baseline(s) on {split}", total=None)
            results = evaluate_checkpoints(
                sources, data, split, out_dir=out or Path("evaluation"), timing=not no_timing, batch_size=batch_size,
                max_frames=max_frames, grid_frames=grid_frames, device=None if device == "auto" else device,
                inference=inference,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except (EvaluationError, CheckpointError, WriterBusy) as error:
        fail(str(error))
    return results


def _print_results(results: EvaluationResults) -> None:
    table = Table(title=f"{results.split}: {results.frames} frames, {len(results.recordings)} recordings, {results.device}")
    for column in ("model", "L1 ↓", "paper L1", "PSNR dB", "SSIM", "ΔE00", "params M", "paper M", "ms/frame", "paper ms"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for model in results.models:
        paper = model.paper or {}
        table.add_row(
            escape(model.label), _number(model.metrics["l1"], "{:.6f}"), _number(paper.get("l1"), "{:.6f}"),
            _number(model.metrics["psnr"], "{:.2f}"), _number(model.metrics["ssim"], "{:.4f}"),
            _number(model.metrics["delta_e"], "{:.2f}"),
            _number(model.parameters / 1e6 if model.parameters else None, "{:.2f}"),
            _number(paper.get("parameters_m"), "{:.1f}"), _number(model.ms_per_frame, "{:.1f}"),
            _number(paper["titan_x_seconds"] * 1000 if paper.get("titan_x_seconds") else None, "{:.0f}"),
        )
    console.print(table)
    for source, reason in results.failures:
        console.print(f"[red]not evaluated[/] {escape(source)}: {escape(reason.removeprefix(f'{source}: '))}")
    if results.files:
        console.print("written:")
        for path in results.files:
            console.print(f"  {escape(str(path))}")


def evaluate_video(
    video: Path = typer.Argument(..., help="Colorized video whose flicker to measure."),
    nir: Path = typer.Option(None, "--nir", "--recording",
                             help="The NIR video it was colorized from, or the recording folder."),
    rgb: Path = typer.Option(None, "--rgb", help="Ground-truth RGB video (default: the recording's)."),
    flow: Literal[FLOW_METHODS] = typer.Option("dis", help="Optical flow on the NIR."),
    max_frames: int = typer.Option(None, min=1, help="At most this many NIR frames (quick looks)."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for <video>.warping.json (per-pair errors)."),
) -> None:
    """Warping error of a colorized video against its NIR recording, beside the ground-truth RGB's."""
    measure_video(video, nir, rgb, flow, max_frames, out)


def measure_video(video: Path, nir: Path | None, rgb: Path | None, flow: str, max_frames: int | None,
                  out: Path | None) -> None:
    """What `evaluate-video` and `evaluate --video` both run: measure, print, write the JSON under `out`."""
    if nir is None:
        fail(f"{video}: give --nir (the NIR video or the recording folder it was colorized from)")
    if flow not in FLOW_METHODS:
        fail(f"--flow {flow!r} is not one of {', '.join(FLOW_METHODS)}")
    for path in (video, nir, rgb):
        if path is not None and not path.exists():
            fail(f"{path}: no such file or folder")
    try:
        if nir.is_dir():  # a recording of any form; --rgb replaces its ground truth (same camera, no rig)
            streams = recording_sources(nir)
            if rgb is not None:  # a video of its own, from 0 like the colorized one
                streams = EvaluationStreams(streams.nir, StreamSource("video", str(rgb)), rgb_from_zero=True)
        else:
            streams = video_streams(nir, rgb)
        with console.status(f"warping error of {video.name} ({flow} flow on the NIR)"):
            result = warping_error_of_videos(video, streams, method=flow, max_frames=max_frames)
    except ValueError as error:  # stream errors and bad recording folders are ValueErrors with one line
        fail(str(error))
    _print_warping(video, streams, result)
    if out is not None:
        path = out / f"{video.stem}.warping.json"
        document = {"video": str(video), "nir": streams.nir.label(), "rgb": streams.rgb.label() if streams.rgb else None,
                    "flow": flow, **result.to_dict()}
        atomic.write_json(path, json_safe(document))
        console.print(f"written:\n  {escape(str(path))}")


def _print_warping(video: Path, streams: EvaluationStreams, result: WarpingResult) -> None:
    if result.pairs == 0:
        fail(f"{video}: fewer than two frames line up with the NIR video in time; nothing to compare")
    table = Table(title=f"warping error (mean |frame t − warped t−1| over visible pixels, [0,1]) over {result.pairs} frame pairs")
    table.add_column("video")
    table.add_column("warping error ↓", justify="right")
    table.add_row(f"colorized: {escape(video.name)}", _number(result.colorized, "{:.5f}"))
    if streams.rgb is not None:
        table.add_row(f"ground-truth RGB: {escape(_stream_name(streams.rgb))}", _number(result.ground_truth, "{:.5f}"))
    console.print(table)
    ratio = (result.colorized / result.ground_truth) if result.ground_truth else None
    notes = [f"{result.valid_fraction:.1%} of pixels visible in both frames on average"]
    if ratio is not None and math.isfinite(ratio):
        notes.append(f"colorized / ground truth = {ratio:.2f} (1.0 = as stable as the real colour video)")
    if result.skipped_frames:
        notes.append(f"{result.skipped_frames} NIR frames had no frame at the same time in the other video(s)")
    console.print("; ".join(notes))


def _stream_name(source) -> str:
    name = Path(source.path).name
    return f"{name} {source.topic}" if source.topic else name


def _number(value, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return pattern.format(value)
