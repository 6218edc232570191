"""The per-pair work of every dataset writer: sample → register → append, with the statistics the
manifest reports (paper §4: registered pairs sampled from drives).

`dataset build` feeds one sink per segment (with a sampler, and for two-camera rigs the homography
that maps RGB onto the NIR grid), `dataset import-pairs` one per
recording (no sampler: every still pair counts). Shards open on the first stored pair of each
(height, width, nir_bits), so a source whose pairs differ in size gets one shard per size.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np

from nircolor.dataset_tools.calibration import warp_to_nir
from nircolor.dataset_tools.registration import Registered, RegistrationPolicy, register_pair
from nircolor.dataset_tools.sampling import Decision, Sampler
from nircolor.dataset_tools.shards import ShardInfo, ShardWriter

# (height, width, nir_bits) -> the writer of that shard
OpenWriter = Callable[[int, int, int], ShardWriter]


class PairSink:
    """Decide, register and store pairs; `.statistics()` sums up what became of them."""

    def __init__(self, open_writer: OpenWriter, policy: RegistrationPolicy, sampler: Sampler | None = None,
                 homography: np.ndarray | None = None):
        self.open_writer = open_writer
        self.homography = homography  # two-camera rigs: RGB pixel → NIR pixel, applied first
        self.policy = policy
        self.sampler = sampler
        self.writers: dict[tuple[int, int, int], ShardWriter] = {}
        self.rejected: Counter = Counter()
        self.shifts: list[tuple[float, float]] = []
        self.scores: list[float] = []
        self.sampled = self.stored = self.corrected = 0

    def add(self, nir: np.ndarray, rgb: np.ndarray, nir_bits: int, frame_index: int, seconds: float) -> str | None:
        """Sample, register and store one pair; the reason it was left out, or None when stored."""
        if self.homography is not None and not (self.sampler and self.sampler.skips_by_interval(seconds)):
            rgb = warp_to_nir(rgb, self.homography, *nir.shape[:2])  # not for a pair the interval skips
        rgb_luminance = None
        if self.sampler is not None:
            decision = self.sample(nir, rgb, seconds, nir_bits)
            if decision.reason:
                return self.reject(decision.reason)
            rgb_luminance = decision.luminance
        self.sampled += 1
        registered = self.register(nir, rgb, nir_bits, rgb_luminance)
        estimate = registered.estimate
        self.shifts.append((estimate.dy, estimate.dx))
        self.scores.append(estimate.score)
        if registered.rejected:
            return self.reject(registered.rejected)
        self.corrected += registered.corrected
        self.write(nir, registered, nir_bits, frame_index, seconds)
        self.stored += 1
        return None

    def add_frames(self, nir, rgb, nir_bits: int, frame_index: int) -> str | None:
        """`add` for two Frames: a pair that the interval skips is counted without touching pixels
        (a LazyFrame then never converts them)."""
        if self.sampler is not None and self.sampler.skips_by_interval(nir.seconds):
            return self.reject(self.sample(None, None, nir.seconds, nir_bits).reason)
        return self.add(nir.array, rgb.array, nir_bits, frame_index, nir.seconds)

    def reject(self, reason: str) -> str:
        """Count a pair left out (also for reasons found before the sink: unreadable, unpaired)."""
        self.rejected[reason] += 1
        return reason

    # The three stages, apart so that a benchmark can time each (pipeline/bench/ingest.py).
    def sample(self, nir, rgb, seconds: float, nir_bits: int) -> Decision:
        return self.sampler.consider(nir, rgb, seconds, nir_bits)

    def register(self, nir, rgb, nir_bits: int, rgb_luminance) -> Registered:
        return register_pair(nir, rgb, nir_bits, self.policy, rgb_luminance)

    def write(self, nir, registered: Registered, nir_bits: int, frame_index: int, seconds: float) -> None:
        key = (*nir.shape[:2], int(nir_bits))
        if key not in self.writers:
            self.writers[key] = self.open_writer(*key)
        estimate = registered.estimate
        self.writers[key].append(nir, registered.rgb, frame_index, seconds,
                                 shift=(estimate.dy, estimate.dx), score=estimate.score)

    def close(self) -> list[ShardInfo]:
        """Finish every shard (renamed to its final name); one ShardInfo per shard, in opening order."""
        return [writer.close() for writer in self.writers.values()]

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.abort()

    def statistics(self) -> dict:
        return {"sampled": self.sampled, "stored": self.stored, "corrected": self.corrected,
                "rejected": dict(sorted(self.rejected.items())), "shifts": list(self.shifts),
                "scores": list(self.scores)}
