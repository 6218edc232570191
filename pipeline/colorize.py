"""Colorize whole NIR recordings back to RGB video with Ray actors (the paper's generators, §3–4).

Each input becomes one task or several keyframe-aligned segment tasks; actors decode, infer and
encode inside themselves and return statistics; segments are joined without re-encoding. Outputs
appear under their final names only when complete, with a JSON report beside each, so a re-run
skips finished work and a bad input is one line in the summary.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from dataset_tools import atomic
from dataset_tools.video import CODECS, VideoError, keyframe_times, probe
from models.checkpoint import CONFIG_FILE, WEIGHTS_FILE, read_checkpoint_config
from models.inference import InferenceOptions
from dataset_tools.colorize_sources import ColorizeSource, SourceError, resolve_source
from pipeline.execution import Execution, WorkerStartError, run_tasks
from pipeline.colorize_worker import ColorizeTask, ColorizeWorker, TaskResult
from dataset_tools.remux import join_videos
from dataset_tools.segments import breaks_within, plan_batch_breaks, plan_segments

REPORT_VERSION = 1
# A lost actor's task is retried by Ray (max_task_retries) and then resubmitted this many times.


@dataclass(frozen=True)
class ColorizeOptions:
    codec: str = "h264"
    crf: int | None = 18
    preset: str | None = "veryfast"
    side_by_side: bool = False
    batch_size: int = 8
    workers: int | None = None  # None: one per GPU, or one per 2 CPUs
    segment_seconds: float | None = 20.0  # None or 0: never cut
    # Batches end at the first keyframe after every multiple of this, and segments are cut only
    # there, so segment-parallel output equals single-pass output bit for bit (pipeline/segments.py).
    batch_grid_seconds: float = 10.0
    device: str = "auto"
    suffix: str = ".mp4"  # MP4 keeps the input's time base exactly (Matroska rounds to 1 ms)
    executor: str = "local"  # "local" (this process) or "ray" (actors; the caller has started Ray)
    threads: int | None = None  # torch threads per worker; None: the CPUs a Ray actor holds (or torch's default)
    overwrite: bool = False  # redo outputs even when their report says they were made the same way
    engine: str = "torch"  # or "onnxruntime": `checkpoint` is then a `nircolor export` folder or .onnx file
    inference: InferenceOptions = InferenceOptions()  # precision and compilation (models/inference.py)


@dataclass
class OutputSummary:
    name: str
    origin: str
    status: str  # "done", "skipped" or "failed"
    output: str | None = None
    report: str | None = None
    frames: int = 0
    duration_seconds: float = 0.0
    fps: float = 0.0
    error: str | None = None
    warning: str | None = None  # e.g. fewer frames than the container announced (truncated file?)


@dataclass
class ColorizeSummary:
    outputs: list[OutputSummary] = field(default_factory=list)
    wall_seconds: float = 0.0
    model: str = ""
    workers: int = 0

    @property
    def failed(self) -> list[OutputSummary]:
        return [entry for entry in self.outputs if entry.status == "failed"]

    @property
    def frames(self) -> int:
        return sum(entry.frames for entry in self.outputs if entry.status == "done")

    @property
    def fps(self) -> float:
        return self.frames / self.wall_seconds if self.wall_seconds > 0 else 0.0


Progress = Callable[..., None]


def output_paths(out_dir: Path, name: str, options: ColorizeOptions) -> dict[str, Path]:
    return {
        "video": out_dir / f"{name}{options.suffix}",
        "review": out_dir / f"{name}.review{options.suffix}",
        "report": out_dir / f"{name}.json",
        "parts": out_dir / f".{name}.parts",
    }


@dataclass
class _Job:
    """One input being colorized: its tasks, their results, and where the output goes."""

    source: ColorizeSource
    paths: dict[str, Path]
    info: object
    tasks: list[ColorizeTask]
    results: dict[int, TaskResult] = field(default_factory=dict)
    started: float | None = None
    error: str | None = None
    made_by: dict = field(default_factory=dict)  # what the report records, for re-runs to compare


def colorize_inputs(
    checkpoint: str | os.PathLike,
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    options: ColorizeOptions = ColorizeOptions(),
    progress: Progress | None = None,
    worker_class: type = ColorizeWorker,
) -> ColorizeSummary:
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
    _check_device_name(options.device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = ColorizeSummary(model=model_name)
    jobs: list[_Job] = []
    seen: dict[str, str] = {}
    inputs = list(inputs)
    for given in inputs:
        entry, job = _plan(Path(given), out_dir, options, seen, model)
        if entry is not None:
            summary.outputs.append(entry)
            progress("finished", entry=entry)
        if job is not None:
            jobs.append(job)
            progress("planned", name=job.source.name, frames=_expected_frames(job.info))
    pending = [task for job in jobs for task in job.tasks if task.segment not in job.results]
    by_name = {job.source.name: job for job in jobs}
    for job in jobs:
        for result in job.results.values():  # segments finished by an earlier run
            progress("frames", name=job.source.name, frames=result.frames)
    for job in jobs:
        if len(job.results) == len(job.tasks):
            summary.outputs.append(_finish(job, checkpoint, model_name, options, progress))

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
            summary.outputs.append(_fail(job, result.error))
            progress("finished", entry=summary.outputs[-1])
            return
        job.results[result.segment] = result
        if len(job.tasks) > 1:
            _save_part_result(job, result)
        on_frames(result.name, result.segment, result.frames)
        if len(job.results) == len(job.tasks):
            summary.outputs.append(_finish(job, checkpoint, model_name, options, progress))

    if pending:
        frames_ahead = sum(_expected_frames(job.info) for job in jobs if len(job.results) < len(job.tasks))
        summary.workers = _run_tasks(pending, checkpoint, options, worker_class, on_start, on_result, on_frames,
                                     frames_ahead)
    summary.wall_seconds = time.perf_counter() - started
    order = {str(Path(given)): index for index, given in enumerate(inputs)}
    summary.outputs.sort(key=lambda entry: order.get(entry.origin, len(order)))
    return summary


def _plan(given: Path, out_dir: Path, options: ColorizeOptions, seen: dict[str, str], model: dict):
    """-> (summary entry, None) for skipped/failed inputs, or (None, job) for work to do.

    `model`: the checkpoint's path and sha256 (config and weights)."""
    try:
        source = resolve_source(given)
    except SourceError as error:
        return OutputSummary(name=given.stem or given.name, origin=str(given), status="failed", error=str(error)), None
    if source.name in seen:
        message = f"{given}: output name {source.name!r} is already used by {seen[source.name]}"
        return OutputSummary(name=source.name, origin=str(given), status="failed", error=message), None
    seen[source.name] = str(given)
    paths = output_paths(out_dir, source.name, options)
    made_by = _output_fingerprint(source, model, options)
    if not options.overwrite and paths["video"].is_file() and _report_fingerprint(paths["report"]) == made_by:
        return _skipped(source, paths), None
    paths["report"].unlink(missing_ok=True)  # written last: without it the old output counts as not done
    _remove_stale_partials(paths)
    try:
        info = probe(source.nir_path, source.nir_stream)
        keyframes = []
        if (info.duration_seconds or 0) > options.batch_grid_seconds:
            keyframes = keyframe_times(source.nir_path, source.nir_stream)
    except VideoError as error:
        return OutputSummary(name=source.name, origin=str(given), status="failed", error=str(error)), None
    breaks = plan_batch_breaks(keyframes, options.batch_grid_seconds, info.start_seconds)
    segments = plan_segments(breaks, info.duration_seconds, options.segment_seconds, info.start_seconds)
    review_wanted = options.side_by_side
    tasks = []
    for segment in segments:
        if len(segments) == 1:
            output, review = paths["video"], paths["review"]
        else:
            output = paths["parts"] / f"segment-{segment.index:05d}{options.suffix}"
            review = paths["parts"] / f"review-{segment.index:05d}{options.suffix}"
        tasks.append(ColorizeTask(
            name=source.name, segment=segment.index, nir_path=source.nir_path, nir_stream=source.nir_stream,
            output_path=str(output), width=info.width, height=info.height, bits=info.bits,
            time_base=info.time_base, rate=info.average_rate, start_seconds=segment.start_seconds,
            end_seconds=segment.end_seconds, batch_breaks=breaks_within(breaks, segment),
            rgb_path=source.rgb_path, rgb_stream=source.rgb_stream,
            review_path=str(review) if review_wanted else None,
            codec=options.codec, crf=options.crf, preset=options.preset,
        ))
    job = _Job(source=source, paths=paths, info=info, tasks=tasks, made_by=made_by)
    if len(tasks) > 1:
        _load_part_results(job, model["checkpoint"], options.batch_size)
    return None, job


