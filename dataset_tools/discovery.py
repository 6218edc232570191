"""Find drive recordings under a folder and describe each in a recording.json (DESIGN "Data contracts").

The takes are recognised by discovery_takes.py; this module labels them. Day and location come from
a path template or an index file, the id from the folder's path or the index; ids must differ,
ignoring case. An existing recording.json is kept unless asked otherwise, and what is written
appears whole (dataset_tools/atomic.py).
"""
from __future__ import annotations

import csv
import datetime
import io
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.discovery_takes import DiscoveryError, Take, bag_topics, find_takes, per_camera_topics
from nircolor.dataset_tools.folders import MAX_NAME_BYTES, RESERVED_ENDING, leaves_folder, name_problem
from nircolor.dataset_tools.recording import RECORDING_FILE, RecordingError, parse_recording
from nircolor.dataset_tools.streams import STREAM_ERRORS, iter_source_frames, probe_source

DEFAULT_TEMPLATE = "{day}/{location}/{take}"
PLACEHOLDERS = ("day", "location", "take", "any")


@dataclass(frozen=True)
class ScanOptions:
    template: str = DEFAULT_TEMPLATE
    index: Path | None = None  # CSV or JSONL of path, day, location[, id]; used instead of the template
    nir: tuple[str, ...] = ()  # glob patterns; empty: discovery_takes.DEFAULT_PATTERNS
    rgb: tuple[str, ...] = ()
    fps: float | None = None  # for frame folders without timestamps.txt
    overwrite: bool = False
    dry_run: bool = False
    nir_bits: int | None = None  # written into every new recording.json ("nir_bits"); None: look and tell


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
    if options.nir_bits is not None and not 1 <= options.nir_bits <= 16:
        raise DiscoveryError(f"--nir-bits {options.nir_bits}: must be from 1 to 16")
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
                names = take.files["bag"] if isinstance(take.files["bag"], list) else [take.source.name]
                bags = [take.folder / name for name in names]
                if take.per_camera:
                    nir_topic, rgb_topic = per_camera_topics(bags, options.nir, options.rgb)
                else:
                    nir_topic, rgb_topic = bag_topics(bags, options.nir, options.rgb)
            except DiscoveryError as error:
                take.skip(f"{take.per_camera}; not one bag per camera either: {error}" if take.per_camera else str(error))
                continue
            take.files.update(nir_topic=nir_topic, rgb_topic=rgb_topic)
    _refuse_shared_ids(root, takes)
    for take in _pending(takes):
        if options.nir_bits is not None:
            take.files["nir_bits"] = options.nir_bits
        else:
            take.note = depth_note(take)
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


DEPTH_FRAMES = 8  # frames read from the start of a 16-bit NIR stream to see how many bits it uses


def depth_note(take: Take) -> str:
    """For NIR in a 16-bit container: a line saying how many bits its first frames use, when fewer.

    10- and 12-bit sensors are often stored in 16 bits; taken as 16-bit their frames reach only
    1/64 or 1/16 of the range. Only the user knows the camera (a dark night drive uses few bits
    too), so this is a note with the fix, not a value written on a guess. Unreadable streams are
    left to `dataset build` to report."""
    try:
        nir = parse_recording(take.folder, take.document, check_streams=False).nir
        if probe_source(nir).bits != 16:
            return ""
        largest, frames = 0, 0
        for frame in iter_source_frames(nir, "nir"):
            largest, frames = max(largest, int(frame.array.max())), frames + 1
            if frames >= DEPTH_FRAMES:
                break
    except (RecordingError, *STREAM_ERRORS, OSError):
        return ""
    used = max(largest.bit_length(), 1)
    if used >= 16 or used < 9:  # all 16 bits, or a frame too dark to tell anything
        return ""
    first = f"first {frames} frames use" if frames > 1 else "first frame uses"
    return (f"NIR is 16-bit, but its {first} {used} bits (largest value {largest}): "
            f"for a {used}-bit camera add \"nir_bits\": {used} (or scan with --nir-bits {used})")


def _pending(takes: list[Take]) -> list[Take]:
    return [take for take in takes if take.status == "found"]


def _resolve_existing(takes: list[Take], overwrite: bool) -> list[Take]:
    """A folder with a recording.json keeps it; with `overwrite` it is replaced by the folder's one take."""
    writable = {take.folder for take in takes if take.kind != "recording" and take.status == "found"}
    existing = {take.folder for take in takes if take.status == "exists"}
    if overwrite:
        return [take for take in takes if not (take.status == "exists" and take.folder in writable)]
    return [take for take in takes if take.status == "exists" or take.folder not in existing]


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
