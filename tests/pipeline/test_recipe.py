"""Training beyond the paper's recipe: learning-rate schedules, Adam betas, the L1 warm-up, paired
scale-crops and contrast jitter, bf16 training; all resumable exactly."""
from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nircolor.dataset_tools.manifest import write_manifest
from nircolor.dataset_tools.shards import file_sha256
from nircolor.models.checkpoint import load_generator, read_checkpoint_config
from nircolor.models.names import parse_model_name
from nircolor.pipeline.gan import GanTrainer, build_discriminator
from nircolor.pipeline.recipe import Augmentation, LearningRateSchedule
from nircolor.pipeline.shard_dataset import ShardDataset
from nircolor.pipeline.train import TrainError, train_in_process
from tests.pipeline.test_gan import _batch
from tests.pipeline.test_train import _config, _state
from tests.pipeline.shard_factory import write_dataset


@pytest.fixture
def dataset(tmp_path):
    return write_dataset(tmp_path / "data", train_pairs=6, eval_pairs=2, height=40, width=48)


@pytest.mark.parametrize("kind, expected", [
    ("constant", [1.0, 1.0, 1.0, 1.0, 1.0]),
    ("linear", [1.0, 0.75, 0.5, 0.25, 0.0]),
    ("cosine", [1.0, 0.5 + 0.5 * np.cos(np.pi / 4), 0.5, 0.5 - 0.5 * np.cos(np.pi / 4), 0.0]),
    ("step", [1.0, 1.0, 0.5, 0.5, 0.25]),
])
def test_schedules_give_their_factor_at_each_step(kind, expected):
    schedule = LearningRateSchedule(kind, total_steps=4, step_every=2, gamma=0.5)
    assert [schedule.factor(step) for step in range(5)] == pytest.approx(expected)


def test_decay_stops_at_the_final_fraction_and_bad_settings_are_refused():
    schedule = LearningRateSchedule("linear", total_steps=10, final_fraction=0.1)
    assert schedule.factor(5) == pytest.approx(0.55) and schedule.factor(50) == pytest.approx(0.1)
    for bad in (dict(kind="exponential"), dict(kind="step", step_every=0), dict(final_fraction=1.5), dict(gamma=0.0)):
        with pytest.raises(ValueError):
            LearningRateSchedule(**{"kind": "linear", **bad})


def _trainer(l1_weight=0.99, **options) -> GanTrainer:
    torch.manual_seed(0)
    generator = parse_model_name("johnson-6").tiny().build()
    return GanTrainer(generator, build_discriminator(l1_weight), l1_weight=l1_weight, **options)


def test_the_optimizers_follow_the_schedule_and_the_betas():
    trainer = _trainer(schedule=LearningRateSchedule("linear", total_steps=4), betas=(0.5, 0.99))
    nir, rgb = _batch()
    rates = []
    for _ in range(4):
        trainer.step(nir, rgb)
        rates.append([group["lr"] for optimizer in (trainer.generator_optimizer, trainer.discriminator_optimizer)
                      for group in optimizer.param_groups])
    assert rates == [[1e-3 * factor] * 2 for factor in (1.0, 0.75, 0.5, 0.25)]
    assert trainer.generator_optimizer.param_groups[0]["betas"] == (0.5, 0.99)
    assert trainer.discriminator_optimizer.param_groups[0]["betas"] == (0.5, 0.99)


def test_the_l1_warm_up_trains_g_alone_then_starts_the_adversarial_term():
    trainer = _trainer(l1_warmup_steps=2)
    nir, rgb = _batch()
    discriminator_before = copy.deepcopy(trainer.discriminator.state_dict())
    for _ in range(2):
        losses = trainer.step(nir, rgb)
        assert set(losses) == {"generator", "l1"}
        assert losses["generator"].item() == pytest.approx(losses["l1"].item(), abs=1e-6)  # L1 alone
    for key, value in discriminator_before.items():
        assert torch.equal(trainer.discriminator.state_dict()[key], value), key
    losses = trainer.step(nir, rgb)
    assert set(losses) == {"discriminator", "generator", "l1"}
    assert losses["generator"].item() != pytest.approx(losses["l1"].item(), abs=1e-6)


