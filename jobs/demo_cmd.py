"""`nircolor demo`: the whole pipeline on synthetic drives, on one machine, in minutes on CPU.

synthetic recordings → `dataset build` → a short `train` → `evaluate` → `colorize --side-by-side`
→ `evaluate-video` (flicker). Each step is the very command a user would type; the demo prints
it before running it, so the demo doubles as a tutorial.
"""
from __future__ import annotations

import shlex
import time
from pathlib import Path

import typer
from typer.main import get_command

from nircolor.dataset_tools.manifest import read_manifest
from nircolor.jobs.cli import app  # no cycle: jobs.cli imports this module only when `demo` runs
from nircolor.jobs.runtime import console, fail


def demo(
    out_dir: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Folder for every output of the demo."),
    model: str = typer.Option("unet-64-s", "--model", help="Network to train (its test-size variant, --tiny)."),
    steps: int = typer.Option(1500, "--steps", min=1, help="Training steps."),
    recordings: int = typer.Option(6, "--recordings", min=2, help="Synthetic recordings (3 days × 3 locations)."),
    frames: int = typer.Option(40, "--frames", min=4, help="Frames per recording."),
    size: str = typer.Option("192x144", "--size", help="Frame size WxH of the synthetic drives."),
    address: str = typer.Option(None, "--address", help="Ray cluster address; default: an embedded local Ray."),
) -> None:
    """Synthetic drives → dataset → training → evaluation → colorized side-by-side videos."""
    command = get_command(app)
    started = time.perf_counter()
    paths = {
        "recordings": out_dir / "recordings",
        "dataset": out_dir / "dataset",
        "run": out_dir / "run",
        "evaluation": out_dir / "evaluation",
        "colorized": out_dir / "colorized",
    }
    cluster = ["--address", address] if address else []

    def run(*arguments: str) -> None:
        console.rule(f"[bold]nircolor {shlex.join(arguments)}")
        code = command.main(list(arguments), prog_name="nircolor", standalone_mode=False)
        if code not in (None, 0):
            fail(f"demo stopped: `nircolor {shlex.join(arguments)}` exited with {code}")

    run("synth", "recordings", str(paths["recordings"]), "--count", str(recordings), "--frames", str(frames),
        "--size", size, "--days", "3", "--locations", "3", "--drop-frames", "2", "--shift", "0,2", "--seed", "7")
    run("dataset", "build", str(paths["recordings"]), str(paths["dataset"]), "--eval-fraction", "0.3", *cluster)
    every = max(steps // 3, 1)
    run("train", str(paths["dataset"]), str(paths["run"]), "--model", model, "--tiny", "--steps", str(steps),
        "--checkpoint-every", str(every), "--eval-every", str(every), "--sample-every", str(every),
        *cluster)
    checkpoint = paths["run"] / "best"
    if not checkpoint.is_dir():
        checkpoint = paths["run"] / "checkpoints" / f"step-{steps:07d}"  # no eval split: the last one
    run("evaluate", str(checkpoint), "--data", str(paths["dataset"]), "--baselines", "--no-timing",
        "--out", str(paths["evaluation"]))
    eval_recordings = _eval_recordings(paths["dataset"], paths["recordings"])
    run("colorize", str(checkpoint), *map(str, eval_recordings), "--out", str(paths["colorized"]),
        "--side-by-side", *cluster)
    first = eval_recordings[0]
    run("evaluate-video", str(paths["colorized"] / f"{first.name}.mp4"), "--recording", str(first),
        "--out", str(paths["evaluation"] / "temporal"))

    console.rule("[bold green]demo finished")
    console.print(f"in {time.perf_counter() - started:.0f} s; everything is under {out_dir}/:")
    for label, path in (
        ("synthetic drives", paths["recordings"]),
        ("dataset (shards + manifest.json)", paths["dataset"]),
        ("training run (checkpoints, TensorBoard, samples/)", paths["run"]),
        ("checkpoint used", checkpoint),
        ("evaluation table", paths["evaluation"] / "evaluation.md"),
        ("evaluation grid", paths["evaluation"] / "grid.png"),
        ("sample grids", paths["run"] / "samples"),
        ("colorized videos + reports", paths["colorized"]),
        ("side-by-side review video", paths["colorized"] / f"{first.name}.review.mp4"),
    ):
        console.print(f"  {label:<50} {path}")


def _eval_recordings(dataset_dir: Path, recordings_root: Path) -> list[Path]:
    """Recording folders the build put in the eval split (those the model never saw)."""
    entries = read_manifest(dataset_dir)["recordings"].values()
    folders = sorted(recordings_root / entry["folder"] for entry in entries if entry.get("split") == "eval")
    if not folders:
        fail(f"{dataset_dir}: the build put no recording in the eval split")
    return folders
