"""`nircolor bench train`: GAN steps/s on Ray Train against the same step in a plain loop (§4.2 setup).

Both sides read the same shards through the same Dataset and step order and time the steps after
the first (warm-up); Ray Train's extra cost is the worker process, DDP wrapping and reporting.
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dataset_tools.shards import ShardWriter
from pipeline.gan import GanTrainer, build_discriminator
from pipeline.shard_dataset import ShardDataset, StepBatches, step_loader
from pipeline.train import TrainConfig, train


@dataclass
class TrainBenchResult:
    model: str
    device: str
    crop_size: int | None
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


def plain_loop_rate(config: TrainConfig, device: torch.device) -> tuple[float, float]:
    """(steps/s, CPU s/step) of the GAN step in a plain loop over the same data order (no Ray, no DDP)."""
    torch.manual_seed(config.seed)
    model_config = config.model_config()
    on_gpu = device.type == "cuda"
    memory_format = torch.channels_last if on_gpu else torch.contiguous_format
    generator = model_config.build().to(device, memory_format=memory_format)
    discriminator = build_discriminator(model_config, config.l1_weight)
    if discriminator is not None:
        discriminator = discriminator.to(device, memory_format=memory_format)
    trainer = GanTrainer(generator, discriminator, l1_weight=config.l1_weight,
                         learning_rate=config.resolved_learning_rate(),
                         autocast_dtype=torch.bfloat16 if on_gpu else None)
    dataset = ShardDataset.from_split(config.dataset, "train", crop_size=config.crop_size, seed=config.seed)
    batches = StepBatches(len(dataset), batch_size=config.batch_size, seed=config.seed, stop_step=config.steps)
    started = None
    for step, (nir, rgb) in enumerate(step_loader(dataset, batches, pin_memory=on_gpu), start=1):
        trainer.step(nir.to(device, non_blocking=True, memory_format=memory_format),
                     rgb.to(device, non_blocking=True, memory_format=memory_format))
        if step == 1:
            if on_gpu:
                torch.cuda.synchronize(device)
            started = time.perf_counter(), time.process_time()
    if on_gpu:
        torch.cuda.synchronize(device)
    timed = config.steps - 1
    return timed / (time.perf_counter() - started[0]), (time.process_time() - started[1]) / timed


def bench_train(model: str, *, steps: int, crop_size: int | None, frame_size: tuple[int, int], tiny: bool,
                gpus_per_worker: float, cpus_per_worker: int, l1_weight: float = 0.99) -> TrainBenchResult:
    """Time `steps` GAN steps both ways on the running Ray (one worker, the same device)."""
    with tempfile.TemporaryDirectory(prefix="nircolor-bench-train-") as scratch:
        scratch = Path(scratch)
        height, width = frame_size
        dataset = write_bench_dataset(scratch / "data", pairs=16, height=height, width=width)
        config = TrainConfig(model=model, dataset=str(dataset), run_dir=str(scratch / "run"), steps=steps,
                             crop_size=crop_size, l1_weight=l1_weight, checkpoint_every=steps, eval_every=0,
                             sample_every=0, workers=1, gpus_per_worker=gpus_per_worker,
                             cpus_per_worker=cpus_per_worker, tiny=tiny)
        use_gpu = gpus_per_worker > 0 and torch.cuda.is_available()
        device = torch.device("cuda" if use_gpu else "cpu")
        previous = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
        # The Ray worker runs with these settings (train_worker); the plain loop must too.
        torch.set_num_threads(cpus_per_worker)
        torch.use_deterministic_algorithms(not use_gpu, warn_only=True)
        try:
            plain_before, cpu_before = plain_loop_rate(config, device)
            started = time.perf_counter()
            summary = train(dataclasses.replace(config))
            wall = time.perf_counter() - started
            plain_after, cpu_after = plain_loop_rate(config, device)
        finally:
            torch.set_num_threads(previous[0])
            torch.use_deterministic_algorithms(previous[1])
    return TrainBenchResult(
        model=config.model_config().name, device=str(device), crop_size=crop_size, timed_steps=steps - 1,
        plain_steps_per_second=(plain_before + plain_after) / 2, plain_runs=(plain_before, plain_after),
        plain_cpu_seconds_per_step=(cpu_before + cpu_after) / 2,
        ray_steps_per_second=summary.loop_steps_per_second or float("nan"),
        ray_cpu_seconds_per_step=summary.loop_cpu_seconds_per_step or float("nan"),
        ray_wall_seconds=wall,
    )
