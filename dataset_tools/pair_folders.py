"""Import folders of still NIR/RGB pairs (`<name>_nir.png` + `<name>_rgb.png`, or any frame-file format
of image_files.IMAGE_SUFFIXES, e.g. `_nir.tif` + `_rgb.jpg`) as a dataset.

Same shards, manifest, splits and registration check as `dataset build` (paper §4: registered
pairs): each pair's residual shift is measured, corrected when small, rejected when beyond the
bound, and stored with its score. Pairs may differ in size, so each (recording, size) gets a shard.
"""
from __future__ import annotations

import csv
import fnmatch
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from nircolor.dataset_tools.image_files import IMAGE_SUFFIXES, file_header_size
from nircolor.dataset_tools.manifest import ManifestError, read_manifest, write_manifest
from nircolor.dataset_tools.pair_sink import PairSink
from nircolor.dataset_tools.registration import RegistrationPolicy, summarize_shifts
from nircolor.dataset_tools.shards import SPLITS, ShardWriter
from nircolor.dataset_tools.splits import SplitError, assign_splits, split_groups
from nircolor.dataset_tools.writer_lock import WriterBusy, writer_lock
from nircolor.dataset_tools.video import check_frame_size

NIR_SUFFIX = "_nir"  # then a frame-file extension (image_files.IMAGE_SUFFIXES)
RGB_SUFFIX = "_rgb"


class PairImportError(ValueError):
    """The import cannot start (bad source, mapping or options); the message names the file and the problem."""


@dataclass(frozen=True)
class PairFile:
    name: str  # path of the pair relative to the source, without the suffix (e.g. "val/validation_0003")
    nir: Path
    rgb: Path | None


@dataclass
class ImportResult:
    dataset_dir: Path
    manifest_path: Path
    shards: list[dict]
    recordings: dict[str, dict]
    registration: dict  # summary over every measured pair of this import
    warnings: list[str] = field(default_factory=list)


def find_pairs(source: str | os.PathLike) -> list[PairFile]:
    """Every `<name>_nir.png` under `source` (recursively) with its RGB partner (None when missing)."""
    source = Path(source)
    if not source.is_dir():
        raise PairImportError(f"{source}: not a folder of <name>_nir.png / <name>_rgb.png pairs")
    pairs, seen = [], {}
    for nir in sorted(path for path in source.rglob(f"*{NIR_SUFFIX}.*") if _frame_file(path, NIR_SUFFIX)):
        name = nir.relative_to(source).as_posix()[: -len(NIR_SUFFIX + nir.suffix)]
        if name in seen:
            raise PairImportError(f"{nir}: {seen[name].name} is the NIR image of the same pair; keep one of them")
        seen[name] = nir
        stem = nir.name[: -len(NIR_SUFFIX + nir.suffix)]
        # The RGB partner in the same format first, else in any other.
        candidates = [nir.with_name(stem + RGB_SUFFIX + nir.suffix)] + [
            nir.with_name(stem + RGB_SUFFIX + suffix) for suffix in sorted(IMAGE_SUFFIXES) if suffix != nir.suffix.lower()]
        rgb = next((path for path in candidates if path.is_file()), None)
        pairs.append(PairFile(name, nir, rgb))
    if not pairs:
        raise PairImportError(f"{source}: no <name>{NIR_SUFFIX}.png (.tif, .pgm, .jpg, ...) files found")
    return pairs


def _frame_file(path: Path, suffix: str) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.stem.endswith(suffix) and path.is_file()


