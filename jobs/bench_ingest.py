"""`nircolor bench ingest`: dataset-build throughput against decode-only of the same files on the same workers."""
from __future__ import annotations

import os
import platform
import shutil
import tempfile
from pathlib import Path

import typer

from nircolor.dataset_tools import vector_state
from nircolor.dataset_tools.convert import FORMATS, RGB_ENCODINGS, ConvertOptions, convert_recording
from nircolor.dataset_tools.recording import RecordingError, find_recordings
from nircolor.dataset_tools.streams import STREAM_ERRORS
from nircolor.dataset_tools.synthetic import SynthOptions, recording_from_video, synthesize_recordings
from nircolor.jobs.runtime import ADDRESS_HELP, console, fail, init_ray
from nircolor.pipeline.bench.ingest import compare
from nircolor.pipeline.ingest import IngestOptions

def _rewrite(recordings: Path, out: Path, options: ConvertOptions) -> Path:
    """The recordings under `recordings` in another recording form (convert.py), for both runs."""
    folders = find_recordings(recordings)
    with console.status(f"rewriting {len(folders)} recordings as {options.form}"):
        for folder in folders:
            try:
                convert_recording(folder, out / folder.relative_to(recordings), options)
            except (RecordingError, *STREAM_ERRORS) as error:
                fail(str(error))
    return out


GOAL = 0.70  # ingest should keep at least 70% of the decoder's frame rate


def bench_ingest(
    recordings: Path | None = typer.Option(None, "--recordings", help="Recording folders to use (default: synthetic)."),
    video: Path | None = typer.Option(None, "--video", help="Real RGB video: --count recordings of it, NIR = its gray version."),
    count: int = typer.Option(4, "--count", min=1, help="Synthetic recordings, or recordings of --video."),
    frames: int = typer.Option(100, "--frames", min=2, help="Frames per synthetic recording."),
    size: str = typer.Option("640x480", "--size", help="Synthetic frame size WxH."),
    workers: int = typer.Option(0, "--workers", min=0, help="Actors; 0 = one per CPU."),
    every: int = typer.Option(1, "--every", min=1, help="Keep one of every N paired frames (as dataset build)."),
    segment_seconds: float = typer.Option(2.0, "--segment-seconds", min=0.0, help="Segment length for both runs."),
    repeats: int = typer.Option(2, "--repeats", min=1, help="Runs of each; the best of each is reported."),
    form: str = typer.Option("video", "--form",
                             help="Recording form both runs read: video, or the recordings rewritten as "
                                  "ros1, ros2, ros2-mcap, mcap (bags) or images (PNG sequences)."),
    rgb_encoding: str = typer.Option("rgb8", "--rgb-encoding",
                                     help="RGB messages of the bag forms: rgb8, bgr8, bayer_rggb8, jpeg, png, ..."),
    vzeroupper: bool = typer.Option(True, "--vzeroupper/--no-vzeroupper",
                                    help="VZEROUPPER after each deflate in the ingest workers (off: to measure what it saves)."),
    address: str | None = typer.Option(None, "--address", help=ADDRESS_HELP),
) -> None:
    """Frames/s and pairs/s of the full ingest vs decode-only (goal: ingest ≥ 70% of decode)."""
    scratch = Path(tempfile.mkdtemp(prefix="nircolor-bench-ingest-"))
    try:
        if video is not None:
            if not video.is_file():
                fail(f"{video}: no such video")
            with console.status(f"writing {count} recordings of {video.name} with a gray NIR stream"):
                for index in range(count):
                    recording_from_video(video, scratch / "recordings" / f"video-{index}", f"video-{index}",
                                         day=f"day-{index}", location=f"location-{index}")
            recordings = scratch / "recordings"
        elif recordings is None:
            try:
                width, height = (int(part) for part in size.lower().split("x"))
            except ValueError:
                fail(f"--size {size!r}: expected WxH, e.g. 640x480")
            recordings = scratch / "recordings"
            with console.status(f"writing {count} synthetic recordings of {frames} frames at {width}x{height}"):
                synthesize_recordings(recordings, SynthOptions(count=count, frames=frames, width=width,
                                                               height=height, days=count, locations=count))
        elif not recordings.is_dir():
            fail(f"{recordings}: no such folder")
        if form != "video":
            if form not in FORMATS or rgb_encoding not in RGB_ENCODINGS:
                fail(f"--form {form!r} --rgb-encoding {rgb_encoding!r}: expected video or one of "
                     f"{', '.join(FORMATS)}, and one of {', '.join(RGB_ENCODINGS)}")
            recordings = _rewrite(recordings, scratch / form, ConvertOptions(form=form, rgb_encoding=rgb_encoding))
        init_ray(address)
        options = IngestOptions(every_frames=every, workers=workers or None, executor="ray", segment_seconds=segment_seconds or None,
                                eval_fraction=0.0 if count == 1 else 0.2)
        try:
            result = compare(recordings, scratch, options, repeats, status=console.status, vzeroupper=vzeroupper)
        except ValueError as error:
            fail(str(error))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    decode, summary, cpu_run = result.decode, result.ingest.summary, result.ingest_cpu
    decode_rate = decode.frames / decode.task_seconds
    ingest_rate = summary.frames_decoded / summary.seconds
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    # As this machine can run it (workers on other hosts of a cluster may differ), and as the option set it.
    vzeroupper_state = "not applicable" if not vector_state.AVAILABLE else "on" if vzeroupper else "off (--no-vzeroupper)"
    console.print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
                  f"load average {load:.1f}; {summary.workers} ingest workers, {decode.summary.workers} decode workers, "
                  f"best of {repeats}; VZEROUPPER after deflate: {vzeroupper_state}")
    console.print(f"decode only : {decode.frames} frames in {decode.task_seconds:.2f} s = {decode_rate:.1f} frames/s")
    console.print(f"full ingest : {summary.frames_decoded} frames, {summary.pairs_stored} pairs in "
                  f"{summary.seconds:.2f} s = {ingest_rate:.1f} frames/s, {summary.pairs_stored / summary.seconds:.1f} pairs/s "
                  f"(planning, pairing, sampling, registration, HDF5 writing, manifest)")
    stages = result.ingest.stage_seconds
    busy = sum(stages.values()) or 1.0
    console.print(f"ingest worker time {busy:.1f} s: " + ", ".join(
        f"{stage} {seconds:.2f} s ({seconds / busy:.0%})" for stage, seconds in sorted(stages.items(), key=lambda x: -x[1])))
    # CPU time per frame is what limits throughput once every core is busy, and unlike wall time it
    # barely moves when other programs share the machine.
    decode_cpu = result.decode_cpu_seconds
    ingest_cpu = cpu_run.worker_cpu_seconds + cpu_run.planning_cpu_seconds
    console.print(f"CPU time    : decode only {decode_cpu:.2f} s ({1e3 * decode_cpu / decode.frames:.1f} ms/frame), ingest "
                  f"{cpu_run.worker_cpu_seconds:.2f} s in workers + {cpu_run.planning_cpu_seconds:.2f} s planning "
                  f"({1e3 * ingest_cpu / cpu_run.frames:.1f} ms/frame); best of {repeats} each")
    for name, value in (("wall clock", result.wall_ratio), ("CPU time", result.cpu_ratio)):
        verdict = "[green]meets[/]" if value >= GOAL else "[red]misses[/]"
        console.print(f"ingest / decode by {name} = {value:.0%} ({verdict} the {GOAL:.0%} goal)")
