"""The settings of one training run (§4.2 defaults), checked in the driver before any worker starts.

The model name may carry the training flag `c` (conditional discriminator, §4.3); it belongs to
this configuration, and the generator config it parses to never holds it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from nircolor.models.inference import has_bf16_units
from nircolor.models.names import parse_model_name, split_training_flags, training_name
from nircolor.pipeline.gan import default_learning_rate
from nircolor.pipeline.recipe import Augmentation, LearningRateSchedule

# Settings that define a run: a resume with other values would not continue the same training.
# The dataset is known by its manifest's checksum (`dataset_id`), not its path: a dataset copied or
# mounted elsewhere resumes the same run.
RUN_DEFINING = ("model", "tiny", "dataset_id", "l1_weight", "learning_rate", "batch_size", "crop_size", "seed",
                "adam_beta1", "adam_beta2", "lr_schedule", "lr_final_fraction", "lr_decay_steps", "lr_step_every",
                "lr_gamma", "l1_warmup_steps", "scale_crop_min", "contrast_jitter", "select_by")
# What a run folder written before a setting existed was trained with (the paper's recipe).
RUN_DEFAULTS = {"adam_beta1": 0.9, "adam_beta2": 0.999, "lr_schedule": "constant", "lr_final_fraction": 0.0,
                "lr_decay_steps": None, "lr_step_every": 0, "lr_gamma": 0.5, "l1_warmup_steps": 0, "scale_crop_min": 1.0,
                "contrast_jitter": 0.0, "select_by": "l1"}
TRAIN_PRECISIONS = ("auto", "fp32", "bf16")


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
    # Beyond the paper (pipeline/recipe.py); the defaults are §4.2's.
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    lr_schedule: str = "constant"  # constant | linear | cosine | step
    lr_final_fraction: float = 0.0  # linear/cosine: η at the last step, as a fraction of η0
    lr_decay_steps: int | None = None  # linear/cosine horizon; None: --steps (a run extended later decays anew)
    lr_step_every: int = 0  # step: multiply η by lr_gamma every N steps
    lr_gamma: float = 0.5
    l1_warmup_steps: int = 0  # G on L1 alone for this many steps before the adversarial term
    scale_crop_min: float = 1.0  # < 1: random scale-crops of [scale_crop_min, 1]× the training size
    contrast_jitter: float = 0.0  # NIR contrast × U[1 − j, 1 + j]
    precision: str = "auto"  # auto: bf16 autocast + channels_last where the device has bf16 units
    time_budget_seconds: float | None = None  # stop cleanly with a checkpoint after this much wall time
    select_by: str = "l1"  # what picks best/: eval L1 (the paper's metric, lower) or per-frame PSNR (higher)

    def schedule(self) -> LearningRateSchedule:
        return LearningRateSchedule(self.lr_schedule, total_steps=self.lr_decay_steps or self.steps,
                                    final_fraction=self.lr_final_fraction, step_every=self.lr_step_every,
                                    gamma=self.lr_gamma)

    def augmentation(self) -> Augmentation:
        return Augmentation(scale_min=self.scale_crop_min, contrast=self.contrast_jitter)

    def betas(self) -> tuple[float, float]:
        return (self.adam_beta1, self.adam_beta2)

    def training_precision(self, device: torch.device) -> str:
        """"bf16" or "fp32" on this device: `auto` takes bf16 where the device has bf16 units."""
        if self.precision == "auto":
            return "bf16" if has_bf16_units(device) else "fp32"
        return self.precision

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
        if self.precision not in TRAIN_PRECISIONS:
            raise TrainError(f"precision must be one of {', '.join(TRAIN_PRECISIONS)}, got {self.precision!r}")
        for name, beta in (("adam_beta1", self.adam_beta1), ("adam_beta2", self.adam_beta2)):
            if not 0.0 <= beta < 1.0:
                raise TrainError(f"{name} must lie in [0, 1), got {beta}")
        if self.time_budget_seconds is not None and self.time_budget_seconds <= 0:
            raise TrainError(f"the time budget must be positive, got {self.time_budget_seconds} s")
        if self.select_by not in ("l1", "psnr"):
            raise TrainError(f"select_by must be l1 or psnr, got {self.select_by!r}")
        if self.l1_warmup_steps < 0:
            raise TrainError(f"l1_warmup_steps must not be negative, got {self.l1_warmup_steps}")
        try:
            self.schedule()
            self.augmentation()
        except ValueError as error:
            raise TrainError(str(error)) from None