def read_mapping(path: str | os.PathLike) -> list[tuple[str, dict]]:
    """Pattern → {"day", "location"[, "split"]} from JSON ({pattern: {...}}) or CSV (name,day,location[,split]).

    Patterns are matched against pair names with fnmatch (`*` allowed); the first match wins.
    """
    path = Path(path)
    if not path.is_file():
        raise PairImportError(f"{path}: mapping file not found")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise PairImportError(f"{path}: mapping must be a JSON object {{name: {{day, location}}}}")
            rows = list(data.items())
        else:
            with open(path, newline="") as handle:
                reader = csv.DictReader(handle)
                if not reader.fieldnames or not {"name", "day", "location"} <= set(reader.fieldnames):
                    raise PairImportError(f"{path}: mapping CSV needs the columns name, day, location")
                rows = [(row["name"], row) for row in reader]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as error:
        raise PairImportError(f"{path}: cannot read mapping ({error})") from None
    mapping = []
    for pattern, entry in rows:
        if not isinstance(entry, dict) or not entry.get("day") or not entry.get("location"):
            raise PairImportError(f"{path}: entry {pattern!r} needs a day and a location")
        split = entry.get("split") or None
        if split is not None and split not in SPLITS:
            raise PairImportError(f"{path}: entry {pattern!r} has split {split!r}; use train or eval")
        mapping.append((str(pattern), {"day": str(entry["day"]), "location": str(entry["location"]), "split": split}))
    return mapping


def _lookup(mapping, name: str) -> dict | None:
    base = name.rsplit("/", 1)[-1]
    for pattern, entry in mapping:
        if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(base, pattern):
            return entry
    return None


def _slug(text: str) -> str:
    # A file-name part: no leading dots (hidden files, `..`), and short enough for any file system.
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:100] or "pairs"


def read_pair(pair: PairFile) -> tuple[np.ndarray, np.ndarray, int]:
    """(nir (H,W) uint8|uint16, rgb (H,W,3) uint8, nir_bits); ValueError names the file on bad input."""
    for path in (pair.nir, pair.rgb):
        try:
            size = file_header_size(path)
        except OSError:
            size = None  # cv2.imread below reports the file
        if size:
            check_frame_size(path, *size, ValueError)  # before decoding: a header may claim any size
    nir = cv2.imread(str(pair.nir), cv2.IMREAD_UNCHANGED)
    if nir is None:
        raise ValueError(f"{pair.nir}: cannot decode image")
    if nir.ndim == 3:
        nir = nir[..., 0]  # a gray image saved with colour channels: they are equal
    if nir.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{pair.nir}: NIR must be 8- or 16-bit, got {nir.dtype}")
    rgb = cv2.imread(str(pair.rgb), cv2.IMREAD_COLOR)
    if rgb is None:
        raise ValueError(f"{pair.rgb}: cannot decode image")
    check_frame_size(pair.nir, nir.shape[1], nir.shape[0], ValueError)  # formats without a PNG header
    rgb = cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB)
    if rgb.shape[:2] != nir.shape:
        raise ValueError(f"{pair.rgb}: RGB is {rgb.shape[1]}×{rgb.shape[0]}, NIR is {nir.shape[1]}×{nir.shape[0]}")
    return nir, rgb, 8 if nir.dtype == np.uint8 else 16


def import_pair_folder(source: str | os.PathLike, dataset_dir: str | os.PathLike, **options) -> ImportResult:
    """`_import_pair_folder` holding the dataset's writer lock: a concurrent build or import refuses at once."""
    try:
        with writer_lock(dataset_dir, "dataset import-pairs"):
            return _import_pair_folder(source, dataset_dir, **options)
    except WriterBusy as error:
        raise PairImportError(str(error)) from None


