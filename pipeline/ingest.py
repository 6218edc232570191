"""Dataset build: recordings → registered NIR/RGB pairs in HDF5 shards, on Ray actors (paper §4 data).

The driver plans (reads packet timestamps, pairs frames by presentation time, assigns day/location
splits, cuts recordings into keyframe segments) and dispatches; each worker runs
`dataset_tools.segment_ingest.SegmentIngestor` on one segment (decode, sample, register, write).
Frames never leave the worker: tasks carry paths, bounds and pair lists, results carry statistics.
A finished segment leaves a shard and a state file, so a re-run skips it; a crashed actor's task is
retried; a bad recording is reported and the rest finish.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import ray

from nircolor.dataset_tools.clock_offset import ClockOffset, estimate_offset, measure_offset
from nircolor.dataset_tools.manifest import ManifestError, read_manifest, write_manifest
from nircolor.dataset_tools.pairing import frame_period, pair_timestamps
from nircolor.dataset_tools.recording import (
    RECORDING_FILE, Recording, RecordingError, find_recordings, find_unlabelled, load_recording,
)
from nircolor.dataset_tools.registration import summarize_shifts
from nircolor.dataset_tools.segment_ingest import STATE_FOLDER, SegmentIngestor, SegmentResult, SegmentTask, finished
from nircolor.dataset_tools.segments import plan_segments
from nircolor.dataset_tools.splits import SplitError, assign_splits
from nircolor.dataset_tools.streams import STREAM_ERRORS, StreamSource, probe_source, read_timeline, shifted, source_identity
from nircolor.dataset_tools.writer_lock import WriterBusy, writer_lock
from nircolor.pipeline.execution import Execution, run_tasks

__all__ = ["BuildSummary", "IngestOptions", "RecordingSummary", "SegmentIngestor", "SegmentResult", "SegmentTask",
           "build_dataset"]


@dataclass(frozen=True)
class IngestOptions:
    every_frames: int = 1
    every_seconds: float | None = None
    eval_fraction: float = 0.2
    split_by: str = "day-location"
    split_overrides: tuple[tuple[str, str], ...] = ()
    max_shift: float = 4.0
    segment_seconds: float | None = 30.0
    # "report": estimate the NIR/RGB clock offset from the frames decoded anyway and report it;
    # "estimate": measure it before pairing (decodes a minute more per recording) and apply it.
    clock_offset: str = "report"
    workers: int | None = None  # actors; default one per CPU of the cluster
    executor: str = "local"  # "local" (this process) or "ray" (actors; the caller has started Ray)

    def build_parameters(self) -> dict:
        """What decides the dataset's content (not how many workers produced it)."""
        return {
            "every_frames": self.every_frames, "every_seconds": self.every_seconds,
            "eval_fraction": self.eval_fraction, "split_by": self.split_by,
            "split_overrides": {key: value for key, value in sorted(self.split_overrides)},
            "max_shift": self.max_shift, "segment_seconds": self.segment_seconds, "clock_offset": self.clock_offset,
        }


@dataclass
class RecordingPlan:
    folder: Path
    recording: Recording | None = None
    error: str | None = None
    nir_bits: int = 8
    height: int = 0
    width: int = 0
    fps: float = 0.0
    frames_seen: int = 0
    rgb_frames: int = 0
    pairing: dict = field(default_factory=dict)
    pairs: list[tuple[int, float, float]] = field(default_factory=list)
    segments: list = field(default_factory=list)
    split: str | None = None
    key: str | None = None  # its name in the manifest's recordings
    nir_source: StreamSource | None = None  # the streams as planned (a bag's slack, an applied clock offset)
    rgb_source: StreamSource | None = None
    clock: ClockOffset | None = None  # the offset estimated before pairing (--clock-offset estimate)


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


# ---------------------------------------------------------------------------------------------- planning


