"""GAN training (§3.5, §4.2) on Ray Train: one `train_worker` per Ray Train worker, a thin driver.

Workers run the plain-torch `GanTrainer` under DDP (gloo on CPU, NCCL + bf16 autocast +
channels_last on GPU). Rank 0 writes checkpoints, the best checkpoint, samples and TensorBoard
events into the run folder; every (re)start of the worker group resumes from the newest checkpoint,
so re-running a command and Ray's FailureConfig restarts share one code path.
"""
from __future__ import annotations

import dataclasses
import os
import queue as queue_module
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dataset_tools.shards import file_sha256
from models.names import parse_model_name
from models.preprocess import nir_to_tensor
from pipeline.gan import GanTrainer, build_discriminator, default_learning_rate, unwrap
from pipeline.run_folder import RunFolder, RunFolderError
from pipeline.shard_dataset import DatasetError, ShardDataset, StepBatches, collate_pairs, split_shards, step_loader

# Settings that define a run: a resume with other values would not continue the same training.
RUN_DEFINING = ("model", "tiny", "dataset", "l1_weight", "learning_rate", "batch_size", "crop_size", "seed")
# Test hook (acceptance: a worker dies mid-run): rank 1 exits once at this step, leaving a marker file.
CRASH_STEP_VARIABLE = "NIRCOLOR_TEST_CRASH_AT_STEP"
CRASH_MARKER_VARIABLE = "NIRCOLOR_TEST_CRASH_MARKER"


class TrainError(RuntimeError):
    """Training could not start or finish; the message says why in one sentence."""


@dataclass
class TrainConfig:
    model: str
    dataset: str
    run_dir: str
    steps: int = 60_000  # §4.2
    batch_size: int = 1  # §4.2
    crop_size: int | None = None  # None: full frames as in §4.2
    l1_weight: float = 0.99  # λ, §4.3 standard value
    learning_rate: float | None = None  # None: 1e-3, or 5e-5 for λ ≤ 0.01 (§4.2)
    checkpoint_every: int = 1000
    eval_every: int = 1000
    sample_every: int = 1000
    log_every: int = 10
    keep_checkpoints: int = 3
    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: int = 1
    loader_workers: int | None = None  # HDF5 reading processes per worker; None: 2 on GPU, 0 on CPU
    sample_frames: int = 3
    max_failures: int = 2
    seed: int = 0
    tiny: bool = False  # the model's test-size variant (tests, demo)

    def model_config(self):
        config = parse_model_name(self.model)
        return config.tiny() if self.tiny else config

    def resolved_learning_rate(self) -> float:
        return self.learning_rate if self.learning_rate is not None else default_learning_rate(self.l1_weight)

    def to_dict(self) -> dict:
        document = dataclasses.asdict(self)
        document["learning_rate"] = self.resolved_learning_rate()
        document["model_name"] = self.model_config().name
        return document

    def warnings(self) -> list[str]:
        """Settings that are valid but probably not what the user wants."""
        found = []
        if self.crop_size is not None:
            with torch.device("meta"):  # class attributes only; no weights
                generator = self.model_config().build()
            minimum = max(generator.size_multiple, generator.min_size)
            if self.crop_size < minimum:
                # The network pads the crop back up by repeating its edges: no time saved, and measured
                # worse on real data (docs/results.md).
                found.append(f"--crop {self.crop_size} is smaller than {self.model_config().name}'s smallest input "
                             f"({minimum}×{minimum}); crops are padded to it by edge replication, which costs the "
                             f"same time as a {minimum}-pixel crop and trains on mostly artificial pixels")
        return found

    def check(self) -> None:
        """Raise TrainError naming the first invalid setting."""
        positive = {"steps": self.steps, "batch_size": self.batch_size, "checkpoint_every": self.checkpoint_every,
                    "workers": self.workers, "cpus_per_worker": self.cpus_per_worker}
        for name, value in positive.items():
            if value < 1:
                raise TrainError(f"{name} must be at least 1, got {value}")
        if not 0.0 <= self.l1_weight <= 1.0:
            raise TrainError(f"lambda must lie in [0, 1], got {self.l1_weight}")
        if self.crop_size is not None and self.crop_size < 8:
            raise TrainError(f"crop must be at least 8 pixels, got {self.crop_size}")
        if self.gpus_per_worker < 0:
            raise TrainError(f"gpus_per_worker must not be negative, got {self.gpus_per_worker}")


