"""`--json`: one parseable document on stdout (tables and progress on stderr), with the same numbers
the run produced, for build, import-pairs, info, colorize, evaluate and models list."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nircolor.dataset_tools.manifest import read_manifest
from nircolor.jobs.cli import app
from nircolor.models import parse_model_name, save_generator
from tests.e2e.test_dataset_import import _scene, _write_pair

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def _document(arguments: list[str], schema: str, exit_code: int = 0) -> dict:
    result = runner.invoke(app, arguments)
    assert result.exit_code == exit_code, result.output
    document = json.loads(result.stdout)  # stdout holds the document and nothing else
    assert document["schema"] == f"nircolor.{schema}" and document["version"] == 1
    return document


def test_build_info_colorize_and_evaluate_print_their_results_as_json(tmp_path, ray_local):
    recordings = tmp_path / "recordings"
    assert runner.invoke(app, ["synth", "recordings", str(recordings), "--count", "2", "--frames", "8",
                               "--size", "64x48"]).exit_code == 0
    dataset = tmp_path / "dataset"
    built = _document(["dataset", "build", str(recordings), str(dataset), "--eval-fraction", "0.5", "--json"],
                      "dataset-build")
    manifest = read_manifest(dataset)
    assert built["ok"] is True and built["failed"] == []
    assert built["pairs_stored"] == sum(shard["pairs"] for shard in manifest["shards"]) > 0
    assert sorted(record["id"] for record in built["recordings"]) == sorted(manifest["recordings"])

    info = _document(["dataset", "info", str(dataset), "--json"], "dataset-info")
    assert {name: split["pairs"] for name, split in info["splits"].items()} == {
        name: split["pairs"] for name, split in manifest["splits"].items()}
    assert set(info["registration"]) >= {"train", "eval"}

    checkpoint = save_generator(parse_model_name("johnson-6").tiny().build(), tmp_path / "checkpoint")
    recording = sorted(path for path in recordings.iterdir() if path.is_dir())[0]
    colorized = _document(["colorize", str(checkpoint), str(recording), "--out", str(tmp_path / "out"), "--json"],
                          "colorize")
    (output,) = colorized["outputs"]
    assert output["status"] == "done" and output["frames"] == 8 and colorized["failed"] == []
    produced = Path(output["output"])
    assert (produced if produced.is_absolute() else tmp_path / "out" / produced).is_file()

    evaluated = _document(["evaluate", str(checkpoint), "--data", str(dataset), "--baselines", "--no-timing",
                           "--out", str(tmp_path / "evaluation"), "--json"], "evaluate")
    on_disk = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    assert [model["label"] for model in evaluated["models"]] == [model["label"] for model in on_disk["models"]]
    for printed, written in zip(evaluated["models"], on_disk["models"]):
        for metric in ("l1", "psnr", "ssim", "delta_e", "angular_error"):
            assert printed["metrics"][metric] == pytest.approx(written["metrics"][metric])


def test_import_pairs_and_models_list_as_json(tmp_path):
    folder = tmp_path / "pairs"
    folder.mkdir()
    for index in range(3):
        _write_pair(folder, f"city_{index}", *_scene(64, 80, index))
    _write_pair(folder, "city_far", *_scene(64, 80, 11), shift=(0.0, 6.0))  # rejected: beyond 4 px
    imported = _document(["dataset", "import-pairs", str(folder), str(tmp_path / "dataset"), "--day", "2017-05-01",
                          "--json"], "dataset-import-pairs")
    assert imported["imported"] == {"train": 3, "eval": 0}
    assert imported["rejected"] == {"shift_beyond_bound": 1}
    assert imported["manifest"] == str(tmp_path / "dataset" / "manifest.json")

    models = _document(["models", "list", "--no-gflops", "--json"], "models-list")
    names = [row["name"] for row in models["models"]]
    assert "unet-64-s" in names and "estuary-32-is" in names
    unet = next(row for row in models["models"] if row["name"] == "unet-64-s")
    assert unet["parameters_m"] == pytest.approx(54.41, abs=0.01) and unet["gflops_1024x768"] is None


def test_a_failing_build_still_prints_its_document_and_exits_non_zero(tmp_path, ray_local):
    recordings = tmp_path / "recordings"
    assert runner.invoke(app, ["synth", "recordings", str(recordings), "--count", "2", "--frames", "8",
                               "--size", "64x48"]).exit_code == 0
    broken = sorted(path for path in recordings.iterdir() if path.is_dir())[0]
    (broken / "recording.json").write_text("{not json")
    built = _document(["dataset", "build", str(recordings), str(tmp_path / "dataset"), "--eval-fraction", "0",
                       "--json"], "dataset-build", exit_code=1)
    assert built["ok"] is False and len(built["failed"]) == 1
