"""`nircolor evaluate` end to end: tiny checkpoint + tiny HDF5 dataset → tables, JSON, grid; and
the warping error of a colorized video beside its ground-truth RGB's."""
from __future__ import annotations

import json
from fractions import Fraction

import cv2
import h5py
import numpy as np
import torch
from typer.testing import CliRunner

from nircolor.jobs.cli import app
from nircolor.dataset_tools.video import VideoWriter
from nircolor.models import load_generator, parse_model_name, save_generator
from tests.pipeline.shard_factory import make_dataset

runner = CliRunner()


def _tiny_checkpoint(path):
    torch.manual_seed(0)
    generator = parse_model_name("johnson-6").tiny().build()
    save_generator(generator, path)
    return path


def test_evaluate_writes_tables_and_grid_and_the_l1_is_right(tmp_path):
    dataset = make_dataset(tmp_path)
    checkpoint = _tiny_checkpoint(tmp_path / "johnson-tiny")
    out = tmp_path / "report"
    result = runner.invoke(app, ["evaluate", str(checkpoint), str(tmp_path / "missing-checkpoint"),
                                 "--data", str(dataset), "--out", str(out), "--baselines", "--precision", "fp32"])
    # The others are measured and reported; the missing checkpoint makes the exit status 1.
    assert result.exit_code == 1, result.output
    for name in ("evaluation.md", "evaluation.csv", "per_recording.csv", "evaluation.json", "grid.png"):
        assert (out / name).is_file(), name
    assert "missing-checkpoint" in result.output and "grid.png" in result.output

    document = json.loads((out / "evaluation.json").read_text())
    models = {model["source"]: model for model in document["models"]}
    assert set(models) == {str(checkpoint), "baseline:nir-gray", "baseline:mean-color"}
    assert document["failures"][0]["source"] == str(tmp_path / "missing-checkpoint")

    # Independent L1: run the checkpoint (float32) on every eval frame ourselves, mean |Δ| over all values.
    assert models[str(checkpoint)]["inference"] == "float32"
    generator = load_generator(checkpoint)
    errors, gray_errors = [], []
    for shard_path in sorted((dataset / "eval").glob("*.h5")):
        with h5py.File(shard_path) as shard:
            peak = (1 << int(shard.attrs["nir_bits"])) - 1
            nir = shard["nir"][:].astype(np.float32) / peak
            target = shard["rgb"][:].astype(np.float64) / 255.0
        with torch.no_grad():
            output = generator(torch.from_numpy(nir)[:, None]).clamp(0, 1).permute(0, 2, 3, 1).double().numpy()
        errors += list(np.abs(output - target).mean(axis=(1, 2, 3)))
        gray_errors += list(np.abs(nir[..., None].astype(np.float64) - target).mean(axis=(1, 2, 3)))
    assert abs(models[str(checkpoint)]["metrics"]["l1"] - np.mean(errors)) < 1e-6
    assert abs(models["baseline:nir-gray"]["metrics"]["l1"] - np.mean(gray_errors)) < 1e-6
    assert models[str(checkpoint)]["parameters"] == sum(p.numel() for p in generator.parameters())
    assert models[str(checkpoint)]["ms_per_frame"] > 0
    # Two recordings in the split, each with its own row per model.
    assert set(models[str(checkpoint)]["per_recording"]) == {"road-a", "road-b"}
    assert models[str(checkpoint)]["per_recording"]["road-a"]["frames"] == 3

    grid = cv2.imread(str(out / "grid.png"))
    assert grid is not None and grid.shape[1] == 5 * 256  # input, model, 2 baselines, target
    markdown = (out / "evaluation.md").read_text()
    tiny_name = parse_model_name("johnson-6").tiny().name
    assert f"| {tiny_name} |" in markdown and "| NIR as gray |" in markdown


def test_evaluate_refuses_a_missing_dataset_in_one_line(tmp_path):
    checkpoint = _tiny_checkpoint(tmp_path / "ckpt")
    result = runner.invoke(app, ["evaluate", str(checkpoint), "--data", str(tmp_path / "nowhere"), "--no-timing"])
    assert result.exit_code == 1
    assert "dataset folder not found" in result.output
    assert "Traceback" not in result.output


