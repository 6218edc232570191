"""The losses of §3.5 against values computed by hand on tiny tensors."""
from __future__ import annotations

import math

import pytest
import torch

from nircolor.models.losses import discriminator_loss, generator_adversarial_loss, generator_loss, l1_loss


def _logit(probability: float) -> float:
    return math.log(probability / (1.0 - probability))


def test_discriminator_loss_uses_one_sided_smoothing():
    # D(real) = 0.8 against target 0.9; D(fake) = 0.25 against target 0 (never smoothed).
    real = torch.tensor([_logit(0.8)])
    fake = torch.tensor([_logit(0.25)])
    expected = -(0.9 * math.log(0.8) + 0.1 * math.log(0.2)) - math.log(1 - 0.25)
    assert discriminator_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)


def test_discriminator_loss_averages_over_patches():
    real = torch.tensor([[_logit(0.9), _logit(0.6)]])
    fake = torch.tensor([[_logit(0.1), _logit(0.5)]])
    smoothed = [-(0.9 * math.log(p) + 0.1 * math.log(1 - p)) for p in (0.9, 0.6)]
    fakes = [-math.log(1 - p) for p in (0.1, 0.5)]
    expected = sum(smoothed) / 2 + sum(fakes) / 2
    assert discriminator_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)


def test_smoothing_leaves_a_floor_for_perfect_real_predictions():
    # With target 0.9 a confident D(real) = 1 - 1e-6 is penalized; with target 1 it costs ~nothing.
    real = torch.tensor([_logit(1 - 1e-6)])
    fake = torch.tensor([-30.0])
    assert discriminator_loss(real, fake, real_label=1.0).item() < 1e-5
    assert discriminator_loss(real, fake).item() == pytest.approx(-0.1 * math.log(1e-6), rel=1e-3)


def test_generator_adversarial_loss_is_non_saturating():
    fake = torch.tensor([_logit(0.75), _logit(0.2)])
    expected = (-math.log(0.75) - math.log(0.2)) / 2
    assert generator_adversarial_loss(fake).item() == pytest.approx(expected, rel=1e-6)


def test_l1_loss_is_the_mean_over_pixels_and_channels():
    output = torch.tensor([[[[0.0, 0.5]], [[1.0, 0.25]], [[0.2, 0.2]]]])  # (1,3,1,2)
    target = torch.tensor([[[[0.5, 0.5]], [[0.0, 0.75]], [[0.2, 0.8]]]])
    expected = (0.5 + 0.0 + 1.0 + 0.5 + 0.0 + 0.6) / 6
    assert l1_loss(output, target).item() == pytest.approx(expected, rel=1e-6)


def test_lambda_one_is_plain_l1():
    output = torch.tensor([0.1, 0.9, 0.4])
    target = torch.tensor([0.3, 0.6, 0.4])
    fake = torch.tensor([_logit(0.01)])  # a large adversarial loss that λ = 1 must ignore
    expected = (0.2 + 0.3 + 0.0) / 3
    assert generator_loss(fake, output, target, l1_weight=1.0).item() == pytest.approx(expected, rel=1e-6)
    assert generator_loss(None, output, target, l1_weight=1.0).item() == pytest.approx(expected, rel=1e-6)


def test_lambda_mixes_adversarial_and_l1():
    output = torch.tensor([0.0, 1.0])
    target = torch.tensor([0.5, 0.5])
    fake = torch.tensor([_logit(0.5)])
    for weight in (0.99, 0.01):
        expected = (1 - weight) * math.log(2) + weight * 0.5
        assert generator_loss(fake, output, target, l1_weight=weight).item() == pytest.approx(expected, rel=1e-6)


def test_generator_loss_gradients_reach_the_output():
    output = torch.tensor([0.2, 0.8], requires_grad=True)
    target = torch.tensor([0.5, 0.5])
    generator_loss(None, output, target, l1_weight=1.0).backward()
    # d/dx mean|x - t| = sign(x - t) / n
    torch.testing.assert_close(output.grad, torch.tensor([-0.5, 0.5]))
