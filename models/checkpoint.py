"""Self-describing generator checkpoints (DESIGN: Checkpoint): config.json + generator.safetensors.

`load_generator(path)` rebuilds the exact network from the directory alone and never unpickles.
A checkpoint is written into a temporary sibling directory and renamed when complete.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from nircolor.dataset_tools import atomic
from nircolor.models.names import config_from_dict, config_to_dict

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "generator.safetensors"


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be loaded; the message names the path and the problem."""


def save_generator(
    generator: torch.nn.Module,
    path: str | os.PathLike,
    *,
    nir_bits: int = 8,
    training_step: int = 0,
    dataset_manifest_sha256: str | None = None,
    extra: dict | None = None,
    write_extra_files=None,
) -> Path:
    """Write `path/config.json` and `path/generator.safetensors` atomically.

    `write_extra_files(tmp_dir)` may add more files (e.g. training_state/) before the rename.
    """
    path = Path(path)
    config = generator.config
    document = {
        "format_version": FORMAT_VERSION,
        "model": {"name": config.name, "config": config_to_dict(config)},
        "preprocessing": {"nir_bits": int(nir_bits), "input_range": [0.0, 1.0], "output_range": [0.0, 1.0]},
        "training_step": int(training_step),
        "dataset_manifest_sha256": dataset_manifest_sha256,
        **(extra or {}),
    }
    with atomic.replacing(path, folder=True) as tmp:
        state = {key: value.detach().cpu().contiguous() for key, value in generator.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE))
        (tmp / CONFIG_FILE).write_text(json.dumps(document, indent=2) + "\n")
        if write_extra_files is not None:
            write_extra_files(tmp)
    return path


def _check_shape(document, config_path: Path) -> None:
    """The sections every reader indexes, with the types it expects: a wrong one is one line here,
    never an AttributeError deep in colorize or evaluate."""
    if not isinstance(document, dict):
        raise CheckpointError(f"{config_path}: not a checkpoint config (a JSON object expected)")
    model, preprocessing = document.get("model"), document.get("preprocessing", {})
    if not isinstance(model, dict) or not isinstance(model.get("config"), dict) or not isinstance(model.get("name", ""), str):
        raise CheckpointError(f"{config_path}: bad model config (the model section must be an object with a name and a config)")
    if not isinstance(preprocessing, dict):
        raise CheckpointError(f"{config_path}: the preprocessing section must be an object")
    bits = preprocessing.get("nir_bits", 8)
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 16:
        raise CheckpointError(f"{config_path}: nir_bits {bits!r} is not an integer from 1 to 16")


def read_checkpoint_config(path: str | os.PathLike) -> dict:
    path = Path(path)
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        if (path / "model.onnx").is_file():  # models/export.py ONNX_FILE (export imports this module)
            raise CheckpointError(f"{path}: an exported model, not a checkpoint; `colorize --engine onnxruntime` runs it")
        raise CheckpointError(f"{path}: not a checkpoint (no {CONFIG_FILE})")
    try:
        document = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{config_path}: invalid JSON ({error.msg} at line {error.lineno})") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{config_path}: not UTF-8 text") from None
    except RecursionError:
        raise CheckpointError(f"{config_path}: invalid JSON (nested too deeply to parse)") from None
    except OSError as error:
        raise CheckpointError(f"{config_path}: cannot be read ({error.strerror or error})") from None
    _check_shape(document, config_path)
    if document.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path}: checkpoint format {document.get('format_version')!r}, this nircolor reads {FORMAT_VERSION}"
        )
    return document


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the generator saved at `path` and load its weights (eval mode)."""
    path = Path(path)
    document = read_checkpoint_config(path)
    try:
        config = config_from_dict(document["model"]["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path / CONFIG_FILE}: bad model config ({error})") from None
    generator = config.build()
    weights_path = path / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"{path}: missing {WEIGHTS_FILE}")
    try:
        state = load_file(str(weights_path))
    except Exception as error:  # safetensors raises its own types for corrupt files
        raise CheckpointError(f"{weights_path}: cannot load weights ({_one_line(error)})") from None
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"{weights_path}: cannot load weights into {config.name} as {CONFIG_FILE} describes it ({_one_line(error)})"
        ) from None
    generator.checkpoint_info = document
    return generator.to(device).eval()


def _one_line(error: Exception) -> str:
    """torch lists every mismatching tensor on its own line; keep the first and count the rest."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    details = lines[1:] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else lines
    if not details:
        return type(error).__name__
    more = f"; and {len(details) - 1} more" if len(details) > 1 else ""
    return details[0] + more

