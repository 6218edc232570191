"""Finish one colorized input: join its segments (no re-encoding), write its report last, clean up.

The report (`<name>.json`, REPORT_VERSION) is what a re-run compares (`made_by`) and what users read.
"""
from __future__ import annotations

import shutil
import time

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.remux import join_videos
from nircolor.dataset_tools.video import VideoError, output_format
from nircolor.pipeline.colorize_options import ColorizeOptions, OutputSummary, Progress
from nircolor.pipeline.colorize_plan import Job, expected_frames, remove_stale_partials
from nircolor.pipeline.colorize_worker import TaskResult

REPORT_VERSION = 1


def fail_job(job: Job, error: str) -> OutputSummary:
    shutil.rmtree(job.paths["parts"], ignore_errors=True)
    remove_stale_partials(job.paths)
    return OutputSummary(name=job.source.name, origin=job.source.origin, status="failed", error=error)


def finish_job(job: Job, checkpoint: str, model_name: str, options: ColorizeOptions,
               progress: Progress) -> OutputSummary:
    """Join segments (no re-encoding), write the report last, clean up; reports "finished" to `progress`."""
    results = [job.results[task.segment] for task in job.tasks]
    join_seconds = 0.0
    try:
        if len(job.tasks) > 1 or job.audio is not None:
            clock = time.perf_counter()
            join_videos([task.output_path for task in job.tasks if job.results[task.segment].frames], job.paths["video"],
                        job.audio)
            if options.side_by_side:
                join_videos([task.review_path for task in job.tasks if job.results[task.segment].frames], job.paths["review"],
                            job.audio)
            join_seconds = time.perf_counter() - clock
    except VideoError as error:
        entry = fail_job(job, str(error))
        progress("finished", entry=entry)
        return entry
    report = _report(job, results, checkpoint, model_name, options, join_seconds)
    atomic.write_json(job.paths["report"], report)
    shutil.rmtree(job.paths["parts"], ignore_errors=True)
    entry = OutputSummary(
        name=job.source.name, origin=job.source.origin, status="done", output=str(job.paths["video"]),
        report=str(job.paths["report"]), frames=report["frames"], duration_seconds=report["duration_seconds"],
        fps=report["fps_achieved"], warning=report["warning"],
    )
    progress("finished", entry=entry)
    return entry


def _report(job: Job, results: list[TaskResult], checkpoint: str, model_name: str, options: ColorizeOptions,
            join_seconds: float) -> dict:
    frames = sum(result.frames for result in results)
    first = min((r.first_seconds for r in results if r.first_seconds is not None), default=0.0)
    last = max((r.last_seconds for r in results if r.last_seconds is not None), default=0.0)
    frame_interval = 1.0 / float(job.info.average_rate) if job.info.average_rate else 0.0
    duration = (last - first + frame_interval) if frames else 0.0
    wall = time.perf_counter() - job.started if job.started is not None else sum(r.wall_seconds for r in results)
    expected = expected_frames(job.info)
    return {
        "report_version": REPORT_VERSION,
        "name": job.source.name,
        "input": job.source.origin,
        "nir": {"path": job.source.nir_path, "stream": job.source.nir_stream, "bits": job.info.bits,
                "codec": job.info.codec, "pix_fmt": job.info.pix_fmt},
        "rgb": {"path": job.source.rgb_path, "stream": job.source.rgb_stream} if job.source.rgb_path else None,
        "output": str(job.paths["video"]),
        "review": str(job.paths["review"]) if options.side_by_side else None,
        "video": output_format(options.codec, job.info.width, job.info.height),
        "audio": job.audio.describe(job.paths["video"]) if job.audio else None,
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
        "expected_frames": expected,
        "warning": _warning(job, results, frames, expected),
        "made_by": job.made_by,
    }


def _warning(job: Job, results: list[TaskResult], frames: int, expected: int) -> str | None:
    warnings = [result.extra["warning"] for result in results if result.extra.get("warning")]
    if expected and frames < 0.95 * expected - 1:
        warnings.insert(0, f"{job.source.nir_path}: only {frames} of about {expected} announced frames decoded (truncated file?)")
    without_truth = sum(result.extra.get("frames_without_truth", 0) for result in results)
    if without_truth:
        warnings.append(f"{job.source.rgb_path}: no RGB frame near {without_truth} NIR frame(s); "
                        "the review video shows black there")
    return "; ".join(dict.fromkeys(warnings)) or None
