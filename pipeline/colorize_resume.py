"""Resume a segmented input: reuse the segments an interrupted run finished, under the same plan.

Each finished segment leaves its video and its statistics (TaskResult as JSON) in the input's
`.parts` folder beside `plan.json`; another plan (model, codec, cuts, ...) starts the folder afresh.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, is_dataclass
from pathlib import Path

from nircolor.dataset_tools import atomic
from nircolor.pipeline.colorize_plan import Job
from nircolor.pipeline.colorize_worker import TaskResult

_PLAN_FIELDS = ("nir_path", "nir_stream", "start_seconds", "end_seconds", "batch_breaks", "codec", "crf", "preset",
                "review_path", "rgb_path", "rgb_stream", "nir_source", "rgb_source", "homography")


def save_part_result(job: Job, result: TaskResult) -> None:
    atomic.write_json(_part_result_path(job, result.segment), asdict(result))


def load_part_results(job: Job, checkpoint: str, batch_size: int) -> None:
    """Reuse segments an interrupted run finished (video and statistics both present, same plan)."""
    plan_path = job.paths["parts"] / "plan.json"
    fingerprint = json.loads(json.dumps({"checkpoint": checkpoint, "batch_size": batch_size, **_plan_fingerprint(job)}))
    try:
        same_plan = json.loads(plan_path.read_text()) == fingerprint
    except (OSError, ValueError):
        same_plan = False
    if not same_plan:
        shutil.rmtree(job.paths["parts"], ignore_errors=True)
        atomic.write_json(plan_path, fingerprint)
        return
    for task in job.tasks:
        stats = _part_result_path(job, task.segment)
        if not (stats.is_file() and Path(task.output_path).is_file()):
            continue
        if task.review_path and not Path(task.review_path).is_file():
            continue
        try:
            job.results[task.segment] = TaskResult(**json.loads(stats.read_text()))
        except (OSError, ValueError, TypeError):
            continue


def _part_result_path(job: Job, segment: int) -> Path:
    return job.paths["parts"] / f"segment-{segment:05d}.json"


def _plan_fingerprint(job: Job) -> dict:
    """What finished segments must share with this run to be reused (same model, codec, cuts, ...)."""
    return {"tasks": [{name: _plain(getattr(task, name)) for name in _PLAN_FIELDS} for task in job.tasks]}


def _plain(value):
    return asdict(value) if is_dataclass(value) else value
