"""Planning a dataset build: what each recording holds and which segment tasks make its shards.

Reads packet or message timestamps (never pixels, unless asked to measure the clock offset), pairs
frames by presentation time, cuts recordings into keyframe segments and describes each segment as
a SegmentTask whose key changes whenever anything deciding the shard's content does. No Ray here:
`pipeline/ingest.py` runs the tasks.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from nircolor.dataset_tools.clock_offset import ClockOffset, measure_offset
from nircolor.dataset_tools.manifest import ManifestError, read_manifest
from nircolor.dataset_tools.pairing import mean_rate, pair_timestamps
from nircolor.dataset_tools.recording import Recording, RecordingError, load_recording
from nircolor.dataset_tools.segment_ingest import STATE_FOLDER, SegmentTask
from nircolor.dataset_tools.segments import plan_segments
from nircolor.dataset_tools.streams import STREAM_ERRORS, StreamSource, probe_source, read_timelines, shifted, source_identity


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


def plan_recording(folder: Path, options: IngestOptions) -> RecordingPlan:
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
        nir, rgb = read_timelines(recording.nir, recording.rgb)
        for info, timeline in ((nir_info, nir), (rgb_info, rgb)):
            check_complete(info, timeline.times)
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
    plan.fps = round(float(nir_info.average_rate or mean_rate(nir_times)), 6)
    plan.frames_seen, plan.rgb_frames = len(nir_times), len(rgb_times)
    plan.pairing = {"tolerance_seconds": round(pairing.tolerance_seconds, 6), **pairing.counts()}
    plan.pairs = [(nir_index, nir_times[nir_index], rgb_times[rgb_index]) for nir_index, rgb_index in pairing.pairs]
    duration = nir_times[-1] - nir_times[0] if nir_times else 0.0
    plan.segments = plan_segments(nir.keyframes, duration, options.segment_seconds, start_seconds=nir_times[0])
    if not plan.pairs:
        plan.error = (f"{recording.folder}: no NIR frame has an RGB frame at the same instant "
                      f"(NIR {nir_times[0]:.3f}–{nir_times[-1]:.3f} s, RGB {rgb_times[0]:.3f}–{rgb_times[-1]:.3f} s)")
    return plan


def check_complete(info, times: list[float]) -> None:
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


def tasks_for(plan: RecordingPlan, dataset_dir: Path, options: IngestOptions) -> list[SegmentTask]:
    recording = plan.recording
    tasks = []
    # Once per recording: for an image sequence this stats every frame file.
    streams = {"nir": source_identity(plan.nir_source), "rgb": source_identity(plan.rgb_source)}
    for segment in plan.segments:
        start = segment.start_seconds if segment.start_seconds is not None else float("-inf")
        end = segment.end_seconds if segment.end_seconds is not None else float("inf")
        pairs = tuple(pair for pair in plan.pairs if start - 1e-9 <= pair[1] < end - 1e-9)
        name = f"{recording.id}-{segment.index:03d}"
        identity = {
            "recording": recording.id, "day": recording.day, "location": recording.location, "split": plan.split,
            **streams,
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


def would_drop_entries(dataset_dir: Path, plans: list[RecordingPlan], root: Path) -> str | None:
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
    unreadable = {relative(plan.folder, root) for plan in plans if plan.recording is None}  # listed by folder

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


def remove_stale_shards(dataset_dir: Path, plans: list[RecordingPlan], tasks: list[SegmentTask]) -> None:
    """Shards an earlier build wrote for these recordings that this plan does not make (another split,
    other segment bounds) would sit beside the dataset unlisted: remove them."""
    expected = {Path(task.shard_path) for task in tasks}
    for plan in plans:
        for split in ("train", "eval"):
            for path in (dataset_dir / split).glob(f"{glob.escape(plan.recording.id)}-[0-9][0-9][0-9].h5"):
                if path not in expected:
                    path.unlink(missing_ok=True)


def relative(folder: Path, root: Path) -> str:
    try:
        return str(folder.relative_to(root)) or "."
    except ValueError:
        return str(folder)
