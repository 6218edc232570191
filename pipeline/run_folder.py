"""The training run folder: checkpoints with training state, best checkpoint, samples (DESIGN: Checkpoint).

    <run>/train_config.json
    <run>/checkpoints/step-XXXXXXX/   config.json, generator.safetensors, training_state/
    <run>/best/                        the checkpoint with the lowest eval L1 (generator only)
    <run>/samples/step-XXXXXXX.png     NIR | output | target of fixed eval frames
    <run>/tensorboard/, <run>/ray/     TensorBoard events, Ray Train's own storage
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors.torch import load_file

from nircolor.dataset_tools import atomic
from nircolor.models.checkpoint import WEIGHTS_FILE, read_checkpoint_config, save_generator
from nircolor.models.preprocess import nir_to_gray8, tensor_to_rgb

STATE_DIR = "training_state"
STATE_FILE = "state.pt"
_STEP_PATTERN = re.compile(r"^step-(\d{7,})$")


class RunFolderError(ValueError):
    """A run folder that cannot be resumed; the message names the path and the problem."""


def step_name(step: int) -> str:
    return f"step-{int(step):07d}"


class RunFolder:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).absolute()
        self.checkpoints = self.path / "checkpoints"
        self.best = self.path / "best"
        self.samples = self.path / "samples"
        self.tensorboard = self.path / "tensorboard"
        self.ray_storage = self.path / "ray"
        self.config_file = self.path / "train_config.json"

    def checkpoint_steps(self) -> list[int]:
        """Steps of the complete checkpoints (temporary directories start with a dot and never match)."""
        if not self.checkpoints.is_dir():
            return []
        steps = []
        for entry in self.checkpoints.iterdir():
            match = _STEP_PATTERN.match(entry.name)
            if match and (entry / STATE_DIR / STATE_FILE).is_file():
                steps.append(int(match.group(1)))
        return sorted(steps)

    def remove_stale_temporaries(self) -> None:
        """Drop checkpoint directories a killed run left half-written (they never carry a final name)."""
        if self.checkpoints.is_dir():
            for entry in self.checkpoints.glob(".step-*"):
                atomic.remove_leftovers(self.checkpoints / entry.name[1:].split(".", 1)[0])

    def latest_checkpoint(self) -> Path | None:
        steps = self.checkpoint_steps()
        return self.checkpoints / step_name(steps[-1]) if steps else None

    def save_checkpoint(self, generator: torch.nn.Module, training_state: dict, *, step: int, nir_bits: int,
                        manifest_sha256: str | None, keep: int, extra: dict | None = None) -> Path:
        """Write checkpoints/step-XXXXXXX atomically (generator + training_state/), keep the newest `keep`."""

        def write_state(directory: Path) -> None:
            (directory / STATE_DIR).mkdir()
            torch.save(training_state, directory / STATE_DIR / STATE_FILE)

        path = save_generator(
            generator, self.checkpoints / step_name(step), nir_bits=nir_bits, training_step=step,
            dataset_manifest_sha256=manifest_sha256, extra=extra, write_extra_files=write_state,
        )
        for old in self.checkpoint_steps()[:-keep] if keep > 0 else []:
            shutil.rmtree(self.checkpoints / step_name(old), ignore_errors=True)
        return path

    def load_checkpoint(self, path: Path) -> tuple[dict, dict]:
        """(generator state dict, training state) of a checkpoint written by `save_checkpoint`."""
        try:
            generator_state = load_file(str(path / WEIGHTS_FILE))
            training_state = torch.load(path / STATE_DIR / STATE_FILE, map_location="cpu", weights_only=True)
        except Exception as error:  # torch and safetensors raise their own types for corrupt files
            raise RunFolderError(f"{path}: cannot resume from this checkpoint ({error})") from None
        return generator_state, training_state

    def best_eval_l1(self) -> float | None:
        return self.best_eval("l1")

    def best_eval(self, metric: str) -> float | None:
        """best/'s eval score for `metric` ("l1" or "psnr"), or None without a best/."""
        if not (self.best / "config.json").is_file():
            return None
        value = read_checkpoint_config(self.best).get(f"eval_{metric}")
        return None if value is None else float(value)

    def save_best(self, generator: torch.nn.Module, *, step: int, eval_l1: float, nir_bits: int,
                  manifest_sha256: str | None, extra: dict | None = None) -> Path:
        return save_generator(
            generator, self.best, nir_bits=nir_bits, training_step=step, dataset_manifest_sha256=manifest_sha256,
            extra={**(extra or {}), "eval_l1": float(eval_l1)},
        )

    def write_config(self, document: dict, must_match: tuple[str, ...], defaults: dict | None = None) -> None:
        """Write train_config.json, or check that a resumed run keeps the settings that define it.

        `defaults` holds what a run folder written before a setting existed was trained with.
        """
        if self.config_file.is_file():
            try:
                previous = json.loads(self.config_file.read_text())
            except json.JSONDecodeError as error:
                raise RunFolderError(f"{self.config_file}: invalid JSON ({error.msg})") from None
            defaults = defaults or {}
            changed = [key for key in must_match if previous.get(key, defaults.get(key)) != document.get(key)]
            if changed and self.latest_checkpoint() is not None:
                details = ", ".join(f"{key} {previous.get(key, defaults.get(key))!r} → {document.get(key)!r}"
                                for key in changed)
                raise RunFolderError(
                    f"{self.path}: this run folder was trained with other settings ({details}); "
                    "use a new run folder or the original settings"
                )
        atomic.write_json(self.config_file, document)

    def write_sample(self, step: int, nir_frames: list[np.ndarray], nir_bits: list[int],
                     outputs: list[torch.Tensor], targets: list[np.ndarray]) -> Path:
        """samples/step-XXXXXXX.png: one row per frame, NIR | output | target."""
        rows = []
        for nir, bits, output, target in zip(nir_frames, nir_bits, outputs, targets):
            gray = nir_to_gray8(nir, bits)
            rows.append(np.hstack([np.repeat(gray[..., None], 3, axis=2), tensor_to_rgb(output)[0], target]))
        width = max(row.shape[1] for row in rows)
        rows = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0))) for row in rows]
        grid = np.vstack(rows)
        final = self.samples / f"{step_name(step)}.png"
        with atomic.replacing(final) as temporary:
            if not cv2.imwrite(str(temporary), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
                raise RunFolderError(f"{temporary}: cannot write the sample image")
        return final
