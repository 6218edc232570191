"""The dataset's manifest.json: what was built, how, from which recordings, and each shard's checksum.

DESIGN "Data contracts": schema and version, build parameters, per split its (day, location)
groups, recordings and pair counts, per shard its path, split, pairs and sha256, per recording
the ingest statistics (frames seen/paired/sampled, rejections by reason, registration figures).
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.folders import leaves_folder
from nircolor.dataset_tools.registration import summarize_shifts
from nircolor.dataset_tools.shard_verify import verify_shard
from nircolor.dataset_tools.shards import SPLITS, ShardError, open_shard, read_shard_header

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = "nircolor.dataset"
MANIFEST_VERSION = 1


class ManifestError(ValueError):
    """A dataset whose manifest is missing, unreadable or inconsistent; the message says which and why."""


def _manifest_path(dataset_dir: str | os.PathLike) -> Path:
    path = Path(dataset_dir)
    return path if path.name == MANIFEST_NAME and not path.is_dir() else path / MANIFEST_NAME


def _relative(path: str | os.PathLike, dataset_dir: Path) -> str:
    """A shard path as the manifest stores it: relative to the dataset folder and inside it."""
    path = Path(path)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(dataset_dir.resolve())
        except ValueError:
            raise ManifestError(f"{path}: shard lies outside the dataset folder {dataset_dir}") from None
    stored = path.as_posix()
    shard_location(dataset_dir, stored)  # refuses `..` and links leading out of the folder
    return stored


def shard_location(root: str | os.PathLike, stored, manifest: str | os.PathLike | None = None) -> Path:
    """The file a manifest's shard path names, refused unless it lies inside the dataset folder `root`."""
    where = f"{manifest}: " if manifest is not None else ""
    if not isinstance(stored, str) or not stored:
        raise ManifestError(f"{where}shard path {stored!r} is not a relative file name")
    way_out = leaves_folder(root, stored)
    if way_out:
        raise ManifestError(f"{where}shard path {stored!r} {_LEAVES[way_out]}")
    return Path(root) / stored


_LEAVES = {"by name": "lies outside the dataset folder", "by link": "leads outside the dataset folder",
           "by link loop": "cannot be resolved (a link loop)"}


def write_manifest(
    dataset_dir: str | os.PathLike,
    *,
    build_parameters: dict,
    recordings: dict[str, dict],
    shards: list[dict],
) -> Path:
    """Write manifest.json atomically and return its path.

    `shards`: {"path", "split", "recording_id", "pairs", "sha256"} each (path absolute or relative
    to dataset_dir). `recordings`: id → statistics dict; its "day", "location" and "split" are used
    for the split summary (taken from the recording's shard headers when absent).
    """
    dataset_dir = Path(dataset_dir)
    dataset_dir.mkdir(parents=True, exist_ok=True)
    shard_entries = []
    for shard in shards:
        split = shard["split"]
        if split not in SPLITS:
            raise ManifestError(f"{shard['path']}: split must be train or eval, got {split!r}")
        shard_entries.append({
            "path": _relative(shard["path"], dataset_dir),
            "split": split,
            "recording_id": str(shard["recording_id"]),
            "pairs": int(shard["pairs"]),
            "sha256": str(shard["sha256"]),
        })
    shard_entries.sort(key=lambda entry: entry["path"])

    recording_entries: dict[str, dict] = {str(key): dict(value) for key, value in recordings.items()}
    for entry in shard_entries:
        record = recording_entries.setdefault(entry["recording_id"], {})
        record.setdefault("split", entry["split"])
        if "day" not in record or "location" not in record:
            try:
                header = read_shard_header(dataset_dir / entry["path"])
                record.setdefault("day", header.day)
                record.setdefault("location", header.location)
            except ShardError:
                pass

    manifest = {
        "schema": MANIFEST_SCHEMA,
        "version": MANIFEST_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_parameters": build_parameters,
        "splits": _split_summary(recording_entries, shard_entries),
        "shards": shard_entries,
        "recordings": dict(sorted(recording_entries.items())),
    }
    path = dataset_dir / MANIFEST_NAME
    atomic.write_json(path, manifest, default=_json_default)
    return path


