"""`nircolor bench train`: Ray Train GAN steps/s against the same step in a plain loop, in float32 and
bf16 (docs/benchmarks.md)."""
from __future__ import annotations

import typer
from rich.table import Table

from nircolor.jobs.runtime import ADDRESS_HELP, console, fail, frame_size, init_ray

PRECISIONS = ("fp32", "bf16")


def bench_train(
    model: str = typer.Option("johnson-6", "--model", help="Generator name (`nircolor models list`)."),
    steps: int = typer.Option(60, "--steps", min=3, help="Steps per side; the first is warm-up and not timed."),
    crop: int = typer.Option(64, "--crop", min=0, help="Random crop size (at least 8); 0 trains on the full frames."),
    size: str = typer.Option("256x256", "--size", help="Synthetic frame size WxH."),
    batch_size: int = typer.Option(1, "--batch-size", min=1,
                                   help="Pairs per step (§4.2: 1); CPU ms/frame shows what batching buys."),
    frame: str | None = typer.Option(None, "--frame", hidden=True, help="Older spelling: HxW."),
    l1_weight: float = typer.Option(0.99, "--lambda", min=0.0, max=1.0, help="λ; below 1 the discriminator is trained too."),
    tiny: bool = typer.Option(False, "--tiny", help="Use the model's test-size variant."),
    gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", min=0.0, help="1 to benchmark on a GPU."),
    cpus_per_worker: int = typer.Option(1, "--cpus-per-worker", min=1, help="torch threads on both sides."),
    precisions: str = typer.Option("fp32,bf16", "--precisions",
                                   help="Comma-separated from fp32, bf16: each is timed as a plain loop and on Ray Train."),
    address: str | None = typer.Option(None, "--address", help=ADDRESS_HELP),
) -> None:
    """Time GAN training steps in Ray Train (one worker) and in a plain loop on the same device, per precision."""
    if frame is not None:  # the older HxW spelling
        height, width = frame_size(frame, "--frame")
    else:
        width, height = frame_size(size)
    crop_size = crop or None
    if crop_size is not None and crop_size < 8:
        fail(f"--crop {crop_size}: give a crop of at least 8 pixels, or 0 for full frames")
    if crop_size is not None and (crop_size > height or crop_size > width):
        fail(f"--crop {crop_size} is larger than the {height}×{width} frame")
    chosen = [name.strip() for name in precisions.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in PRECISIONS]
    if unknown or not chosen:
        fail(f"--precisions {precisions!r}: choose from {', '.join(PRECISIONS)}")
    from nircolor.pipeline.bench.train import bench_train as run_bench  # torch and Ray load with the work

    init_ray(address)
    results = []
    for precision in chosen:
        with console.status(f"timing {steps} steps of {model} in {precision}: plain loop, Ray Train, plain loop"):
            try:
                results.append(run_bench(model, steps=steps, crop_size=crop_size, frame_size=(height, width),
                                         tiny=tiny, gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker,
                                         l1_weight=l1_weight, precision=precision, batch_size=batch_size))
            except ValueError as error:
                fail(str(error))
    first = results[0]
    table = Table(title=f"GAN training: {first.model}, λ={l1_weight}, batch {batch_size}, "
                        f"{'crop ' + str(crop_size) if crop_size else f'full {width}x{height}'} on {first.device}, "
                        f"{cpus_per_worker} thread(s)", title_justify="left")
    for column in ("", "ms/step", "steps/s", "CPU ms/step", "CPU ms/frame", f"vs plain {first.precision}", "timed steps"):
        table.add_column(column, justify="right" if column else "left")
    baseline = first.plain_steps_per_second
    for result in results:
        before, after = result.plain_runs
        table.add_row(f"plain loop, {result.precision} (before/after Ray)",
                      f"{1000 / result.plain_steps_per_second:.0f} ({1000 / before:.0f}/{1000 / after:.0f})",
                      f"{result.plain_steps_per_second:.2f}", f"{1000 * result.plain_cpu_seconds_per_step:.1f}",
                      f"{1000 * result.plain_cpu_seconds_per_step / batch_size:.1f}",
                      f"{result.plain_steps_per_second / baseline:.2f}×", str(result.timed_steps))
        table.add_row(f"Ray Train (1 worker), {result.precision}", f"{1000 / result.ray_steps_per_second:.0f}",
                      f"{result.ray_steps_per_second:.2f}", f"{1000 * result.ray_cpu_seconds_per_step:.1f}",
                      f"{1000 * result.ray_cpu_seconds_per_step / batch_size:.1f}",
                      f"{result.ray_steps_per_second / baseline:.2f}×", str(result.timed_steps))
    console.print(table)
    for result in results:
        console.print(f"{result.precision}: Ray Train overhead {result.overhead_percent:+.1f}% wall time, "
                      f"{result.cpu_overhead_percent:+.1f}% CPU time per step (goal ≤ 10%); whole Ray run incl. "
                      f"startup and checkpoint: {result.ray_wall_seconds:.1f} s")
