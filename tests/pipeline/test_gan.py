"""The GAN step of §3.5: overfitting one batch, λ = 1 without D, conditional D, exact state round trip."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from nircolor.models.johnson import JohnsonConfig
from nircolor.models.losses import generator_adversarial_loss, l1_loss
from nircolor.models.names import parse_model_name, split_training_flags
from nircolor.models.preprocess import nir_to_tensor, rgb_to_tensor
from nircolor.pipeline.gan import GanTrainer, build_discriminator, default_learning_rate
from tests.pipeline.shard_factory import synthetic_pair


def _batch(seed: int = 0, size: int = 32, count: int = 1):
    random = np.random.default_rng(seed)
    pairs = [synthetic_pair(random, size, size, 8) for _ in range(count)]
    return (torch.cat([nir_to_tensor(nir, 8) for nir, _ in pairs]), torch.cat([rgb_to_tensor(rgb) for _, rgb in pairs]))


def _trainer(name: str = "johnson-6", l1_weight: float = 0.99, seed: int = 0) -> GanTrainer:
    torch.manual_seed(seed)
    _, conditional = split_training_flags(name)
    generator = parse_model_name(name).tiny().build()
    return GanTrainer(generator, build_discriminator(l1_weight, conditional=conditional), l1_weight=l1_weight)


def test_overfitting_one_batch_cuts_l1_by_half():
    trainer = _trainer(l1_weight=1.0)
    nir, rgb = _batch()
    first = trainer.step(nir, rgb)["l1"].item()
    for _ in range(250):
        last = trainer.step(nir, rgb)["l1"].item()
    assert last <= 0.5 * first, (first, last)


def test_lambda_one_trains_without_a_discriminator_and_lr_follows_the_paper():
    trainer = _trainer(l1_weight=1.0)
    assert trainer.discriminator is None
    assert set(trainer.step(*_batch())) == {"generator", "l1"}
    assert trainer.learning_rate == 1e-3
    assert _trainer(l1_weight=0.01).learning_rate == 5e-5 == default_learning_rate(0.0)
    assert _trainer(l1_weight=0.99).learning_rate == 1e-3


def test_adversarial_step_trains_both_networks_and_conditional_d_sees_nir():
    nir, rgb = _batch()
    for name, channels in (("johnson-6", 3), ("johnson-6-c", 4)):
        trainer = _trainer(name)
        assert trainer.discriminator.down.in_channels == channels
        before = copy.deepcopy(trainer.discriminator.state_dict())
        generator_before = copy.deepcopy(trainer.generator)
        losses = trainer.step(nir, rgb)
        assert set(losses) == {"discriminator", "generator", "l1"}
        assert not torch.equal(before["down.weight"], trainer.discriminator.state_dict()["down.weight"])
        # G's loss is (1-λ)·L_AG + λ·L1 of the step's output judged by the just-updated D (D does not change
        # after G's update): recompute it from the networks as they were.
        with torch.no_grad():
            output = generator_before(nir)
            logits = trainer.discriminator(output, nir) if channels == 4 else trainer.discriminator(output)
            adversarial = generator_adversarial_loss(logits)
        assert losses["l1"] == pytest.approx(float(l1_loss(output, rgb)), rel=1e-5)
        assert float(adversarial) > 0.1  # a term of 0.01·L_AG that a loss without it would miss by > 1e-3
        assert losses["generator"] == pytest.approx(float(0.01 * adversarial + 0.99 * losses["l1"]), rel=1e-5)
    # The conditional D's judgement depends on the NIR frame it is shown with the RGB one.
    with torch.no_grad():
        assert not torch.equal(trainer.discriminator(rgb, nir), trainer.discriminator(rgb, 1.0 - nir))


def test_discriminator_learns_to_separate_real_from_generated():
    trainer = _trainer(l1_weight=0.99)
    nir, rgb = _batch(count=2)
    start = trainer.step(nir, rgb)["discriminator"].item()
    for _ in range(40):
        end = trainer.step(nir, rgb)["discriminator"].item()
    assert end < start


def test_state_round_trip_continues_bit_exactly():
    nir, rgb = _batch(count=2)
    original = _trainer(seed=1)
    for _ in range(3):
        original.step(nir, rgb)
    generator_state = copy.deepcopy(original.generator.state_dict())
    state = copy.deepcopy(original.state_dict())
    restored = _trainer(seed=99)  # different initial weights, all overwritten by the state
    restored.load_state_dict(state, generator_state=generator_state)
    assert restored.step_count == 3
    for _ in range(2):
        original.step(nir, rgb)
        restored.step(nir, rgb)
    for key, value in original.generator.state_dict().items():
        assert torch.equal(value, restored.generator.state_dict()[key]), key
    for key, value in original.discriminator.state_dict().items():
        assert torch.equal(value, restored.discriminator.state_dict()[key]), key


def test_invalid_settings_are_refused():
    generator = JohnsonConfig(blocks=1, base_channels=4).build()
    with pytest.raises(ValueError, match="needs a discriminator"):
        GanTrainer(generator, None, l1_weight=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        GanTrainer(generator, None, l1_weight=1.5)
