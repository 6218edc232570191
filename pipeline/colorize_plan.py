"""Plan one colorize input: its output paths, what made it (for re-runs to compare) and its tasks.

An input becomes one task or several keyframe-aligned segment tasks (dataset_tools/segments.py);
an input whose output was already made the same way is skipped, a bad one is one summary line.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.audio import AudioSource, find_audio
from nircolor.dataset_tools.colorize_sources import ColorizeSource, SourceError, resolve_source
from nircolor.dataset_tools.pairing import mean_rate
from nircolor.dataset_tools.streams import STREAM_ERRORS, probe_source, read_timeline, shifted
from nircolor.dataset_tools.segments import breaks_within, plan_batch_breaks, plan_segments
from nircolor.dataset_tools.video import (CODEC_SUFFIXES, FORMAT_VERSION, StreamInfo, keyframe_times, probe,
                                          suffix_for)
from nircolor.models.checkpoint import CONFIG_FILE, WEIGHTS_FILE, read_checkpoint_config
from nircolor.models.onnx_engine import OnnxEngine
from nircolor.pipeline.colorize_options import ColorizeOptions, OutputSummary
from nircolor.pipeline.colorize_worker import ColorizeTask, TaskResult


def output_suffix(options: ColorizeOptions) -> str:
    """The outputs' extension: the one asked for, else the codec's (FFV1: .mkv, otherwise .mp4)."""
    if options.suffix is None:
        return suffix_for(options.codec)
    allowed = CODEC_SUFFIXES.get(options.codec)
    if allowed and options.suffix.lower() not in allowed:
        raise ValueError(f"--codec {options.codec} videos are written as {' or '.join(allowed)}, "
                         f"not {options.suffix}")
    return options.suffix


def output_paths(out_dir: Path, name: str, options: ColorizeOptions) -> dict[str, Path]:
    suffix = output_suffix(options)
    return {
        "video": out_dir / f"{name}{suffix}",
        "review": out_dir / f"{name}.review{suffix}",
        "report": out_dir / f"{name}.json",
        "parts": out_dir / f".{name}.parts",
    }


@dataclass
class Job:
    """One input being colorized: its tasks, their results, and where the output goes."""

    source: ColorizeSource
    paths: dict[str, Path]
    info: StreamInfo
    tasks: list[ColorizeTask]
    results: dict[int, TaskResult] = field(default_factory=dict)
    started: float | None = None
    error: str | None = None
    made_by: dict = field(default_factory=dict)  # what the report records, for re-runs to compare
    audio: AudioSource | None = None  # the input's sound, muxed into the outputs when they are joined

    @property
    def complete(self) -> bool:
        return len(self.results) == len(self.tasks)


def describe_model(checkpoint: str | os.PathLike, engine: str = "torch") -> dict:
    """{"name", "checkpoint", "checkpoint_sha256"}; raises CheckpointError/ExportError for an unusable one.

    The hash covers the files that make the model (config and weights, or the exported graph and
    its metadata): a checkpoint folder retrained in place is another model.
    """
    if engine == "onnxruntime":
        exported = OnnxEngine(checkpoint, threads=1)  # reads and checks the export's metadata
        name, files = exported.model_name, [exported.path]
    else:
        name = read_checkpoint_config(checkpoint)["model"]["name"]
        files = [Path(checkpoint) / CONFIG_FILE, Path(checkpoint) / WEIGHTS_FILE]
    digest = hashlib.sha256()
    for path in files:
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"missing")
    return {"name": name, "checkpoint": str(checkpoint), "checkpoint_sha256": digest.hexdigest()}


def plan_input(given: Path, out_dir: Path, options: ColorizeOptions, seen: dict[str, str],
               model: dict) -> tuple[OutputSummary | None, Job | None]:
    """-> (summary entry, None) for skipped/failed inputs, or (None, job) for work to do.

    `model`: the checkpoint's path and sha256 (describe_model); `seen`: output names taken so far."""
    try:
        source = resolve_source(given)
    except SourceError as error:
        return OutputSummary(name=given.stem or given.name, origin=str(given), status="failed", error=str(error)), None
    # casefold: `Drive` and `drive` are one file on case-insensitive file systems (macOS, Windows).
    if source.name.casefold() in seen:
        message = f"{given}: output name {source.name!r} is already used by {seen[source.name.casefold()]}"
        return OutputSummary(name=source.name, origin=str(given), status="failed", error=message), None
    seen[source.name.casefold()] = str(given)
    paths = output_paths(out_dir, source.name, options)
    video_files = source.nir is None or source.nir.kind == "video"
    audio = find_audio([source.nir_path, source.rgb_path]) if video_files else None
    made_by = _output_fingerprint(source, model, options, audio)
    if not options.overwrite and paths["video"].is_file() and _report_fingerprint(paths["report"]) == made_by:
        return _skipped(source, paths), None
    paths["report"].unlink(missing_ok=True)  # written last: without it the old output counts as not done
    remove_stale_partials(paths)
    try:
        if video_files:
            info = probe(source.nir_path, source.nir_stream)
            keyframes = []
            if (info.duration_seconds or 0) > options.batch_grid_seconds:
                keyframes = keyframe_times(source.nir_path, source.nir_stream)
        else:
            source, info, keyframes = _from_zero(source)
    except STREAM_ERRORS as error:
        return OutputSummary(name=source.name, origin=str(given), status="failed", error=str(error)), None
    tasks = _tasks(source, paths, info, keyframes, options, audio is not None)
    return None, Job(source=source, paths=paths, info=info, tasks=tasks, made_by=made_by, audio=audio)


