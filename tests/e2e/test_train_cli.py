"""`nircolor train` end to end: two Ray workers on CPU, one of them lost mid-run, then the best checkpoint
colorizes eval frames."""
from __future__ import annotations

import functools
import io
import unittest.mock
import json
import re

import h5py
import numpy as np
import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from nircolor.jobs import train_cmd
from nircolor.jobs.cli import app
from safetensors.torch import load_file
from nircolor.models.checkpoint import load_generator, read_checkpoint_config
from nircolor.models.preprocess import nir_to_tensor, rgb_to_tensor, tensor_to_rgb
from nircolor.pipeline.train import TrainConfig, train, train_in_process
from tests.pipeline.faults import LoseWorkerOnce
from tests.pipeline.shard_factory import write_dataset

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.mark.slow  # tens of seconds on 2 cores: CI runs it (scripts/test.sh), plain pytest skips it
def test_train_cli_with_two_workers_survives_a_lost_worker_and_its_checkpoint_colorizes(tmp_path, ray_local,
                                                                                       monkeypatch):
    # Rank 1 exits once at step 5 (a step hook the command's training call gets); Ray Train restarts both
    # workers from checkpoint 3.
    marker = tmp_path / "crashed"
    monkeypatch.setattr(train_cmd, "run_training", functools.partial(train, on_step=LoseWorkerOnce(5, marker)))
    monkeypatch.setenv("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")  # notice the lost worker sooner
    dataset = write_dataset(tmp_path / "data", train_pairs=6, eval_pairs=2, height=40, width=48, nir_bits=10)
    run = tmp_path / "run"
    result = runner.invoke(app, [
        "train", str(dataset), str(run), "--model", "unet-64-s", "--tiny", "--steps", "6", "--crop", "32",
        "--workers", "2", "--checkpoint-every", "3", "--eval-every", "3", "--sample-every", "6", "--seed", "1",
    ])
    assert result.exit_code == 0, result.output
    assert marker.read_text().startswith("rank 1 exited at step 5")
    output_text = result.output.replace("\n", "")
    assert "workers restarted from step 3" in output_text
    assert "0 → 6" in output_text and f"{run / 'best'}" in output_text
    assert re.search(r"worker restarts\s*│\s*1\s*│", output_text)
    config = read_checkpoint_config(run / "checkpoints" / "step-0000006")
    assert config["preprocessing"]["nir_bits"] == 10 and config["model"]["name"] == "unet-4-s"

    generator = load_generator(run / "best")
    best = read_checkpoint_config(run / "best")
    with h5py.File(next((dataset / "eval").glob("*.h5")), "r") as shard:
        nir_frames, rgb_frames = shard["nir"][:], shard["rgb"][:]
    with torch.no_grad():
        output = generator(nir_to_tensor(nir_frames, 10))
    colorized = tensor_to_rgb(output)
    assert colorized.shape == rgb_frames.shape and colorized.dtype == np.uint8
    # The reloaded checkpoint reproduces the eval L1 the training run recorded for it.
    eval_l1 = float((output - rgb_to_tensor(rgb_frames)).abs().mean())
    assert abs(eval_l1 - best["eval_l1"]) < 1e-5


def test_train_cli_names_a_missing_dataset_in_one_line(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path / "nowhere"), str(tmp_path / "run"), "--model", "johnson-6"])
    assert result.exit_code == 1
    assert "nowhere: dataset folder not found" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow  # tens of seconds on 2 cores: CI runs it (scripts/test.sh), plain pytest skips it
def test_rerunning_the_command_resumes_exactly_through_ray(tmp_path, ray_local):
    # Stop after checkpoint 4 (a run of 4 steps), re-run the same command asking for 8: it must continue
    # from step 4 and end with the weights of an uninterrupted 8-step run (deterministic on CPU).
    dataset = write_dataset(tmp_path / "data", train_pairs=6, eval_pairs=2, height=40, width=48)
    run = tmp_path / "run"

    def command(steps: int) -> list[str]:
        return ["train", str(dataset), str(run), "--model", "johnson-6", "--tiny", "--steps", str(steps),
                "--crop", "32", "--checkpoint-every", "4", "--eval-every", "0", "--sample-every", "0", "--seed", "3"]

    first = runner.invoke(app, command(4))
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, command(8))
    assert second.exit_code == 0, second.output
    assert "4 → 8" in second.output.replace("\n", "")

    # Same torch thread count as the Ray worker (1 CPU): float sums depend on how work is split.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        straight = train_in_process(TrainConfig(
            model="johnson-6", dataset=str(dataset), run_dir=str(tmp_path / "straight"), steps=8, crop_size=32,
            checkpoint_every=4, eval_every=0, sample_every=0, tiny=True, seed=3,
        ))
    finally:
        torch.set_num_threads(threads)
    assert straight.final_step == 8
    resumed_weights = load_file(str(run / "checkpoints" / "step-0000008" / "generator.safetensors"))
    straight_weights = load_file(str(tmp_path / "straight" / "checkpoints" / "step-0000008" / "generator.safetensors"))
    assert resumed_weights.keys() == straight_weights.keys()
    for key, value in straight_weights.items():
        assert torch.equal(resumed_weights[key], value), key


