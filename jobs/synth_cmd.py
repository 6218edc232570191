"""`nircolor synth recordings | from-video`: write test recordings (DESIGN "Recording"): procedural
multi-CCD drives, or a real RGB video with its gray version as the NIR stream."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from nircolor.dataset_tools.synthetic import SynthOptions, recording_from_video, synthesize_recordings
from nircolor.dataset_tools.video import VideoError
from nircolor.jobs.runtime import console, fail

app = typer.Typer(help="Synthetic multi-CCD NIR/RGB drive recordings.", no_args_is_help=True, add_completion=False)


def _pair(text: str, name: str, kind=float) -> tuple:
    separator = "x" if name == "--size" else ","
    try:
        first, second = (kind(part) for part in text.lower().split(separator))
    except ValueError:
        fail(f"{name} {text!r}: expected two numbers separated by {separator!r}")
    return first, second


@app.command("recordings")
def recordings(
    out_dir: Path = typer.Argument(..., help="Folder that receives one sub-folder per recording."),
    count: int = typer.Option(4, "--count", min=1, help="Number of recordings."),
    frames: int = typer.Option(20, "--frames", min=1, help="Frames per recording."),
    size: str = typer.Option("160x120", "--size", help="Frame size WxH."),
    fps: float = typer.Option(25.0, "--fps", min=0.1, help="Frame rate of both streams."),
    days: int = typer.Option(2, "--days", min=1, help="Distinct recording days."),
    locations: int = typer.Option(2, "--locations", min=1, help="Distinct locations."),
    nir_bits: int = typer.Option(8, "--nir-bits", help="NIR bit depth: 8 (gray) or 16 (gray16le)."),
    drop_frames: int = typer.Option(0, "--drop-frames", min=0, help="Frames dropped from one stream per recording."),
    drop_stream: Literal["nir", "rgb"] = typer.Option("rgb", "--drop-stream",
                                    help="Stream that loses frames."),
    shift: str = typer.Option("0,0", "--shift", help="Misregistration DY,DX of the RGB camera in pixels."),
    drift: bool = typer.Option(False, "--drift", help="Shift ramps from 0 to --shift over each recording."),
    truncate: bool = typer.Option(False, "--truncate", help="Cut the last recording's RGB file in half."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same recordings)."),
) -> None:
    """Write synthetic drive recordings (recording.json + lossless FFV1 nir.mkv and rgb.mkv)."""
    width, height = _pair(size, "--size", int)
    if nir_bits not in (8, 16):
        fail(f"--nir-bits {nir_bits}: choose 8 or 16")
    if drop_stream not in ("nir", "rgb"):
        fail(f"--drop-stream {drop_stream!r}: choose nir or rgb")
    if width < 64 or height < 32:
        fail(f"--size {size}: frames must be at least 64x32 (the frame-number code needs the corner)")
    options = SynthOptions(
        count=count, frames=frames, width=width, height=height, fps=fps, days=days, locations=locations,
        nir_bits=nir_bits, drop_frames=drop_frames, drop_stream=drop_stream, shift=_pair(shift, "--shift"),
        drift=drift, truncate=truncate, seed=seed,
    )
    written = synthesize_recordings(
        out_dir, options, progress=lambda recording: console.print(
            f"{recording.folder}  {recording.day}  {recording.location}  "
            f"NIR {len(recording.nir_frames)} / RGB {len(recording.rgb_frames)} frames"
        ),
    )
    console.print(f"[bold]{len(written)} recordings[/] of {frames} frames at {width}x{height}, {fps:g} fps, "
                  f"{nir_bits}-bit NIR in {out_dir}")


@app.command("from-video")
def synth_from_video(
    video: Path = typer.Argument(..., help="An RGB video (any codec FFmpeg reads)."),
    out_dir: Path = typer.Argument(..., help="Folder to write the recording folders into."),
    count: int = typer.Option(1, "--count", min=1, help="Recordings, each with its own day and location."),
) -> None:
    """Recordings whose RGB stream is VIDEO (linked) and whose NIR stream is its gray version (FFV1)."""
    if not video.is_file():
        fail(f"{video}: no such video")
    stem = video.stem.replace(" ", "-")
    for index in range(count):
        try:
            folder = recording_from_video(video, out_dir / f"{stem}-{index}", f"{stem}-{index}",
                                          day=f"2020-01-{index + 1:02d}", location=f"location-{index + 1}")
        except VideoError as error:
            fail(str(error))
        console.print(f"{folder}  2020-01-{index + 1:02d}  location-{index + 1}")
    console.print(f"[bold]{count} recordings[/] of {video.name} (RGB) with its gray version (NIR) in {out_dir}")