@dataclass
class TrainSummary:
    run_dir: Path
    final_step: int
    start_step: int
    elapsed_seconds: float
    latest_checkpoint: Path | None
    best_checkpoint: Path | None
    best_eval_l1: float | None
    final_losses: dict
    restarts: int
    training_seconds: float = 0.0  # from the first worker start to the end, without Ray's startup
    worker_nodes: dict = dataclasses.field(default_factory=dict)  # rank → Ray node id of the last start
    loop_steps_per_second: float | None = None  # rank 0's training loop after its first step (benchmarks)
    loop_cpu_seconds_per_step: float | None = None  # the same, CPU time of rank 0's process per step


def manifest_sha256(dataset_dir: Path) -> str | None:
    manifest = dataset_dir / "manifest.json"
    return file_sha256(manifest) if manifest.is_file() else None


def _sample_pairs(dataset: ShardDataset, count: int):
    """The fixed frames shown in every sample grid: evenly spread over the split."""
    indices = np.unique(np.linspace(0, len(dataset) - 1, num=min(count, len(dataset))).round().astype(int))
    return [dataset.read_pair(int(index)) for index in indices]


def _eval_set(dataset_dir: Path) -> ShardDataset | None:
    """Full eval frames, or None when the dataset has no eval pairs (then no best/ is kept)."""
    shards = split_shards(dataset_dir, "eval")
    try:
        return ShardDataset(shards, crop_size=None, flip=False) if shards else None
    except DatasetError:
        return None


def train_worker(loop: dict) -> None:
    """The per-worker training function (Ray Train); `loop` carries the TrainConfig and driver handles."""
    import ray.train
    import ray.train.torch

    config = TrainConfig(**loop["config"])
    device = ray.train.torch.get_device()
    torch.set_num_threads(config.cpus_per_worker)
    if device.type != "cuda":
        # CPU runs are reproducible to the bit: a resume equals an uninterrupted run.
        torch.use_deterministic_algorithms(True, warn_only=True)
    context = ray.train.get_context()
    run_worker(
        config,
        rank=context.get_world_rank(),
        world_size=context.get_world_size(),
        device=device,
        prepare_model=ray.train.torch.prepare_model,
        progress_queue=loop.get("progress_queue"),
        crash_step=loop.get("crash_step"),
        crash_marker=loop.get("crash_marker"),
    )


def train_in_process(config: TrainConfig) -> TrainSummary:
    """The same training without Ray: one process, CPU (tests, debugging)."""
    config = dataclasses.replace(config, dataset=str(Path(config.dataset).absolute()),
                                 run_dir=str(Path(config.run_dir).absolute()), workers=1)
    run = prepare_run(config)
    started = time.monotonic()
    first_step, final_step = run_worker(config, rank=0, world_size=1, device=torch.device("cpu"),
                                        prepare_model=lambda module: module)
    elapsed = time.monotonic() - started
    return _summary(run, config, first_step, final_step, elapsed, {}, 0, training_seconds=elapsed)


