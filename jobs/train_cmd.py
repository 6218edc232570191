"""`nircolor train DATASET RUN_DIR --model NAME`: GAN training (§3.5, §4.2) on Ray Train, resumable."""
from __future__ import annotations

import enum
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from nircolor.jobs import object_storage, progress as progress_module
from nircolor.jobs.progress import duration, is_interactive
from nircolor.jobs.runtime import ADDRESS_HELP, console, fail, init_ray
from nircolor.pipeline.recipe import SCHEDULES
from nircolor.pipeline.train import TrainConfig, TrainError, TrainSummary, train as run_training
from nircolor.pipeline.train_config import TRAIN_PRECISIONS


# Options that depart from the paper's §4.2 recipe say so first (docs/training.md).
BEYOND = "Beyond the paper:"
Precision = enum.Enum("Precision", {name: name for name in TRAIN_PRECISIONS}, type=str)
Schedule = enum.Enum("Schedule", {name: name for name in SCHEDULES}, type=str)
SelectBy = enum.Enum("SelectBy", {"l1": "l1", "psnr": "psnr"}, type=str)


def training_progress(console: Console) -> Progress:
    """The live bar on a terminal; disabled in logs, where `_TrainProgress` prints lines instead of a
    bar redrawn into one endless line."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=console, transient=False,
        disable=not is_interactive(console),
    )


class _TrainProgress:
    """Turns rank 0's events into one bar: steps, steps/s, the latest losses, eval L1."""

    def __init__(self, progress: Progress, log_interval: float | None = None):
        self.progress = progress
        self.task = None
        self.eval_text = ""
        self.rate_from: tuple[float, int] | None = None
        self.steps = 0
        self.log_interval = log_interval
        self.last_line = time.monotonic()

    def __call__(self, event: dict) -> None:
        if event["kind"] == "start":
            if self.task is None:
                self.task = self.progress.add_task("training", total=event["steps"], completed=event["step"], info="")
                self.steps = event["steps"]
            else:  # the worker group restarted from its last checkpoint
                self.progress.update(self.task, completed=event["step"])
                self.progress.console.print(f"workers restarted from step {event['step']}")
            self.rate_from = (event["time"], event["step"])
            self.last_line = time.monotonic()
            return
        if self.task is None or event["kind"] != "step":
            return
        if "eval_l1" in event:
            psnr = f" PSNR {event['eval_psnr']:.2f} dB" if "eval_psnr" in event else ""
            self.eval_text = f"  eval L1 {event['eval_l1']:.4f}{psnr}" + (" (best)" if event.get("best") else "")
        losses = "  ".join(f"{name} {value:.4f}" for name, value in event.get("losses", {}).items())
        started, first = self.rate_from
        elapsed = event["time"] - started  # the worker's clock: queue delays do not distort the rate
        per_second = (event["step"] - first) / elapsed if elapsed > 0.5 else 0.0
        rate = f"{per_second:5.2f} steps/s  " if per_second else ""
        self.progress.update(self.task, completed=event["step"], info=f"{rate}{losses}{self.eval_text}")
        if "checkpoint" in event:  # a run folder in object storage gets each checkpoint as it is written
            object_storage.push_now()
        if not self.progress.disable:  # the live bar shows it
            return
        # Logs (no terminal) get no live bar: a line per checkpoint and evaluation, and at least one
        # every log interval (step, rate, ETA, the latest evaluation).
        now = time.monotonic()
        interval = progress_module.LOG_INTERVAL if self.log_interval is None else self.log_interval
        if "checkpoint" in event or "eval_l1" in event or now - self.last_line >= interval:
            self.last_line = now
            left = self.steps - event["step"]
            eta = f"ETA {duration(left / per_second)}  " if per_second and left > 0 else ""
            stopped = "  (time budget reached)" if event.get("stopped") else ""
            self.progress.console.print(f"step {event['step']}/{self.steps}: {rate}{eta}{losses}{self.eval_text}"
                                        f"{stopped}", soft_wrap=True)