def _import_pair_folder(
    source: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    *,
    day: str | None = None,
    location: str | None = None,
    mapping: str | os.PathLike | None = None,
    split: str | None = None,
    eval_fraction: float = 0.2,
    split_by: str = "day-location",
    policy: RegistrationPolicy | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImportResult:
    """Import the pairs under `source` into `dataset_dir` (created or extended) and rewrite its manifest.

    One recording per (source folder, day, location). `split`: train, eval, or auto (components of
    the day–location graph, see splits.py); default: auto with a mapping, train without.
    Re-importing a recording id replaces its shards.
    """
    source = Path(source)
    dataset_dir = Path(dataset_dir)
    policy = policy or RegistrationPolicy()
    split = split or ("auto" if mapping else "train")
    if split not in (*SPLITS, "auto"):
        raise PairImportError(f"split must be train, eval or auto, got {split!r}")
    if mapping and (day or location):
        raise PairImportError("give either --day/--location or --mapping, not both")
    pairs = find_pairs(source)
    rules = read_mapping(mapping) if mapping else [("*", {"day": day or "unknown", "location": location or source.name, "split": None})]
    prefix = _slug(source.resolve().name)

    # Recording of each pair: (day, location) under this source folder.
    recordings: dict[str, dict] = {}
    pair_recording: dict[str, str] = {}
    unmapped = []
    for pair in pairs:
        entry = _lookup(rules, pair.name)
        if entry is None:
            unmapped.append(pair.name)
            continue
        recording_id = prefix if not mapping else f"{prefix}-{_slug(entry['day'])}-{_slug(entry['location'])}"
        record = recordings.setdefault(recording_id, {
            "source": str(source.resolve()), "day": entry["day"], "location": entry["location"],
            "kind": "pair-folder", "forced_split": entry["split"],
        })
        if entry["split"] and record["forced_split"] and entry["split"] != record["forced_split"]:
            raise PairImportError(f"{mapping}: pairs of day {entry['day']}, location {entry['location']} are mapped to both splits")
        record["forced_split"] = record["forced_split"] or entry["split"]
        pair_recording[pair.name] = recording_id
    if unmapped:
        shown = ", ".join(unmapped[:3]) + (" …" if len(unmapped) > 3 else "")
        raise PairImportError(f"{mapping}: {len(unmapped)} pairs have no day/location entry ({shown})")

    existing_manifest = _existing_manifest(dataset_dir)
    pair_counts = {recording_id: 0 for recording_id in recordings}
    for recording_id in pair_recording.values():
        pair_counts[recording_id] += 1
    assignment = _assign(recordings, split, eval_fraction, split_by, pair_counts)
    for recording_id, record in recordings.items():
        record["split"] = assignment[recording_id]
        del record["forced_split"]
        record.update(pairs_seen=0, pairs_imported=0, corrected=0, rejected={})
        record["rejected_pairs"] = {}

    sinks = {recording_id: PairSink(_writer_opener(dataset_dir, recording_id, record), policy)
             for recording_id, record in recordings.items()}
    try:
        for pair in pairs:
            recording_id = pair_recording[pair.name]
            record, sink = recordings[recording_id], sinks[recording_id]
            record["pairs_seen"] += 1
            if pair.rgb is None:
                reason = sink.reject("unpaired")
            else:
                try:
                    nir, rgb, nir_bits = read_pair(pair)
                except ValueError as error:
                    reason = sink.reject("unreadable")
                    record.setdefault("errors", []).append(str(error))
                else:
                    reason = sink.add(nir, rgb, nir_bits, sink.stored, 0.0)
            if reason is not None:
                record["rejected_pairs"][pair.name] = reason
            if progress:
                progress(pair.name)
        shards = []
        for recording_id, sink in sinks.items():
            split_name = recordings[recording_id]["split"]
            # Stored relative to the dataset folder, so a relative --dataset path and a moved folder both work.
            shards.extend({"path": f"{split_name}/{Path(info.path).name}", "split": split_name,
                           "recording_id": recording_id, "pairs": info.pairs, "sha256": info.sha256}
                          for info in sink.close())
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        raise

    all_shifts, all_scores = [], []
    for recording_id, record in recordings.items():
        sink = sinks[recording_id]
        record.update(pairs_imported=sink.stored, corrected=sink.corrected, rejected=dict(sink.rejected))
        all_shifts.extend(sink.shifts)
        all_scores.extend(sink.scores)
        record["registration"] = summarize_shifts(sink.shifts, sink.scores)
        record["registration"]["policy"] = {"max_shift": policy.max_shift, "min_score": policy.min_score,
                                            "correct_above": policy.correct_above}
    manifest_path, warnings = _merge_and_write(dataset_dir, existing_manifest, recordings, shards, {
        "command": "import-pairs", "source": str(source.resolve()), "mapping": str(mapping) if mapping else None,
        "split": split, "eval_fraction": eval_fraction, "split_by": split_by,
        "max_shift": policy.max_shift, "min_score": policy.min_score, "correct_above": policy.correct_above,
    })
    registration = summarize_shifts(all_shifts, all_scores)
    return ImportResult(dataset_dir, manifest_path, shards, recordings, registration, warnings)


def _writer_opener(dataset_dir: Path, recording_id: str, record: dict):
    """One shard per (recording, frame size, NIR depth): pairs of a folder may differ in size."""
    def open_writer(height: int, width: int, nir_bits: int) -> ShardWriter:
        return ShardWriter(dataset_dir / record["split"] / f"{recording_id}-{width}x{height}-{nir_bits}bit.h5",
                           recording_id=recording_id, day=record["day"], location=record["location"],
                           split=record["split"], nir_bits=nir_bits, height=height, width=width)
    return open_writer


def _existing_manifest(dataset_dir: Path) -> dict | None:
    if not (dataset_dir / "manifest.json").exists():
        return None
    try:
        return read_manifest(dataset_dir)
    except ManifestError as error:
        raise PairImportError(f"{error}; refusing to extend it") from None


def _assign(recordings, split, eval_fraction, split_by, pair_counts) -> dict[str, str]:
    if split in SPLITS:
        return {recording_id: split for recording_id in recordings}
    overrides = {rid: record["forced_split"] for rid, record in recordings.items() if record["forced_split"]}
    if len(recordings) == 1 and not overrides:
        only = next(iter(recordings.values()))
        raise PairImportError(
            f"all pairs come from one day and location ({only['day']}, {only['location']}), so --split auto "
            "cannot hold out another day or location; pass --split train or --split eval, "
            "or a --mapping with several days and locations"
        )
    try:
        return assign_splits([(rid, r["day"], r["location"]) for rid, r in recordings.items()],
                             eval_fraction=eval_fraction, split_by=split_by, overrides=overrides,
                             weights=pair_counts)
    except SplitError as error:
        raise PairImportError(str(error)) from None


def _merge_and_write(dataset_dir: Path, existing: dict | None, recordings: dict, shards: list[dict], parameters: dict):
    """Keep what the dataset already holds (other recordings), replace re-imported ones, rewrite the manifest."""
    old_recordings = dict(existing["recordings"]) if existing else {}
    old_shards = list(existing["shards"]) if existing else []
    new_paths = {(dataset_dir / shard["path"]).resolve() for shard in shards}
    kept_shards = []
    for entry in old_shards:
        if entry["recording_id"] in recordings:
            old_path = (dataset_dir / entry["path"]).resolve()  # inside: read_manifest refuses any other
            if old_path not in new_paths:
                old_path.unlink(missing_ok=True)  # replaced by this import under another name
            continue
        kept_shards.append(entry)
    old_recordings = {rid: record for rid, record in old_recordings.items() if rid not in recordings}
    merged_recordings = {**old_recordings, **recordings}
    history = list(existing["build_parameters"].get("imports", [])) if existing else []
    build_parameters = {"imports": history + [parameters]}
    path = write_manifest(dataset_dir, build_parameters=build_parameters, recordings=merged_recordings,
                          shards=kept_shards + shards)
    summary = split_groups(
        [(rid, str(r.get("day")), str(r.get("location"))) for rid, r in merged_recordings.items()],
        {rid: r.get("split") for rid, r in merged_recordings.items()},
    )
    warnings = []
    shared_days = set(summary["train"]["days"]) & set(summary["eval"]["days"])
    shared_locations = set(summary["train"]["locations"]) & set(summary["eval"]["locations"])
    if shared_days or shared_locations:
        shared = ", ".join(sorted(shared_days)) or "none"
        places = ", ".join(sorted(shared_locations)) or "none"
        warnings.append(f"train and eval share days ({shared}) / locations ({places}): eval is not independent")
    return path, warnings
