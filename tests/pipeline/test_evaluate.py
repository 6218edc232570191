"""evaluate_checkpoints: baselines, per-recording breakdown, paper figures, one bad checkpoint."""
from __future__ import annotations

import csv
import io
import json

import h5py
import numpy as np
import pytest
import torch

from nircolor.models import parse_model_name, save_generator, timing
from nircolor.models.inference import InferenceOptions
from nircolor.pipeline import evaluate
from nircolor.pipeline.bench.timing import prepare
from nircolor.models import read_checkpoint_config
from tests.models.tiny_training import trained_tiny
from tests.pipeline.shard_factory import make_dataset


def test_mean_colour_baseline_predicts_the_train_split_mean(tmp_path):
    dataset = make_dataset(tmp_path)
    with h5py.File(dataset / "train" / "road-c.h5") as shard:
        expected = (shard["rgb"][:].astype(np.float64) / 255.0).reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(evaluate.mean_color_of_split(dataset, "train"), expected)

    results = evaluate.evaluate_checkpoints([evaluate.BASELINE_MEAN_COLOR], dataset, timing=False)
    (model,) = results.models
    # L1 of a constant prediction, recomputed directly over all eval frames.
    errors = []
    for path in sorted((dataset / "eval").glob("*.h5")):
        with h5py.File(path) as shard:
            errors += list(np.abs(shard["rgb"][:] / 255.0 - expected).mean(axis=(1, 2, 3)))
    assert model.metrics["l1"] == pytest.approx(np.mean(errors))
    assert model.frames == 5 and model.ms_per_frame is None and model.paper is None


def test_angular_error_is_measured_per_frame_and_written_to_every_table(tmp_path):
    dataset = make_dataset(tmp_path)
    mean = evaluate.mean_color_of_split(dataset, "train")
    results = evaluate.evaluate_checkpoints([evaluate.BASELINE_MEAN_COLOR], dataset, timing=False,
                                            out_dir=tmp_path / "out")
    angles = []  # recomputed directly: the angle between the constant colour and every target pixel
    for path in sorted((dataset / "eval").glob("*.h5")):
        with h5py.File(path) as shard:
            for frame in shard["rgb"][:] / 255.0:
                pixels = frame.reshape(-1, 3)
                cosine = pixels @ mean / (np.linalg.norm(pixels, axis=1) * np.linalg.norm(mean))
                angles.append(np.degrees(np.arccos(np.clip(cosine, -1, 1))).mean())
    (model,) = results.models
    assert model.metrics["angular_error"] == pytest.approx(np.mean(angles))
    out = tmp_path / "out"
    document = json.loads((out / "evaluation.json").read_text())
    assert document["models"][0]["metrics"]["angular_error"] == pytest.approx(np.mean(angles))
    (row,) = csv.DictReader(io.StringIO((out / "evaluation.csv").read_text()))
    assert float(row["angular_error_deg"]) == pytest.approx(np.mean(angles))
    assert all(float(r["angular_error_deg"]) > 0 for r in csv.DictReader(io.StringIO((out / "per_recording.csv").read_text())))
    markdown = (out / "evaluation.md").read_text()
    assert "AE [°]" in markdown and f"{np.mean(angles):.2f}" in markdown and "**angular_error**" in markdown


def test_per_recording_rows_and_max_frames(tmp_path):
    dataset = make_dataset(tmp_path)
    results = evaluate.evaluate_checkpoints([evaluate.BASELINE_NIR_GRAY], dataset, timing=False, max_frames=2)
    (model,) = results.models
    assert {name: row["frames"] for name, row in model.per_recording.items()} == {"road-a": 2, "road-b": 2}
    overall = np.mean([row["l1"] for row in model.per_recording.values()])  # equal frame counts
    assert model.metrics["l1"] == pytest.approx(overall)
    assert results.recordings == ["road-a", "road-b"]


def test_paper_figures_ignore_the_conditional_flag():
    assert evaluate.paper_figures("johnson-6")["l1"] == pytest.approx(0.126073)
    config = parse_model_name("estuary-16-isrc")  # Table 2 lists the unconditional estuary-16-isr
    assert config.name == "estuary-16-isr"
    assert evaluate.paper_figures(config.name)["l1"] == pytest.approx(0.089726)
    assert evaluate.paper_figures("estuary-7") is None


def test_a_broken_checkpoint_is_listed_and_the_rest_evaluated(tmp_path):
    dataset = make_dataset(tmp_path)
    good = save_generator(parse_model_name("unet-64-s").tiny().build(), tmp_path / "first")
    copy = save_generator(parse_model_name("unet-64-s").tiny().build(), tmp_path / "second")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    results = evaluate.evaluate_checkpoints([str(good), str(broken), str(copy), "baseline:sepia"], dataset,
                                            timing=False, grid_frames=2)
    assert [model.label for model in results.models] == [
        f"{results.models[0].model_name} (first)", f"{results.models[0].model_name} (second)"]
    reasons = dict(results.failures)
    assert "invalid JSON" in reasons[str(broken)]
    assert "unknown baseline" in reasons["baseline:sepia"]
    assert len(results.grid_frames) == 2


