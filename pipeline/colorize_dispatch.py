"""Where colorize tasks run: in this process or on Ray actors (pipeline/execution.py), on which device.

One actor per GPU, or CPU actors sharing the CPUs; the caller chooses the executor (ColorizeOptions).
"""
from __future__ import annotations

from typing import Callable

import ray

from nircolor.models.inference import resolve_device
from nircolor.pipeline.colorize_options import ColorizeOptions
from nircolor.pipeline.colorize_worker import ColorizeTask, TaskResult
from nircolor.pipeline.execution import Execution, WorkerStartError, run_tasks


def check_device(options: ColorizeOptions) -> None:
    """Fail before any work on a device no worker could use, with models.inference's message.

    On Ray a CUDA device is the workers' question: they may sit on nodes with GPUs this process lacks.
    """
    if options.executor == "local" or not options.device.startswith("cuda"):
        resolve_device(options.device)


def run_colorize_tasks(tasks: list[ColorizeTask], checkpoint: str, options: ColorizeOptions, worker_class: type,
                       on_start: Callable, on_result: Callable, on_frames: Callable, frames_ahead: int = 0) -> int:
    """Run `tasks` on workers built from the checkpoint; returns how many workers ran them.

    `on_frames(name, segment, frames)`: live counts; `frames_ahead` settles `compile=None`."""
    execution, device = _execution(options)
    # A Ray actor's process is its own: it uses the CPUs it holds. Here, torch's default stays.
    threads = options.threads or (execution.actor_options.get("num_cpus") if execution.executor == "ray" else None)
    arguments, keywords = _worker_arguments(checkpoint, device, options, threads, frames_ahead // execution.workers)
    try:
        return run_tasks(
            tasks, worker_class, arguments, keywords, execution=execution, on_result=on_result,
            lost_result=lambda task, attempts, error: TaskResult(
                task.name, task.segment, error=f"{task.nir_path}: worker lost {attempts} times ({error})"),
            task_key=lambda task: (task.name, task.segment),
            should_start=on_start,
            on_progress=lambda key, frames: on_frames(*key, frames),
        )
    except WorkerStartError as error:
        raise ValueError(f"colorizer workers could not start ({error})") from None


def _worker_arguments(checkpoint: str, device: str, options: ColorizeOptions, threads: int | None,
                      frames_ahead: int) -> tuple[tuple, dict]:
    """What every worker is built from; `compile` is settled here, by the frames each worker faces."""
    inference = options.inference.with_frames(frames_ahead, "cpu" if device == "auto" else device)
    return (checkpoint, device, options.batch_size), {"threads": threads, "inference": inference, "engine": options.engine}


def _execution(options: ColorizeOptions) -> tuple[Execution, str]:
    """Where the workers run and on which device."""
    if options.executor == "local":
        return Execution("local"), options.device
    workers, resources = _actor_resources(options)
    device = options.device if options.device != "auto" else ("cuda" if resources.get("num_gpus") else "cpu")
    return Execution("ray", workers, resources), device


def _actor_resources(options: ColorizeOptions) -> tuple[int, dict]:
    """How many actors, and what each reserves: one per GPU, or CPU workers sharing the CPUs.

    The GPU has no video encoder to spare (H100: no NVENC), so GPU actors also reserve a share of the
    CPUs for x264; `--workers` above the GPU count puts several actors (encoders) on each GPU.
    """
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    use_gpu = options.device.startswith("cuda") or (options.device == "auto" and gpus > 0)
    if use_gpu:
        if gpus == 0:
            raise ValueError(f"--device {options.device}: the Ray cluster has no GPU")
        workers = options.workers or gpus
        return workers, {"num_gpus": min(1.0, gpus / workers), "num_cpus": max(1, cpus // workers)}
    workers = options.workers or max(1, cpus // 2)
    # Decode and encode threads need cores beside inference; share the cluster's CPUs evenly.
    return workers, {"num_cpus": max(1, cpus // workers)}
