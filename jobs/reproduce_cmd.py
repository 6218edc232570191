"""`nircolor reproduce table1|table2|table3 --data DATASET --out DIR`: train the paper's comparison
(§4.3–4.5) with identical settings, evaluate, and write its tables with the paper's figures beside."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from nircolor.jobs.progress import LoggedProgress
from nircolor.jobs.runtime import ADDRESS_HELP, console, fail, init_ray
from nircolor.pipeline.evaluate import EvaluationError
from nircolor.pipeline.reproduce import EXPERIMENTS, ReproduceConfig, ReproduceSummary, plan_runs, reproduce as run_reproduce


def reproduce(
    experiment: str = typer.Argument(..., help=f"{', '.join(EXPERIMENTS)} (the paper's Tables 1–3), or custom with --model."),
    data: Path = typer.Option(..., "--data", help="Dataset folder with train and eval splits."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for runs/, evaluation/ and <experiment>.md; re-running resumes."),
    models: list[str] = typer.Option(None, "--model", help="Train these models instead of the table's (repeatable)."),
    steps: int = typer.Option(60_000, min=1, help="Training steps per model (§4.2: 60,000)."),
    l1_weight: float = typer.Option(0.99, "--lambda", min=0.0, max=1.0, help="λ for table2/table3/custom (§4.3: 0.99)."),
    batch_size: int = typer.Option(1, min=1, help="Pairs per step per worker (§4.2: 1)."),
    crop: int = typer.Option(None, "--crop", min=8, help="Random square crops of this size; default full frames."),
    seed: int = typer.Option(0, help="One seed for every model."),
    tiny: bool = typer.Option(False, "--tiny", help="Train test-size variants (a quick dry run of the whole comparison)."),
    workers: int = typer.Option(1, min=1, help="Ray Train workers per training."),
    gpus_per_worker: float = typer.Option(0.0, min=0.0, help="GPUs per worker; 0 trains on CPU."),
    cpus_per_worker: int = typer.Option(1, min=1, help="CPU cores per worker."),
    no_timing: bool = typer.Option(False, "--no-timing", help="Skip timing a 1024×768 frame per model."),
    address: str = typer.Option(None, help=ADDRESS_HELP),
) -> None:
    """Train a table's models with identical settings, then evaluate them like the paper (§4)."""
    config = ReproduceConfig(
        experiment=experiment if not models else "custom", dataset=str(data), out_dir=str(out),
        models=tuple(models or ()), l1_weight=l1_weight, steps=steps, batch_size=batch_size, crop_size=crop,
        seed=seed, tiny=tiny, workers=workers, gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker,
        timing=not no_timing,
    )
    try:
        plan = plan_runs(config)
    except ValueError as error:
        fail(str(error))
    console.print(f"{len(plan)} trainings of {steps} steps each: " + ", ".join(f"{run.model} (λ={run.l1_weight:g})" for run in plan))
    init_ray(address)

    def on_event(event: dict) -> None:
        if event["kind"] == "train":
            console.print(f"[bold]training {event['index'] + 1}/{event['total']}[/] {escape(event['run'])}")
        elif event["kind"] == "trained" and "error" in event:
            console.print(f"[red]failed[/] {escape(event['run'])}: {escape(event['error'])}")
        elif event["kind"] == "evaluate":
            console.print(f"[bold]evaluating[/] {event['models']} model(s) and {event['baselines']} baseline(s) on the eval split")

    progress = LoggedProgress(TextColumn("  steps"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=console, transient=True)
    bar = {}

    def on_train_progress(event: dict) -> None:
        if event["kind"] == "start":
            if "task" in bar:
                progress.remove_task(bar["task"])
            bar["task"] = progress.add_task("steps", total=event["steps"], completed=event["step"])
        elif "task" in bar:
            progress.update(bar["task"], completed=event["step"])

    try:
        with progress:
            summary = run_reproduce(config, on_event=on_event, on_train_progress=on_train_progress)
    except EvaluationError as error:
        fail(str(error))
    _print_summary(summary)
    if not any("checkpoint" in entry for entry in summary.runs):
        raise typer.Exit(1)


def _print_summary(summary: ReproduceSummary) -> None:
    table = Table(title="reproduce: L1 error on the eval split")
    for column in ("run", "λ", "L1", "paper L1", "status"):
        table.add_column(column, justify="right" if column in ("λ", "L1", "paper L1") else "left")
    by_source = {model.source: model for model in summary.evaluation.models} if summary.evaluation else {}
    for entry in summary.runs:
        model = by_source.get(entry.get("checkpoint"))
        paper = (model.paper or {}).get("l1") if model else None
        table.add_row(
            escape(entry["run"]), f"{entry['lambda']:g}", f"{model.metrics['l1']:.6f}" if model else "—",
            f"{paper:.6f}" if paper else "—",
            "[green]trained[/]" if "checkpoint" in entry else f"[red]{escape(entry['error'])}[/]",
        )
    console.print(table)
    if summary.files:
        console.print("written:")
        for path in summary.files:
            console.print(f"  {escape(str(path))}")