def _json_default(value):
    # numpy scalars and paths in statistics dicts
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return value.as_posix()
    raise TypeError(f"cannot store {type(value).__name__} in manifest.json")


def _split_summary(recordings: dict[str, dict], shards: list[dict]) -> dict:
    pairs_by_recording: dict[str, int] = {}
    for shard in shards:
        pairs_by_recording[shard["recording_id"]] = pairs_by_recording.get(shard["recording_id"], 0) + shard["pairs"]
    summary = {}
    for split in SPLITS:
        members = {rid: rec for rid, rec in recordings.items() if rec.get("split") == split}
        groups: dict[tuple[str, str], dict] = {}
        for recording_id, record in sorted(members.items()):
            key = (str(record.get("day", "")), str(record.get("location", "")))
            group = groups.setdefault(key, {"day": key[0], "location": key[1], "recordings": [], "pairs": 0})
            group["recordings"].append(recording_id)
            group["pairs"] += pairs_by_recording.get(recording_id, 0)
        summary[split] = {
            "pairs": sum(shard["pairs"] for shard in shards if shard["split"] == split),
            "shards": sum(1 for shard in shards if shard["split"] == split),
            "recordings": sorted(members),
            "days": sorted({key[0] for key in groups}),
            "locations": sorted({key[1] for key in groups}),
            "groups": [groups[key] for key in sorted(groups)],
        }
    return summary


