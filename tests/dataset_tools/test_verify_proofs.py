"""`dataset verify` proves what it says: a manifest contradicted by its shards, or inconsistent with
itself, fails with the reason (one line each) instead of passing."""
from __future__ import annotations

import json

import pytest

from nircolor.dataset_tools.manifest import ManifestError, read_manifest, verify_dataset, write_manifest
from tests.dataset_tools.test_manifest_paths import _shard

RECORDINGS = {"a": {"day": "d1", "location": "city", "split": "train"},
              "b": {"day": "d2", "location": "road", "split": "eval"}}


@pytest.fixture
def dataset(tmp_path):
    folder = tmp_path / "dataset"
    shards = [_shard(folder / "train" / "a.h5", "a", "train"), _shard(folder / "eval" / "b.h5", "b", "eval")]
    write_manifest(folder, build_parameters={}, recordings=RECORDINGS, shards=shards)
    return folder


def _shard_of(manifest, recording_id):
    return next(entry for entry in manifest["shards"] if entry["recording_id"] == recording_id)


def _edit(dataset, change):
    path = dataset / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_a_consistent_dataset_verifies(dataset):
    assert verify_dataset(dataset) == []


@pytest.mark.parametrize("change, reason", [
    (lambda m: _shard_of(m, "a").__setitem__("recording_id", "b"), "recording_id attribute 'a', manifest says 'b'"),
    (lambda m: m["recordings"].pop("a"), "recording 'a' is not among the manifest's recordings"),
    (lambda m: m["recordings"]["a"].__setitem__("split", "eval"), "one recording on both sides of the split"),
    (lambda m: m["splits"]["train"].__setitem__("pairs", 999), "splits.train.pairs is 999, the shards hold 1"),
    (lambda m: m["splits"]["eval"].__setitem__("shards", 0), "splits.eval.shards is 0, the shards hold 1"),
    (lambda m: m["splits"].pop("eval"), "splits has no eval section"),
    (lambda m: _shard_of(m, "b").__setitem__("pairs", 5), "holds 1 pairs, manifest says 5"),
])
def test_a_manifest_contradicted_by_its_shards_or_itself_fails_with_the_reason(dataset, change, reason):
    _edit(dataset, change)
    problems = verify_dataset(dataset)
    assert any(reason in problem for problem in problems), problems
    assert all("\n" not in problem for problem in problems)


@pytest.mark.parametrize("change, reason", [
    (lambda m: m["shards"][0].pop("sha256"), "no sha256 checksum"),
    (lambda m: m.pop("splits"), "lacks its shards or splits section"),
    (lambda m: m["shards"][0].__setitem__("split", "test"), "is not train or eval"),
])
def test_a_manifest_missing_what_verify_needs_is_refused_by_every_reader(dataset, change, reason):
    _edit(dataset, change)
    for read in (read_manifest, verify_dataset):
        with pytest.raises(ManifestError, match=reason):
            read(dataset)