def train(
    dataset: Path = typer.Argument(..., help="Dataset folder (manifest.json + train/ and eval/ HDF5 shards)."),
    run_dir: Path = typer.Argument(..., help="Run folder: checkpoints/, best/, samples/, tensorboard/. "
                                             "Re-running on the same folder resumes from its newest checkpoint."),
    model: str = typer.Option(..., "--model", help="Generator name, e.g. estuary-16-s, unet-64-s, johnson-6 (`nircolor models list`); "
                                               "a `c` flag trains with the conditional discriminator, e.g. estuary-16-sc."),
    steps: int = typer.Option(60_000, "--steps", min=1, help="Total training steps (§4.2: 60,000); a larger value extends a finished run."),
    batch_size: int = typer.Option(1, "--batch-size", min=1, help="Pairs per step per worker (§4.2: 1)."),
    crop: int | None = typer.Option(None, "--crop", min=8, help="Train on random square crops of this size; default full frames (§4.2)."),
    l1_weight: float = typer.Option(0.99, "--lambda", min=0.0, max=1.0, help="λ in L_G = (1−λ)·L_adv + λ·L1 (§3.5); 1 trains without a discriminator."),
    learning_rate: float | None = typer.Option(None, "--lr", min=0.0, help="Adam learning rate; default 1e-3, or 5e-5 for λ ≤ 0.01 (§4.2)."),
    checkpoint_every: int = typer.Option(1000, "--checkpoint-every", min=1, help="Write checkpoints/step-XXXXXXX every N steps (and at the end)."),
    eval_every: int = typer.Option(1000, "--eval-every", min=0, help="Eval-split L1 every N steps, keeping best/ ; 0: never."),
    sample_every: int = typer.Option(1000, "--sample-every", min=0, help="Write samples/step-XXXXXXX.png (NIR | output | target) every N steps; 0: never."),
    workers: int = typer.Option(1, "--workers", min=1, help="Ray Train workers (data-parallel DDP replicas)."),
    gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", min=0.0, help="GPUs per worker; 0 trains on CPU (gloo)."),
    cpus_per_worker: int = typer.Option(1, "--cpus-per-worker", min=1, help="CPU cores (torch threads) per worker."),
    loader_workers: int | None = typer.Option(None, "--loader-workers", min=0, help="Processes per worker reading and decompressing shards; default 2 on GPU, 0 on CPU."),
    seed: int = typer.Option(0, "--seed", help="Seed for initialization, data order, crops and flips."),
    tiny: bool = typer.Option(False, "--tiny", help="Train the model's test-size variant (tests, demo), e.g. johnson-6 → johnson-1-w4."),
    max_failures: int = typer.Option(2, "--max-failures", min=0, help="Restart lost workers from the last checkpoint up to N times."),
    select_by: SelectBy = typer.Option("l1", "--select-by", help="What picks best/: eval L1 (§4, lower is better) or per-frame eval PSNR (higher)."),
    time_budget: str | None = typer.Option(None, "--time-budget", help="Stop cleanly with a checkpoint after this much wall time (e.g. 5400, 90m, 1.5h); the same command resumes exactly."),
    precision: Precision = typer.Option("auto", "--precision", help="auto: bf16 autocast + channels_last where the device has bf16 units (CUDA, AMX or AVX-512-BF16), else float32; fp32; bf16. Eval L1 is always float32."),
    lr_schedule: Schedule = typer.Option("constant", "--lr-schedule", help=f"{BEYOND} Learning-rate schedule: constant (§4.2), linear or cosine decay, step."),
    lr_final: float = typer.Option(0.0, "--lr-final", min=0.0, max=1.0, help=f"{BEYOND} linear/cosine: η at the end of the decay, as a fraction of --lr."),
    lr_decay_steps: int | None = typer.Option(None, "--lr-decay-steps", min=1, help=f"{BEYOND} linear/cosine: steps the decay spans; default --steps."),
    lr_step_every: int = typer.Option(0, "--lr-step-every", min=0, help=f"{BEYOND} step: multiply η by --lr-gamma every N steps."),
    lr_gamma: float = typer.Option(0.5, "--lr-gamma", min=0.0, max=1.0, help=f"{BEYOND} step: the factor."),
    adam_beta1: float = typer.Option(0.9, "--adam-beta1", min=0.0, max=1.0, help=f"{BEYOND} Adam β1 (§4.2 keeps the default 0.9; GAN colorizers often use 0.5)."),
    adam_beta2: float = typer.Option(0.999, "--adam-beta2", min=0.0, max=1.0, help=f"{BEYOND} Adam β2."),
    l1_warmup: int = typer.Option(0, "--l1-warmup", min=0, help=f"{BEYOND} Train G on L1 alone for N steps before the adversarial term starts."),
    scale_crop_min: float = typer.Option(1.0, "--scale-crop-min", min=0.1, max=1.0, help=f"{BEYOND} Below 1: random regions of [S, 1]× the training size, resized back to it."),
    contrast_jitter: float = typer.Option(0.0, "--contrast-jitter", min=0.0, max=0.99, help=f"{BEYOND} NIR contrast × U[1 − J, 1 + J] about its mean (RGB target unchanged)."),
    address: str | None = typer.Option(None, "--address", help=ADDRESS_HELP),
) -> None:
    """Train a generator with the GAN of §3.5 on Ray Train and write checkpoints into RUN_DIR."""
    config = TrainConfig(
        model=model, dataset=str(dataset), run_dir=str(run_dir), steps=steps, batch_size=batch_size,
        crop_size=crop, l1_weight=l1_weight, learning_rate=learning_rate, checkpoint_every=checkpoint_every,
        eval_every=eval_every, sample_every=sample_every, workers=workers, gpus_per_worker=gpus_per_worker,
        cpus_per_worker=cpus_per_worker, loader_workers=loader_workers, seed=seed, tiny=tiny, max_failures=max_failures,
        precision=precision.value, lr_schedule=lr_schedule.value, lr_final_fraction=lr_final,
        lr_decay_steps=lr_decay_steps, lr_step_every=lr_step_every, lr_gamma=lr_gamma, adam_beta1=adam_beta1,
        adam_beta2=adam_beta2, l1_warmup_steps=l1_warmup, scale_crop_min=scale_crop_min,
        contrast_jitter=contrast_jitter, select_by=select_by.value, time_budget_seconds=_seconds(time_budget) if time_budget else None,
    )
    try:
        config.check()  # before Ray starts
    except TrainError as error:
        fail(str(error))
    for warning in config.warnings():
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    init_ray(address)
    progress = training_progress(console)
    try:
        with progress:
            summary = run_training(config, on_progress=_TrainProgress(progress))
    except TrainError as error:
        fail(str(error))
    _print_summary(summary, config.steps)


