"""Manifest shard paths are input: confined to the dataset folder, and the same for relative and absolute calls."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from nircolor.dataset_tools.manifest import ManifestError, read_manifest, shards_for_split, verify_dataset, write_manifest
from tests.pipeline.shard_factory import shard_entry


def _shard(path, recording_id="a", split="train"):  # test_verify_proofs.py borrows it
    return shard_entry(path, recording_id=recording_id, split=split)


def _rewrite_shard_path(dataset, new_path):
    manifest_file = dataset / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["shards"][0]["path"] = new_path
    manifest_file.write_text(json.dumps(manifest))


@pytest.fixture
def dataset(tmp_path):
    folder = tmp_path / "dataset"
    write_manifest(folder, build_parameters={}, recordings={}, shards=[_shard(folder / "train" / "a.h5")])
    return folder


@pytest.mark.parametrize("escape", ["../outside.h5", "train/../../outside.h5", "/abs/outside.h5", "", 7, None])
def test_paths_leaving_the_dataset_are_refused_by_every_reader(dataset, escape):
    # A real shard outside, so only confinement (not a missing file) can refuse it.
    outside = _shard(dataset.parent / "outside.h5")
    if escape == "/abs/outside.h5":
        escape = str(outside["path"])
    _rewrite_shard_path(dataset, escape)
    for read in (read_manifest, verify_dataset, lambda d: shards_for_split(d, "train")):
        with pytest.raises(ManifestError, match="manifest.json: shard path"):
            read(dataset)


def test_a_link_leading_out_of_the_dataset_is_refused(dataset):
    outside = _shard(dataset.parent / "outside.h5")
    (dataset / "train" / "a.h5").unlink()
    os.symlink(outside["path"], dataset / "train" / "a.h5")
    with pytest.raises(ManifestError, match="leads outside the dataset folder"):
        verify_dataset(dataset)


def test_wrongly_typed_entries_and_sections_are_one_line_errors(dataset):
    manifest_file = dataset / "manifest.json"
    good = json.loads(manifest_file.read_text())
    broken_variants = [
        ({**good, "version": "1"}, "version '1' is not an integer"),
        ({**good, "recordings": []}, "recordings or build_parameters section"),
        ({**good, "shards": ["train/a.h5"]}, "a shard entry is str"),
        ({**good, "shards": [{**good["shards"][0], "sha256": None}]}, "no sha256 checksum"),
        ({**good, "shards": [{**good["shards"][0], "pairs": "1"}]}, "is not a count"),
        ({**good, "shards": [{**good["shards"][0], "split": "test"}]}, "is not train or eval"),
    ]
    for manifest, message in broken_variants:
        manifest_file.write_text(json.dumps(manifest))
        with pytest.raises(ManifestError, match=message):
            read_manifest(dataset)
    manifest_file.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ManifestError, match="manifest is corrupt"):
        read_manifest(dataset)
    manifest_file.write_bytes(b'{"schema": "\xff\xfe"}')
    with pytest.raises(ManifestError, match="manifest is corrupt"):
        read_manifest(dataset)


def test_a_moved_dataset_still_verifies_and_lists_its_shards(dataset, tmp_path):
    moved = tmp_path / "elsewhere" / "moved"
    shutil.copytree(dataset, moved)
    shutil.rmtree(dataset)
    assert verify_dataset(moved) == []
    assert shards_for_split(moved, "train") == [moved / "train" / "a.h5"]


def test_relative_and_absolute_dataset_paths_write_the_same_manifest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = write_manifest("rel", build_parameters={}, recordings={},
                              shards=[_shard(tmp_path / "rel" / "train" / "a.h5")])
    assert json.loads(relative.read_text())["shards"][0]["path"] == "train/a.h5"
    with pytest.raises(ManifestError, match="outside the dataset folder"):
        write_manifest("rel", build_parameters={}, recordings={}, shards=[_shard(tmp_path / "stray.h5")])
