"""Find drive recordings under a folder and describe each in a recording.json (DESIGN "Data contracts").

A take is what one recording.json can describe: a NIR and an RGB video side by side, a bag (ROS 1
`.bag`, ROS 2 bag folder, plain `.mcap`) with a NIR and an RGB image topic, or a NIR and an RGB
folder of frames. The folder holding the files (for a bag folder: its parent) is the recording
folder. It holds one recording.json, so a folder with several takes is reported, never guessed at.
Day and location come from a path template or an index file. An existing recording.json is kept
unless asked otherwise, and what is written appears whole (dataset_tools/atomic.py).
"""
from __future__ import annotations

import csv
import datetime
import fnmatch
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.highlevel import AnyReader

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.folders import MAX_NAME_BYTES, RESERVED_ENDING, leaves_folder, name_problem
from nircolor.dataset_tools.recording import DRIVE_SUFFIXES, RECORDING_FILE

VIDEO_SUFFIXES = (".mkv", ".mp4", ".mov", ".avi", ".nut", ".ts", ".m4v")
BAG_SUFFIXES = (".bag", ".mcap")
FRAME_SUFFIXES = (".png", ".tif", ".tiff")
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
TIMESTAMPS_FILE = "timestamps.txt"
DEFAULT_TEMPLATE = "{day}/{location}/{take}"
PLACEHOLDERS = ("day", "location", "take", "any")

# --nir/--rgb patterns when none are given, per what they are matched against (case-insensitively).
DEFAULT_PATTERNS = {
    "videos": (("*nir*.*",), ("*rgb*.*",)),
    "frames": (("*nir*",), ("*rgb*",)),
    "topics": (("*nir*", "*ir*", "*infra*"), ("*rgb*", "*color*")),
}


class DiscoveryError(ValueError):
    """A scan that cannot start (bad template, index or option), or a bag that cannot be used."""


@dataclass(frozen=True)
class ScanOptions:
    template: str = DEFAULT_TEMPLATE
    index: Path | None = None  # CSV or JSONL of path, day, location[, id]; used instead of the template
    nir: tuple[str, ...] = ()  # glob patterns; empty: DEFAULT_PATTERNS
    rgb: tuple[str, ...] = ()
    fps: float | None = None  # for frame folders without timestamps.txt
    overwrite: bool = False
    dry_run: bool = False


@dataclass
class Take:
    kind: str  # "videos", "bag", "frames"; "recording" for an existing recording.json; "link" for a bad link
    folder: Path  # the recording folder: where recording.json goes
    source: Path  # what was found: the folder of the videos or frame folders, or the bag
    files: dict = field(default_factory=dict)  # recording.json's keys after id, day and location
    id: str = ""
    day: str = ""
    location: str = ""
    status: str = "found"  # then "written", "would write", "exists" or "skipped"
    problem: str = ""  # why it was skipped
    error: bool = False  # skipped for an error: the scan fails

    @property
    def document(self) -> dict:
        return {"id": self.id, "day": self.day, "location": self.location, **self.files}

    def skip(self, problem: str, error: bool = True) -> None:
        self.status, self.problem, self.error = "skipped", problem, error


@dataclass
class ScanResult:
    takes: list[Take]
    problems: list[str]  # index rows naming nothing usable: "FILE:LINE: problem"

    @property
    def failed(self) -> bool:
        return bool(self.problems) or any(take.error for take in self.takes)