def run_worker(config: TrainConfig, *, rank: int, world_size: int, device: torch.device, prepare_model,
               progress_queue=None, crash_step: int | None = None, crash_marker: str | None = None) -> tuple[int, int]:
    """Train from the newest checkpoint of the run folder up to `config.steps` (one worker's share).

    Returns (the step it resumed from, the step it reached).
    """
    on_gpu = device.type == "cuda"
    run = RunFolder(config.run_dir)
    dataset_dir = Path(config.dataset)

    torch.manual_seed(config.seed)
    model_config = config.model_config()
    generator = model_config.build()
    discriminator = build_discriminator(model_config, config.l1_weight)

    latest = run.latest_checkpoint()
    training_state = None
    if latest is not None:
        generator_state, training_state = run.load_checkpoint(latest)
        generator.load_state_dict(generator_state)
    start_step = int(training_state["step"]) if training_state else 0

    memory_format = torch.channels_last if on_gpu else torch.contiguous_format
    generator = prepare_model(generator.to(memory_format=memory_format))
    if discriminator is not None:
        discriminator = prepare_model(discriminator.to(memory_format=memory_format))
    trainer = GanTrainer(generator, discriminator, l1_weight=config.l1_weight,
                         learning_rate=config.resolved_learning_rate(),
                         autocast_dtype=torch.bfloat16 if on_gpu else None)
    if training_state is not None:
        trainer.load_state_dict(training_state)
        torch.set_rng_state(training_state["rng"]["torch"])
        if on_gpu and training_state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(training_state["rng"]["cuda"])

    train_set = ShardDataset.from_split(dataset_dir, "train", crop_size=config.crop_size, flip=True, seed=config.seed)
    batches = StepBatches(len(train_set), batch_size=config.batch_size, seed=config.seed, rank=rank,
                          world_size=world_size, start_step=start_step, stop_step=config.steps)
    loader_workers = config.loader_workers if config.loader_workers is not None else (2 if on_gpu else 0)
    loader = step_loader(train_set, batches, loader_workers=loader_workers, pin_memory=on_gpu)
    eval_set = _eval_set(dataset_dir)
    nir_bits = train_set.headers[0].nir_bits
    manifest_hash = manifest_sha256(dataset_dir)

    leader = rank == 0
    writer = None
    if leader:
        from torch.utils.tensorboard import SummaryWriter

        # Drop only what a lost run logged after its last checkpoint; the checkpoint's own step stays.
        writer = SummaryWriter(log_dir=str(run.tensorboard), purge_step=start_step + 1)
        sample_source = eval_set if eval_set is not None else ShardDataset.from_split(dataset_dir, "train", flip=False)
        sample_pairs = _sample_pairs(sample_source, config.sample_frames)
    best_l1 = run.best_eval_l1() if leader else None

    def to_device(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(device, non_blocking=True, memory_format=memory_format)

    def evaluate() -> float:
        eval_batches = (
            (to_device(nir), to_device(rgb))
            for nir, rgb in (collate_pairs([eval_set[index]]) for index in range(len(eval_set)))
        )
        return trainer.evaluate_l1(eval_batches)

    def save_sample(step: int) -> None:
        bare = unwrap(trainer.generator)
        bare.eval()
        outputs = []
        with torch.no_grad():
            for nir, _, bits in sample_pairs:
                outputs.append(bare(to_device(nir_to_tensor(nir, bits))).float().cpu())
        bare.train()
        run.write_sample(step, [pair[0] for pair in sample_pairs], [pair[2] for pair in sample_pairs],
                         outputs, [pair[1] for pair in sample_pairs])

    last_report = 0.0
    losses: dict = {}
    step = start_step
    # Loop timing for `nircolor bench train`: from the end of the first step (warm-up) to the end of the last.
    timed_from: tuple[float, int] | None = None
    if progress_queue is not None:
        import ray

        progress_queue.put({"kind": "worker", "rank": rank, "node_id": ray.get_runtime_context().get_node_id()})
        if leader:
            progress_queue.put({"kind": "start", "step": start_step, "steps": config.steps, "world_size": world_size,
                                "time": time.time()})
    for nir, rgb in loader:
        step_losses = trainer.step(to_device(nir), to_device(rgb))
        step += 1
        if step == start_step + 1 or step == config.steps:
            if on_gpu:
                torch.cuda.synchronize(device)
            if timed_from is None:
                timed_from = (time.perf_counter(), step, time.process_time())
            else:
                loop_timing = (time.perf_counter() - timed_from[0], step - timed_from[1],
                               time.process_time() - timed_from[2])
        if crash_step is not None and rank == world_size - 1 and rank > 0 and step == crash_step:
            if not os.path.exists(crash_marker):
                Path(crash_marker).write_text(f"rank {rank} exited at step {step}\n")
                os._exit(1)
        if not leader:
            continue
        is_last = step == config.steps
        events: dict = {}
        if step % config.log_every == 0 or is_last or time.monotonic() - last_report > 1.0:
            losses = GanTrainer.losses_to_floats(step_losses)
            if step % config.log_every == 0 or is_last:
                for name, value in losses.items():
                    writer.add_scalar(f"loss/{name}", value, step)
        if eval_set is not None and config.eval_every > 0 and (step % config.eval_every == 0 or is_last):
            eval_l1 = evaluate()
            writer.add_scalar("eval/l1", eval_l1, step)
            events["eval_l1"] = eval_l1
            if best_l1 is None or eval_l1 < best_l1:
                best_l1 = eval_l1
                run.save_best(unwrap(trainer.generator), step=step, eval_l1=eval_l1, nir_bits=nir_bits,
                              manifest_sha256=manifest_hash)
                events["best"] = True
        if config.sample_every > 0 and (step % config.sample_every == 0 or is_last):
            save_sample(step)
        if step % config.checkpoint_every == 0 or is_last:
            state = trainer.state_dict()
            state["rng"] = {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state() if on_gpu else None}
            epoch, position = divmod(step, batches.steps_per_epoch)
            state["data_position"] = {"step": step, "epoch": epoch, "batch_in_epoch": position,
                                      "world_size": world_size, "seed": config.seed}
            run.save_checkpoint(unwrap(trainer.generator), state, step=step, nir_bits=nir_bits,
                                manifest_sha256=manifest_hash, keep=config.keep_checkpoints,
                                extra={"lambda": config.l1_weight, "eval_l1": events.get("eval_l1")})
            events["checkpoint"] = step
            writer.flush()
        if progress_queue is not None and (events or time.monotonic() - last_report > 1.0):
            last_report = time.monotonic()
            progress_queue.put({"kind": "step", "step": step, "losses": losses, "time": time.time(), **events})
    if writer is not None:
        writer.close()
        if progress_queue is not None and step - start_step > 1:
            progress_queue.put({"kind": "finished", "step": step, "loop_seconds": loop_timing[0],
                                "loop_steps": loop_timing[1], "loop_cpu_seconds": loop_timing[2]})
    train_set.close()
    return start_step, step


def prepare_run(config: TrainConfig) -> RunFolder:
    """Check the config and dataset in the driver and write train_config.json (one clear error)."""
    config.check()
    try:
        model_config = config.model_config()
    except ValueError as error:
        raise TrainError(str(error)) from None
    dataset_dir = Path(config.dataset)
    try:
        train_shards = split_shards(dataset_dir, "train")
        if not train_shards:
            raise TrainError(f"{dataset_dir}: no train shards (expected {dataset_dir / 'train'}/*.h5 or a manifest)")
        train_set = ShardDataset(train_shards, crop_size=config.crop_size)
        StepBatches(len(train_set), batch_size=config.batch_size, seed=config.seed, world_size=config.workers,
                    stop_step=config.steps)
    except DatasetError as error:
        raise TrainError(str(error)) from None
    run = RunFolder(config.run_dir)
    document = config.to_dict()
    document["dataset"] = str(dataset_dir.absolute())
    document["model_name"] = model_config.name
    try:
        run.write_config(document, RUN_DEFINING)
    except RunFolderError as error:
        raise TrainError(str(error)) from None
    run.remove_stale_temporaries()
    return run


def train(config: TrainConfig, on_progress=None) -> TrainSummary:
    """Train on the running Ray (jobs.runtime.init_ray starts it); `on_progress(event)` sees rank 0's events.

    Events: {"kind": "start", "step", "steps", "world_size"} at every (re)start of the workers,
    {"kind": "step", "step", "losses", ["eval_l1", "best", "checkpoint"]} while training.
    """
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.util.queue import Queue

    config = dataclasses.replace(config, dataset=str(Path(config.dataset).absolute()),
                                 run_dir=str(Path(config.run_dir).absolute()))
    run = prepare_run(config)
    latest = run.latest_checkpoint()
    first_step = int(latest.name.split("-")[1]) if latest else 0
    if first_step >= config.steps:
        return _summary(run, config, first_step, first_step, 0.0, {}, 0)

    progress_queue = Queue(actor_options={"num_cpus": 0})
    use_gpu = config.gpus_per_worker > 0
    resources = {"CPU": config.cpus_per_worker}
    if use_gpu:
        resources["GPU"] = config.gpus_per_worker
    loop = {"config": dataclasses.asdict(config), "progress_queue": progress_queue}
    if os.environ.get(CRASH_STEP_VARIABLE):
        loop["crash_step"] = int(os.environ[CRASH_STEP_VARIABLE])
        loop["crash_marker"] = os.environ.get(CRASH_MARKER_VARIABLE, str(run.path / ".crash-marker"))
    trainer = TorchTrainer(
        train_worker,
        train_loop_config=loop,
        scaling_config=ScalingConfig(num_workers=config.workers, use_gpu=use_gpu, resources_per_worker=resources),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(name="train", storage_path=str(run.ray_storage),
                             failure_config=FailureConfig(max_failures=config.max_failures)),
    )
    outcome: dict = {}

    def fit() -> None:
        try:
            outcome["result"] = trainer.fit()
        except Exception as error:  # Ray wraps worker errors in its own types; the driver reports one line
            outcome["error"] = error

    started = time.monotonic()
    thread = threading.Thread(target=fit, name="ray-train-fit", daemon=True)
    thread.start()
    restarts, last_losses, worker_nodes, first_start, loop_rate, loop_cpu = -1, {}, {}, None, None, None
    while True:
        alive = thread.is_alive()
        try:
            events = progress_queue.get_nowait_batch(progress_queue.qsize())
        except (queue_module.Empty, Exception):
            events = []
        for event in events:
            if event["kind"] == "worker":
                worker_nodes[event["rank"]] = event["node_id"]
                continue
            if event["kind"] == "finished":
                loop_rate = event["loop_steps"] / event["loop_seconds"] if event["loop_seconds"] > 0 else None
                loop_cpu = event["loop_cpu_seconds"] / event["loop_steps"]
                continue
            if event["kind"] == "start":
                restarts += 1
                first_start = first_start or time.monotonic()
            elif event.get("losses"):
                last_losses = event["losses"]
            if on_progress is not None:
                on_progress(event)
        if not alive:
            break
        thread.join(timeout=0.25)
    finished = time.monotonic()
    elapsed = finished - started
    try:
        ray.kill(progress_queue.actor)
    except Exception:  # the queue actor is gone already
        pass
    error = outcome.get("error") or getattr(outcome.get("result"), "error", None)
    if error is not None:
        latest = run.latest_checkpoint()
        resume = f"; re-run the same command to resume from {latest}" if latest else ""
        raise TrainError(f"training failed: {_describe_failure(error)}{resume}")
    final = run.latest_checkpoint()
    final_step = int(final.name.split("-")[1]) if final else 0
    return _summary(run, config, first_step, final_step, elapsed, last_losses, max(restarts, 0),
                    training_seconds=finished - first_start if first_start else 0.0, worker_nodes=worker_nodes,
                    loop_steps_per_second=loop_rate, loop_cpu_seconds_per_step=loop_cpu)


def _summary(run: RunFolder, config: TrainConfig, start_step: int, final_step: int, elapsed: float,
             losses: dict, restarts: int, **details) -> TrainSummary:
    best = run.best if (run.best / "config.json").is_file() else None
    return TrainSummary(
        run_dir=run.path, final_step=final_step, start_step=start_step, elapsed_seconds=elapsed,
        latest_checkpoint=run.latest_checkpoint(), best_checkpoint=best, best_eval_l1=run.best_eval_l1(),
        final_losses=losses, restarts=restarts, **details,
    )


def _describe_failure(error: BaseException) -> str:
    """One line for a failed fit(): the first failing worker's own error message when Ray has one."""
    failures = getattr(error, "worker_failures", None)
    if failures:
        # A worker that died takes its peers down with collective errors; name the cause, not the echo.
        def is_echo(item) -> bool:
            text = str(item[1])
            return any(marker in text for marker in ("gloo", "NCCL", "DistBackendError", "Connection reset"))

        rank, failure = sorted(failures.items(), key=lambda item: (is_echo(item), item[0]))[0]
        lines = [line.strip() for line in str(failure).splitlines() if line.strip()]
        more = f" (and {len(failures) - 1} more workers)" if len(failures) > 1 else ""
        return f"worker {rank}: {lines[-1] if lines else type(failure).__name__}{more}"
    controller_failure = getattr(error, "controller_failure", None)
    if controller_failure is not None:
        return _first_line(controller_failure)
    return _first_line(error)


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


__all__ = ["TrainConfig", "TrainError", "TrainSummary", "train", "train_worker", "prepare_run", "train_in_process"]