def test_an_empty_split_is_one_clear_error(tmp_path):
    dataset = make_dataset(tmp_path)
    with pytest.raises(evaluate.EvaluationError, match="'test' split has no shards"):
        evaluate.evaluate_checkpoints([evaluate.BASELINE_NIR_GRAY], dataset, split="test")


def test_lambda_and_conditional_flag_come_from_the_checkpoint_or_its_run_folder(tmp_path):
    conditional = parse_model_name("estuary-16-isc").tiny().build()
    step = save_generator(conditional, tmp_path / "run" / "checkpoints" / "step-0000010", training_step=10,
                          extra={"lambda": 0.01, "conditional": True})
    summary = evaluate.training_summary(read_checkpoint_config(step), step)
    assert summary == {"step": 10, "lambda": 0.01, "conditional": True}
    # The best checkpoint carries no λ: it is read from <run>/train_config.json.
    (tmp_path / "run" / "train_config.json").write_text('{"l1_weight": 0.99}')
    best = save_generator(parse_model_name("johnson-6").tiny().build(), tmp_path / "run" / "best")
    summary = evaluate.training_summary(read_checkpoint_config(best), best)
    assert summary["lambda"] == 0.99 and summary["conditional"] is False


def test_runs_with_a_conditional_discriminator_are_labelled_by_their_trained_name(tmp_path):
    """Table 1 compares the same generator trained with and without `c`: the rows must differ."""
    generator = parse_model_name("estuary-16-isc").tiny().build()
    labels = []
    for conditional in (True, False):
        folder = save_generator(generator, tmp_path / f"c{conditional}", extra={"lambda": 0.5, "conditional": conditional})
        labels.append(evaluate.load_colorizer(str(folder), tmp_path, "cpu").label)
    assert labels == ["estuary-4-isc", "estuary-4-is"]


def test_evaluation_runs_the_chosen_precision_and_reports_it(tmp_path):

    dataset = make_dataset(tmp_path)
    checkpoint = save_generator(trained_tiny("unet-64-s", steps=5), tmp_path / "unet")
    runs = {precision: evaluate.evaluate_checkpoints([str(checkpoint)], dataset, timing=False,
                                                     inference=InferenceOptions(precision))
            for precision in ("fp32", "bf16")}
    fp32, bf16 = (runs[precision].models[0] for precision in ("fp32", "bf16"))
    assert fp32.inference == "float32" and bf16.inference.startswith("bf16")
    assert fp32.metrics["l1"] != bf16.metrics["l1"]  # bf16 really ran
    assert bf16.metrics["l1"] == pytest.approx(fp32.metrics["l1"], abs=2 / 255)


def test_ms_per_frame_is_the_bench_timing_of_the_models_own_engine(tmp_path, monkeypatch):
    """evaluate's ms/frame and `nircolor bench models` run one timing function on one precision path."""
    dataset = make_dataset(tmp_path)
    checkpoint = save_generator(parse_model_name("johnson-6").tiny().build(), tmp_path / "johnson")
    timed, bench_frames = [], timing.time_frames

    def spy(engine, height, width, device, repeats, warmup):
        timed.append((engine.description, height, width, repeats, warmup))
        return bench_frames(engine, 24, 32, device, repeats, warmup)  # a small frame keeps the test fast

    monkeypatch.setattr(timing, "time_frames", spy)
    results = evaluate.evaluate_checkpoints([str(checkpoint)], dataset,
                                            inference=InferenceOptions("bf16", compile=False))
    bench_engine = prepare(parse_model_name("johnson-6").tiny().build(), torch.device("cpu"), "bf16", tmp_path)
    assert timed == [(bench_engine.description, 768, 1024, 2, 1)]
    assert results.models[0].inference == bench_engine.description
    assert results.models[0].ms_per_frame > 0


def test_a_shard_without_nir_bits_is_refused_not_guessed(tmp_path):
    dataset = make_dataset(tmp_path)
    with h5py.File(dataset / "eval" / "road-b.h5", "a") as shard:  # raw h5py on purpose: a garbled shard
        del shard.attrs["nir_bits"]
    with pytest.raises(evaluate.EvaluationError, match=r"road-b\.h5: not a nircolor shard \(missing nir_bits\)"):
        evaluate.evaluate_checkpoints([evaluate.BASELINE_NIR_GRAY], dataset, timing=False)