def scan(root: str | os.PathLike, options: ScanOptions = ScanOptions()) -> ScanResult:
    """Find the takes under `root`, label them and write (or, dry, only plan) their recording.json."""
    root = Path(root)
    if not root.is_dir():
        raise DiscoveryError(f"{root}: not a folder")
    if options.fps is not None and not (math.isfinite(options.fps) and options.fps > 0):
        raise DiscoveryError(f"--fps {options.fps}: must be a positive frame rate")
    template = None if options.index else parse_template(options.template)
    rows, problems = read_index(options.index) if options.index else ([], [])
    takes = _resolve_existing(find_takes(root, options.nir, options.rgb, options.fps), options.overwrite)
    if options.index:
        problems += _label_from_index(root, takes, rows)
    else:
        for take in _pending(takes):
            _label_from_template(root, take, template, options.template)
    for take in _pending(takes):
        if take.kind == "bag":
            try:
                nir_topic, rgb_topic = bag_topics(take.source, options.nir, options.rgb)
            except DiscoveryError as error:
                take.skip(str(error))
                continue
            take.files.update(nir_topic=nir_topic, rgb_topic=rgb_topic)
    _refuse_shared_ids(root, takes)
    for take in _pending(takes):
        if options.dry_run:
            take.status = "would write"
            continue
        if not options.overwrite and (take.folder / RECORDING_FILE).exists():
            take.status = "exists"  # written by someone else while this scan read bags
            continue
        try:
            atomic.write_json(take.folder / RECORDING_FILE, take.document)
        except OSError as error:
            take.skip(f"cannot write {RECORDING_FILE} ({error.strerror or error})")
            continue
        take.status = "written"
    return ScanResult(takes, problems)


def _pending(takes: list[Take]) -> list[Take]:
    return [take for take in takes if take.status == "found"]


# --- finding ---------------------------------------------------------------------------------------


def find_takes(root: str | os.PathLike, nir: tuple[str, ...] = (), rgb: tuple[str, ...] = (),
               fps: float | None = None) -> list[Take]:
    """Every take under `root` in path order, and one "recording" entry per existing recording.json.

    Takes that cannot be written (several in one folder, an unpaired video, frames without times)
    come back skipped with the reason. Folders below an existing recording belong to it (as in
    `find_unlabelled`) and are not searched; neither are hidden folders and ROS 2 bag folders.
    """
    root = Path(root)
    if _is_bag_folder(root):
        take = Take("bag", root.parent, root)
        take.skip("a ROS 2 bag folder: scan the folder that holds it (its recording folder)")
        return [take]
    takes = []
    for folder, subfolders, files in os.walk(root):
        folder = Path(folder)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        files = sorted(name for name in files if not name.startswith("."))
        found, used = _takes_in(folder, subfolders, files, nir, rgb, fps)
        if RECORDING_FILE in files:
            takes.append(_existing(folder))
            subfolders.clear()
        else:
            subfolders[:] = [name for name in subfolders if name not in used]
        takes += found
    return takes


def _takes_in(folder: Path, subfolders: list[str], files: list[str], nir, rgb, fps) -> tuple[list[Take], set[str]]:
    """The takes of one folder, and the subfolders they use (bag and frame folders: not searched)."""
    takes, leftovers = [], []
    # recording.json may name only what stays inside its folder (load_recording refuses the rest).
    # Linked folders are passed by quietly, as os.walk passes them, unless they hold a bag.
    files = [name for name in files if Path(name).suffix.lower() in DRIVE_SUFFIXES]
    for name in [*files, *subfolders]:
        problem = _link_problem(folder, name)
        if problem:
            is_file = name in files
            (files if is_file else subfolders).remove(name)
            if is_file or _is_bag_folder(folder / name):
                leftovers.append(Take("link", folder, folder / name, error=True, problem=problem))
    videos = [name for name in files if Path(name).suffix.lower() in VIDEO_SUFFIXES]
    pairs, unpaired = _pair(videos, nir or DEFAULT_PATTERNS["videos"][0], rgb or DEFAULT_PATTERNS["videos"][1], "video")
    for nir_name, rgb_name in pairs:
        takes.append(Take("videos", folder, folder, {"nir": nir_name, "rgb": rgb_name}))
    leftovers += [Take("videos", folder, folder / name, problem=why) for name, why in unpaired]
    for name in files:
        suffix = Path(name).suffix.lower()
        if suffix in BAG_SUFFIXES:
            takes.append(Take("bag", folder, folder / name, {"bag": name}))
        elif suffix == ".db3":
            leftovers.append(Take("bag", folder, folder / name, error=True,
                                  problem="a .db3 file outside a ROS 2 bag folder (no metadata.yaml beside it)"))
    bags = [name for name in subfolders if _is_bag_folder(folder / name)]
    takes += [Take("bag", folder, folder / name, {"bag": name}) for name in bags]
    nir_frames, rgb_frames = nir or DEFAULT_PATTERNS["frames"][0], rgb or DEFAULT_PATTERNS["frames"][1]
    frame_folders = [name for name in subfolders if name not in bags and (
        _matches(name, nir_frames) or _matches(name, rgb_frames)) and _holds_frames(folder / name)]
    pairs, unpaired = _pair(frame_folders, nir_frames, rgb_frames, "frame folder")
    for nir_name, rgb_name in pairs:
        takes.append(_frames_take(folder, nir_name, rgb_name, fps))
    leftovers += [Take("frames", folder, folder / name, problem=why) for name, why in unpaired]
    if len(takes) > 1:
        names = ", ".join(_what(take) for take in takes)
        for take in takes:
            take.skip(f"one of {len(takes)} takes in one folder ({names}); a folder holds one {RECORDING_FILE}: "
                      "move each take into a folder of its own")
    leftovers.sort(key=lambda take: take.source.name)
    for take in leftovers:
        take.skip(take.problem, take.error)
    used = set(bags) | {take.files[key] for take in takes if take.kind == "frames" for key in ("nir", "rgb")}
    return takes + leftovers, used


