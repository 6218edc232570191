"""Recording folders (DESIGN "Data contracts": recording.json beside its videos, bag or image sequences).

`load_recording` reads and checks one folder and names the file and the problem in one sentence
when something is wrong; `find_recordings` lists the folders under a root that hold a recording.json,
and `find_unlabelled` the folders that hold drive files but no recording.json (a build reports them
instead of silently passing them by).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2

from nircolor.dataset_tools.bags import BagReader, bag_path
from nircolor.dataset_tools.calibration import parse_homography
from nircolor.dataset_tools.folders import leaves_folder, name_problem
from nircolor.dataset_tools.image_files import is_sequence, list_frames, named_by_stamps
from nircolor.dataset_tools.streams import STREAM_ERRORS, StreamSource, shifted
from nircolor.dataset_tools.video import count_streams

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
    nir_path: Path  # the NIR video, bag or frame sequence
    rgb_path: Path | None  # None only from load_recording(require_rgb=False) of a NIR-only folder
    nir_stream: int = 0  # index among the file's video streams
    rgb_stream: int = 0
    nir: StreamSource | None = None  # how to read each stream (every form of recording.json)
    rgb: StreamSource | None = None
    homography: tuple[float, ...] | None = None  # 3×3 row-major, RGB pixel → NIR pixel


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
    """Read `folder/recording.json` (any form of DESIGN "Data contracts") and check its files exist.

    `check_streams` also opens them (video streams present, bag topics present, frames listed).
    `require_rgb=False` also accepts a NIR-only folder ({"nir": ...} without "rgb"): colorize and
    temporal checks need no ground truth; its `rgb_path` and `rgb` are None.
    """
    folder = Path(folder)
    description = folder / RECORDING_FILE
    return parse_recording(folder, _read_description(description), check_streams=check_streams,
                           require_rgb=require_rgb)


def parse_recording(folder: str | os.PathLike, document: dict, *, check_streams: bool = True,
                    require_rgb: bool = True) -> Recording:
    """`load_recording` of a recording.json document not (yet) on disk, e.g. one `recordings scan` plans."""
    folder = Path(folder)
    description = folder / RECORDING_FILE
    form = "bag" if "bag" in document else "files" if ("nir" in document or "rgb" in document) else "video"
    nir_only = not require_rgb and form != "video" and not any(key in document for key in ("rgb", "rgb_topic"))
    required = ["id", "day", "location"] + {
        "bag": ["bag", "nir_topic"] + ([] if nir_only else ["rgb_topic"]),
        "files": ["nir"] + ([] if nir_only else ["rgb"]),
        "video": ["video", "nir_stream", "rgb_stream"]}[form]
    missing = [key for key in required if key not in document]
    if missing:
        raise RecordingError(f"{description}: missing key(s) {', '.join(missing)}")
    for key in ("id", "day", "location"):
        if not isinstance(document[key], str) or not document[key].strip():
            raise RecordingError(f"{description}: {key!r} must be a non-empty string")
    problem = name_problem(document["id"])
    if problem:
        raise RecordingError(f"{description}: id {document['id'][:60]!r} cannot name files: it {problem}")
    options = _stream_options(description, document)
    labels = ("nir",) if nir_only else ("nir", "rgb")
    if form == "bag":
        bags = _bag_files(folder, description, document["bag"])
        sources = {label: StreamSource("bag", str(bags[0]), topic=_string(description, document, f"{label}_topic"),
                                       log_time=options["log_time"], parts=tuple(map(str, bags[1:])))
                   for label in labels}
    elif form == "files":
        sources = {label: _file_source(folder, description, document, label) for label in labels}
    else:
        video = _inside(folder, description, document["video"])
        sources = {}
        for label in labels:
            index = document[f"{label}_stream"]
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise RecordingError(f"{description}: {label}_stream must be a stream index (0, 1, ...), got {index!r}")
            sources[label] = StreamSource("video", str(video), index=index)
    sources["nir"] = dataclasses.replace(sources["nir"], bits=options["nir_bits"])
    if "rgb" in sources:
        sources["rgb"] = shifted(sources["rgb"], options["rgb_offset_seconds"])
    for source in sources.values():
        if source.kind == "video" and not Path(source.path).is_file():
            raise RecordingError(f"{source.path}: file named in {description} is missing")
    if check_streams:
        for label, source in sources.items():
            _check_stream(label.upper(), source)
    nir, rgb = sources["nir"], sources.get("rgb")
    return Recording(folder=folder, id=document["id"], day=document["day"], location=document["location"],
                     nir_path=Path(nir.path), rgb_path=Path(rgb.path) if rgb else None, nir_stream=nir.index,
                     rgb_stream=rgb.index if rgb else 0, nir=nir, rgb=rgb, homography=options["homography"])


def _read_description(description: Path, what: str = "recording.json", expect: tuple = (dict,)):
    if not description.is_file():
        if what != "recording.json":
            raise RecordingError(f"{description}: {what} named in recording.json is missing")
        raise RecordingError(f"{description}: missing (a recording folder needs a recording.json)")
    try:
        document = json.loads(description.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RecordingError(f"{description}: not valid JSON ({getattr(error, 'msg', error)})") from None
    except RecursionError:
        raise RecordingError(f"{description}: not valid JSON (nested too deeply to parse)") from None
    except OSError as error:
        raise RecordingError(f"{description}: cannot read it ({error.strerror or error})") from None
    if not isinstance(document, expect):
        raise RecordingError(f"{description}: expected a JSON object, found {type(document).__name__}")
    return document


def _stream_options(description: Path, document: dict) -> dict:
    """The optional keys of every form: nir_bits, rgb_offset_seconds, homography, time."""
    bits = document.get("nir_bits")
    if bits is not None and (not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 16):
        raise RecordingError(f"{description}: nir_bits must be an integer from 1 to 16, got {bits!r}")
    offset = document.get("rgb_offset_seconds", 0.0)
    if not _finite_number(offset) or abs(offset) > 3600:
        raise RecordingError(f"{description}: rgb_offset_seconds must be a number of seconds, got {offset!r}")
    timing = document.get("time", "header")
    if timing not in ("header", "log"):
        raise RecordingError(f"{description}: time must be \"header\" (header.stamp) or \"log\", got {timing!r}")
    homography = None
    if document.get("homography") is not None:
        value, where = document["homography"], str(description)
        if isinstance(value, str):  # the name of a calibration file in the recording folder
            value, where = _calibration_file(_inside(description.parent, description, value))
        try:
            homography = tuple(float(number) for number in parse_homography(value, where).ravel())
        except ValueError as error:
            raise RecordingError(str(error)) from None
    return {"nir_bits": bits, "rgb_offset_seconds": float(offset), "log_time": timing == "log",
            "homography": homography}


def _calibration_file(path: Path) -> tuple[object, str]:
    """The matrix in a calibration file: JSON holding the 3×3 list, or an object with "homography";
    or OpenCV's own YAML/XML (cv2.FileStorage), a matrix node named "homography" or "H"."""
    if path.suffix.lower() in OPENCV_CALIBRATION_SUFFIXES:
        return _opencv_calibration(path), str(path)
    document = _read_description(path, what="calibration file", expect=(dict, list))
    if isinstance(document, dict):
        if "homography" not in document:
            raise RecordingError(f"{path}: calibration file has no \"homography\"")
        document = document["homography"]
    return document, str(path)