def read_manifest(dataset_dir: str | os.PathLike) -> dict:
    """The parsed manifest, or ManifestError with one line naming the file and the problem."""
    path = _manifest_path(dataset_dir)
    if not path.is_file():
        raise ManifestError(
            f"{path}: no manifest (not a nircolor dataset; make one with `nircolor dataset build` or `import-pairs`)"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: manifest is corrupt ({error})") from None
    except RecursionError:
        raise ManifestError(f"{path}: manifest is corrupt (nested too deeply to parse)") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
        raise ManifestError(f"{path}: not a nircolor dataset manifest (schema is not {MANIFEST_SCHEMA!r})")
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ManifestError(f"{path}: manifest version {version!r} is not an integer")
    if version > MANIFEST_VERSION:
        raise ManifestError(f"{path}: manifest version {version} is newer than this nircolor ({MANIFEST_VERSION})")
    if not isinstance(manifest.get("shards"), list) or not isinstance(manifest.get("splits"), dict):
        raise ManifestError(f"{path}: manifest lacks its shards or splits section")
    if not isinstance(manifest.get("recordings", {}), dict) or not isinstance(manifest.get("build_parameters", {}), dict):
        raise ManifestError(f"{path}: manifest's recordings or build_parameters section is not an object")
    for entry in manifest["shards"]:
        _check_shard_entry(entry, path)
    return manifest


def _check_shard_entry(entry, manifest_path: Path) -> None:
    """One line naming the manifest and the problem for a shard entry of the wrong shape or place."""
    if not isinstance(entry, dict):
        raise ManifestError(f"{manifest_path}: a shard entry is {type(entry).__name__}, not an object")
    shard_location(manifest_path.parent, entry.get("path"), manifest_path)
    name = entry["path"]
    if entry.get("split") not in SPLITS:
        raise ManifestError(f"{manifest_path}: shard {name}: split {entry.get('split')!r} is not train or eval")
    pairs = entry.get("pairs")
    if not isinstance(pairs, int) or isinstance(pairs, bool) or pairs < 0:
        raise ManifestError(f"{manifest_path}: shard {name}: pairs {pairs!r} is not a count")
    if not isinstance(entry.get("sha256"), str) or len(entry["sha256"]) != 64:
        raise ManifestError(f"{manifest_path}: shard {name}: no sha256 checksum, so verify cannot prove it")
    if not isinstance(entry.get("recording_id"), str):
        raise ManifestError(f"{manifest_path}: shard {name}: recording_id {entry.get('recording_id')!r} is not a name")


def manifest_sha256(dataset_dir: str | os.PathLike) -> str:
    """Checksum of manifest.json (checkpoints record it to name the data they were trained on)."""
    path = _manifest_path(dataset_dir)
    if not path.is_file():
        raise ManifestError(f"{path}: no manifest")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shards_for_split(dataset_dir: str | os.PathLike, split: str) -> list[Path]:
    """Absolute paths of the split's shards, in manifest order."""
    if split not in SPLITS:
        raise ManifestError(f"unknown split {split!r}; a dataset has train and eval")
    root = _manifest_path(dataset_dir).parent
    manifest = read_manifest(dataset_dir)
    return [root / entry["path"] for entry in manifest["shards"] if entry["split"] == split]  # read_manifest confined them


def verify_dataset(dataset_dir: str | os.PathLike, progress=None) -> list[str]:
    """Every problem found: manifest, each shard's checksum and schema, and shards the manifest does not name.

    `progress`, when given, is called once per shard (for a progress bar).
    """
    manifest = read_manifest(dataset_dir)
    root = _manifest_path(dataset_dir).parent
    problems: list[str] = []
    named = set()
    for entry in manifest["shards"]:
        path = root / entry["path"]  # read_manifest confined it
        named.add(path.resolve())
        shard_problems = verify_shard(path, entry.get("sha256"))
        problems.extend(shard_problems)
        if not shard_problems:
            header = read_shard_header(path)
            if header.pairs != int(entry.get("pairs", -1)):
                problems.append(f"{path}: holds {header.pairs} pairs, manifest says {entry.get('pairs')}")
            if header.split != entry.get("split"):
                problems.append(f"{path}: split attribute {header.split!r}, manifest says {entry.get('split')!r}")
            if header.recording_id != entry["recording_id"]:
                problems.append(f"{path}: recording_id attribute {header.recording_id!r}, "
                                f"manifest says {entry['recording_id']!r}")
        problems.extend(_entry_against_recordings(entry, manifest, path))
        if progress is not None:
            progress(entry)
    problems.extend(_splits_against_shards(manifest, _manifest_path(dataset_dir)))
    for split in SPLITS:
        folder = root / split
        if folder.is_dir():
            for path in sorted(folder.glob("*.h5")):
                if path.resolve() not in named:
                    problems.append(f"{path}: shard is not in the manifest")
    return problems


def _entry_against_recordings(entry: dict, manifest: dict, path: Path) -> list[str]:
    """A shard must belong to a listed recording, in that recording's split (else the split leaks)."""
    recordings = manifest.get("recordings") or {}
    if not recordings:  # datasets written before recordings were listed
        return []
    record = recordings.get(entry["recording_id"])
    if not isinstance(record, dict):
        return [f"{path}: recording {entry['recording_id']!r} is not among the manifest's recordings"]
    if record.get("split") != entry["split"]:
        return [f"{path}: in {entry['split']}, but its recording {entry['recording_id']!r} is in "
                f"{record.get('split')!r}: one recording on both sides of the split"]
    return []


def _splits_against_shards(manifest: dict, manifest_path: Path) -> list[str]:
    """The splits section (what `dataset info` prints) must count what the shards hold."""
    problems = []
    for split in SPLITS:
        section = manifest["splits"].get(split)
        shards = [entry for entry in manifest["shards"] if entry["split"] == split]
        counted = {"pairs": sum(entry["pairs"] for entry in shards), "shards": len(shards)}
        if not isinstance(section, dict):
            if shards:
                problems.append(f"{manifest_path}: splits has no {split} section, but {len(shards)} shards are {split}")
            continue
        for key, value in counted.items():
            if section.get(key) != value:
                problems.append(f"{manifest_path}: splits.{split}.{key} is {section.get(key)!r}, the shards hold {value}")
    return problems


def registration_by_split(dataset_dir: str | os.PathLike) -> dict[str, dict]:
    """Registration figures of the stored pairs of each split, read from the shards' small datasets."""
    result = {}
    for split in SPLITS:
        shifts, scores = [], []
        for path in shards_for_split(dataset_dir, split):
            try:
                with open_shard(path) as shard:
                    shard_shifts, shard_scores = shard.registration()
            except ShardError:
                continue  # `verify` reports unreadable shards; info shows what it can
            shifts.append(shard_shifts)
            scores.append(shard_scores)
        result[split] = summarize_shifts(
            np.concatenate(shifts) if shifts else np.zeros((0, 2)), np.concatenate(scores) if scores else []
        )
    return result
