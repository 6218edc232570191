"""What `colorize` reads: a recording folder (DESIGN: Recording, any form) or a bare NIR video file.

Turns each command-line input into a `ColorizeSource` naming the NIR stream (and the RGB ground
truth, when a recording has one) plus the output name, or one clear sentence saying why not.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nircolor.dataset_tools.folders import name_problem
from nircolor.dataset_tools.recording import RecordingError, load_recording
from nircolor.dataset_tools.streams import StreamSource


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
    nir: StreamSource | None = None  # a recording's streams (any form); None for a bare video file
    rgb: StreamSource | None = None
    homography: tuple[float, ...] | None = None  # a two-camera rig's RGB pixel → NIR pixel


def resolve_source(path: str | os.PathLike) -> ColorizeSource:
    """Recording folder (recording.json) or a bare NIR video file -> ColorizeSource."""
    path = Path(path)
    if path.is_dir():
        return _source_from_recording(path)
    if path.is_file():
        problem = name_problem(path.stem)
        if problem:
            raise SourceError(f"{path}: its name cannot name the outputs: {path.stem[:60]!r} {problem}; rename it")
        return ColorizeSource(name=path.stem, origin=str(path), nir_path=str(path))
    raise SourceError(f"{path}: no such file or recording folder")


def _source_from_recording(folder: Path) -> ColorizeSource:
    try:
        recording = load_recording(folder)
    except RecordingError as error:
        raise SourceError(str(error)) from None
    return ColorizeSource(
        name=recording.id, origin=str(folder), nir_path=str(recording.nir_path), nir_stream=recording.nir_stream,
        rgb_path=str(recording.rgb_path), rgb_stream=recording.rgb_stream, nir=recording.nir, rgb=recording.rgb,
        homography=recording.homography,
    )