OPENCV_CALIBRATION_SUFFIXES = (".yaml", ".yml", ".xml")
_CALIBRATION_FILE_BYTES = 1 << 20  # a 3×3 matrix with comments; anything far larger is not one


def _opencv_calibration(path: Path) -> list:
    if not path.is_file():
        raise RecordingError(f"{path}: calibration file named in recording.json is missing")
    if path.stat().st_size > _CALIBRATION_FILE_BYTES:
        raise RecordingError(f"{path}: calibration file is over {_CALIBRATION_FILE_BYTES >> 20} MiB; not a calibration")
    # OpenCV reports a parse error as cv2.error, or as SystemError when it surfaces in the constructor.
    try:
        storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError):
        raise RecordingError(f"{path}: not an OpenCV YAML/XML file") from None
    try:
        for name in ("homography", "H"):
            node = storage.getNode(name)
            if node.empty():
                continue
            try:
                matrix = node.mat()
            except (cv2.error, SystemError):
                matrix = None
            if matrix is None:
                raise RecordingError(f"{path}: \"{name}\" is not an OpenCV matrix")
            return matrix.astype(float).tolist()
        raise RecordingError(f"{path}: calibration file has no \"homography\" (or \"H\") matrix")
    finally:
        storage.release()


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _string(description: Path, document: dict, key: str) -> str:
    value = document[key]
    if not isinstance(value, str) or not value:
        raise RecordingError(f"{description}: {key} must be a non-empty string, got {value!r}")
    return value


def _file_source(folder: Path, description: Path, document: dict, label: str) -> StreamSource:
    """A video file, or an image sequence (a folder of frames or a printf pattern) timed by a file or fps."""
    path = _inside(folder, description, document[label])
    if not is_sequence(path):
        return StreamSource("video", str(path))
    timestamps = document.get(f"{label}_timestamps")
    if timestamps is not None:
        return StreamSource("images", str(path), timestamps=str(_inside(folder, description, timestamps)))
    fps = document.get(f"{label}_fps", document.get("fps"))
    if fps is None and named_by_stamps(path):
        return StreamSource("images", str(path))  # frames named by their epoch stamps: the names time them
    if not _finite_number(fps) or not 0 < fps <= 10000:
        raise RecordingError(f"{description}: the image sequence {document[label]!r} needs "
                             f"\"{label}_timestamps\" (a file), a positive \"fps\", or frames named by their "
                             f"epoch stamps; got fps {fps!r}")
    return StreamSource("images", str(path), fps=float(fps))


MAX_BAG_PARTS = 10_000  # a split drive of days at 1 GiB a part stays far below this


def _bag_files(folder: Path, description: Path, value) -> list[Path]:
    """"bag": one bag, or the list of a bag's parts in recording order (`rosbag record --split`)."""
    names = value if isinstance(value, list) else [value]
    if not names or len(names) > MAX_BAG_PARTS:
        raise RecordingError(f"{description}: bag must name a bag or a list of 1 to {MAX_BAG_PARTS} bag files, "
                             f"got {len(names)}")
    bags = [bag_path(_inside(folder, description, name)) for name in names]
    if len(set(bags)) < len(bags):
        raise RecordingError(f"{description}: bag names the same file twice")
    for bag in bags:
        if not bag.exists():
            raise RecordingError(f"{bag}: bag named in {description} is missing")
    return bags


def _check_stream(label: str, source: StreamSource) -> None:
    try:
        if source.kind == "video":
            streams = count_streams(source.path)
            if source.index >= streams:
                raise RecordingError(f"{source.path}: has {streams} video stream(s), {label} stream {source.index} "
                                     f"is missing")
        elif source.kind == "bag":
            with BagReader(source.bag_files()) as reader:
                reader.topic(source.topic, label)
        else:
            list_frames(Path(source.path))
            if source.timestamps and not Path(source.timestamps).is_file():
                raise RecordingError(f"{source.timestamps}: timestamps file is missing")
    except STREAM_ERRORS as error:
        raise RecordingError(str(error)) from None


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
