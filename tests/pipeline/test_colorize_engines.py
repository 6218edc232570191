"""Colorize with each inference precision and engine (models/inference.py, models/onnx_engine.py)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nircolor.models.inference
from nircolor.dataset_tools.video import iter_frames
from nircolor.models.checkpoint import save_generator
from nircolor.models.export import export_checkpoint
from nircolor.models.inference import InferenceOptions
from nircolor.pipeline.colorize import ColorizeOptions, colorize_inputs
from tests.models.tiny_training import trained_tiny
from tests.pipeline.colorize_helpers import LOCAL, tiny_checkpoint, write_nir


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory)


def _rgb_frames(path: Path) -> np.ndarray:
    return np.stack([frame.array for frame in iter_frames(path, kind="rgb")]).astype(np.int16)


@pytest.fixture(scope="module")
def trained_unet(tmp_path_factory) -> Path:
    return save_generator(trained_tiny("unet-64-s", steps=10), tmp_path_factory.mktemp("unet") / "unet-tiny")


def test_precision_is_reported_and_another_precision_redoes_the_output_within_the_bound(tmp_path, trained_unet):
    nir = write_nir(tmp_path / "drive.mkv", list(range(5)), codec="ffv1")
    out = tmp_path / "out"
    fp32 = ColorizeOptions(executor="local", batch_size=2, codec="ffv1", inference=InferenceOptions("fp32"))
    colorize_inputs(trained_unet, [nir], out, fp32)
    report = json.loads((out / "drive.json").read_text())
    assert report["inference"] == "float32" and report["made_by"]["precision"] == "fp32"
    reference = _rgb_frames(out / "drive.mkv")

    bf16 = ColorizeOptions(executor="local", batch_size=2, codec="ffv1", inference=InferenceOptions("bf16"))
    summary = colorize_inputs(trained_unet, [nir], out, bf16)
    assert [entry.status for entry in summary.outputs] == ["done"]  # not "skipped": another precision
    report = json.loads((out / "drive.json").read_text())
    assert report["inference"].startswith("bf16") and report["made_by"]["precision"] == "bf16"
    difference = np.abs(_rgb_frames(out / "drive.mkv") - reference)
    assert difference.shape == (5, 48, 64, 3)
    assert 0 < difference.max() <= 8 and np.quantile(difference, 0.999) <= 2


def test_onnxruntime_engine_colorizes_like_pytorch_and_its_report_names_the_export(tmp_path, trained_unet):
    export = export_checkpoint(trained_unet, tmp_path / "export", check_sizes=((48, 64),)).out_dir
    nir = write_nir(tmp_path / "drive.mkv", list(range(3)), codec="ffv1")
    fp32 = ColorizeOptions(executor="local", batch_size=2, codec="ffv1", inference=InferenceOptions("fp32"))
    colorize_inputs(trained_unet, [nir], tmp_path / "torch", fp32)
    onnx = ColorizeOptions(executor="local", batch_size=2, codec="ffv1", engine="onnxruntime")
    summary = colorize_inputs(export, [nir], tmp_path / "onnx", onnx)
    assert [entry.status for entry in summary.outputs] == ["done"] and summary.model == "unet-4-s"
    report = json.loads((tmp_path / "onnx" / "drive.json").read_text())
    assert report["engine"] == "onnxruntime" and report["inference"].startswith("onnxruntime")
    difference = np.abs(_rgb_frames(tmp_path / "onnx" / "drive.mkv") - _rgb_frames(tmp_path / "torch" / "drive.mkv"))
    assert difference.shape == (3, 48, 64, 3) and difference.max() <= 1  # float32 both: rounding at most


@pytest.mark.slow  # tens of seconds on 2 cores: CI runs it (scripts/test.sh), plain pytest skips it
def test_a_long_enough_job_compiles_and_reports_the_compile_time(tmp_path, checkpoint, monkeypatch):
    monkeypatch.setattr(nircolor.models.inference, "COMPILE_MIN_FRAMES", 5)  # "long" for a 6-frame clip
    nir = write_nir(tmp_path / "drive.mp4", list(range(6)))
    short = write_nir(tmp_path / "short.mp4", list(range(4)))
    summary = colorize_inputs(checkpoint, [nir], tmp_path / "long", LOCAL)
    assert [entry.status for entry in summary.outputs] == ["done"]
    report = json.loads((tmp_path / "long" / "drive.json").read_text())
    assert "compiled" in report["inference"] and report["timing_seconds"]["compile"] > 0
    colorize_inputs(checkpoint, [short], tmp_path / "short", LOCAL)
    report = json.loads((tmp_path / "short" / "short.json").read_text())
    assert "compiled" not in report["inference"] and report["timing_seconds"]["compile"] == 0
