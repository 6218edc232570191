"""GAN training (§3.5, §4.2) on Ray Train: the thin driver around the per-worker loop of pipeline/train_worker.py.

Every (re)start of the worker group resumes from the run folder's newest checkpoint, so re-running a
command and Ray's FailureConfig restarts share one code path; `train_in_process` runs the same loop without Ray.
"""
from __future__ import annotations

import dataclasses
import json
import os
from contextlib import contextmanager
import queue as queue_module
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import ray
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer
from ray.util.queue import Queue

from nircolor.dataset_tools.writer_lock import WriterBusy, writer_lock
from nircolor.models.inference import resolve_device
from nircolor.pipeline.run_folder import RunFolder, RunFolderError
from nircolor.pipeline.shard_dataset import DatasetError, ShardDataset, StepBatches, split_shards
from nircolor.pipeline.train_config import RUN_DEFAULTS, RUN_DEFINING, TrainConfig, TrainError
from nircolor.pipeline.train_worker import StepHook, manifest_sha256, run_worker, train_worker


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
    # What Ray Train's Result holds: the last reported metrics and checkpoint, and the kept checkpoints
    # with their metrics (best by eval score first).
    reported_metrics: dict = dataclasses.field(default_factory=dict)
    reported_checkpoint: Path | None = None
    kept_checkpoints: list = dataclasses.field(default_factory=list)


def train_in_process(config: TrainConfig, *, device: str = "cpu", on_step: StepHook | None = None) -> TrainSummary:
    """`_train_in_process` holding the run folder's writer lock."""
    with _run_lock(config):
        return _train_in_process(config, device=device, on_step=on_step)


def train(config: TrainConfig, on_progress=None, *, on_step: StepHook | None = None) -> TrainSummary:
    """`_train` holding the run folder's writer lock: a second run into it refuses at once (TrainError)."""
    with _run_lock(config):
        return _train(config, on_progress, on_step=on_step)


@contextmanager
def _run_lock(config: TrainConfig):
    try:
        with writer_lock(config.run_dir, "train"):
            yield
    except WriterBusy as error:
        raise TrainError(str(error)) from None


def _train_in_process(config: TrainConfig, *, device: str = "cpu", on_step: StepHook | None = None) -> TrainSummary:
    """The same training without Ray: one process (tests, debugging, the benchmark's plain loop)."""
    config = dataclasses.replace(config, dataset=str(Path(config.dataset).absolute()),
                                 run_dir=str(Path(config.run_dir).absolute()), workers=1)
    run = prepare_run(config)
    started = time.monotonic()
    first_step, final_step = run_worker(config, rank=0, world_size=1, device=resolve_device(device),
                                        prepare_model=lambda module: module, on_step=on_step,
                                        deadline=_deadline(config))
    elapsed = time.monotonic() - started
    return _summary(run, first_step, final_step, elapsed, {}, 0, training_seconds=elapsed)


def prepare_run(config: TrainConfig) -> RunFolder:
    """Check the config and dataset in the driver and write train_config.json (one clear error)."""
    config.check()
    try:
        config.generator_config()
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
    document["dataset_id"] = dataset_identity(dataset_dir)
    try:
        run.write_config(document, RUN_DEFINING, {**RUN_DEFAULTS, "dataset_id": _older_dataset_id(run, document)})
    except RunFolderError as error:
        raise TrainError(str(error)) from None
    run.remove_stale_temporaries()
    return run


def dataset_identity(dataset_dir: Path) -> str:
    """What a run folder knows its dataset by: the manifest's checksum, else (no manifest) its path."""
    checksum = manifest_sha256(dataset_dir)
    return f"manifest sha256 {checksum}" if checksum else f"path {dataset_dir.absolute()}"


