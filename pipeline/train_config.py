"""The settings of one training run (§4.2 defaults), checked in the driver before any worker starts.

The model name may carry the training flag `c` (conditional discriminator, §4.3); it belongs to
this configuration, and the generator config it parses to never holds it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from nircolor.models.names import parse_model_name, split_training_flags, training_name
from nircolor.pipeline.gan import default_learning_rate

# Settings that define a run: a resume with other values would not continue the same training.
RUN_DEFINING = ("model", "tiny", "dataset", "l1_weight", "learning_rate", "batch_size", "crop_size", "seed")


class TrainError(RuntimeError):
    """Training could not start or finish; the message says why in one sentence."""


@dataclass
class TrainConfig:
    model: str  # a model name, `c` included for a conditional discriminator (estuary-16-isrc)
    dataset: str
    run_dir: str
    steps: int = 60_000  # §4.2
    batch_size: int = 1  # §4.2
    crop_size: int | None = None  # None: full frames as in §4.2
    l1_weight: float = 0.99  # λ, §4.3 standard value
    learning_rate: float | None = None  # None: 1e-3, or 5e-5 for λ ≤ 0.01 (§4.2)
    checkpoint_every: int = 1000
    eval_every: int = 1000
    sample_every: int = 1000
    log_every: int = 10
    keep_checkpoints: int = 3
    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: int = 1
    loader_workers: int | None = None  # HDF5 reading processes per worker; None: 2 on GPU, 0 on CPU
    sample_frames: int = 3
    max_failures: int = 2
    seed: int = 0
    tiny: bool = False  # the model's test-size variant (tests, demo)

    def generator_config(self):
        config = parse_model_name(self.model)
        return config.tiny() if self.tiny else config

    @property
    def conditional(self) -> bool:
        """Whether the discriminator sees the NIR frame too (the name's `c` flag)."""
        return split_training_flags(self.model)[1]

    def model_name(self) -> str:
        """The trained network's name: its generator's exact name (test widths included) and `c` when conditional."""
        return training_name(self.generator_config().name, self.conditional)

    def resolved_learning_rate(self) -> float:
        return self.learning_rate if self.learning_rate is not None else default_learning_rate(self.l1_weight)

    def to_dict(self) -> dict:
        document = dataclasses.asdict(self)
        document["learning_rate"] = self.resolved_learning_rate()
        document["model_name"] = self.model_name()
        document["conditional"] = self.conditional
        return document

    def warnings(self) -> list[str]:
        """Settings that are valid but probably not what the user wants."""
        found = []
        if self.crop_size is not None:
            with torch.device("meta"):  # class attributes only; no weights
                generator = self.generator_config().build()
            minimum = max(generator.size_multiple, generator.min_size)
            if self.crop_size < minimum:
                # The network pads the crop back up by repeating its edges: no time saved, and measured
                # worse on real data (docs/results.md).
                found.append(f"--crop {self.crop_size} is smaller than {self.generator_config().name}'s smallest "
                             f"input ({minimum}×{minimum}); crops are padded to it by edge replication, which costs "
                             f"the same time as a {minimum}-pixel crop and trains on mostly artificial pixels")
        return found

    def check(self) -> None:
        """Raise TrainError naming the first invalid setting."""
        positive = {"steps": self.steps, "batch_size": self.batch_size, "checkpoint_every": self.checkpoint_every,
                    "workers": self.workers, "cpus_per_worker": self.cpus_per_worker}
        for name, value in positive.items():
            if value < 1:
                raise TrainError(f"{name} must be at least 1, got {value}")
        if not 0.0 <= self.l1_weight <= 1.0:
            raise TrainError(f"lambda must lie in [0, 1], got {self.l1_weight}")
        if self.crop_size is not None and self.crop_size < 8:
            raise TrainError(f"crop must be at least 8 pixels, got {self.crop_size}")
        if self.gpus_per_worker < 0:
            raise TrainError(f"gpus_per_worker must not be negative, got {self.gpus_per_worker}")
