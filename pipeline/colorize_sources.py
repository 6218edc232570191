"""What `colorize` reads: a recording folder (DESIGN: Recording) or a bare NIR video file.

Turns each command-line input into a `ColorizeSource` naming the NIR stream (and the RGB ground
truth, when a recording has one) plus the output name, or one clear sentence saying why not.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

VIDEO_SUFFIXES = {".mkv", ".mp4", ".mov", ".avi", ".nut", ".webm", ".m4v", ".ts", ".mts", ".y4m"}


class SourceError(ValueError):
    """An input that is neither a recording folder nor a readable video file."""


@dataclass(frozen=True)
class ColorizeSource:
    name: str  # output stem: recording id or the video's file stem
    origin: str  # the input as given
    nir_path: str
    nir_stream: int = 0
    rgb_path: str | None = None
    rgb_stream: int = 0


def resolve_source(path: str | os.PathLike) -> ColorizeSource:
    """Recording folder (recording.json) or a bare NIR video file -> ColorizeSource."""
    path = Path(path)
    if path.is_dir():
        return _source_from_recording(path)
    if path.is_file():
        return ColorizeSource(name=path.stem, origin=str(path), nir_path=str(path))
    raise SourceError(f"{path}: no such file or recording folder")


def _source_from_recording(folder: Path) -> ColorizeSource:
    try:
        from dataset_tools.recording import RecordingError, load_recording
    except ImportError:
        return _source_from_recording_json(folder)
    try:
        recording = load_recording(folder)
    except RecordingError as error:
        raise SourceError(str(error)) from None
    rgb_path = getattr(recording, "rgb_path", None)
    return ColorizeSource(
        name=str(getattr(recording, "id", None) or folder.name),
        origin=str(folder),
        nir_path=str(recording.nir_path),
        nir_stream=int(getattr(recording, "nir_stream", 0) or 0),
        rgb_path=str(rgb_path) if rgb_path else None,
        rgb_stream=int(getattr(recording, "rgb_stream", 0) or 0),
    )


def _source_from_recording_json(folder: Path) -> ColorizeSource:
    """Minimal reading of recording.json (two files, or one file with two streams)."""
    manifest = folder / "recording.json"
    if not manifest.is_file():
        raise SourceError(f"{folder}: not a recording folder (no recording.json)")
    try:
        document = json.loads(manifest.read_text())
    except json.JSONDecodeError as error:
        raise SourceError(f"{manifest}: invalid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(document, dict):
        raise SourceError(f"{manifest}: expected a JSON object")
    name = str(document.get("id") or folder.name)
    if "video" in document:
        video = folder / str(document["video"])
        if not video.is_file():
            raise SourceError(f"{manifest}: video file {video.name!r} is missing")
        has_rgb = document.get("rgb_stream") is not None
        return ColorizeSource(
            name=name, origin=str(folder), nir_path=str(video),
            nir_stream=int(document.get("nir_stream", 0)),
            rgb_path=str(video) if has_rgb else None, rgb_stream=int(document.get("rgb_stream") or 0),
        )
    if "nir" not in document:
        raise SourceError(f"{manifest}: names no NIR video (needs \"nir\" or \"video\")")
    nir = folder / str(document["nir"])
    if not nir.is_file():
        raise SourceError(f"{manifest}: NIR file {nir.name!r} is missing")
    rgb = folder / str(document["rgb"]) if document.get("rgb") else None
    return ColorizeSource(
        name=name, origin=str(folder), nir_path=str(nir),
        rgb_path=str(rgb) if rgb is not None and rgb.is_file() else None,
    )
