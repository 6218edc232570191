"""Sampling: interval thinning, stopped-car near duplicates against the last KEPT frame, exposure."""
from __future__ import annotations

import numpy as np
import pytest

from nircolor.dataset_tools.registration import luminance
from nircolor.dataset_tools.sampling import Sampler, SamplingOptions


def _frame(shift=0, seed=0, level=None, nir_bits=10):
    rng = np.random.default_rng(seed)
    base = np.indices((64, 96)).sum(0) % 32 / 31.0  # diagonal stripes: moving shifts them
    base = np.roll(base, shift, axis=1)
    if level is not None:
        base = np.full_like(base, level)
    noisy = np.clip(base * 0.8 + 0.1 + rng.normal(0, 0.005, base.shape), 0, 1)
    nir = np.round(noisy * (2**nir_bits - 1)).astype(np.uint16)
    rgb = np.round(np.repeat(noisy[..., None], 3, axis=2) * 255).astype(np.uint8)
    return nir, rgb


def test_every_frames_and_every_seconds():
    sampler = Sampler(SamplingOptions(every_frames=3, duplicate_threshold=0.0))
    decisions = [sampler.consider(*_frame(shift=k), seconds=k / 25, nir_bits=10).reason for k in range(7)]
    assert decisions == [None, "interval", "interval", None, "interval", "interval", None]
    sampler = Sampler(SamplingOptions(every_seconds=0.1, duplicate_threshold=0.0))
    kept = [k for k in range(10) if sampler.consider(*_frame(shift=k), seconds=k * 0.04, nir_bits=10).reason is None]
    assert kept == [0, 3, 6, 9]  # 0.12 s apart: the first frame at least 0.1 s after the last kept one
    assert sampler.counts == {"considered": 10, "kept": 4, "interval": 6, "near_duplicate": 0, "exposure": 0}


@pytest.mark.parametrize("options", [SamplingOptions(every_frames=3, duplicate_threshold=0.01),
                                     SamplingOptions(every_seconds=0.1, duplicate_threshold=0.01),
                                     SamplingOptions(every_frames=2, every_seconds=0.15, duplicate_threshold=0.01)])
def test_skips_by_interval_foretells_exactly_the_interval_skips(options):
    """The pair sink asks first, so a rig's RGB is not warped for a pair the interval drops."""
    sampler = Sampler(options)
    shifts = [0, 2, 4, 4, 4, 4, 6, 8, 8, 10, 12, 14]  # a stop in the middle: near duplicates too
    for k, shift in enumerate(shifts):
        foretold = sampler.skips_by_interval(k * 0.04)
        assert sampler.skips_by_interval(k * 0.04) == foretold  # asking changes nothing
        reason = sampler.consider(*_frame(shift=shift, seed=k), seconds=k * 0.04, nir_bits=10).reason
        assert foretold == (reason == "interval"), (k, reason)
    assert sampler.counts["interval"] > 0 and sampler.counts["kept"] > 1


def test_stopped_car_keeps_one_frame_per_stop():
    sampler = Sampler(SamplingOptions(duplicate_threshold=0.01))
    shifts = [0, 2, 4] + [4] * 20 + [6, 8]  # drive, stop for 20 frames, drive on
    decisions = [sampler.consider(*_frame(shift=s, seed=k), seconds=k / 25, nir_bits=10).reason for k, s in enumerate(shifts)]
    assert decisions[:3] == [None, None, None]
    assert decisions[3:23] == ["near_duplicate"] * 20  # noise differs, scene does not
    assert decisions[23:] == [None, None]
    assert sampler.counts["near_duplicate"] == 20 and sampler.counts["kept"] == 5


def test_slow_creep_is_compared_with_the_last_kept_frame():
    # Each step is tiny, but the drift since the last KEPT frame eventually exceeds the threshold.
    sampler = Sampler(SamplingOptions(duplicate_threshold=0.02))
    nir0, rgb0 = _frame()
    decisions = []
    for k in range(12):
        nir = (nir0.astype(np.int32) + 4 * k).clip(0, 1023).astype(np.uint16)  # +0.4 % brightness per frame
        decisions.append(sampler.consider(nir, rgb0, seconds=k / 25, nir_bits=10).reason)
    kept = [k for k, reason in enumerate(decisions) if reason is None]
    assert kept[0] == 0 and len(kept) >= 2 and kept[1] > 1


@pytest.mark.parametrize("level", [0.0, 1.0])
def test_black_or_clipped_frames_are_rejected(level):
    sampler = Sampler(SamplingOptions(duplicate_threshold=0.0))
    nir, rgb = _frame(level=level)
    nir[...] = 0 if level == 0.0 else 1023
    assert sampler.consider(nir, rgb, 0.0, 10).reason == "exposure"
    assert sampler.consider(*_frame(), 0.04, 10).reason is None
    eight_bit = Sampler().consider(np.full((32, 32), 255, np.uint8), np.full((32, 32, 3), 128, np.uint8), 0.0, 8).reason
    assert eight_bit == "exposure"


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="every_frames"):
        SamplingOptions(every_frames=0)


@pytest.mark.parametrize("nir_bits,dtype", [(10, np.uint16), (8, np.uint8)])
def test_exposure_thresholds_are_exact_in_integer_levels(nir_bits, dtype):
    """A pixel is black at level ≤ 0.02·full scale and clipped at ≥ 0.98·full scale, counted per pixel."""
    full = 2**nir_bits - 1
    dark, bright = int(np.floor(0.02 * full)), int(np.ceil(0.98 * full))
    rgb = np.full((40, 50, 3), 128, np.uint8)

    def decision(level, fraction):
        nir = np.full((40, 50), full // 2, dtype)
        nir.flat[: int(fraction * nir.size)] = level
        return Sampler(SamplingOptions(duplicate_threshold=0.0)).consider(nir, rgb, 0.0, nir_bits).reason

    assert decision(dark, 0.61) == "exposure" and decision(dark + 1, 0.61) is None
    assert decision(dark, 0.59) is None  # at most 60% black is fine
    assert decision(bright, 0.31) == "exposure" and decision(bright - 1, 0.31) is None


def test_a_kept_pair_carries_its_rgb_luminance():
    nir, rgb = _frame()
    decision = Sampler(SamplingOptions(duplicate_threshold=0.0)).consider(nir, rgb, 0.0, 10)
    assert decision.reason is None
    assert np.array_equal(decision.luminance, luminance(rgb))  # registration reuses it instead of computing it again