def _older_dataset_id(run: RunFolder, document: dict) -> str | None:
    """A run folder written before `dataset_id` existed named its dataset by path: the same path is the
    same dataset."""
    try:
        previous = json.loads(run.config_file.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(previous, dict) and previous.get("dataset") == document["dataset"]:
        return document["dataset_id"]
    return f"path {previous.get('dataset')}" if isinstance(previous, dict) else None


def _train(config: TrainConfig, on_progress=None, *, on_step: StepHook | None = None) -> TrainSummary:
    """Train on the running Ray (jobs.runtime.init_ray starts it); `on_progress(event)` sees rank 0's events.

    Events: {"kind": "start", "step", "steps", "world_size"} at every (re)start of the workers,
    {"kind": "step", "step", "losses", ["eval_l1", "best", "checkpoint"]} while training.
    `on_step` (picklable) runs in every worker after each step (see pipeline.train_worker.StepHook).
    """
    config = dataclasses.replace(config, dataset=str(Path(config.dataset).absolute()),
                                 run_dir=str(Path(config.run_dir).absolute()))
    run = prepare_run(config)
    latest = run.latest_checkpoint()
    first_step = int(latest.name.split("-")[1]) if latest else 0
    if first_step >= config.steps:
        return _summary(run, first_step, first_step, 0.0, {}, 0)

    _forget_a_stale_snapshot(run)
    # Ray Train's controller polls its workers every 2 s by default: each start, finish and lost
    # worker waits up to that long. Polling a few workers 4× a second costs nothing; Ray Train passes
    # the setting on to its controller and workers on a cluster too. A value the user set is kept.
    os.environ.setdefault(HEALTH_CHECK_INTERVAL_VARIABLE, "0.25")
    progress_queue = Queue(actor_options={"num_cpus": 0})
    use_gpu = config.gpus_per_worker > 0
    resources = {"CPU": config.cpus_per_worker}
    if use_gpu:
        resources["GPU"] = config.gpus_per_worker
    loop = {"config": dataclasses.asdict(config), "progress_queue": progress_queue, "on_step": on_step,
            "deadline": _deadline(config)}
    trainer = TorchTrainer(
        train_worker,
        train_loop_config=loop,
        scaling_config=ScalingConfig(num_workers=config.workers, use_gpu=use_gpu, resources_per_worker=resources),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        # The run folder is Ray Train's experiment folder: the checkpoints workers report are its own
        # checkpoints/step-N folders (nothing copied), and Ray's CheckpointConfig keeps the best by eval
        # score plus the newest.
        run_config=RunConfig(name=run.path.name, storage_path=str(run.path.parent),
                             checkpoint_config=checkpoint_config(config),
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
    restarts, last_losses, worker_nodes, first_start = -1, {}, {}, None
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
    result = outcome.get("result")
    return _summary(run, first_step, final_step, elapsed, last_losses, max(restarts, 0),
                    training_seconds=finished - first_start if first_start else 0.0, worker_nodes=worker_nodes,
                    **_reported(result))


HEALTH_CHECK_INTERVAL_VARIABLE = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
RAY_SNAPSHOT = "checkpoint_manager_snapshot.json"  # Ray Train's list of the checkpoints reported in a run


def _forget_a_stale_snapshot(run: RunFolder) -> None:
    """Ray Train refuses to start when its snapshot names a checkpoint folder that is gone (removed by
    hand, or a kill during retention). The run folder's own checkpoints are what a resume trusts, so
    such a snapshot is dropped; the worker then resumes from the newest checkpoint folder."""
    snapshot = run.path / RAY_SNAPSHOT
    if not snapshot.is_file():
        return
    try:
        document = json.loads(snapshot.read_text())
        names = [entry["checkpoint_dir_name"] for entry in document["checkpoint_results"]]
    except (OSError, ValueError, KeyError, TypeError):
        names = None
    if names is None or not all((run.path / name).is_dir() for name in names):
        snapshot.unlink(missing_ok=True)


def checkpoint_config(config: TrainConfig) -> CheckpointConfig:
    """Keep `keep_checkpoints`: the best by the eval score that picks best/ (the newest is always kept)."""
    if config.eval_every <= 0:
        return CheckpointConfig(num_to_keep=config.keep_checkpoints)
    return CheckpointConfig(num_to_keep=config.keep_checkpoints, checkpoint_score_attribute=f"eval_{config.select_by}",
                            checkpoint_score_order="max" if config.select_by == "psnr" else "min")


def _deadline(config: TrainConfig) -> float | None:
    """When --time-budget runs out, on the wall clock every worker shares (Ray startup included)."""
    return time.time() + config.time_budget_seconds if config.time_budget_seconds else None


def _reported(result) -> dict:
    """The Result of TorchTrainer.fit() as plain values (paths of the kept checkpoint folders)."""
    if result is None:
        return {}
    kept = [(Path(checkpoint.path), dict(metrics)) for checkpoint, metrics in (result.best_checkpoints or [])]
    return {"reported_metrics": dict(result.metrics or {}),
            "reported_checkpoint": Path(result.checkpoint.path) if result.checkpoint is not None else None,
            "kept_checkpoints": kept}


def _summary(run: RunFolder, start_step: int, final_step: int, elapsed: float,
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


__all__ = ["StepHook", "TrainConfig", "TrainError", "TrainSummary", "prepare_run", "train", "train_in_process",
           "train_worker"]
