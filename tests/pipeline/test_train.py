"""Training runs: run-folder layout, exact resume, refused setting changes, two Ray nodes.

A lost worker and the 2-worker CLI run are tested end to end in tests/e2e/test_train_cli.py.
"""
from __future__ import annotations

import json
import shutil

import cv2
import pytest
import ray
import torch
from ray.cluster_utils import Cluster
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nircolor.models.checkpoint import load_generator, read_checkpoint_config
from nircolor.pipeline.train import TrainConfig, TrainError, train, train_in_process
from tests.pipeline.shard_factory import write_dataset


def _config(tmp_path, dataset, run_name: str, **overrides) -> TrainConfig:
    settings = dict(model="johnson-6", dataset=str(dataset), run_dir=str(tmp_path / run_name), steps=8, crop_size=32,
                    checkpoint_every=2, eval_every=4, sample_every=4, keep_checkpoints=2, tiny=True, seed=7)
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture
def dataset(tmp_path):
    return write_dataset(tmp_path / "data", train_pairs=6, eval_pairs=2, height=40, width=48)


def _state(run_dir, step):
    checkpoint = run_dir / "checkpoints" / f"step-{step:07d}"
    return load_file(str(checkpoint / "generator.safetensors")), torch.load(
        checkpoint / "training_state" / "state.pt", weights_only=True)


def test_resuming_after_a_stop_equals_an_uninterrupted_run(tmp_path, dataset):
    train_in_process(_config(tmp_path, dataset, "stopped", steps=4))
    stale = tmp_path / "stopped" / "checkpoints" / ".step-0000006.999999999.tmp"  # a save cut short by a kill
    (stale / "training_state").mkdir(parents=True)
    resumed = train_in_process(_config(tmp_path, dataset, "stopped", steps=8))
    assert not stale.exists()
    assert (resumed.start_step, resumed.final_step) == (4, 8)  # what the worker did, not a folder listing
    train_in_process(_config(tmp_path, dataset, "straight", steps=8))
    weights_resumed, state_resumed = _state(tmp_path / "stopped", 8)
    weights_straight, state_straight = _state(tmp_path / "straight", 8)
    assert weights_resumed.keys() == weights_straight.keys()
    for key in weights_straight:
        assert torch.equal(weights_resumed[key], weights_straight[key]), key
    for key, value in state_straight["discriminator"].items():
        assert torch.equal(state_resumed["discriminator"][key], value), key
    assert state_resumed["data_position"] == state_straight["data_position"] == {
        "step": 8, "epoch": 1, "batch_in_epoch": 2, "world_size": 1, "seed": 7}


def test_run_folder_holds_checkpoints_best_samples_and_config(tmp_path, dataset):
    summary = train_in_process(_config(tmp_path, dataset, "run", sample_frames=2))
    run = tmp_path / "run"
    assert sorted(path.name for path in (run / "checkpoints").iterdir()) == ["step-0000006", "step-0000008"]
    document = read_checkpoint_config(run / "checkpoints" / "step-0000008")
    assert document["training_step"] == 8 and document["model"]["config"]["base_channels"] == 4
    best = read_checkpoint_config(run / "best")
    assert best["training_step"] in (4, 8) and summary.best_eval_l1 == best["eval_l1"]
    sample = cv2.imread(str(run / "samples" / "step-0000008.png"))
    assert sample.shape == (2 * 40, 3 * 48, 3)  # two eval frames, NIR | output | target
    assert (run / "samples" / "step-0000004.png").is_file()
    recorded = json.loads((run / "train_config.json").read_text())
    assert (recorded["model_name"], recorded["conditional"]) == ("johnson-1-w4", False)  # the network trained
    assert document["model"]["name"] == "johnson-1-w4" and document["lambda"] == 0.99
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    generator = load_generator(run / "best")
    output = generator(torch.rand(1, 1, 40, 48))
    assert output.shape == (1, 3, 40, 48)


def test_a_conditional_run_records_the_flag_beside_a_generator_config_without_it(tmp_path, dataset):
    train_in_process(_config(tmp_path, dataset, "run", model="johnson-6-c", steps=2, eval_every=2, sample_every=0))
    run = tmp_path / "run"
    recorded = json.loads((run / "train_config.json").read_text())
    assert (recorded["model_name"], recorded["conditional"]) == ("johnson-1-c-w4", True)
    for checkpoint in (run / "checkpoints" / "step-0000002", run / "best"):
        document = read_checkpoint_config(checkpoint)
        assert document["model"]["name"] == "johnson-1-w4" and "conditional" not in document["model"]["config"]
        assert document["conditional"] is True
    state = torch.load(run / "checkpoints" / "step-0000002" / "training_state" / "state.pt", weights_only=True)
    assert state["discriminator"]["down.weight"].shape[1] == 4  # D saw NIR and RGB