def _output_fingerprint(source: ColorizeSource, model: dict, options: ColorizeOptions) -> dict:
    """What an output's report must match for a re-run to skip it: same input, weights and encoding."""
    return {
        "input": str(Path(source.origin).resolve()), "nir": str(source.nir_path), "nir_stream": source.nir_stream,
        "rgb": str(source.rgb_path) if source.rgb_path else None, **model,
        "codec": options.codec, "crf": options.crf, "preset": options.preset, "side_by_side": options.side_by_side,
        # bf16 moves outputs by a little (within models/inference.py's bound): another precision is another output.
        "engine": options.engine, "precision": options.inference.precision,
    }


def describe_model(checkpoint: str | os.PathLike, engine: str = "torch") -> dict:
    """{"name", "checkpoint", "checkpoint_sha256"}; raises CheckpointError/ExportError for an unusable one.

    The hash covers the files that make the model (config and weights, or the exported graph and
    its metadata): a checkpoint folder retrained in place is another model.
    """
    if engine == "onnxruntime":
        from models.onnx_engine import OnnxEngine  # onnxruntime loads only when it is used

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


def _report_fingerprint(report: Path):
    try:
        document = json.loads(report.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return document.get("made_by") if isinstance(document, dict) else None


def _expected_frames(info) -> int:
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


def _remove_stale_partials(paths: dict[str, Path]) -> None:
    """Temporary files an interrupted run left for this output (never a final name, never a live run's)."""
    for key in ("video", "review", "report"):
        atomic.remove_leftovers(paths[key])


def _part_result_path(job: _Job, segment: int) -> Path:
    return job.paths["parts"] / f"segment-{segment:05d}.json"


def _save_part_result(job: _Job, result: TaskResult) -> None:
    atomic.write_json(_part_result_path(job, result.segment), asdict(result))


def _plan_fingerprint(job: _Job) -> dict:
    """What finished segments must share with this run to be reused (same model, codec, cuts, ...)."""
    fields = ("nir_path", "nir_stream", "start_seconds", "end_seconds", "batch_breaks", "codec", "crf", "preset",
              "review_path", "rgb_path", "rgb_stream")
    return {"tasks": [{name: getattr(task, name) for name in fields} for task in job.tasks]}


def _load_part_results(job: _Job, checkpoint: str, batch_size: int) -> None:
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


def _fail(job: _Job, error: str) -> OutputSummary:
    shutil.rmtree(job.paths["parts"], ignore_errors=True)
    _remove_stale_partials(job.paths)
    return OutputSummary(name=job.source.name, origin=job.source.origin, status="failed", error=error)


def _finish(job: _Job, checkpoint: str, model_name: str, options: ColorizeOptions, progress: Progress) -> OutputSummary:
    """Join segments (no re-encoding), write the report last, clean up."""
    results = [job.results[task.segment] for task in job.tasks]
    join_seconds = 0.0
    try:
        if len(job.tasks) > 1:
            clock = time.perf_counter()
            join_videos([task.output_path for task in job.tasks if job.results[task.segment].frames], job.paths["video"])
            if options.side_by_side:
                join_videos([task.review_path for task in job.tasks if job.results[task.segment].frames], job.paths["review"])
            join_seconds = time.perf_counter() - clock
    except VideoError as error:
        entry = _fail(job, str(error))
        progress("finished", entry=entry)
        return entry
    frames = sum(result.frames for result in results)
    first = min((r.first_seconds for r in results if r.first_seconds is not None), default=0.0)
    last = max((r.last_seconds for r in results if r.last_seconds is not None), default=0.0)
    frame_interval = 1.0 / float(job.info.average_rate) if job.info.average_rate else 0.0
    duration = (last - first + frame_interval) if frames else 0.0
    wall = time.perf_counter() - job.started if job.started is not None else sum(r.wall_seconds for r in results)
    report = {
        "report_version": REPORT_VERSION,
        "name": job.source.name,
        "input": job.source.origin,
        "nir": {"path": job.source.nir_path, "stream": job.source.nir_stream, "bits": job.info.bits,
                "codec": job.info.codec, "pix_fmt": job.info.pix_fmt},
        "rgb": {"path": job.source.rgb_path, "stream": job.source.rgb_stream} if job.source.rgb_path else None,
        "output": str(job.paths["video"]),
        "review": str(job.paths["review"]) if options.side_by_side else None,
        "frames": frames,
        "width": job.info.width,
        "height": job.info.height,
        "time_base": str(job.info.time_base),
        "first_seconds": first,
        "last_seconds": last,
        "duration_seconds": duration,
        "fps_achieved": frames / wall if wall > 0 else 0.0,
        "model": model_name,
        "checkpoint": checkpoint,
        "codec": options.codec,
        "crf": options.crf,
        "preset": options.preset,
        "batch_size": options.batch_size,
        "device": results[0].device if results else None,
        "engine": options.engine,
        "inference": results[0].inference if results else None,
        "segments": len(job.tasks),
        "timing_seconds": {
            "decode": sum(r.decode_seconds for r in results),
            "inference": sum(r.inference_seconds for r in results),
            "encode": sum(r.encode_seconds for r in results),
            "join": join_seconds,
            "wall": wall,
            "compile": sum(r.compile_seconds for r in results),
        },
    }
    expected = _expected_frames(job.info)
    warnings = [result.extra["warning"] for result in results if result.extra.get("warning")]
    if expected and frames < 0.95 * expected - 1:
        warnings.insert(0, f"{job.source.nir_path}: only {frames} of about {expected} announced frames decoded (truncated file?)")
    without_truth = sum(result.extra.get("frames_without_truth", 0) for result in results)
    if without_truth:
        warnings.append(f"{job.source.rgb_path}: no RGB frame near {without_truth} NIR frame(s); "
                        "the review video shows black there")
    warning = "; ".join(dict.fromkeys(warnings)) or None
    report["expected_frames"] = expected
    report["warning"] = warning
    report["made_by"] = job.made_by
    atomic.write_json(job.paths["report"], report)
    shutil.rmtree(job.paths["parts"], ignore_errors=True)
    entry = OutputSummary(
        name=job.source.name, origin=job.source.origin, status="done", output=str(job.paths["video"]),
        report=str(job.paths["report"]), frames=frames, duration_seconds=duration, fps=report["fps_achieved"],
        warning=warning,
    )
    progress("finished", entry=entry)
    return entry


def _check_device_name(device: str) -> None:
    import torch

    if device == "auto":
        return
    try:
        torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device {device!r} is not a device (use auto, cpu, cuda or cuda:N)") from None


# --- execution: in this process, or on Ray actors ------------------------------------------------


def _worker_arguments(checkpoint: str, device: str, options: ColorizeOptions, threads, frames_ahead: int) -> tuple:
    """What every worker is built from; `compile` is settled here, by the frames each worker faces."""
    inference = options.inference.with_frames(frames_ahead, "cpu" if device == "auto" else device)
    return (checkpoint, device, options.batch_size), {"threads": threads, "inference": inference, "engine": options.engine}


def _run_tasks(tasks, checkpoint, options, worker_class, on_start, on_result, on_frames, frames_ahead=0) -> int:
    execution, device = _execution(options)
    arguments, keywords = _worker_arguments(checkpoint, device, options,
                                            options.threads or execution.actor_options.get("num_cpus"),
                                            frames_ahead // execution.workers)
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
    import ray

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