def _frames_take(folder: Path, nir_name: str, rgb_name: str, fps: float | None) -> Take:
    take = Take("frames", folder, folder, {"nir": nir_name, "rgb": rgb_name})
    timed = [(folder / name / TIMESTAMPS_FILE).is_file() for name in (nir_name, rgb_name)]
    if all(timed):
        take.files.update(nir_timestamps=f"{nir_name}/{TIMESTAMPS_FILE}",
                          rgb_timestamps=f"{rgb_name}/{TIMESTAMPS_FILE}")
    elif any(timed):
        untimed = rgb_name if timed[0] else nir_name
        take.skip(f"{untimed}/{TIMESTAMPS_FILE} is missing (its partner folder has one)")
    elif fps is None:
        take.skip(f"no {TIMESTAMPS_FILE} in {nir_name}/ and {rgb_name}/: give the frame rate with --fps")
    else:
        take.files["fps"] = float(fps)
    return take


def _pair(names: list[str], nir: tuple[str, ...], rgb: tuple[str, ...], what: str):
    """([(nir, rgb)], [(name, why unpaired)]). Several pairs are matched by what is left of each name
    without its NIR/RGB marker (front_nir.mkv ↔ front_rgb.mkv); a single pair needs no match."""
    nirs = [name for name in names if _matches(name, nir) and not _matches(name, rgb)]
    rgbs = [name for name in names if _matches(name, rgb) and not _matches(name, nir)]
    unpaired = [(name, f"{what} name matches " + ("both --nir and --rgb" if _matches(name, nir) else
                                                  "neither --nir nor --rgb"))
                for name in names if name not in nirs and name not in rgbs]
    if len(nirs) == 1 and len(rgbs) == 1:
        return [(nirs[0], rgbs[0])], unpaired
    rgb_by_key = {}
    for name in rgbs:
        rgb_by_key.setdefault(_key(name, rgb), []).append(name)
    pairs = []
    for name in nirs:
        partners = rgb_by_key.get(_key(name, nir), [])
        if len(partners) == 1 and sum(_key(other, nir) == _key(name, nir) for other in nirs) == 1:
            pairs.append((name, partners[0]))
    paired = {name for pair in pairs for name in pair}
    unpaired += [(name, f"NIR {what} without an RGB partner") for name in nirs if name not in paired]
    unpaired += [(name, f"RGB {what} without a NIR partner") for name in rgbs if name not in paired]
    return pairs, unpaired


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), pattern.lower()) for pattern in patterns)