def test_scale_crops_resize_nir_and_rgb_alike_and_depend_only_on_the_generator():
    random = np.random.default_rng(0)
    nir = random.integers(0, 256, (40, 48), dtype=np.uint8)
    rgb = np.stack([nir, 255 - nir, nir // 2], axis=-1)  # RGB a pixelwise function of NIR: alignment is visible
    augmentation = Augmentation(scale_min=0.5)
    zoomed = 0
    for seed in range(20):
        crop_nir, crop_rgb = augmentation.scale_crop(nir, rgb, (16, 16), np.random.default_rng(seed))
        assert crop_nir.shape == (16, 16) and crop_rgb.shape == (16, 16, 3)
        assert np.abs(crop_rgb[..., 0].astype(int) - crop_nir).max() <= 1  # same region, same interpolation
        assert np.abs(crop_rgb[..., 1].astype(int) - (255 - crop_nir.astype(int))).max() <= 1
        again = augmentation.scale_crop(nir, rgb, (16, 16), np.random.default_rng(seed))
        assert np.array_equal(again[0], crop_nir) and np.array_equal(again[1], crop_rgb)
        plain_crop = any(np.array_equal(nir[top:top + 16, left:left + 16], crop_nir)
                         for top in range(25) for left in range(33))
        zoomed += not plain_crop
    assert zoomed >= 10  # most draws are a smaller region blown up, not a plain crop


def test_contrast_jitter_stretches_nir_about_its_mean_within_the_range():
    nir = torch.linspace(0.3, 0.7, 100).reshape(1, 10, 10)
    augmentation = Augmentation(contrast=0.4)
    factors = []
    for seed in range(30):
        jittered = augmentation.jitter_contrast(nir, np.random.default_rng(seed))
        assert jittered.mean().item() == pytest.approx(nir.mean().item(), abs=1e-6)  # no clamping at these values
        factors.append((jittered.std() / nir.std()).item())
    assert 0.6 <= min(factors) < 0.9 and 1.1 < max(factors) <= 1.4
    assert torch.equal(Augmentation().jitter_contrast(nir, np.random.default_rng(0)), nir)
    with pytest.raises(ValueError):
        Augmentation(contrast=1.0)


def test_a_run_with_the_whole_recipe_resumes_exactly(tmp_path, dataset):
    # The decay's horizon is fixed, as it is when a run is stopped (by --time-budget, say) and resumed.
    recipe = dict(lr_schedule="cosine", lr_final_fraction=0.1, lr_decay_steps=8, adam_beta1=0.5, l1_warmup_steps=3, scale_crop_min=0.6,
                  contrast_jitter=0.3, batch_size=2, precision="bf16")
    train_in_process(_config(tmp_path, dataset, "stopped", steps=4, **recipe))
    train_in_process(_config(tmp_path, dataset, "stopped", steps=8, **recipe))
    train_in_process(_config(tmp_path, dataset, "straight", steps=8, **recipe))
    weights_resumed, state_resumed = _state(tmp_path / "stopped", 8)
    weights_straight, state_straight = _state(tmp_path / "straight", 8)
    for key in weights_straight:
        assert torch.equal(weights_resumed[key], weights_straight[key]), key
    saved = json.loads((tmp_path / "straight" / "train_config.json").read_text())
    assert saved["lr_schedule"] == "cosine" and saved["contrast_jitter"] == 0.3 and saved["precision"] == "bf16"
    # The recipe changes the training: the paper's settings give other weights.
    train_in_process(_config(tmp_path, dataset, "paper", steps=8, batch_size=2, precision="bf16"))
    weights_paper, _ = _state(tmp_path / "paper", 8)
    assert any(not torch.equal(weights_paper[key], weights_straight[key]) for key in weights_straight)


def test_a_run_folder_from_before_the_recipe_resumes_and_a_changed_recipe_is_refused(tmp_path, dataset):
    train_in_process(_config(tmp_path, dataset, "old", steps=2))
    config_file = tmp_path / "old" / "train_config.json"
    document = json.loads(config_file.read_text())
    for key in ("adam_beta1", "adam_beta2", "lr_schedule", "lr_final_fraction", "lr_decay_steps", "lr_step_every", "lr_gamma",
                "l1_warmup_steps", "scale_crop_min", "contrast_jitter", "precision"):
        document.pop(key)  # as written before these settings existed
    config_file.write_text(json.dumps(document))
    assert train_in_process(_config(tmp_path, dataset, "old", steps=4)).final_step == 4
    with pytest.raises(TrainError, match="lr_schedule 'constant' → 'cosine'"):
        train_in_process(_config(tmp_path, dataset, "old", steps=6, lr_schedule="cosine"))


def test_bad_recipe_settings_are_refused_before_training(tmp_path, dataset):
    for bad, message in ((dict(lr_schedule="warm"), "unknown learning-rate schedule"),
                         (dict(adam_beta1=1.0), "adam_beta1"), (dict(scale_crop_min=0.05), "scale-crop"),
                         (dict(precision="fp16"), "precision"), (dict(l1_warmup_steps=-1), "l1_warmup_steps")):
        with pytest.raises(TrainError, match=message):
            train_in_process(_config(tmp_path, dataset, "bad", **bad))
    assert not (tmp_path / "bad").exists()


def test_a_run_stopped_by_its_time_budget_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path, dataset):
    # A budget that runs out during the first step: the run stops after it with a checkpoint of step 1,
    # although checkpoints are due only every 2 steps; the same command without budget continues.
    recipe = dict(lr_schedule="linear", lr_decay_steps=8, scale_crop_min=0.7, checkpoint_every=2)
    stopped = train_in_process(_config(tmp_path, dataset, "stopped", steps=8, time_budget_seconds=1e-6, **recipe))
    assert stopped.final_step == 1
    assert (tmp_path / "stopped" / "checkpoints" / "step-0000001").is_dir()
    resumed = train_in_process(_config(tmp_path, dataset, "stopped", steps=8, **recipe))
    assert (resumed.start_step, resumed.final_step) == (1, 8)
    train_in_process(_config(tmp_path, dataset, "straight", steps=8, **recipe))
    weights_resumed, _ = _state(tmp_path / "stopped", 8)
    weights_straight, _ = _state(tmp_path / "straight", 8)
    for key in weights_straight:
        assert torch.equal(weights_resumed[key], weights_straight[key]), key


def test_tensorboard_holds_the_learning_rate_sample_grids_and_the_hyper_parameters(tmp_path, dataset):
    train_in_process(_config(tmp_path, dataset, "run", steps=4, log_every=1, lr_schedule="linear", sample_every=2,
                             sample_frames=2))
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0}).Reload()
    rates = [event.value for event in events.Scalars("train/learning_rate")]
    assert rates == pytest.approx([1e-3, 0.75e-3, 0.5e-3, 0.25e-3])  # the rate each step ran at
    images = events.Images("samples")
    assert [image.step for image in images] == [2, 4]
    assert (images[0].height, images[0].width) == (2 * 40, 3 * 48)  # two frames, NIR | output | target
    hparams = EventAccumulator(str(tmp_path / "run" / "tensorboard" / "hparams")).Reload()
    assert "_hparams_/session_start_info" in hparams.summary_metadata
    assert [event.value for event in hparams.Scalars("hparam/best_eval_l1")][0] > 0


