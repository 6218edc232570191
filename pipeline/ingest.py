"""Dataset build: recordings → registered NIR/RGB pairs in HDF5 shards, on Ray actors (paper §4 data).

The driver plans (`dataset_tools/ingest_plan.py`: timestamps, pairing by presentation time, keyframe
segments), assigns day/location splits and dispatches; each worker runs
`dataset_tools.segment_ingest.SegmentIngestor` on one segment (decode, sample, register, write).
Frames never leave the worker: tasks carry paths, bounds and pair lists, results carry statistics.
A finished segment leaves a shard and a state file, so a re-run skips it; a crashed actor's task is
retried; a bad recording is reported and the rest finish.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import ray

from nircolor.dataset_tools.clock_offset import estimate_offset
from nircolor.dataset_tools.ingest_plan import (IngestOptions, RecordingPlan, plan_recording, relative,
                                                remove_stale_shards, tasks_for, would_drop_entries)
from nircolor.dataset_tools.manifest import write_manifest
from nircolor.dataset_tools.recording import RECORDING_FILE, find_recordings, find_unlabelled
from nircolor.dataset_tools.registration import summarize_shifts
from nircolor.dataset_tools.segment_ingest import SegmentIngestor, SegmentResult, SegmentTask, finished
from nircolor.dataset_tools.splits import SplitError, assign_splits
from nircolor.dataset_tools.writer_lock import WriterBusy, writer_lock
from nircolor.pipeline.execution import Execution, run_tasks

__all__ = ["BuildSummary", "IngestOptions", "RecordingSummary", "SegmentIngestor", "SegmentResult", "SegmentTask",
           "build_dataset"]


@dataclass
class RecordingSummary:
    id: str
    folder: str
    split: str | None
    pairs: int
    frames_seen: int
    error: str | None = None
    clock_warning: str | None = None  # the frames suggest an RGB clock offset other than the one applied


@dataclass
class BuildSummary:
    dataset_dir: Path
    manifest_path: Path | None
    recordings: list[RecordingSummary]
    segments_done: int = 0
    segments_skipped: int = 0
    frames_decoded: int = 0
    pairs_stored: int = 0
    seconds: float = 0.0
    workers: int = 0
    error: str | None = None  # a problem that stopped the whole build (e.g. no possible split)

    @property
    def failed(self) -> list[RecordingSummary]:
        return [recording for recording in self.recordings if recording.error]

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed


# ---------------------------------------------------------------------------------------------- running


def _run_tasks(tasks: list[SegmentTask], options: IngestOptions, on_result: Callable[[SegmentResult], None],
               worker_class: type) -> int:
    if options.executor == "ray":
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        execution = Execution("ray", options.workers or cpus, {"num_cpus": 1})
    else:
        execution = Execution("local")
    return run_tasks(
        tasks, worker_class, execution=execution, on_result=on_result,
        lost_result=lambda task, attempts, error: SegmentResult(
            task.recording_id, task.segment, error=f"{task.nir.label()}: ingest worker lost {attempts} times ({error})"),
        task_key=lambda task: (task.recording_id, task.segment),
    )


def build_dataset(recordings_root: str | os.PathLike, dataset_dir: str | os.PathLike,
                  options: IngestOptions | None = None, progress: Callable[[dict], None] | None = None,
                  worker_class: type = SegmentIngestor) -> BuildSummary:
    """`_build_dataset` holding the dataset's writer lock: a concurrent build or import refuses at once."""
    try:
        with writer_lock(dataset_dir, "dataset build"):
            return _build_dataset(recordings_root, dataset_dir, options, progress, worker_class)
    except WriterBusy as error:
        return BuildSummary(Path(dataset_dir), None, [], error=str(error))


