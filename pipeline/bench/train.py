"""`nircolor bench train`: GAN steps/s on Ray Train against the same training loop in process (§4.2 setup).

Both sides run `pipeline.train_worker.run_worker` on the same shards and step order, timed by a step
hook after the first step (warm-up); Ray Train's extra cost is the worker process, DDP wrapping and reporting.
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.shards import ShardWriter
from nircolor.models.inference import resolve_device
from nircolor.pipeline.train import TrainConfig, train, train_in_process


@dataclass
class TrainBenchResult:
    model: str
    device: str
    precision: str  # what the steps ran in: "fp32" or "bf16"
    crop_size: int | None
    batch_size: int
    timed_steps: int
    plain_steps_per_second: float  # mean of a plain run before and one after the Ray run (shared machines drift)
    plain_runs: tuple[float, float]
    plain_cpu_seconds_per_step: float  # CPU time per step: steadier than wall time on a shared machine
    ray_steps_per_second: float
    ray_cpu_seconds_per_step: float
    ray_wall_seconds: float  # the whole Ray Train run, startup and checkpoint included

    @property
    def overhead_percent(self) -> float:
        return 100.0 * (self.plain_steps_per_second / self.ray_steps_per_second - 1.0)

    @property
    def cpu_overhead_percent(self) -> float:
        return 100.0 * (self.ray_cpu_seconds_per_step / self.plain_cpu_seconds_per_step - 1.0)


def write_bench_dataset(directory: Path, *, pairs: int, height: int, width: int) -> Path:
    """Random 8-bit pairs: the step's cost does not depend on the picture."""
    random = np.random.default_rng(0)
    for split, count in (("train", pairs), ("eval", 1)):
        with ShardWriter(directory / split / f"bench-{split}.h5", recording_id=f"bench-{split}", day="2017-06-01",
                         location=split, split=split, nir_bits=8, height=height, width=width,
                         compression=None) as writer:
            for index in range(count):
                nir = random.integers(0, 256, (height, width), dtype=np.uint8)
                rgb = random.integers(0, 256, (height, width, 3), dtype=np.uint8)
                writer.append(nir, rgb, index, index / 25.0)
    return directory


class LoopTimer:
    """A training step hook (pipeline.train_worker.StepHook): rank 0's loop from the end of its first step
    (warm-up) to the end of step `last_step`, written as JSON to `path` (Ray Train workers are other processes)."""

    def __init__(self, path: Path, last_step: int):
        self.path, self.last_step = Path(path), last_step
        self.started: tuple[float, float, int] | None = None

    def __call__(self, step: int, rank: int, device: torch.device) -> None:
        if rank != 0 or (self.started is not None and step != self.last_step):
            return
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        now = time.perf_counter(), time.process_time(), step
        if self.started is None:
            self.started = now
            return
        atomic.write_json(self.path, {"seconds": now[0] - self.started[0], "cpu_seconds": now[1] - self.started[1],
                                      "steps": step - self.started[2]})

    def rates(self) -> tuple[float, float]:
        """(steps/s, CPU s/step) of the timed steps; NaN when the run never reached `last_step`."""
        if not self.path.is_file():
            return float("nan"), float("nan")
        timing = json.loads(self.path.read_text())
        return timing["steps"] / timing["seconds"], timing["cpu_seconds"] / timing["steps"]


def plain_loop_rate(config: TrainConfig, device: torch.device, run_dir: Path) -> tuple[float, float]:
    """(steps/s, CPU s/step) of the same training loop in this process (no Ray, no DDP)."""
    timer = LoopTimer(run_dir / "timing.json", config.steps)
    train_in_process(dataclasses.replace(config, run_dir=str(run_dir)), device=str(device), on_step=timer)
    return timer.rates()


def bench_train(model: str, *, steps: int, crop_size: int | None, frame_size: tuple[int, int], tiny: bool,
                gpus_per_worker: float, cpus_per_worker: int, l1_weight: float = 0.99,
                precision: str = "fp32", batch_size: int = 1) -> TrainBenchResult:
    """Time `steps` GAN steps both ways on the running Ray (one worker, the same device, one precision)."""
    with tempfile.TemporaryDirectory(prefix="nircolor-bench-train-") as scratch:
        scratch = Path(scratch)
        height, width = frame_size
        dataset = write_bench_dataset(scratch / "data", pairs=max(16, batch_size), height=height, width=width)
        config = TrainConfig(model=model, dataset=str(dataset), run_dir=str(scratch / "run"), steps=steps,
                             batch_size=batch_size, crop_size=crop_size, l1_weight=l1_weight, checkpoint_every=steps, eval_every=0,
                             sample_every=0, workers=1, gpus_per_worker=gpus_per_worker,
                             cpus_per_worker=cpus_per_worker, tiny=tiny, precision=precision)
        device = resolve_device("cuda" if gpus_per_worker > 0 else "cpu")
        use_gpu = device.type == "cuda"
        previous = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
        # The Ray worker runs with these settings (train_worker); the plain loop must too.
        torch.set_num_threads(cpus_per_worker)
        torch.use_deterministic_algorithms(not use_gpu, warn_only=True)
        try:
            plain_before, cpu_before = plain_loop_rate(config, device, scratch / "plain-before")
            ray_timer = LoopTimer(scratch / "ray-timing.json", steps)
            started = time.perf_counter()
            train(config, on_step=ray_timer)
            wall = time.perf_counter() - started
            ray_rate, ray_cpu = ray_timer.rates()
            plain_after, cpu_after = plain_loop_rate(config, device, scratch / "plain-after")
        finally:
            torch.set_num_threads(previous[0])
            torch.use_deterministic_algorithms(previous[1])
    return TrainBenchResult(
        model=config.model_name(), device=str(device), precision=config.training_precision(device),
        crop_size=crop_size, batch_size=batch_size, timed_steps=steps - 1,
        plain_steps_per_second=(plain_before + plain_after) / 2, plain_runs=(plain_before, plain_after),
        plain_cpu_seconds_per_step=(cpu_before + cpu_after) / 2,
        ray_steps_per_second=ray_rate, ray_cpu_seconds_per_step=ray_cpu,
        ray_wall_seconds=wall,
    )