def _key(name: str, patterns: tuple[str, ...]) -> str:
    """`name` without its suffix and without the marker (longest literal part) of the pattern it matches."""
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in VIDEO_SUFFIXES else name
    pattern = next(pattern for pattern in patterns if fnmatch.fnmatchcase(name.lower(), pattern.lower()))
    marker = max(re.split(r"[*?\[\]]+", pattern.lower()), key=len).strip(".")
    return stem.lower().replace(marker, "", 1) if marker else stem.lower()


def _link_problem(folder: Path, name: str) -> str | None:
    if leaves_folder(folder, name):
        return "is a link leading outside its folder (a recording.json may name only files inside it)"
    if not (folder / name).exists():
        return "is a broken link"
    return None


def _is_bag_folder(path: Path) -> bool:
    try:
        return (path / "metadata.yaml").is_file() and any(
            entry.suffix.lower() in (".db3", ".mcap") for entry in path.iterdir())
    except OSError:
        return False


def _holds_frames(path: Path) -> bool:
    try:
        with os.scandir(path) as entries:  # stops at the first frame: such folders hold many
            return any(Path(entry.name).suffix.lower() in FRAME_SUFFIXES for entry in entries)
    except OSError:
        return False


def _existing(folder: Path) -> Take:
    """An existing recording.json as a "recording" entry, labelled from its own content."""
    take = Take("recording", folder, folder, status="exists")
    try:
        document = json.loads((folder / RECORDING_FILE).read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        document = None
    if isinstance(document, dict):
        take.kind = kind_of(document)
        take.id, take.day, take.location = (str(document.get(key, "")) for key in ("id", "day", "location"))
        take.files = {key: value for key, value in document.items() if key not in ("id", "day", "location")}
    return take


def kind_of(document: dict) -> str:
    """Which recording form a recording.json describes."""
    if "bag" in document:
        return "bag"
    if "video" in document:
        return "video"
    if "fps" in document or "nir_timestamps" in document:
        return "frames"
    return "videos"


def _resolve_existing(takes: list[Take], overwrite: bool) -> list[Take]:
    """A folder with a recording.json keeps it; with `overwrite` it is replaced by the folder's one take."""
    writable = {take.folder for take in takes if take.kind != "recording" and take.status == "found"}
    existing = {take.folder for take in takes if take.status == "exists"}
    if overwrite:
        return [take for take in takes if not (take.status == "exists" and take.folder in writable)]
    return [take for take in takes if take.status == "exists" or take.folder not in existing]


def _what(take: Take) -> str:
    return take.source.name if take.source != take.folder else f"{take.files['nir']} + {take.files['rgb']}"


# --- labelling -------------------------------------------------------------------------------------


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def parse_template(template: str) -> re.Pattern:
    """'{day}/{location}/{take}' → a pattern matching a recording folder's path below the root.

    {day}, {location} and {take} match within one path part, {any} across parts."""
    text = template.strip().strip("/")
    parts, seen, position = [], set(), 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append(_literal(text[position:match.start()], template))
        name = match.group(1)
        if name not in PLACEHOLDERS:
            raise DiscoveryError(f"--template {template!r}: unknown placeholder {{{name}}}; use "
                                 + ", ".join(f"{{{known}}}" for known in PLACEHOLDERS))
        if name in seen:
            raise DiscoveryError(f"--template {template!r}: {{{name}}} appears twice")
        if name != "any":
            seen.add(name)
        # Lazy: in '{day}_{location}' the day ends at the first '_', the location takes the rest.
        parts.append(".+?" if name == "any" else f"(?P<{name}>[^/]+?)")
        position = match.end()
    parts.append(_literal(text[position:], template))
    missing = [name for name in ("day", "location") if name not in seen]
    if missing:
        raise DiscoveryError(f"--template {template!r}: needs " + " and ".join(f"{{{name}}}" for name in missing)
                             + " (or give day and location with --index)")
    return re.compile("".join(parts))


def _literal(text: str, template: str) -> str:
    if "{" in text or "}" in text:
        raise DiscoveryError(f"--template {template!r}: a brace without its partner")
    return re.escape(text)


def day_problem(day: str) -> str | None:
    """Why `day` is not a YYYY-MM-DD date, or None."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        return f"day {day!r} is not YYYY-MM-DD"
    try:
        datetime.date.fromisoformat(day)
    except ValueError:
        return f"day {day!r} is no date"
    return None


def make_id(text: str) -> str:
    """A relative path as a recording id: '/' → '-', and whatever else `name_problem` refuses repaired."""
    name = re.sub(r"[/\\\x00-\x1f\x7f]+", "-", text).strip("-").lstrip(".").strip()
    while len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        name = name[:-1]
    if name.casefold().endswith(RESERVED_ENDING):
        name = name[: -len(RESERVED_ENDING)] + "-review"
    return name or "recording"


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()  # "." for the root itself


def _label(take: Take, root: Path, day: str, location: str, recording_id: str | None) -> None:
    relative = _relative(root, take.folder)
    take.day, take.location = day.strip(), location.strip()
    take.id = recording_id if recording_id is not None else make_id(
        relative if relative != "." else root.resolve().name)
    problem = day_problem(take.day) or (None if take.location else "location is empty")
    if not problem and name_problem(take.id):
        problem = f"id {take.id[:60]!r} cannot name files: it {name_problem(take.id)}"
    if problem:
        take.skip(problem)


def _label_from_template(root: Path, take: Take, pattern: re.Pattern, template: str) -> None:
    relative = _relative(root, take.folder)
    match = pattern.fullmatch(relative)
    if not match:
        take.skip(f"folder {relative!r} does not match --template {template!r}")
        return
    _label(take, root, match["day"], match["location"], None)


@dataclass(frozen=True)
class IndexRow:
    where: str  # "FILE:LINE", for messages
    path: str
    day: str
    location: str
    id: str | None


def read_index(path: str | os.PathLike) -> tuple[list[IndexRow], list[str]]:
    """Rows of a CSV (with a header) or JSONL index, and one problem line per unusable row.

    JSONL when the file ends in .jsonl/.ndjson or (not .csv) starts with '{'; else CSV."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets write a byte-order mark
    except (OSError, UnicodeDecodeError) as error:
        raise DiscoveryError(f"{path}: cannot read the index ({getattr(error, 'strerror', None) or error})") from None
    suffix = path.suffix.lower()
    records, problems = [], []
    if suffix in (".jsonl", ".ndjson") or (suffix != ".csv" and text.lstrip().startswith("{")):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                problems.append(f"{path}:{number}: not a JSON object")
                continue
            if not isinstance(record, dict):
                problems.append(f"{path}:{number}: not a JSON object")
                continue
            records.append((number, record))
    else:
        try:
            reader = csv.DictReader(io.StringIO(text))
            fields = [name.strip() for name in reader.fieldnames or []]
            missing = [name for name in ("path", "day", "location") if name not in fields]
            if missing:
                raise DiscoveryError(f"{path}: the index needs a header with the columns path, day, location "
                                     f"(and optionally id); {', '.join(missing)} missing")
            reader.fieldnames = fields
            for row in reader:
                records.append((reader.line_num, row))
        except csv.Error as error:
            raise DiscoveryError(f"{path}: not a readable CSV ({error})") from None
    rows = []
    for number, record in records:
        values = {key: record.get(key) for key in ("path", "day", "location", "id")}
        wrong = [key for key in ("path", "day", "location")
                 if not isinstance(values[key], str) or not values[key].strip()]
        if wrong or not isinstance(values["id"], (str, type(None))):
            problems.append(f"{path}:{number}: needs path, day and location as non-empty text"
                            + (f" ({', '.join(wrong)} is not)" if wrong else " (and id as text)"))
            continue
        rows.append(IndexRow(f"{path}:{number}", values["path"].strip(), values["day"], values["location"],
                             (values["id"] or "").strip() or None))
    return rows, problems


def _label_from_index(root: Path, takes: list[Take], rows: list[IndexRow]) -> list[str]:
    """Label takes from their index rows. Takes without one are skipped, not as an error even when
    broken: the index chose the others. Returns the problems of rows naming no take."""
    by_path: dict[str, list[Take]] = {}
    for take in takes:  # a row may name the recording folder, or the bag
        for path in dict.fromkeys((take.source, take.folder)):
            by_path.setdefault(_relative(root, path), []).append(take)
    problems, labelled = [], {}
    for row in rows:
        if leaves_folder(root, row.path):
            problems.append(f"{row.where}: path {row.path!r} lies outside {root}")
            continue
        relative = Path(os.path.normpath(row.path)).as_posix()
        if not (root / relative).exists():
            problems.append(f"{row.where}: path {row.path!r}: no such file or folder in {root}")
            continue
        candidates = [take for take in by_path.get(relative, []) if take.status != "skipped" or take.error]
        if not candidates:
            problems.append(f"{row.where}: path {row.path!r} holds no recording the scan could find")
            continue
        for take in candidates:
            if id(take) in labelled:
                take.skip(f"listed twice in the index ({labelled[id(take)]} and {row.where})")
                continue
            labelled[id(take)] = row.where
            if take.status == "found":
                _label(take, root, row.day, row.location, row.id)
    for take in takes:
        if (take.status == "found" or take.error) and id(take) not in labelled:
            take.skip("not listed in --index", error=False)
    return problems


def _refuse_shared_ids(root: Path, takes: list[Take]) -> None:
    """Ids are file names in a dataset and must differ case-insensitively (macOS, Windows)."""
    holders: dict[str, list[Take]] = {}
    for take in takes:
        if take.id and take.status in ("found", "exists"):
            holders.setdefault(take.id.casefold(), []).append(take)
    for sharing in holders.values():
        if len(sharing) < 2:
            continue
        for take in sharing:
            if take.status == "found":
                others = ", ".join(repr(_relative(root, other.folder)) for other in sharing if other is not take)
                take.skip(f"id {take.id!r} is also the id of {others} (ids must differ, ignoring case)")


# --- bags ------------------------------------------------------------------------------------------


def bag_topics(path: str | os.PathLike, nir: tuple[str, ...] = (), rgb: tuple[str, ...] = ()) -> tuple[str, str]:
    """(NIR topic, RGB topic) of a bag: the image topics with messages that the patterns choose."""
    counts: dict[str, int] = {}
    try:
        with AnyReader([Path(path)]) as reader:
            for connection in reader.connections:
                if connection.msgtype in IMAGE_TYPES:
                    counts[connection.topic] = counts.get(connection.topic, 0) + connection.msgcount
    except Exception as error:  # noqa: BLE001 - parsers of damaged bags raise anything; one line, not a traceback
        reason = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise DiscoveryError(f"cannot read the bag ({reason})") from None
    topics = sorted(topic for topic, count in counts.items() if count)
    if len(topics) < 2:
        raise DiscoveryError(f"needs a NIR and an RGB image topic (sensor_msgs Image or CompressedImage, with "
                             f"messages); found {', '.join(topics) or 'none'}")
    nir, rgb = nir or DEFAULT_PATTERNS["topics"][0], rgb or DEFAULT_PATTERNS["topics"][1]
    return _choose(topics, nir, rgb, "--nir"), _choose(topics, rgb, nir, "--rgb")


def _choose(topics: list[str], patterns: tuple[str, ...], others: tuple[str, ...], option: str) -> str:
    found = [topic for topic in topics if _matches(topic, patterns) and not _matches(topic, others)]
    # image_transport publishes `<topic>/compressed` beside `<topic>`: the topic itself is the stream.
    found = [topic for topic in found if not any(topic.startswith(other + "/") for other in found)]
    if len(found) != 1:
        raise DiscoveryError(f"{'several' if found else 'no'} image topics match {option} {' '.join(patterns)}"
                             f"{' (' + ', '.join(found) + ')' if found else ''}; the image topics are "
                             f"{', '.join(topics)}")
    return found[0]