def _plan_recording(folder: Path, options: IngestOptions) -> RecordingPlan:
    plan = RecordingPlan(folder=folder)
    try:
        recording = load_recording(folder)
        plan.recording = recording
        nir_info, rgb_info = probe_source(recording.nir), probe_source(recording.rgb)
        if recording.homography is None and (nir_info.width, nir_info.height) != (rgb_info.width, rgb_info.height):
            raise RecordingError(
                f"{recording.folder}: NIR is {nir_info.width}x{nir_info.height} but RGB is "
                f"{rgb_info.width}x{rgb_info.height}; a two-camera rig needs a \"homography\" in recording.json "
                f"(`nircolor calibrate` estimates one)"
            )
        nir, rgb = read_timeline(recording.nir), read_timeline(recording.rgb)
        for info, timeline in ((nir_info, nir), (rgb_info, rgb)):
            _check_complete(info, timeline.times)
        if options.clock_offset == "estimate":
            plan.clock = measure_offset(nir, rgb)
            if plan.clock is None:
                raise RecordingError(f"{recording.folder}: cannot estimate the NIR/RGB clock offset (too little "
                                     f"shared motion in the first minute); set rgb_offset_seconds in recording.json")
            rgb = dataclasses.replace(rgb, source=shifted(rgb.source, plan.clock.seconds),
                                      times=[time + plan.clock.seconds for time in rgb.times])
    except (RecordingError, *STREAM_ERRORS) as error:
        plan.error = str(error)
        return plan
    plan.nir_source, plan.rgb_source = nir.source, rgb.source
    nir_times, rgb_times = nir.times, rgb.times
    pairing = pair_timestamps(nir_times, rgb_times)
    plan.nir_bits, plan.height, plan.width = nir_info.bits, nir_info.height, nir_info.width
    rate = nir_info.average_rate or (1 / frame_period(nir_times) if frame_period(nir_times) else 0.0)
    plan.fps = round(float(rate), 6)
    plan.frames_seen, plan.rgb_frames = len(nir_times), len(rgb_times)
    plan.pairing = {"tolerance_seconds": round(pairing.tolerance_seconds, 6), **pairing.counts()}
    plan.pairs = [(nir_index, nir_times[nir_index], rgb_times[rgb_index]) for nir_index, rgb_index in pairing.pairs]
    duration = nir_times[-1] - nir_times[0] if nir_times else 0.0
    plan.segments = plan_segments(nir.keyframes, duration, options.segment_seconds, start_seconds=nir_times[0])
    if not plan.pairs:
        plan.error = (f"{recording.folder}: no NIR frame has an RGB frame at the same instant "
                      f"(NIR {nir_times[0]:.3f}–{nir_times[-1]:.3f} s, RGB {rgb_times[0]:.3f}–{rgb_times[-1]:.3f} s)")
    return plan


def _check_complete(info, times: list[float]) -> None:
    """A file whose frames stop well before its declared duration was cut off (copy or crash)."""
    if not times:
        raise RecordingError(f"{info.path}: holds no frames")
    if not info.duration_seconds or len(times) < 2:
        return
    period = max((times[-1] - times[0]) / (len(times) - 1), 1e-3)
    covered = times[-1] + period - min(info.start_seconds, times[0])
    if covered < info.duration_seconds - 2.5 * period:
        raise RecordingError(
            f"{info.path}: truncated (frames stop at {times[-1]:.2f} s of a declared {info.duration_seconds:.2f} s)"
        )


def _tasks_for(plan: RecordingPlan, dataset_dir: Path, options: IngestOptions) -> list[SegmentTask]:
    recording = plan.recording
    tasks = []
    for segment in plan.segments:
        start = segment.start_seconds if segment.start_seconds is not None else float("-inf")
        end = segment.end_seconds if segment.end_seconds is not None else float("inf")
        pairs = tuple(pair for pair in plan.pairs if start - 1e-9 <= pair[1] < end - 1e-9)
        name = f"{recording.id}-{segment.index:03d}"
        identity = {
            "recording": recording.id, "day": recording.day, "location": recording.location, "split": plan.split,
            "nir": source_identity(plan.nir_source), "rgb": source_identity(plan.rgb_source),
            "homography": recording.homography, "pairs": [len(pairs), pairs[0] if pairs else None, pairs[-1] if pairs else None],
            "every_frames": options.every_frames, "every_seconds": options.every_seconds,
            "max_shift": options.max_shift,
        }
        key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        tasks.append(SegmentTask(
            recording_id=recording.id, day=recording.day, location=recording.location, split=plan.split,
            nir=plan.nir_source, rgb=plan.rgb_source, nir_bits=plan.nir_bits, height=plan.height, width=plan.width,
            segment=segment.index, pairs=pairs, shard_path=str(dataset_dir / plan.split / f"{name}.h5"),
            state_path=str(dataset_dir / STATE_FOLDER / f"{name}.json"), key=key,
            every_frames=options.every_frames, every_seconds=options.every_seconds, max_shift=options.max_shift,
            homography=recording.homography,
        ))
    return tasks