def _with_manifest(root):
    shards = [{"path": path, "split": path.parent.name, "recording_id": path.stem, "pairs": 1,
               "sha256": file_sha256(path)} for path in sorted(root.glob("*/*.h5"))]
    write_manifest(root, build_parameters={}, recordings={}, shards=shards)
    return root


def test_a_run_follows_its_dataset_to_another_path_and_refuses_another_dataset(tmp_path, dataset):
    _with_manifest(dataset)
    train_in_process(_config(tmp_path, dataset, "moved", steps=4))
    moved = tmp_path / "elsewhere" / "data"
    shutil.copytree(dataset, moved)  # staged to another disk, say
    shutil.rmtree(dataset)
    resumed = train_in_process(_config(tmp_path, moved, "moved", steps=8))
    assert (resumed.start_step, resumed.final_step) == (4, 8)
    shutil.copytree(moved, dataset)
    train_in_process(_config(tmp_path, dataset, "straight", steps=8))
    weights_moved, _ = _state(tmp_path / "moved", 8)
    weights_straight, _ = _state(tmp_path / "straight", 8)
    for key in weights_straight:
        assert torch.equal(weights_moved[key], weights_straight[key]), key

    other = _with_manifest(write_dataset(tmp_path / "other", train_pairs=6, eval_pairs=2, height=40, width=48, seed=5))
    with pytest.raises(TrainError, match="other settings \\(dataset_id 'manifest sha256 [0-9a-f]{64}' → 'manifest sha256"):
        train_in_process(_config(tmp_path, other, "moved", steps=10))


def test_a_run_folder_that_named_its_dataset_by_path_resumes_on_that_path_only(tmp_path, dataset):
    train_in_process(_config(tmp_path, dataset, "old", steps=2))
    config_file = tmp_path / "old" / "train_config.json"
    document = json.loads(config_file.read_text())
    document.pop("dataset_id")  # as written before runs knew their dataset by checksum
    config_file.write_text(json.dumps(document))
    assert train_in_process(_config(tmp_path, dataset, "old", steps=4)).final_step == 4
    config_file.write_text(json.dumps({**document, "dataset": str(tmp_path / "somewhere-else")}))
    with pytest.raises(TrainError, match="dataset_id 'path .*somewhere-else'"):
        train_in_process(_config(tmp_path, dataset, "old", steps=6))


@pytest.mark.parametrize("select_by", ["l1", "psnr"])
def test_best_is_the_evaluation_with_the_best_chosen_score(tmp_path, dataset, select_by):
    train_in_process(_config(tmp_path, dataset, "run", steps=8, eval_every=2, sample_every=0, select_by=select_by,
                             learning_rate=3e-3))
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard")).Reload()
    scores = {event.step: event.value for event in events.Scalars(f"eval/{select_by}")}
    assert sorted(scores) == [2, 4, 6, 8]
    pick = max(scores, key=scores.get) if select_by == "psnr" else min(scores, key=scores.get)
    best = read_checkpoint_config(tmp_path / "run" / "best")
    assert best["training_step"] == pick and best["selected_by"] == select_by
    # The recorded PSNR is what the reloaded checkpoint gives on the eval frames (per-frame mean).
    generator = load_generator(tmp_path / "run" / "best")
    evaluation = ShardDataset.from_split(dataset, "eval", flip=False)
    with torch.no_grad():
        values = []
        for index in range(len(evaluation)):
            nir, rgb = evaluation[index]
            mse = ((generator(nir[None]).clamp(0, 1) - rgb[None]) ** 2).mean()
            values.append(float(10 * torch.log10(1 / mse)))
    assert best["eval_psnr"] == pytest.approx(np.mean(values), abs=1e-3)
