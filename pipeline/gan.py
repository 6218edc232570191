"""One GAN training step of §3.5 in plain torch (usable with or without Ray Train).

D minimizes L_AD with one-sided label smoothing; G minimizes (1−λ)·L_AG + λ·L1. λ = 1 trains G on
L1 alone and builds no discriminator. Adam with default betas; lr 1e-3, 5e-5 for λ ≤ 0.01 (§4.2).
Beyond the paper (all off by default): other Adam betas, a learning-rate schedule
(pipeline/recipe.py) and an L1-only warm-up before the adversarial term starts.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from nircolor.models.discriminator import Discriminator, DiscriminatorConfig
from nircolor.models.losses import discriminator_loss, generator_loss, l1_loss
from nircolor.pipeline.recipe import LearningRateSchedule

PAPER_BETAS = (0.9, 0.999)  # torch's Adam defaults, which §4.2 does not change
PAPER_SCHEDULE = LearningRateSchedule("constant")

DEFAULT_LEARNING_RATE = 1e-3
LOW_LAMBDA_LEARNING_RATE = 5e-5


def default_learning_rate(l1_weight: float) -> float:
    """§4.2: λ ∈ {0, 0.01} only converged with η = 5e-5."""
    return LOW_LAMBDA_LEARNING_RATE if l1_weight <= 0.01 else DEFAULT_LEARNING_RATE


def build_discriminator(l1_weight: float, *, conditional: bool = False) -> Discriminator | None:
    """The §4.2 discriminator (conditional: it sees the NIR frame too); none for λ = 1."""
    if l1_weight >= 1.0:
        return None
    return Discriminator(DiscriminatorConfig(conditional=conditional))


def unwrap(module: nn.Module | None) -> nn.Module | None:
    """The bare module inside a DistributedDataParallel wrapper (or the module itself)."""
    return getattr(module, "module", module)


def _adam(module: nn.Module, learning_rate: float, betas: tuple[float, float]) -> torch.optim.Adam:
    """Adam, fused into one kernel over all parameters where torch has one (float32 on CPU or CUDA):
    the same update as the per-tensor loop, without ~250 small kernel launches per step (on the
    2-core CPU 6–8% of an estuary-16-is GAN step at 256×256; docs/benchmarks.md)."""
    parameters = list(module.parameters())
    fused = bool(parameters) and all(p.dtype == torch.float32 and p.device.type in ("cpu", "cuda") for p in parameters)
    return torch.optim.Adam(parameters, lr=learning_rate, betas=betas, fused=fused)


class GanTrainer:
    """Generator, optional discriminator and their Adam optimizers; `step(nir, rgb)` trains one batch.

    The modules may already be wrapped for DDP (ray.train.torch.prepare_model); state dicts are
    always those of the bare modules, so checkpoints do not depend on the number of workers.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module | None, *, l1_weight: float = 0.99,
                 learning_rate: float | None = None, autocast_dtype: torch.dtype | None = None,
                 betas: tuple[float, float] = PAPER_BETAS, schedule: LearningRateSchedule = PAPER_SCHEDULE,
                 l1_warmup_steps: int = 0):
        if not 0.0 <= l1_weight <= 1.0:
            raise ValueError(f"λ must lie in [0, 1], got {l1_weight}")
        if l1_weight < 1.0 and discriminator is None:
            raise ValueError(f"λ = {l1_weight} needs a discriminator")
        self.generator = generator
        self.discriminator = discriminator if l1_weight < 1.0 else None
        self.l1_weight = float(l1_weight)
        self.learning_rate = float(learning_rate if learning_rate is not None else default_learning_rate(l1_weight))
        self.autocast_dtype = autocast_dtype
        self.conditional = bool(getattr(unwrap(discriminator), "config", None) and unwrap(discriminator).config.conditional)
        self.schedule = schedule
        self.l1_warmup_steps = int(l1_warmup_steps)
        betas = tuple(float(beta) for beta in betas)
        self.generator_optimizer = _adam(generator, self.learning_rate, betas)
        self.discriminator_optimizer = (
            _adam(self.discriminator, self.learning_rate, betas) if self.discriminator is not None else None
        )
        self.step_count = 0

    def current_learning_rate(self) -> float:
        """η of the step about to be taken (the schedule is a function of the step alone)."""
        return self.learning_rate * self.schedule.factor(self.step_count)

    def _set_learning_rate(self) -> None:
        rate = self.current_learning_rate()
        for optimizer in (self.generator_optimizer, self.discriminator_optimizer):
            if optimizer is not None:
                for group in optimizer.param_groups:
                    group["lr"] = rate

    def _autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)

    def _discriminate(self, rgb: torch.Tensor, nir: torch.Tensor) -> torch.Tensor:
        return self.discriminator(rgb, nir) if self.conditional else self.discriminator(rgb)

    def step(self, nir: torch.Tensor, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimization step of D (on L_AD) then G (on L_G); returns the detached 0-d losses.

        The losses stay on the device so a step never waits for the GPU; `losses_to_floats` reads them.
        """
        self.generator.train()
        self._set_learning_rate()
        with self._autocast(nir.device):
            output = self.generator(nir)  # (B,3,H,W)
        output = output.float()
        losses: dict[str, torch.Tensor] = {}
        fake_logits = None
        # During the L1 warm-up G learns the colours alone; D starts with the adversarial term.
        adversarial = self.discriminator is not None and self.step_count >= self.l1_warmup_steps
        if adversarial:
            # D sees real and fake in one batch: one forward per step keeps DDP's reducer simple,
            # and the discriminator has no cross-sample layer, so this equals two separate calls.
            self.discriminator_optimizer.zero_grad(set_to_none=True)
            with self._autocast(nir.device):
                logits = self._discriminate(torch.cat([rgb, output.detach()]), torch.cat([nir, nir])).float()
            real_logits, detached_fake_logits = logits.chunk(2)
            loss_d = discriminator_loss(real_logits, detached_fake_logits)
            loss_d.backward()
            self.discriminator_optimizer.step()
            losses["discriminator"] = loss_d.detach()
            with self._autocast(nir.device):
                fake_logits = self._discriminate(output, nir).float()
        self.generator_optimizer.zero_grad(set_to_none=True)
        loss_g = generator_loss(fake_logits, output, rgb, self.l1_weight if adversarial else 1.0)
        loss_g.backward()
        self.generator_optimizer.step()
        self.step_count += 1
        losses["generator"] = loss_g.detach()
        losses["l1"] = l1_loss(output.detach(), rgb)
        return losses

    @staticmethod
    def losses_to_floats(losses: dict[str, torch.Tensor]) -> dict[str, float]:
        """One device→host transfer for all losses of a step."""
        values = torch.stack([value.float() for value in losses.values()]).cpu().tolist()
        return dict(zip(losses.keys(), values))

    @torch.no_grad()
    def evaluate(self, batches) -> dict[str, float]:
        """{"l1", "psnr"} of the generator over (nir, rgb) batches: the paper's L1 error and the per-frame
        PSNR (dB, peak 1, each frame capped at 100 dB), both means over frames.

        In float32 even when training runs in bf16: the figure that picks best/ is then the one a
        reloaded checkpoint reproduces, not one moved by autocast's rounding.
        """
        generator = unwrap(self.generator)
        generator.eval()
        l1, psnr, frames = 0.0, 0.0, 0
        for nir, rgb in batches:
            output = generator(nir).float().clamp(0.0, 1.0)
            l1 += float((output - rgb).abs().mean(dim=(1, 2, 3)).sum())
            mse = ((output - rgb) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)  # 1e-10: the 100 dB cap
            psnr += float((10.0 * torch.log10(1.0 / mse)).sum())
            frames += nir.shape[0]
        generator.train()
        return {"l1": l1 / max(frames, 1), "psnr": psnr / max(frames, 1)}

    def state_dict(self) -> dict:
        state = {
            "step": self.step_count,
            "l1_weight": self.l1_weight,
            "learning_rate": self.learning_rate,
            "generator_optimizer": self.generator_optimizer.state_dict(),
        }
        if self.discriminator is not None:
            state["discriminator"] = unwrap(self.discriminator).state_dict()
            state["discriminator_optimizer"] = self.discriminator_optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict, generator_state: dict | None = None) -> None:
        """Restore optimizers, discriminator and step (and the generator when its weights are given)."""
        if generator_state is not None:
            unwrap(self.generator).load_state_dict(generator_state)
        self.generator_optimizer.load_state_dict(state["generator_optimizer"])
        if self.discriminator is not None:
            if "discriminator" not in state:
                raise ValueError("the saved training state has no discriminator (it was trained with λ = 1)")
            unwrap(self.discriminator).load_state_dict(state["discriminator"])
            self.discriminator_optimizer.load_state_dict(state["discriminator_optimizer"])
        self.step_count = int(state["step"])
