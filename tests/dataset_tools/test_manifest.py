"""Manifest: split summary from recordings and shards, atomic write, clear errors, dataset verification."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nircolor.dataset_tools.manifest import (
    ManifestError,
    manifest_sha256,
    read_manifest,
    shards_for_split,
    verify_dataset,
    write_manifest,
)
from tests.pipeline.shard_factory import shard_entry


@pytest.fixture
def dataset(tmp_path):
    shards = [
        shard_entry(tmp_path / "train" / "a-0.h5", recording_id="a", day="d1", location="city", split="train", pairs=3),
        shard_entry(tmp_path / "train" / "a-1.h5", recording_id="a", day="d1", location="city", split="train", pairs=2),
        shard_entry(tmp_path / "train" / "b.h5", recording_id="b", day="d1", location="harbour", split="train", pairs=4),
        shard_entry(tmp_path / "eval" / "c.h5", recording_id="c", day="d2", location="forest", split="eval"),
    ]
    recordings = {
        "a": {"day": "d1", "location": "city", "split": "train", "frames_seen": 50, "rejected": {"interval": 45}},
        "b": {"frames_seen": 40},  # day, location and split come from its shard
        "c": {"day": "d2", "location": "forest", "split": "eval", "registration": {"median_shift_px": np.float32(0.25)}},
        "broken": {"day": "d3", "location": "lake", "split": "train", "error": "rgb.mkv: file not found"},
    }
    write_manifest(tmp_path, build_parameters={"every_frames": 5}, recordings=recordings, shards=shards)
    return tmp_path


def test_manifest_summarizes_splits(dataset):
    manifest = read_manifest(dataset)
    assert manifest["schema"] == "nircolor.dataset" and manifest["build_parameters"] == {"every_frames": 5}
    train, evaluation = manifest["splits"]["train"], manifest["splits"]["eval"]
    assert train["pairs"] == 9 and train["shards"] == 3 and evaluation["pairs"] == 1
    assert train["days"] == ["d1", "d3"] and evaluation["locations"] == ["forest"]
    groups = {(g["day"], g["location"]): (g["recordings"], g["pairs"]) for g in train["groups"]}
    assert groups == {("d1", "city"): (["a"], 5), ("d1", "harbour"): (["b"], 4), ("d3", "lake"): (["broken"], 0)}
    assert manifest["recordings"]["b"]["location"] == "harbour"
    assert manifest["recordings"]["c"]["registration"]["median_shift_px"] == 0.25
    assert manifest["recordings"]["broken"]["error"].startswith("rgb.mkv")
    assert [entry["path"] for entry in manifest["shards"]] == ["eval/c.h5", "train/a-0.h5", "train/a-1.h5", "train/b.h5"]
    assert shards_for_split(dataset, "train") == [dataset / "train" / n for n in ("a-0.h5", "a-1.h5", "b.h5")]
    assert shards_for_split(dataset, "eval") == [dataset / "eval" / "c.h5"]
    assert len(manifest_sha256(dataset)) == 64
    assert not list(dataset.glob(".*tmp"))


def test_missing_and_corrupt_manifests_are_one_line_errors(tmp_path, dataset):
    with pytest.raises(ManifestError, match="no manifest"):
        read_manifest(tmp_path / "nothing")
    (dataset / "manifest.json").write_text('{"schema": "nircolor.dataset", "shards": [')
    with pytest.raises(ManifestError, match="manifest.json: manifest is corrupt"):
        read_manifest(dataset)
    (dataset / "manifest.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(ManifestError, match="not a nircolor dataset manifest"):
        shards_for_split(dataset, "train")
    with pytest.raises(ManifestError, match="unknown split"):
        shards_for_split(dataset, "test")


def test_verify_finds_flipped_byte_missing_and_unlisted_shards(dataset):
    assert verify_dataset(dataset) == []
    target = dataset / "train" / "b.h5"
    data = bytearray(target.read_bytes())
    data[-100] ^= 0x01
    target.write_bytes(bytes(data))
    (dataset / "eval" / "c.h5").unlink()
    shard_entry(dataset / "train" / "stray.h5", recording_id="z", day="d9", location="x", split="train")
    problems = verify_dataset(dataset)
    assert any("b.h5" in p and "checksum mismatch" in p for p in problems)
    assert any("c.h5" in p and "missing" in p for p in problems)
    assert any("stray.h5" in p and "not in the manifest" in p for p in problems)
    assert len(problems) == 3
