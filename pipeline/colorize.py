"""Colorize whole NIR recordings back to RGB video with Ray actors (the paper's generators, §3–4).

Each input becomes one task or several keyframe-aligned segment tasks (colorize_plan); workers
decode, infer and encode inside themselves (colorize_worker) and return statistics; finished
segments survive an interruption (colorize_resume) and are joined without re-encoding, the report
written last (colorize_finish). A re-run skips finished work and a bad input is one summary line.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Iterable

from nircolor.dataset_tools.video import CODECS
from nircolor.dataset_tools.writer_lock import writer_lock
from nircolor.pipeline.colorize_dispatch import check_device, run_colorize_tasks
from nircolor.pipeline.colorize_finish import REPORT_VERSION, fail_job, finish_job
from nircolor.pipeline.colorize_options import ColorizeOptions, ColorizeSummary, OutputSummary, Progress
from nircolor.pipeline.colorize_plan import Job, describe_model, expected_frames, output_paths, output_suffix, plan_input
from nircolor.pipeline.colorize_resume import load_part_results, save_part_result
from nircolor.pipeline.colorize_worker import ColorizeTask, ColorizeWorker, TaskResult

__all__ = ["REPORT_VERSION", "ColorizeOptions", "ColorizeSummary", "OutputSummary", "Progress", "colorize_inputs",
           "describe_model", "output_paths"]


def colorize_inputs(
    checkpoint: str | os.PathLike,
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    options: ColorizeOptions = ColorizeOptions(),
    progress: Progress | None = None,
    worker_class: type = ColorizeWorker,
) -> ColorizeSummary:
    """`_colorize_inputs` holding `out_dir`'s writer lock: a concurrent colorize into it refuses at once (WriterBusy)."""
    with writer_lock(out_dir, "colorize"):
        return _colorize_inputs(checkpoint, inputs, out_dir, options, progress, worker_class)


def _colorize_inputs(checkpoint, inputs, out_dir, options: ColorizeOptions, progress: Progress | None,
                     worker_class: type) -> ColorizeSummary:
    """Colorize every input into `out_dir`, in this process or on Ray actors (`options.executor`).

    Raises CheckpointError for an unusable checkpoint; every per-input problem lands in the summary.
    """
    started = time.perf_counter()
    progress = progress or (lambda *args, **kwargs: None)
    checkpoint = str(Path(checkpoint).resolve())
    model = describe_model(checkpoint, options.engine)  # hashed once per run
    model_name = model.pop("name")
    if options.codec not in CODECS:
        raise ValueError(f"unknown codec {options.codec!r}; choose one of {', '.join(CODECS)}")
    output_suffix(options)  # an extension the codec cannot go into fails here, in one line
    check_device(options)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = ColorizeSummary(model=model_name)
    jobs: list[Job] = []
    seen: dict[str, str] = {}
    inputs = list(inputs)
    for given in inputs:
        entry, job = plan_input(Path(given), out_dir, options, seen, model)
        if entry is not None:
            summary.outputs.append(entry)
            progress("finished", entry=entry)
        if job is not None:
            if len(job.tasks) > 1:
                load_part_results(job, checkpoint, options.batch_size)
            jobs.append(job)
            progress("planned", name=job.source.name, frames=expected_frames(job.info))
    pending = [task for job in jobs for task in job.tasks if task.segment not in job.results]
    by_name = {job.source.name: job for job in jobs}
    for job in jobs:
        for result in job.results.values():  # segments finished by an earlier run
            progress("frames", name=job.source.name, frames=result.frames)
    for job in jobs:
        if job.complete:
            summary.outputs.append(finish_job(job, checkpoint, model_name, options, progress))

    def on_start(task: ColorizeTask) -> bool:
        job = by_name[task.name]
        if job.started is None:
            job.started = time.perf_counter()
        return job.error is None  # the rest of a failed input is not worth colorizing

    shown: dict[tuple[str, int], int] = {}  # frames already shown per task, from live reports

    def on_frames(name: str, segment: int, frames: int) -> None:
        job = by_name[name]
        delta = frames - shown.get((name, segment), 0)
        if delta > 0 and job.error is None:
            shown[(name, segment)] = frames
            progress("frames", name=name, frames=delta)

    def on_result(result: TaskResult) -> None:
        job = by_name[result.name]
        if job.error is not None:
            shutil.rmtree(job.paths["parts"], ignore_errors=True)  # a sibling segment that was still running
            return
        if result.error:
            job.error = result.error
            summary.outputs.append(fail_job(job, result.error))
            progress("finished", entry=summary.outputs[-1])
            return
        job.results[result.segment] = result
        if len(job.tasks) > 1:
            save_part_result(job, result)
        on_frames(result.name, result.segment, result.frames)
        if job.complete:
            summary.outputs.append(finish_job(job, checkpoint, model_name, options, progress))

    if pending:
        frames_ahead = sum(expected_frames(job.info) for job in jobs if not job.complete)
        summary.workers = run_colorize_tasks(pending, checkpoint, options, worker_class, on_start, on_result,
                                             on_frames, frames_ahead)
    summary.wall_seconds = time.perf_counter() - started
    order = {str(Path(given)): index for index, given in enumerate(inputs)}
    summary.outputs.sort(key=lambda entry: order.get(entry.origin, len(order)))
    return summary