def _would_drop_entries(dataset_dir: Path, plans: list[RecordingPlan], root: Path) -> str | None:
    """Why building into `dataset_dir` would lose what its manifest lists, or None.

    A re-run of a build (same recordings, some added, some now failing) rewrites the manifest it made;
    a manifest naming recordings this build does not make (another recordings folder, import-pairs) or
    one that cannot be read is never replaced silently."""
    if not (dataset_dir / "manifest.json").exists():
        return None
    try:
        existing = read_manifest(dataset_dir)
    except ManifestError as error:
        return f"{error}; refusing to replace it (build into a new folder)"
    ids = {plan.recording.id for plan in plans if plan.recording is not None}
    unreadable = {_relative(plan.folder, root) for plan in plans if plan.recording is None}  # listed by folder

    def made_here(key, entry) -> bool:
        if not isinstance(entry, dict) or entry.get("kind") == "pair-folder":
            return False
        return key in ids or entry.get("folder") in unreadable

    others = sorted(key for key, entry in existing.get("recordings", {}).items() if not made_here(key, entry))
    if not others:
        return None
    listed = ", ".join(repr(key[:40]) for key in others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return (f"{dataset_dir / 'manifest.json'}: lists recordings this build does not make ({listed}); building "
            f"here would drop them: build into a new folder, or import them again there")


def _remove_stale_shards(dataset_dir: Path, plans: list[RecordingPlan], tasks: list[SegmentTask]) -> None:
    """Shards an earlier build wrote for these recordings that this plan does not make (another split,
    other segment bounds) would sit beside the dataset unlisted: remove them."""
    expected = {Path(task.shard_path) for task in tasks}
    for plan in plans:
        for split in ("train", "eval"):
            for path in (dataset_dir / split).glob(f"{glob.escape(plan.recording.id)}-[0-9][0-9][0-9].h5"):
                if path not in expected:
                    path.unlink(missing_ok=True)


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
        plan = _plan_recording(folder, options)
        if plan.error is None:
            key = plan.recording.id.casefold()  # ids name shard files: one file on case-insensitive systems
            if key in seen_ids:
                plan.error = (f"{folder / 'recording.json'}: id {plan.recording.id!r} is already used by "
                              f"{seen_ids[key]}")
            else:
                seen_ids[key] = folder
        plans.append(plan)
        progress({"type": "planned", "folder": str(folder), "error": plan.error})
    refusal = _would_drop_entries(dataset_dir, plans, recordings_root)
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
        tasks.extend(_tasks_for(plan, dataset_dir, options))
    _remove_stale_shards(dataset_dir, good, tasks)
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
            else _relative(plan.folder, recordings_root)
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


def _relative(folder: Path, root: Path) -> str:
    try:
        return str(folder.relative_to(root)) or "."
    except ValueError:
        return str(folder)


def _recording_entry(plan: RecordingPlan, results: list[SegmentResult], root: Path) -> dict:
    """One recording's manifest entry: counts at every step and why frames were left out."""
    recording = plan.recording
    entry = {
        "folder": _relative(plan.folder, root),
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
        identifier = plan.key or (plan.recording.id if plan.recording else _relative(plan.folder, root))
        entry = entries.get(identifier, {})
        summaries.append(RecordingSummary(
            id=identifier, folder=str(plan.folder), split=entry.get("split", plan.split),
            pairs=entry.get("pairs", 0), frames_seen=plan.frames_seen, error=plan.error,
            clock_warning=_clock_warning(plan, entry.get("clock_offset")),
        ))
    return summaries