def _build_dataset(recordings_root: str | os.PathLike, dataset_dir: str | os.PathLike,
                   options: IngestOptions | None = None, progress: Callable[[dict], None] | None = None,
                   worker_class: type = SegmentIngestor) -> BuildSummary:
    """Ingest every recording under `recordings_root` into `dataset_dir` (shards + manifest.json).

    `progress(event)`: "planned" per folder, "start" once planned, "segment" per finished segment
    (with its SegmentResult). `worker_class`: what runs each segment task (tests and benchmarks pass
    a SegmentIngestor subclass).
    """
    options = options or IngestOptions()
    started = time.perf_counter()
    recordings_root, dataset_dir = Path(recordings_root), Path(dataset_dir)
    progress = progress or (lambda event: None)
    folders = find_recordings(recordings_root)
    unlabelled = find_unlabelled(recordings_root, folders)
    if not folders and not unlabelled:
        return BuildSummary(dataset_dir, None, [], error=f"{recordings_root}: no recording folders (recording.json) found")
    # Drive files with no recording.json are reported as failed recordings, so the build exits non-zero.
    plans = [RecordingPlan(folder, error=f"{folder}: holds drive files but no {RECORDING_FILE}; write one "
                                         f"(id, day, location, nir, rgb) to ingest it")
             for folder in unlabelled]
    for plan in plans:
        progress({"type": "planned", "folder": str(plan.folder), "error": plan.error})
    seen_ids: dict[str, Path] = {}
    for folder in folders:
        plan = plan_recording(folder, options)
        if plan.error is None:
            key = plan.recording.id.casefold()  # ids name shard files: one file on case-insensitive systems
            if key in seen_ids:
                plan.error = (f"{folder / 'recording.json'}: id {plan.recording.id!r} is already used by "
                              f"{seen_ids[key]}")
            else:
                seen_ids[key] = folder
        plans.append(plan)
        progress({"type": "planned", "folder": str(folder), "error": plan.error})
    refusal = would_drop_entries(dataset_dir, plans, recordings_root)
    if refusal:
        return BuildSummary(dataset_dir, None, [], error=refusal)
    good = [plan for plan in plans if plan.error is None]
    try:
        splits = assign_splits(
            [(plan.recording.id, plan.recording.day, plan.recording.location) for plan in good],
            eval_fraction=options.eval_fraction, split_by=options.split_by,
            overrides=dict(options.split_overrides) or None,
            weights={plan.recording.id: float(len(plan.pairs)) for plan in good},
        )
    except SplitError as error:
        return BuildSummary(dataset_dir, None, _summaries(plans, {}, recordings_root), error=str(error))
    tasks = []
    for plan in good:
        plan.split = splits[plan.recording.id]
        tasks.extend(tasks_for(plan, dataset_dir, options))
    remove_stale_shards(dataset_dir, good, tasks)
    progress({"type": "start", "recordings": len(plans), "segments": len(tasks),
              "segments_per_recording": dict(Counter(task.recording_id for task in tasks)),
              "frames": sum(2 * len(task.pairs) for task in tasks)})

    results: dict[tuple[str, int], SegmentResult] = {}
    summary = BuildSummary(dataset_dir, None, [])
    remaining = []
    for task in tasks:
        previous = finished(task)
        if previous is not None:
            results[(task.recording_id, task.segment)] = previous
            summary.segments_skipped += 1
            progress({"type": "segment", "recording_id": task.recording_id, "skipped": True,
                      "frames": 2 * len(task.pairs), "stored": previous.stats.get("stored", 0), "result": previous})
        else:
            remaining.append(task)

    def on_result(result: SegmentResult) -> None:
        results[(result.recording_id, result.segment)] = result
        if result.error is None:
            summary.segments_done += 1
            summary.frames_decoded += result.stats.get("frames_decoded", 0)
        progress({"type": "segment", "recording_id": result.recording_id, "skipped": False,
                  "frames": result.stats.get("frames_decoded", 0), "stored": result.stats.get("stored", 0),
                  "error": result.error, "result": result})

    summary.workers = _run_tasks(remaining, options, on_result, worker_class)
    manifest_recordings, shards = {}, []
    for plan in plans:
        if plan.error is None:
            segment_results = [results[(plan.recording.id, segment.index)] for segment in plan.segments]
            errors = [result.error for result in segment_results if result.error]
            if errors:
                plan.error = errors[0]
            else:
                shards.extend(result.shard for result in segment_results if result.shard)
        else:
            segment_results = []
        # A recording that could not be read, or repeats another's id, is listed under its folder.
        plan.key = plan.recording.id if plan.recording is not None and plan.recording.id not in manifest_recordings \
            else relative(plan.folder, recordings_root)
        manifest_recordings[plan.key] = _recording_entry(plan, segment_results, recordings_root)
    shards.sort(key=lambda shard: shard["path"])
    summary.manifest_path = write_manifest(
        dataset_dir, build_parameters=options.build_parameters(),
        recordings=dict(sorted(manifest_recordings.items())), shards=shards,
    )
    summary.recordings = _summaries(plans, manifest_recordings, recordings_root)
    summary.pairs_stored = sum(shard["pairs"] for shard in shards)
    summary.seconds = time.perf_counter() - started
    return summary