def test_a_resume_with_other_defining_settings_is_refused(tmp_path, dataset):
    train_in_process(_config(tmp_path, dataset, "run", steps=2))
    with pytest.raises(TrainError, match=r"other settings \(l1_weight 0\.99 → 1\.0\)"):
        train_in_process(_config(tmp_path, dataset, "run", steps=4, l1_weight=1.0))


def test_bad_dataset_and_model_are_reported_in_one_sentence(tmp_path, dataset):
    with pytest.raises(TrainError, match="missing_dataset: dataset folder not found"):
        train_in_process(_config(tmp_path, tmp_path / "missing_dataset", "a"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainError, match="empty: no train shards"):
        train_in_process(_config(tmp_path, tmp_path / "empty", "a"))
    with pytest.raises(TrainError, match="unknown model family"):
        train_in_process(_config(tmp_path, dataset, "b", model="resnet-9"))


@pytest.mark.slow  # its own two-node cluster: 22 s on a quiet machine, 35–47 s on the loaded 2-core one
def test_training_spans_two_ray_nodes(tmp_path, dataset, monkeypatch):
    """Two nodes of two CPUs and workers of two CPUs each: one worker per node, DDP across nodes."""
    monkeypatch.setenv("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")  # notice the end of training sooner
    ray.shutdown()  # the shared embedded Ray restarts on the next `ray_local` use
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=2)
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
        summary = train(_config(tmp_path, dataset, "run", workers=2, cpus_per_worker=2, steps=4, checkpoint_every=4,
                                eval_every=4, sample_every=0))
        node_ids = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert summary.final_step == 4 and summary.restarts == 0
    assert len(node_ids) == 2 and set(summary.worker_nodes.values()) == node_ids
    assert read_checkpoint_config(tmp_path / "run" / "checkpoints" / "step-0000004")["training_step"] == 4


def test_a_crop_below_the_networks_smallest_input_is_warned_about(tmp_path, dataset):
    # Estuary pads any input to 256×256: a 128 crop trains on mostly replicated edge pixels.
    assert "smallest input (256×256)" in _config(tmp_path, dataset, "a", model="estuary-16-s", tiny=False,
                                                  crop_size=128).warnings()[0]
    assert _config(tmp_path, dataset, "b", model="johnson-6", crop_size=32).warnings() == []
    assert _config(tmp_path, dataset, "c", model="estuary-16-s", crop_size=None).warnings() == []


@pytest.mark.slow  # tens of seconds on 2 cores: CI runs it (scripts/test.sh), plain pytest skips it
def test_ray_train_reports_every_checkpoint_and_keeps_the_best_by_eval_and_the_newest(tmp_path, dataset, ray_local):
    run = tmp_path / "run"
    summary = train(_config(tmp_path, dataset, "run", steps=8, checkpoint_every=2, eval_every=2, sample_every=0,
                            keep_checkpoints=1, learning_rate=3e-3))
    # Result of fit(): the newest checkpoint (the run's own folder: nothing copied) and its metrics.
    assert summary.reported_checkpoint == run / "checkpoints" / "step-0000008"
    assert summary.reported_metrics["step"] == 8 and summary.reported_metrics["eval_l1"] > 0
    scores = {event.step: event.value for event in EventAccumulator(str(run / "tensorboard")).Reload().Scalars("eval/l1")}
    assert sorted(scores) == [2, 4, 6, 8]
    best_step = min(scores, key=scores.get)
    # CheckpointConfig(num_to_keep=1, score eval_l1, min): the best by eval, and the newest, which Ray always keeps.
    kept = sorted(path.name for path in (run / "checkpoints").iterdir())
    assert kept == sorted({f"step-{best_step:07d}", "step-0000008"})
    assert {path.name for path, _ in summary.kept_checkpoints} == set(kept)
    assert read_checkpoint_config(run / "best")["training_step"] == best_step


@pytest.mark.slow  # tens of seconds on 2 cores: CI runs it (scripts/test.sh), plain pytest skips it
def test_a_checkpoint_removed_by_hand_does_not_stop_the_resume(tmp_path, dataset, ray_local):
    run = tmp_path / "run"
    train(_config(tmp_path, dataset, "run", steps=4, checkpoint_every=2, eval_every=0, sample_every=0))
    assert (run / "checkpoint_manager_snapshot.json").is_file()  # Ray Train's record of the reported checkpoints
    shutil.rmtree(run / "checkpoints" / "step-0000004")  # the newest, gone: the run continues from step 2
    summary = train(_config(tmp_path, dataset, "run", steps=6, checkpoint_every=2, eval_every=0, sample_every=0))
    assert (summary.start_step, summary.final_step) == (2, 6)