def _write_videos(folder, frames=8, height=48, width=64):
    """NIR (a texture panning right), a consistent colorization, a flickering one, and the RGB truth."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.random((height, width + 2 * frames)).astype(np.float32), (0, 0), 2.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    nir = [texture[:, 2 * frames - 2 * t:2 * frames - 2 * t + width] for t in range(frames)]
    colour = [np.stack([0.9 * n, 0.3 + 0.5 * n, 1 - n], axis=-1) for n in nir]
    flicker = [np.clip(c + (0.15 if t % 2 else 0.0), 0, 1) for t, c in enumerate(colour)]

    def write(name, images, kind):
        with VideoWriter(folder / name, width=width, height=height, time_base=Fraction(1, 25), rate=25,
                         codec="ffv1", kind=kind) as writer:
            for t, image in enumerate(images):
                writer.write((np.asarray(image) * 255).round().astype(np.uint8), t)

    write("nir.mkv", nir, "gray")
    write("rgb.mkv", colour, "rgb")
    write("smooth.mkv", colour, "rgb")
    write("flicker.mkv", flicker, "rgb")
    (folder / "recording.json").write_text(json.dumps(
        {"id": "pan", "day": "2026-06-01", "location": "lab", "nir": "nir.mkv", "rgb": "rgb.mkv"}))


def test_evaluate_video_prints_warping_error_beside_ground_truth(tmp_path):
    _write_videos(tmp_path)
    values = {}
    for name in ("smooth", "flicker"):
        result = runner.invoke(app, ["evaluate", "--video", str(tmp_path / f"{name}.mkv"), "--nir", str(tmp_path),
                                     "--out", str(tmp_path / "out")])
        assert result.exit_code == 0, result.output
        assert "ground-truth RGB" in result.output
        values[name] = json.loads((tmp_path / "out" / f"{name}.warping.json").read_text())
    assert values["smooth"]["pairs"] == 7
    # The consistent colorization is as stable as the truth (the same frames); the flickering one is not.
    assert abs(values["smooth"]["colorized"] - values["smooth"]["ground_truth"]) < 1e-6
    assert values["flicker"]["colorized"] > 3 * values["flicker"]["ground_truth"]


def test_evaluate_video_with_a_bare_nir_file_and_no_truth(tmp_path):
    _write_videos(tmp_path)
    result = runner.invoke(app, ["evaluate", "--video", str(tmp_path / "smooth.mkv"), "--nir", str(tmp_path / "nir.mkv")])
    assert result.exit_code == 0, result.output
    assert "ground-truth RGB" not in result.output and "colorized: smooth.mkv" in result.output


def test_evaluate_video_command_and_the_old_evaluate_video_form_agree(tmp_path):
    _write_videos(tmp_path)
    new = runner.invoke(app, ["evaluate-video", str(tmp_path / "flicker.mkv"), "--recording", str(tmp_path),
                              "--out", str(tmp_path / "new"), "--max-frames", "5"])
    assert new.exit_code == 0, new.output
    assert "ground-truth RGB" in new.output and "colorized: flicker.mkv" in new.output
    old = runner.invoke(app, ["evaluate", "--video", str(tmp_path / "flicker.mkv"), "--nir", str(tmp_path),
                              "--out", str(tmp_path / "old"), "--max-frames", "5"])
    assert old.exit_code == 0, old.output
    documents = [json.loads((tmp_path / folder / "flicker.warping.json").read_text()) for folder in ("new", "old")]
    assert documents[0] == documents[1]
    assert documents[0]["pairs"] == 4 and documents[0]["colorized"] > 3 * documents[0]["ground_truth"]
    # --nir is the same option as --recording; a bare NIR file works without ground truth.
    bare = runner.invoke(app, ["evaluate-video", str(tmp_path / "smooth.mkv"), "--nir", str(tmp_path / "nir.mkv")])
    assert bare.exit_code == 0, bare.output
    assert "ground-truth RGB" not in bare.output


def test_evaluate_video_without_nir_or_with_a_bad_recording_is_one_line(tmp_path):
    _write_videos(tmp_path)
    result = runner.invoke(app, ["evaluate-video", str(tmp_path / "smooth.mkv")])
    assert result.exit_code == 1 and "--nir" in result.output and "Traceback" not in result.output
    (tmp_path / "recording.json").write_text(json.dumps({"id": "pan", "nir": "nir.mkv", "rgb": "rgb.mkv"}))
    result = runner.invoke(app, ["evaluate-video", str(tmp_path / "smooth.mkv"), "--recording", str(tmp_path)])
    assert result.exit_code == 1 and "missing key(s) day, location" in result.output
    assert "Traceback" not in result.output