def _recording_entry(plan: RecordingPlan, results: list[SegmentResult], root: Path) -> dict:
    """One recording's manifest entry: counts at every step and why frames were left out."""
    recording = plan.recording
    entry = {
        "folder": relative(plan.folder, root),
        "day": recording.day if recording else None,
        "location": recording.location if recording else None,
        "split": plan.split if plan.error is None else None,
        "error": plan.error,
    }
    if plan.error is not None and not plan.pairs:
        return entry
    rejected: Counter = Counter()
    shifts, scores = [], []
    totals = Counter()
    for result in results:
        for key in ("sampled", "stored", "undecodable", "corrected"):
            totals[key] += result.stats.get(key, 0)
        rejected.update(result.stats.get("rejected", {}))
        shifts.extend(result.stats.get("shifts", []))
        scores.extend(result.stats.get("scores", []))
    registration = summarize_shifts(shifts, scores)
    registration["corrected"] = totals["corrected"]
    entry.update({
        "nir_bits": plan.nir_bits, "width": plan.width, "height": plan.height, "fps": plan.fps,
        "segments": len(plan.segments),
        "frames_seen": plan.frames_seen, "rgb_frames_seen": plan.rgb_frames,
        "frames_paired": len(plan.pairs), "frames_sampled": totals["sampled"], "pairs": totals["stored"],
        "rejected": dict(sorted(rejected.items())),
        "dropped": {"nir": plan.pairing["dropped_nir"], "rgb": plan.pairing["dropped_rgb"]},
        "duplicated": {"nir": plan.pairing["duplicated_nir"], "rgb": plan.pairing["duplicated_rgb"]},
        "unpaired": {"nir": plan.pairing["unpaired_nir"], "rgb": plan.pairing["unpaired_rgb"]},
        "undecodable_pairs": totals["undecodable"],
        "pairing_tolerance_seconds": plan.pairing["tolerance_seconds"],
        "registration": registration,
        "clock_offset": _clock_entry(plan, results),
    })
    return entry


def _clock_entry(plan: RecordingPlan, results: list[SegmentResult]) -> dict:
    """The RGB clock offset applied (declared, or estimated before pairing) and what the decoded frames say."""
    signals = {kind: sorted(point for result in results for point in result.stats.get("motion", {}).get(kind, []))
               for kind in ("nir", "rgb")}
    residual = estimate_offset(signals["nir"], signals["rgb"])
    applied = plan.rgb_source.offset_seconds
    entry = {"applied_seconds": round(applied, 6), "estimated_before_pairing": plan.clock is not None,
             "estimated_seconds": None, "correlation": None}
    if residual is not None:  # measured on frames already shifted by `applied`
        entry.update(estimated_seconds=round(applied + residual.seconds, 6), correlation=round(residual.correlation, 4))
    return entry


def _clock_warning(plan: RecordingPlan, clock: dict | None) -> str | None:
    if not clock or clock["estimated_seconds"] is None or not plan.fps:
        return None
    gap = clock["estimated_seconds"] - clock["applied_seconds"]
    if abs(gap) < 0.5 / plan.fps:
        return None
    return (f"{plan.folder}: the RGB clock looks {-clock['estimated_seconds']:+.3f} s off the NIR clock (motion "
            f"correlation {clock['correlation']:.2f}; {clock['applied_seconds']:+.3f} s applied); set "
            f"rgb_offset_seconds {clock['estimated_seconds']:.3f} in recording.json or rebuild with --clock-offset estimate")


def _summaries(plans: list[RecordingPlan], entries: dict, root: Path) -> list[RecordingSummary]:
    summaries = []
    for plan in plans:
        identifier = plan.key or (plan.recording.id if plan.recording else relative(plan.folder, root))
        entry = entries.get(identifier, {})
        summaries.append(RecordingSummary(
            id=identifier, folder=str(plan.folder), split=entry.get("split", plan.split),
            pairs=entry.get("pairs", 0), frames_seen=plan.frames_seen, error=plan.error,
            clock_warning=_clock_warning(plan, entry.get("clock_offset")),
        ))
    return summaries
