"""`nircolor dataset build RECORDINGS_DIR DATASET_DIR`: recordings → registered pairs in HDF5 shards on Ray."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from nircolor.jobs.json_output import emit, json_mode, json_option
from nircolor.jobs.progress import LoggedProgress
from nircolor.dataset_tools.splits import SPLIT_BY_CHOICES
from nircolor.jobs.runtime import ADDRESS_HELP, console, fail, init_ray
from nircolor.pipeline.ingest import BuildSummary, IngestOptions, build_dataset

class _FramesPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        elapsed = task.elapsed or 0.0
        if not task.fields.get("rate"):
            return Text("")
        return Text(f"{task.completed / elapsed:6.0f} fr/s" if elapsed > 0 else "     - fr/s", style="cyan")


class _BuildProgress:
    """Turns `build_dataset` events into three bars: recordings planned, segments, frames (+ pairs kept)."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.planning = progress.add_task("reading recordings", total=None, pairs="")
        self.frames = None
        self.pairs = 0
        self.segments_left: dict[str, int] = {}
        self.recordings_done = 0

    def __call__(self, event: dict) -> None:
        kind = event["type"]
        if kind == "planned":
            self.progress.advance(self.planning)
        elif kind == "start":
            self.progress.update(self.planning, total=event["recordings"], completed=event["recordings"])
            self.segments_left = dict(event["segments_per_recording"])
            self.frames = self.progress.add_task(f"{event['segments']} segments", total=event["frames"],
                                                 pairs="", rate=True)
        elif kind == "segment" and self.frames is not None:
            self.pairs += event.get("stored", 0)
            self.segments_left[event["recording_id"]] = self.segments_left.get(event["recording_id"], 1) - 1
            self.recordings_done = sum(1 for left in self.segments_left.values() if left <= 0)
            self.progress.update(self.frames, advance=0 if event["skipped"] else event["frames"],
                                 pairs=f"{self.recordings_done}/{len(self.segments_left)} recordings, "
                                       f"{self.pairs} pairs kept")
            if event["skipped"]:  # finished earlier: shrink the work left instead of counting it as decoded
                task = self.progress.tasks[self.frames]
                self.progress.update(self.frames, total=max((task.total or 0) - event["frames"], 0))


def build(
    recordings_dir: Path = typer.Argument(..., help="Folder of recording folders (each with recording.json)."),
    dataset_dir: Path = typer.Argument(..., help="Output dataset folder (shards + manifest.json)."),
    address: str | None = typer.Option(None, "--address", help=ADDRESS_HELP),
    workers: int = typer.Option(0, "--workers", min=0, help="Ingest actors; 0 = one per CPU."),
    every: int = typer.Option(1, "--every", min=1, help="Keep at most one of every N paired frames."),
    every_seconds: float | None = typer.Option(None, "--every-seconds", min=0.0, help="...and at least T seconds apart."),
    eval_fraction: float = typer.Option(0.2, "--eval-fraction", min=0.0, max=0.99, help="Share of pairs for evaluation."),
    split_by: Literal[SPLIT_BY_CHOICES] = typer.Option("day-location", "--split-by",
                                 help="Whole groups go to one split: by day and location, by day, or by location."),
    split_override: list[str] = typer.Option([], "--split-override", help="ID=train|eval (repeatable)."),
    max_shift: float = typer.Option(4.0, "--max-shift", min=0.0, help="Correct shifts up to this many px; reject beyond."),
    segment_seconds: float = typer.Option(30.0, "--segment-seconds", min=0.0,
                                          help="Cut recordings into segments of about this length (0: whole)."),
    clock_offset: Literal["report", "estimate"] = typer.Option(
        "report", "--clock-offset",
        help="report: estimate the RGB camera's clock offset from the frames decoded anyway and report it; "
             "estimate: measure it on the first minute before pairing and apply it (beyond the paper)."),
    as_json: bool = json_option(),
) -> None:
    """Pair NIR and RGB frames by timestamp, sample, register, and write HDF5 shards + manifest.json."""
    if not recordings_dir.is_dir():
        fail(f"{recordings_dir}: no such folder")
    overrides = []
    for item in split_override:
        identifier, separator, split = item.partition("=")
        if not separator or split not in ("train", "eval") or not identifier:
            fail(f"--split-override {item!r}: expected ID=train or ID=eval")
        overrides.append((identifier, split))
    options = IngestOptions(
        every_frames=every, every_seconds=every_seconds, eval_fraction=eval_fraction, split_by=split_by,
        split_overrides=tuple(overrides), max_shift=max_shift, segment_seconds=segment_seconds or None,
        workers=workers or None, executor="ray", clock_offset=clock_offset,
    )
    with json_mode(as_json):
        init_ray(address)
        columns = (TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                   _FramesPerSecond(), TextColumn("{task.fields[pairs]}"), TimeElapsedColumn())
        with LoggedProgress(*columns, console=console, transient=False) as progress:
            summary = build_dataset(recordings_dir, dataset_dir, options, progress=_BuildProgress(progress))
        _print_summary(summary)
        if as_json:
            emit("dataset-build", {**dataclasses.asdict(summary), "ok": summary.ok,
                                   "failed": [recording.id for recording in summary.failed]})
        if summary.error:
            fail(summary.error)
        if summary.failed:
            raise typer.Exit(1)


def _print_summary(summary: BuildSummary) -> None:
    table = Table(title=f"dataset {summary.dataset_dir}", title_justify="left")
    for column in ("recording", "split", "frames", "pairs", "status"):
        table.add_column(column, justify="right" if column in ("frames", "pairs") else "left")
    for recording in summary.recordings[:20]:
        status = "[red]failed[/]" if recording.error else "[green]ok[/]"
        table.add_row(escape(recording.id), recording.split or "-", str(recording.frames_seen), str(recording.pairs), status)
    if len(summary.recordings) > 20:
        table.add_row(f"… {len(summary.recordings) - 20} more", "", "", "", "")
    console.print(table)
    rate = summary.frames_decoded / summary.seconds if summary.seconds else 0.0
    console.print(
        f"{len(summary.recordings) - len(summary.failed)}/{len(summary.recordings)} recordings, "
        f"{summary.pairs_stored} pairs, {summary.segments_done} segments ingested, "
        f"{summary.segments_skipped} already complete; {summary.frames_decoded} frames decoded in "
        f"{summary.seconds:.1f} s ({rate:.0f} frames/s, {summary.workers} workers)"
    )
    for recording in summary.failed:
        console.print(f"[red]failed:[/] {escape(recording.error)}", soft_wrap=True)
    for recording in summary.recordings:
        if recording.clock_warning:
            console.print(f"[yellow]clock:[/] {escape(recording.clock_warning)}", soft_wrap=True)
    if summary.manifest_path:
        console.print(f"manifest: {summary.manifest_path}")