def _from_zero(source: ColorizeSource) -> tuple[ColorizeSource, StreamInfo, list[float]]:
    """A bag or image sequence, its clock moved to start at 0 (stamps are epoch times; a video starts
    near 0): the source, its StreamInfo with rate and duration from the frame times, and where
    segments may start (any frame)."""
    timeline = read_timeline(source.nir)
    start, times = timeline.times[0], timeline.times
    rate = mean_rate(times)
    period = 1 / rate if rate else 0.0
    source = dataclasses.replace(source, nir=shifted(timeline.source, -start),
                                 rgb=shifted(source.rgb, -start) if source.rgb else None)
    info = dataclasses.replace(probe_source(source.nir), start_seconds=0.0, duration_seconds=times[-1] - start + period,
                               average_rate=Fraction(rate).limit_denominator(1001) if rate else None,
                               frames=len(times))
    return source, info, [time - start for time in timeline.keyframes]


def _tasks(source: ColorizeSource, paths: dict[str, Path], info: StreamInfo, keyframes: list[float],
           options: ColorizeOptions, with_audio: bool = False) -> list[ColorizeTask]:
    """One task per segment; a single task writes the final file itself unless sound is muxed in after it."""
    breaks = plan_batch_breaks(keyframes, options.batch_grid_seconds, info.start_seconds)
    segments = plan_segments(breaks, info.duration_seconds, options.segment_seconds, info.start_seconds)
    tasks = []
    for segment in segments:
        if len(segments) == 1 and not with_audio:
            output, review = paths["video"], paths["review"]
        else:
            output = paths["parts"] / f"segment-{segment.index:05d}{paths['video'].suffix}"
            review = paths["parts"] / f"review-{segment.index:05d}{paths['video'].suffix}"
        tasks.append(ColorizeTask(
            name=source.name, segment=segment.index, nir_path=source.nir_path, nir_stream=source.nir_stream,
            output_path=str(output), width=info.width, height=info.height, bits=info.bits,
            time_base=info.time_base, rate=info.average_rate, start_seconds=segment.start_seconds,
            end_seconds=segment.end_seconds, batch_breaks=breaks_within(breaks, segment),
            rgb_path=source.rgb_path, rgb_stream=source.rgb_stream, nir_source=source.nir, rgb_source=source.rgb,
            homography=source.homography,
            review_path=str(review) if options.side_by_side else None,
            codec=options.codec, crf=options.crf, preset=options.preset,
        ))
    return tasks


def _output_fingerprint(source: ColorizeSource, model: dict, options: ColorizeOptions,
                        audio: AudioSource | None = None) -> dict:
    """What an output's report must match for a re-run to skip it: same input, weights and encoding."""
    return {
        "input": str(Path(source.origin).resolve()), "nir": str(source.nir_path), "nir_stream": source.nir_stream,
        "rgb": str(source.rgb_path) if source.rgb_path else None, **model,
        # Outputs of an older format (untagged colour, 4:4:4 at odd sizes, no sound) are redone.
        "video_format": FORMAT_VERSION, "audio": audio.path if audio else None,
        "codec": options.codec, "crf": options.crf, "preset": options.preset, "side_by_side": options.side_by_side,
        # bf16 moves outputs by a little (within models/inference.py's bound): another precision is another output.
        "engine": options.engine, "precision": options.inference.precision,
    }


def _report_fingerprint(report: Path):
    try:
        document = json.loads(report.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return document.get("made_by") if isinstance(document, dict) else None


def expected_frames(info: StreamInfo) -> int:
    """The frames the container announces (or its duration implies); 0 when it says neither."""
    if info.frames:
        return info.frames
    if info.duration_seconds and info.average_rate:
        return int(round(info.duration_seconds * float(info.average_rate)))
    return 0


def _skipped(source: ColorizeSource, paths: dict[str, Path]) -> OutputSummary:
    entry = OutputSummary(name=source.name, origin=source.origin, status="skipped",
                          output=str(paths["video"]), report=str(paths["report"]))
    try:
        report = json.loads(paths["report"].read_text())
        entry.frames = int(report.get("frames", 0))
        entry.duration_seconds = float(report.get("duration_seconds", 0.0))
    except (OSError, ValueError):
        pass
    return entry


def remove_stale_partials(paths: dict[str, Path]) -> None:
    """Temporary files an interrupted run left for this output (never a final name, never a live run's)."""
    for key in ("video", "review", "report"):
        atomic.remove_leftovers(paths[key])
