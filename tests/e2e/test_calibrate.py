"""`nircolor calibrate` end to end: rigs made from a synthetic drive with known homographies are
recovered within 0.5 px, and `dataset build` then stores registered pairs; bad input is one line."""
from __future__ import annotations

import json
import math
from fractions import Fraction

import cv2
import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from nircolor.dataset_tools.calibration import homography_error, mirror_matrix, warp_to_nir
from nircolor.dataset_tools.manifest import read_manifest
from nircolor.dataset_tools.recording import load_recording
from nircolor.dataset_tools.rig import make_two_camera_rig
from nircolor.dataset_tools.streams import iter_source_frames
from nircolor.dataset_tools.synthetic import SynthOptions, read_frame_code, synthesize_recordings
from nircolor.dataset_tools.video import VideoWriter
from nircolor.jobs.cli import app
from nircolor.pipeline.ingest import IngestOptions, build_dataset

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
NIR_SIZE = (320, 240)


def rig_homography(angle_deg: float, scale: float, rgb_size, shift=(0.0, 0.0), perspective=(0.0, 0.0)) -> np.ndarray:
    """RGB pixel → NIR pixel: about the RGB frame's centre, tilt, scale (NIR pixels per RGB pixel) and
    perspective, landing on the NIR frame's centre + shift."""
    c, s = scale * math.cos(math.radians(angle_deg)), scale * math.sin(math.radians(angle_deg))
    to_centre = np.array([[1, 0, -rgb_size[0] / 2], [0, 1, -rgb_size[1] / 2], [0, 0, 1]], float)
    tilt = np.array([[1, 0, 0], [0, 1, 0], [*perspective, 1]], float)
    rotate = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], float)
    back = np.array([[1, 0, NIR_SIZE[0] / 2 + shift[0]], [0, 1, NIR_SIZE[1] / 2 + shift[1]], [0, 0, 1]], float)
    matrix = back @ rotate @ tilt @ to_centre
    return matrix / matrix[2, 2]


# (rgb_size, angle, scale, shift, perspective); "wide" sees all of the NIR frame, "narrow" 90 % of it.
RIGS = {
    "wide": ((400, 300), 4.0, 1.0, (5, -3), (5e-5, -3e-5)),
    "narrow": ((360, 270), -5.0, 0.85, (-6, 4), (0.0, 0.0)),
    "same-view": ((480, 360), 2.0, 0.8, (3, 2), (2e-5, 2e-5)),
    "small": ((300, 225), -3.0, 1.2, (0.0, 0.0), (0.0, 0.0)),
}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """One registered synthetic drive, 320×240, 12 frames."""
    root = tmp_path_factory.mktemp("synthetic")
    options = SynthOptions(count=1, frames=12, width=NIR_SIZE[0], height=NIR_SIZE[1], days=1, locations=1)
    return synthesize_recordings(root, options)[0].folder


def make_rig(source, folder, name: str):
    rgb_size, angle, scale, shift, perspective = RIGS[name]
    true = rig_homography(angle, scale, rgb_size, shift, perspective)
    return make_two_camera_rig(source, folder, true, rgb_size), true, rgb_size


def stored_homography(folder) -> list:
    return json.loads((folder / "recording.json").read_text())["homography"]


@pytest.mark.parametrize("name", RIGS)
def test_calibrate_recovers_the_rig(source, tmp_path, name):
    rig, true, rgb_size = make_rig(source, tmp_path / name, name)
    assert "homography" not in json.loads((rig / "recording.json").read_text())
    result = runner.invoke(app, ["calibrate", str(rig), "--write"])
    assert result.exit_code == 0, result.output
    assert f"NIR 320x240, RGB {rgb_size[0]}x{rgb_size[1]}" in result.output and "12 frames" in result.output
    error = homography_error(stored_homography(rig), true, rgb_size)
    assert error < 0.5, f"{name}: {error:.3f} px from the true homography"
    assert load_recording(rig).homography is not None


def test_a_calibrated_rig_builds_registered_pairs(source, tmp_path):
    rig, true, _ = make_rig(source, tmp_path / "recordings" / "rig", "wide")
    # Without a homography the different frame sizes are refused, naming both and the way out.
    refused = build_dataset(tmp_path / "recordings", tmp_path / "refused", IngestOptions(eval_fraction=0))
    assert len(refused.failed) == 1
    assert "NIR is 320x240 but RGB is 400x300" in refused.failed[0].error and "calibrate" in refused.failed[0].error

    assert runner.invoke(app, ["calibrate", str(rig), "--write"]).exit_code == 0
    dataset = tmp_path / "dataset"
    summary = build_dataset(tmp_path / "recordings", dataset, IngestOptions(eval_fraction=0))
    entry = read_manifest(dataset)["recordings"]["drive-000"]
    # The scene's stop makes one frame a near-duplicate in the source recording too.
    assert summary.ok and entry["frames_paired"] == 12 and set(entry["rejected"]) <= {"near_duplicate"}, entry
    assert summary.pairs_stored == entry["pairs"] >= 10
    assert entry["registration"]["max_shift_px"] < 0.5, entry["registration"]  # what registration still found

    # Each stored RGB frame is close to the rig's RGB frame warped by the true homography: much closer
    # than that ideal frame is to itself moved by half a pixel.
    rig_frames = [frame.array for frame in iter_source_frames(load_recording(rig).rgb, "rgb")]
    shard = read_manifest(dataset)["shards"][0]
    with h5py.File(dataset / shard["path"], "r") as handle:
        pairs = list(zip(handle["nir"][:], handle["rgb"][:]))
    inside = (slice(8, -8), slice(8, -8))  # the frame edge is extrapolated
    for nir, rgb in pairs:
        code = read_frame_code(nir)
        assert read_frame_code(rgb) == code
        ideal = warp_to_nir(rig_frames[code], true, NIR_SIZE[1], NIR_SIZE[0]).astype(np.float32)
        half_pixel = cv2.warpAffine(ideal, np.float32([[1, 0, 0.5], [0, 1, 0]]), NIR_SIZE)
        difference = np.abs(rgb - ideal)[inside].mean()
        assert difference < 0.5 * np.abs(half_pixel - ideal)[inside].mean(), code