def _seconds(text: str) -> float:
    """'5400', '90m', '1.5h', '30s' → seconds (one-line error otherwise)."""
    units = {"s": 1, "m": 60, "h": 3600}
    value, unit = (text[:-1], text[-1].lower()) if text and text[-1].lower() in units else (text, "s")
    try:
        seconds = float(value) * units[unit]
    except ValueError:
        fail(f"--time-budget {text!r}: expected seconds or a number with s, m or h (e.g. 90m)")
    if not seconds > 0:
        fail(f"--time-budget {text!r} must be positive")
    return seconds


def _print_summary(summary: TrainSummary, steps: int) -> None:
    table = Table(title=f"training run {escape(str(summary.run_dir))}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    trained = summary.final_step - summary.start_step
    rate = ""
    if summary.training_seconds > 0 and trained:
        rate = (f" ({trained / summary.training_seconds:.2f} steps/s; {summary.elapsed_seconds:.0f} s with Ray startup"
                + (", restarts" if summary.restarts else "") + ")")
    table.add_row("steps", f"{summary.start_step} → {summary.final_step}{rate}")
    if summary.final_step < steps:
        table.add_row("stopped", f"at the time budget, {steps - summary.final_step} of {steps} steps to go; "
                                 "re-run the same command to continue")
    if summary.final_losses:
        table.add_row("final losses", "  ".join(f"{k} {v:.4f}" for k, v in summary.final_losses.items()))
    table.add_row("worker restarts", str(summary.restarts))
    table.add_row("latest checkpoint", escape(str(summary.latest_checkpoint)) if summary.latest_checkpoint else "none")
    if summary.best_checkpoint is not None:
        table.add_row("best checkpoint", f"{escape(str(summary.best_checkpoint))} (eval L1 {summary.best_eval_l1:.4f})")
    else:
        table.add_row("best checkpoint", "none (no eval split or evaluation disabled)")
    table.add_row("tensorboard", escape(str(summary.run_dir / "tensorboard")))
    console.print(table)