@pytest.mark.slow  # tens of seconds on 2 cores: CI runs it (scripts/test.sh), plain pytest skips it
def test_the_recipe_options_reach_the_run_and_a_bad_one_stops_before_ray(tmp_path, ray_local):
    dataset = write_dataset(tmp_path / "data", train_pairs=4, eval_pairs=1, height=40, width=48)
    run = tmp_path / "run"
    result = runner.invoke(app, [
        "train", str(dataset), str(run), "--model", "johnson-6", "--tiny", "--steps", "2", "--crop", "32",
        "--eval-every", "0", "--sample-every", "0", "--precision", "fp32", "--lr-schedule", "step",
        "--lr-step-every", "1", "--lr-gamma", "0.5", "--adam-beta1", "0.5", "--l1-warmup", "1",
        "--scale-crop-min", "0.7", "--contrast-jitter", "0.2", "--batch-size", "2",
    ])
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "train_config.json").read_text())
    assert (saved["precision"], saved["lr_schedule"], saved["lr_step_every"], saved["adam_beta1"],
            saved["l1_warmup_steps"], saved["scale_crop_min"], saved["contrast_jitter"]) == (
        "fp32", "step", 1, 0.5, 1, 0.7, 0.2)
    state = torch.load(run / "checkpoints" / "step-0000002" / "training_state" / "state.pt", weights_only=True)
    group = state["generator_optimizer"]["param_groups"][0]
    assert group["betas"] == (0.5, 0.999) and group["lr"] == 1e-3 * 0.5  # step 2 ran at γ¹·η0

    bad = runner.invoke(app, ["train", str(dataset), str(tmp_path / "bad"), "--model", "johnson-6", "--tiny",
                              "--lr-schedule", "step"])  # the step schedule without --lr-step-every
    assert bad.exit_code == 1 and "--lr-step-every" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_two_workers_stop_together_at_the_time_budget_and_the_same_command_continues(tmp_path, ray_local):
    dataset = write_dataset(tmp_path / "data", train_pairs=6, eval_pairs=1, height=40, width=48)
    run = tmp_path / "run"
    command = ["train", str(dataset), str(run), "--model", "johnson-6", "--tiny", "--steps", "6", "--crop", "32",
               "--workers", "2", "--checkpoint-every", "6", "--eval-every", "0", "--sample-every", "0"]
    # The budget is spent before the workers start: both stop after their first step, in agreement.
    stopped = runner.invoke(app, command + ["--time-budget", "0.001s"])
    assert stopped.exit_code == 0, stopped.output
    text = stopped.output.replace("\n", "")
    assert "0 → 1" in text and "at the time budget, 5 of 6 steps to go" in text
    assert "step 1/6" in text and "(time budget reached)" in text
    assert sorted(path.name for path in (run / "checkpoints").iterdir()) == ["step-0000001"]
    finished = runner.invoke(app, command)
    assert finished.exit_code == 0, finished.output
    assert "1 → 6" in finished.output.replace("\n", "") and "time budget" not in finished.output


def test_progress_in_a_log_is_a_line_per_interval_with_rate_eta_and_the_last_evaluation():
    buffer = io.StringIO()
    progress = train_cmd.training_progress(Console(file=buffer, force_terminal=False, width=200))
    lines = train_cmd._TrainProgress(progress, log_interval=30.0)
    clock = [1000.0]
    with progress, unittest.mock.patch.object(train_cmd.time, "monotonic", lambda: clock[0]):
        lines({"kind": "start", "step": 0, "steps": 1000, "time": 0.0})
        for step in range(1, 101):
            clock[0] += 1.0  # one step a second, both on the worker's clock and here
            event = {"kind": "step", "step": step, "time": float(step), "losses": {"l1": 0.25}}
            if step == 50:
                event["eval_l1"] = 0.125
            lines(event)
    printed = [line for line in buffer.getvalue().splitlines() if line.startswith("step ")]
    # Every 30 s, plus the evaluation at step 50.
    assert [line.split(":")[0] for line in printed] == ["step 30/1000", "step 50/1000", "step 80/1000"]
    assert "1.00 steps/s" in printed[0] and "ETA 16:10" in printed[0]  # 970 steps at 1/s
    assert "eval L1 0.1250" in printed[2]  # the latest evaluation travels with later lines


def test_a_bad_time_budget_is_one_line(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path), str(tmp_path / "run"), "--model", "johnson-6",
                                 "--time-budget", "soon"])
    assert result.exit_code == 1 and "--time-budget 'soon'" in result.output and "Traceback" not in result.output