def test_a_mirrored_rig_is_calibrated_with_mirrored_and_builds_true_pairs(source, tmp_path):
    """An RGB camera that sees the scene mirrored (a homography reversing orientation): plain
    calibration cannot match it and says what to try; --mirrored recovers it within 0.5 px."""
    rgb_size = (400, 300)
    true = rig_homography(4.0, 1.0, rgb_size, (5, -3), (5e-5, -3e-5)) @ mirror_matrix(rgb_size[0])  # "wide", mirrored
    rig = make_two_camera_rig(source, tmp_path / "recordings" / "rig", true, rgb_size)
    plain = runner.invoke(app, ["calibrate", str(rig), "--write"])
    assert plain.exit_code == 1 and "--mirrored" in plain.output, plain.output
    assert "homography" not in json.loads((rig / "recording.json").read_text())
    result = runner.invoke(app, ["calibrate", str(rig), "--write", "--mirrored"])
    assert result.exit_code == 0, result.output
    assert np.linalg.det(np.array(stored_homography(rig))) < 0
    error = homography_error(stored_homography(rig), true, rgb_size)
    assert error < 0.5, f"{error:.3f} px from the true homography"
    summary = build_dataset(tmp_path / "recordings", tmp_path / "dataset", IngestOptions(eval_fraction=0))
    assert summary.ok and summary.pairs_stored >= 10
    shard = read_manifest(tmp_path / "dataset")["shards"][0]
    with h5py.File(tmp_path / "dataset" / shard["path"], "r") as handle:
        for nir, rgb in zip(handle["nir"][:], handle["rgb"][:]):
            assert read_frame_code(rgb) == read_frame_code(nir)  # the code reads the right way round again


def test_featureless_or_missing_recordings_are_one_line(tmp_path):
    flat = tmp_path / "flat"
    rng = np.random.default_rng(0)
    common = dict(time_base=Fraction(1, 1000), rate=25, codec="ffv1")
    with VideoWriter(flat / "nir.mkv", width=160, height=120, kind="gray", **common) as nir, \
            VideoWriter(flat / "rgb.mkv", width=200, height=150, kind="rgb", **common) as rgb:
        for index in range(6):
            nir.write(np.clip(90 + rng.normal(0, 2, (120, 160)), 0, 255).astype(np.uint8), 40 * index)
            rgb.write(np.clip(120 + rng.normal(0, 2, (150, 200, 3)), 0, 255).astype(np.uint8), 40 * index)
    (flat / "recording.json").write_text(json.dumps({"id": "flat", "day": "2017-05-10", "location": "x",
                                                     "nir": "nir.mkv", "rgb": "rgb.mkv"}))
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder, problem in ((flat, "feature matches"), (empty, "recording.json: missing")):
        result = runner.invoke(app, ["calibrate", str(folder), "--write"])
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert result.exit_code == 1 and len(errors) == 1 and problem in errors[0], result.output
        assert str(folder) in errors[0] and "Traceback" not in result.output
    assert "homography" not in json.loads((flat / "recording.json").read_text())


def test_write_refuses_to_replace_a_homography_without_overwrite(source, tmp_path):
    rig, true, rgb_size = make_rig(source, tmp_path / "rig", "small")
    assert runner.invoke(app, ["calibrate", str(rig), "--write", "--frames", "4"]).exit_code == 0
    first = (rig / "recording.json").read_text()
    again = runner.invoke(app, ["calibrate", str(rig), "--write", "--frames", "4"])
    assert again.exit_code == 1 and "already has a homography; pass --overwrite" in again.output
    assert (rig / "recording.json").read_text() == first

    replaced = runner.invoke(app, ["calibrate", str(rig), "--write", "--overwrite", "--json"])
    assert replaced.exit_code == 0, replaced.output
    document = json.loads(replaced.stdout.strip().splitlines()[-1])
    assert document["schema"] == "nircolor.calibrate" and document["frames_used"] == 12
    assert document["written"] == str(rig / "recording.json") and document["coverage"] == pytest.approx(1.0)
    assert document["mirrored"] is False
    assert document["homography"] == stored_homography(rig)
    assert homography_error(document["homography"], true, rgb_size) < 0.5
    assert sorted(path.name for path in rig.iterdir()) == ["nir.mkv", "recording.json", "rgb.mkv"]
