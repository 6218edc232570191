"""`nircolor dataset build|import-pairs|info|verify` (build lives in jobs/dataset_build_cmd.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nircolor.dataset_tools.manifest import ManifestError, read_manifest, registration_by_split, verify_dataset
from nircolor.dataset_tools.pair_folders import PairImportError, find_pairs, import_pair_folder
from nircolor.dataset_tools.registration import RegistrationPolicy
from nircolor.dataset_tools.splits import SPLIT_BY_CHOICES
from nircolor.jobs import dataset_build_cmd
from nircolor.jobs.json_output import emit, json_mode, json_option
from nircolor.jobs.progress import LoggedProgress
from nircolor.jobs.runtime import console, fail

app = typer.Typer(no_args_is_help=True, add_completion=False)
app.command("build", help="Drive recordings → HDF5 shards + manifest, on Ray actors.")(dataset_build_cmd.build)


def _progress() -> Progress:
    return LoggedProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def registration_table(title: str, rows: dict[str, dict]) -> Table:
    """One row per recording or split: how far its pairs were off, and how confident the measurement was."""
    table = Table(title=title, title_justify="left")
    for column in ("", "pairs measured", "median |shift| px", "≤0.5 px", "≤1 px", "max px", "median score"):
        table.add_column(column, justify="left" if not column else "right")
    for name, summary in rows.items():
        if not summary or not summary.get("count"):
            table.add_row(name, "0", "-", "-", "-", "-", "-")
            continue
        table.add_row(
            name, str(summary["count"]), f"{summary['median_shift_px']:.2f}", f"{100 * summary['within_0_5px']:.0f} %",
            f"{100 * summary['within_1px']:.0f} %", f"{summary['max_shift_px']:.2f}",
            f"{summary['median_score']:.2f}" if summary.get("median_score") is not None else "-",
        )
    return table


@app.command("import-pairs")
def import_pairs(
    source: Path = typer.Argument(..., help="Folder of <name>_nir.png / <name>_rgb.png pairs (or .tif, .pgm, .jpg, ...; searched recursively)."),
    dataset: Path = typer.Argument(..., help="Dataset folder to create or extend."),
    day: str = typer.Option(None, help="Day of every pair (YYYY-MM-DD); default 'unknown'."),
    location: str = typer.Option(None, help="Location of every pair; default: the source folder's name."),
    mapping: Path = typer.Option(None, help="JSON {pattern: {day, location[, split]}} or CSV name,day,location[,split]."),
    split: Literal["train", "eval", "auto"] | None = typer.Option(None, help="train, eval or auto (by day–location groups); default: auto with --mapping, else train."),
    eval_fraction: float = typer.Option(0.2, help="With --split auto: share of pairs to hold out."),
    split_by: Literal[SPLIT_BY_CHOICES] = typer.Option("day-location",
                                 help="With --split auto: groups by day and location, by day, or by location."),
    max_shift: float = typer.Option(4.0, help="Reject pairs whose measured NIR↔RGB shift exceeds this (px)."),
    min_score: float = typer.Option(RegistrationPolicy.min_score, help="Reject pairs with less shared structure than this."),
    as_json: bool = json_option(),
) -> None:
    """Import still NIR/RGB pairs as shards: registration measured, corrected, rejected beyond --max-shift."""
    with json_mode(as_json):
        if split_by not in SPLIT_BY_CHOICES:
            fail(f"--split-by must be one of {', '.join(SPLIT_BY_CHOICES)}, got {split_by!r}")
        policy = RegistrationPolicy(max_shift=max_shift, min_score=min_score)
        try:
            total = len(find_pairs(source))
            with _progress() as progress:
                task = progress.add_task(f"importing {source.name}", total=total)
                result = import_pair_folder(
                    source, dataset, day=day, location=location, mapping=mapping, split=split,
                    eval_fraction=eval_fraction, split_by=split_by, policy=policy,
                    progress=lambda name: progress.advance(task),
                )
        except (PairImportError, ManifestError) as error:
            fail(str(error))

        table = Table(title=f"imported {source} → {dataset}", title_justify="left")
        for column in ("recording", "split", "day", "location", "pairs seen", "imported", "corrected", "rejected"):
            table.add_column(column)
        for recording_id, record in result.recordings.items():
            rejected = ", ".join(f"{reason} {count}" for reason, count in sorted(record["rejected"].items())) or "-"
            table.add_row(recording_id, record["split"], record["day"], record["location"], str(record["pairs_seen"]),
                          str(record["pairs_imported"]), str(record["corrected"]), rejected)
        console.print(table)
        rows = {recording_id: record["registration"] for recording_id, record in result.recordings.items()}
        if len(rows) > 1:
            rows["all"] = result.registration
        console.print(registration_table(
            f"registration (before correction; bound {policy.max_shift:g} px, min score {policy.min_score:g})", rows))
        for record in result.recordings.values():
            for error in record.get("errors", [])[:5]:
                console.print(f"[yellow]skipped:[/] {error}", soft_wrap=True)
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
        imported = {split: 0 for split in ("train", "eval")}
        rejected: dict[str, int] = {}
        for record in result.recordings.values():
            imported[record["split"]] += record["pairs_imported"]
            for reason, count in record["rejected"].items():
                rejected[reason] = rejected.get(reason, 0) + count
        console.print(
            f"{sum(imported.values())} pairs imported (train {imported['train']}, eval {imported['eval']}); rejected: "
            + (", ".join(f"{reason} {count}" for reason, count in sorted(rejected.items())) or "none")
        )
        console.print(f"manifest: {result.manifest_path}", soft_wrap=True)
        if as_json:
            emit("dataset-import-pairs", {"source": source, "dataset": dataset, "manifest": result.manifest_path,
                                          "imported": imported, "rejected": rejected, "recordings": result.recordings,
                                          "registration": result.registration, "warnings": result.warnings})
        unreadable = rejected.get("unreadable", 0)
        if unreadable:  # the readable pairs are imported; the exit status still says some input failed
            console.print(f"[red]error:[/] {unreadable} pair(s) in {source} could not be read (listed above)", soft_wrap=True)
            raise typer.Exit(1)


@app.command("info")
def info(dataset: Path = typer.Argument(..., help="Dataset folder (holds manifest.json)."),
         as_json: bool = json_option()) -> None:
    """Splits, days, locations, pair counts and registration statistics of a dataset."""
    try:
        manifest = read_manifest(dataset)
        registration = registration_by_split(dataset)
    except ManifestError as error:
        fail(str(error))
    if as_json:
        emit("dataset-info", {"dataset": dataset, "created": manifest.get("created"), "splits": manifest["splits"],
                              "recordings": manifest["recordings"], "shards": manifest["shards"],
                              "registration": registration})
        return
    splits = Table(title=f"{dataset} (created {manifest.get('created', '?')})", title_justify="left")
    for column in ("split", "pairs", "shards", "recordings", "days", "locations"):
        splits.add_column(column)
    for name, split in manifest["splits"].items():
        splits.add_row(name, str(split["pairs"]), str(split["shards"]), str(len(split["recordings"])),
                       ", ".join(split["days"]) or "-", ", ".join(split["locations"]) or "-")
    console.print(splits)

    recordings = Table(title="recordings", title_justify="left")
    for column in ("recording", "split", "day", "location", "pairs", "rejected", "median |shift| px", "≤1 px", "error"):
        recordings.add_column(column)
    pairs_by_recording: dict[str, int] = {}
    for shard in manifest["shards"]:
        pairs_by_recording[shard["recording_id"]] = pairs_by_recording.get(shard["recording_id"], 0) + shard["pairs"]
    for recording_id, record in manifest["recordings"].items():
        rejected = record.get("rejected") or {}
        summary = record.get("registration") or {}
        recordings.add_row(
            recording_id, str(record.get("split", "-")), str(record.get("day", "-")), str(record.get("location", "-")),
            str(pairs_by_recording.get(recording_id, 0)),
            ", ".join(f"{reason} {count}" for reason, count in sorted(rejected.items())) or "-",
            f"{summary['median_shift_px']:.2f}" if summary.get("count") else "-",
            f"{100 * summary['within_1px']:.0f} %" if summary.get("count") else "-",
            str(record.get("error") or ""),
        )
    console.print(recordings)
    console.print(registration_table("registration of stored pairs (measured before correction)", registration))


@app.command("verify")
def verify(dataset: Path = typer.Argument(..., help="Dataset folder (holds manifest.json).")) -> None:
    """Check the manifest, every shard's sha256 and schema; exit 1 naming each broken shard."""
    try:
        manifest = read_manifest(dataset)
        with _progress() as progress:
            task = progress.add_task("verifying shards", total=len(manifest["shards"]))
            problems = verify_dataset(dataset, progress=lambda entry: progress.advance(task))
    except ManifestError as error:
        fail(str(error))
    if problems:
        for problem in problems:
            console.print(f"[red]✗[/] {problem}", soft_wrap=True)
        fail(f"{dataset}: {len(problems)} problem(s) found")
    pairs = sum(entry["pairs"] for entry in manifest["shards"])
    console.print(f"[green]✓[/] {dataset}: {len(manifest['shards'])} shards, {pairs} pairs, checksums and schema ok")
