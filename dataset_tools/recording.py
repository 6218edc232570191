"""Recording folders (DESIGN "Data contracts": recording.json beside its NIR and RGB videos).

`load_recording` reads and checks one folder and names the file and the problem in one sentence
when something is wrong; `find_recordings` lists the folders under a root that hold a recording.json,
and `find_unlabelled` the folders that hold drive files but no recording.json (a build reports them
instead of silently passing them by).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import av

from nircolor.dataset_tools.folders import leaves_folder, name_problem
from nircolor.dataset_tools.video import VideoError, _reason, _video_stream, count_streams, open_input

RECORDING_FILE = "recording.json"
# Files a drive recorder writes: a folder holding one of these outside any recording folder is
# probably a recording whose recording.json is missing.
DRIVE_SUFFIXES = {".mkv", ".mp4", ".mov", ".m4v", ".avi", ".nut", ".ts", ".bag", ".mcap", ".db3"}


class RecordingError(ValueError):
    """A recording folder that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Recording:
    folder: Path
    id: str
    day: str
    location: str
    nir_path: Path
    rgb_path: Path | None  # None only from load_recording(require_rgb=False) of a NIR-only folder
    nir_stream: int = 0  # index among the file's video streams
    rgb_stream: int = 0


def find_recordings(root: str | os.PathLike) -> list[Path]:
    """Folders under `root` (or `root` itself) holding a recording.json, sorted by path."""
    root = Path(root)
    if (root / RECORDING_FILE).is_file():
        return [root]
    return sorted(path.parent for path in root.rglob(RECORDING_FILE))


def find_unlabelled(root: str | os.PathLike, recordings: list[Path]) -> list[Path]:
    """Folders under `root` holding drive files (videos, bags) but inside no folder of `recordings`."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = set()
    for path in root.rglob("*"):
        if path.suffix.lower() in DRIVE_SUFFIXES and path.is_file() and not any(
                path.parent == folder or folder in path.parents for folder in recordings):
            found.add(path.parent)
    return sorted(found)


def load_recording(folder: str | os.PathLike, *, check_streams: bool = True, require_rgb: bool = True) -> Recording:
    """Read `folder/recording.json` and check its files (and, optionally, their video streams) exist.

    `require_rgb=False` also accepts a NIR-only folder ({"nir": ...} without "rgb"): colorize and
    temporal checks need no ground truth; its `rgb_path` is None.
    """
    folder = Path(folder)
    description = folder / RECORDING_FILE
    if not description.is_file():
        raise RecordingError(f"{description}: missing (a recording folder needs a recording.json)")
    try:
        document = json.loads(description.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RecordingError(f"{description}: not valid JSON ({getattr(error, 'msg', error)})") from None
    except RecursionError:
        raise RecordingError(f"{description}: not valid JSON (nested too deeply to parse)") from None
    if not isinstance(document, dict):
        raise RecordingError(f"{description}: expected a JSON object, found {type(document).__name__}")
    two_files = "nir" in document or "rgb" in document
    nir_only = not require_rgb and "nir" in document and "rgb" not in document
    required = ["id", "day", "location"] + (
        (["nir"] if nir_only else ["nir", "rgb"]) if two_files else ["video", "nir_stream", "rgb_stream"])
    missing = [key for key in required if key not in document]
    if missing:
        raise RecordingError(f"{description}: missing key(s) {', '.join(missing)}")
    for key in ("id", "day", "location"):
        if not isinstance(document[key], str) or not document[key].strip():
            raise RecordingError(f"{description}: {key!r} must be a non-empty string")
    problem = name_problem(document["id"])
    if problem:
        raise RecordingError(f"{description}: id {document['id'][:60]!r} cannot name files: it {problem}")
    if two_files:
        nir_path = _inside(folder, description, document["nir"])
        rgb_path = None if nir_only else _inside(folder, description, document["rgb"])
        nir_stream = rgb_stream = 0
    else:
        nir_path = rgb_path = _inside(folder, description, document["video"])
        nir_stream, rgb_stream = document["nir_stream"], document["rgb_stream"]
        for name, value in (("nir_stream", nir_stream), ("rgb_stream", rgb_stream)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RecordingError(f"{description}: {name} must be a stream index (0, 1, ...), got {value!r}")
    for path in dict.fromkeys(path for path in (nir_path, rgb_path) if path is not None):
        if not path.is_file():
            raise RecordingError(f"{path}: file named in {description} is missing")
    if check_streams:
        for label, path, stream in (("NIR", nir_path, nir_stream), ("RGB", rgb_path, rgb_stream)):
            if path is None:
                continue
            try:
                streams = count_streams(path)
            except VideoError as error:
                raise RecordingError(str(error)) from None
            if stream >= streams:
                raise RecordingError(f"{path}: has {streams} video stream(s), {label} stream {stream} is missing")
    return Recording(folder=folder, id=document["id"], day=document["day"], location=document["location"],
                     nir_path=nir_path, rgb_path=rgb_path, nir_stream=nir_stream, rgb_stream=rgb_stream)


def _inside(folder: Path, description: Path, name) -> Path:
    """Resolve a file name from recording.json; it must stay inside the recording folder."""
    if not isinstance(name, str) or not name:
        raise RecordingError(f"{description}: file names must be non-empty strings, got {name!r}")
    way_out = leaves_folder(folder, name)
    if way_out:
        raise RecordingError(f"{description}: {name!r} {_LEAVES[way_out]}")
    return folder / name


_LEAVES = {"by name": "lies outside the recording folder", "by link": "is a link leading outside the recording folder",
           "by link loop": "cannot be resolved (a link loop)"}


def stream_times(path: str | os.PathLike, stream_index: int = 0) -> tuple[list[float], list[float]]:
    """(all frame times, keyframe times) in seconds, ascending, read from packets without decoding."""
    times: list[float] = []
    keyframes: list[float] = []
    with open_input(path) as container:
        stream = _video_stream(container, path, stream_index)
        try:
            for packet in container.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue  # the flush packet at the end carries no frame
                seconds = float(packet.pts * packet.time_base)
                times.append(seconds)
                if packet.is_keyframe:
                    keyframes.append(seconds)
        except av.FFmpegError as error:
            raise VideoError(f"{path}: reading packets failed ({_reason(error)})") from None
    return sorted(times), sorted(keyframes)
