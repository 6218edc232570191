"""`nircolor dataset import-pairs | info | verify` end to end, on drawn pairs and on the real VCIP pairs."""
from __future__ import annotations

import json

import cv2
import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from nircolor.dataset_tools.manifest import read_manifest, shards_for_split
from nircolor.jobs.cli import app

runner = CliRunner()


def _scene(height, width, seed):
    """NIR and RGB of a drawn scene: different intensities, shared edges (as a multi-CCD camera sees it)."""
    rng = np.random.default_rng(seed)
    rgb = np.full((height, width, 3), (90, 90, 95), np.uint8)
    nir = np.full((height, width), 60, np.uint8)
    for _ in range(12):
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = int(rng.integers(4, max(6, min(height, width) // 4)))
        cv2.circle(rgb, center, radius, tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
        cv2.circle(nir, center, radius, int(rng.integers(100, 250)), -1)
    return nir, rgb


def _write_pair(folder, name, nir, rgb, shift=(0.0, 0.0)):
    matrix = np.float32([[1, 0, shift[1]], [0, 1, shift[0]]])
    rgb = cv2.warpAffine(rgb, matrix, (rgb.shape[1], rgb.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    cv2.imwrite(str(folder / f"{name}_nir.png"), nir)
    cv2.imwrite(str(folder / f"{name}_rgb.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture
def pair_folder(tmp_path):
    folder = tmp_path / "pairs"
    folder.mkdir()
    for index in range(3):
        _write_pair(folder, f"city_{index}", *_scene(64, 80, index))
    _write_pair(folder, "city_shifted", *_scene(64, 80, 10), shift=(2.0, -1.5))  # corrected
    _write_pair(folder, "city_far", *_scene(64, 80, 11), shift=(0.0, 6.0))  # beyond the 4 px bound
    for index in range(2):
        _write_pair(folder, f"forest_{index}", *_scene(48, 48, 20 + index))  # another size
    cv2.imwrite(str(folder / "forest_lonely_nir.png"), _scene(48, 48, 30)[0])  # no RGB partner
    (folder / "forest_broken_nir.png").write_bytes(b"not a png")
    (folder / "forest_broken_rgb.png").write_bytes(b"not a png")
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("name,day,location\ncity_*,2017-05-01,city\nforest_*,2017-06-02,forest\n")
    return folder, mapping


@pytest.fixture
def readable_pair_folder(pair_folder):
    """The pair folder without its unreadable pair (which makes import-pairs exit 1)."""
    folder, mapping = pair_folder
    for name in ("forest_broken_nir.png", "forest_broken_rgb.png"):
        (folder / name).unlink()
    return folder, mapping


def test_import_info_verify_on_drawn_pairs(tmp_path, pair_folder):
    folder, mapping = pair_folder
    dataset = tmp_path / "dataset"
    result = runner.invoke(app, ["dataset", "import-pairs", str(folder), str(dataset), "--mapping", str(mapping),
                                 "--split", "auto", "--eval-fraction", "0.3"])
    # The readable pairs are imported, but one unreadable pair makes the exit status say so.
    assert result.exit_code == 1 and "1 pair(s) in" in result.output and "could not be read" in result.output
    manifest = read_manifest(dataset)
    recordings = manifest["recordings"]
    city, forest = recordings["pairs-2017-05-01-city"], recordings["pairs-2017-06-02-forest"]
    assert (city["split"], forest["split"]) == ("train", "eval")  # weighed by pairs: 4 of 9 is closest to 0.3
    assert city["pairs_imported"] == 4 and city["rejected"] == {"shift_beyond_bound": 1} and city["corrected"] == 1
    assert forest["pairs_imported"] == 2 and forest["rejected"] == {"unpaired": 1, "unreadable": 1}
    assert "forest_broken_nir.png" in forest["errors"][0]
    assert manifest["splits"]["eval"]["locations"] == ["forest"] and manifest["splits"]["train"]["days"] == ["2017-05-01"]
    (train_shard,) = shards_for_split(dataset, "train")
    with h5py.File(train_shard, "r") as handle:
        assert handle["nir"].shape == (4, 64, 80) and handle.attrs["location"] == "city"
        shifts = handle["registration_shift"][:]
    assert np.abs(shifts[-1] - (2.0, -1.5)).max() < 0.5  # city_shifted sorts last: its shift is stored
    assert "shift_beyond_bound" in result.output and "6 pairs imported (train 4, eval 2)" in result.output

    result = runner.invoke(app, ["dataset", "info", str(dataset)])
    assert result.exit_code == 0, result.output
    assert "forest" in result.output and "2017-05-01" in result.output and "registration" in result.output

    result = runner.invoke(app, ["dataset", "verify", str(dataset)])
    assert result.exit_code == 0 and "checksums and schema ok" in result.output
    data = bytearray(train_shard.read_bytes())
    data[len(data) // 2] ^= 0x40
    train_shard.write_bytes(bytes(data))
    result = runner.invoke(app, ["dataset", "verify", str(dataset)])
    assert result.exit_code == 1
    assert train_shard.name in result.output and "checksum mismatch" in result.output


def test_import_errors_are_one_line(tmp_path, pair_folder):
    folder, _ = pair_folder
    result = runner.invoke(app, ["dataset", "import-pairs", str(folder), str(tmp_path / "d"), "--split", "auto"])
    assert result.exit_code == 1 and "--split train or --split eval" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["dataset", "info", str(tmp_path / "nothing")])
    assert result.exit_code == 1 and "no manifest" in result.output
    bad_mapping = tmp_path / "bad.json"
    bad_mapping.write_text(json.dumps({"city_*": {"day": "d1", "location": "x"}}))
    result = runner.invoke(app, ["dataset", "import-pairs", str(folder), str(tmp_path / "d"), "--mapping", str(bad_mapping)])
    assert result.exit_code == 1 and "have no day/location entry" in result.output


def test_real_vcip_val_pairs_are_registered(tmp_path, shared_data):
    source = shared_data / "pairs" / "vcip2020" / "val"
    dataset = tmp_path / "vcip"
    result = runner.invoke(app, ["dataset", "import-pairs", str(source), str(dataset), "--split", "eval",
                                 "--day", "2011-01-01", "--location", "epfl"])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(dataset)
    record = manifest["recordings"]["val"]
    assert record["pairs_seen"] == 18 and record["pairs_imported"] == 18
    registration = record["registration"]
    # Data README: val pairs are within 1 px of registered (integer search); sub-pixel: most of them.
    assert registration["within_1px"] >= 0.8 and registration["max_shift_px"] < 2.0
    assert manifest["splits"]["eval"]["pairs"] == 18
    result = runner.invoke(app, ["dataset", "verify", str(dataset)])
    assert result.exit_code == 0, result.output


def test_mapping_overrides_and_reimport_replace(tmp_path, readable_pair_folder):
    folder, _ = readable_pair_folder
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({
        "city_*": {"day": "2017-05-01", "location": "city", "split": "eval"},
        "forest_*": {"day": "2017-06-02", "location": "forest"},
    }))
    dataset = tmp_path / "dataset"
    for _ in range(2):  # the second import replaces the first one's recordings
        result = runner.invoke(app, ["dataset", "import-pairs", str(folder), str(dataset), "--mapping", str(mapping)])
        assert result.exit_code == 0, result.output
    manifest = read_manifest(dataset)
    assert manifest["recordings"]["pairs-2017-05-01-city"]["split"] == "eval"  # forced against the 0.2 target
    assert manifest["recordings"]["pairs-2017-06-02-forest"]["split"] == "train"
    assert len(manifest["shards"]) == 2 and len(manifest["build_parameters"]["imports"]) == 2
    assert sorted(p.name for p in dataset.rglob("*.h5")) == sorted(entry["path"].split("/")[1] for entry in manifest["shards"])
    result = runner.invoke(app, ["dataset", "import-pairs", str(folder / ".."), str(dataset), "--split", "train",
                                 "--mapping", str(mapping), "--day", "2017-01-01"])
    assert result.exit_code == 1 and "not both" in result.output


def test_relative_dataset_path_verifies_from_another_directory(tmp_path, readable_pair_folder, monkeypatch):
    folder, mapping = readable_pair_folder
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["dataset", "import-pairs", "pairs", "ds", "--mapping", "mapping.csv"])
    assert result.exit_code == 0, result.output
    assert all(entry["path"].split("/")[0] in ("train", "eval") for entry in read_manifest(tmp_path / "ds")["shards"])
    monkeypatch.chdir(folder)
    result = runner.invoke(app, ["dataset", "verify", str(tmp_path / "ds")])
    assert result.exit_code == 0, result.output


def test_reimport_never_deletes_a_file_a_manifest_points_outside_to(tmp_path, readable_pair_folder):
    folder, mapping = readable_pair_folder
    dataset = tmp_path / "dataset"
    result = runner.invoke(app, ["dataset", "import-pairs", str(folder), str(dataset), "--mapping", str(mapping)])
    assert result.exit_code == 0, result.output
    victim = tmp_path / "precious.h5"
    victim.write_bytes(b"someone else's data")
    manifest_file = dataset / "manifest.json"
    for pointer in ("../precious.h5", str(victim)):
        manifest = json.loads(manifest_file.read_text())
        manifest["shards"][0]["path"] = pointer
        manifest_file.write_text(json.dumps(manifest))
        result = runner.invoke(app, ["dataset", "import-pairs", str(folder), str(dataset), "--mapping", str(mapping)])
        assert result.exit_code != 0 and "outside the dataset folder" in result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
        assert victim.read_bytes() == b"someone else's data"


def test_pairs_in_other_frame_formats_import_at_their_depth(tmp_path):
    """TIFF/PGM NIR (16-bit too) beside JPEG/PNG RGB are pairs like PNG ones; a pair with two NIR files
    is refused in one line."""
    folder = tmp_path / "pairs"
    folder.mkdir()
    for index, (nir_suffix, rgb_suffix) in enumerate(((".tif", ".jpg"), (".pgm", ".png"), (".png", ".bmp"))):
        nir, rgb = _scene(64, 80, index)
        cv2.imwrite(str(folder / f"road_{index}_nir{nir_suffix}"), nir.astype(np.uint16) * 256)  # 16-bit NIR
        cv2.imwrite(str(folder / f"road_{index}_rgb{rgb_suffix}"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (folder / "notes_nir.txt").write_text("not a frame")  # not an image file: not a pair
    result = runner.invoke(app, ["dataset", "import-pairs", str(folder), str(tmp_path / "ds"), "--day", "2017-05-01",
                                 "--split", "train"])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(tmp_path / "ds")
    (shard,) = manifest["shards"]
    assert shard["pairs"] == 3
    with h5py.File(tmp_path / "ds" / shard["path"], "r") as handle:
        assert handle["nir"].dtype == np.uint16 and int(handle.attrs["nir_bits"]) == 16
    cv2.imwrite(str(folder / "road_0_nir.png"), _scene(64, 80, 0)[0])  # a second NIR image of pair road_0
    twice = runner.invoke(app, ["dataset", "import-pairs", str(folder), str(tmp_path / "ds2"), "--day", "2017-05-01",
                                "--split", "train"])
    assert twice.exit_code == 1 and "road_0_nir" in twice.output and "same pair" in twice.output
    assert "Traceback" not in twice.output and not (tmp_path / "ds2").exists()
