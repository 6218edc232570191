"""Evaluate checkpoints (and simple baselines) on a dataset split like the paper's Tables 1–3 (§4):
L1 error, PSNR, SSIM, CIEDE2000 ΔE, parameters and time per 1024×768 frame, per recording too.

The split is read once; every batch goes through every model, so a sample grid like the paper's
Figure 6 comes from the same frames for all of them. The results are the records of
`pipeline.evaluation_results`; tables and the grid are written by `pipeline.evaluation_report`.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from nircolor.dataset_tools.shards import ShardError, ShardReader, open_shard
from nircolor.models import CheckpointError, count_parameters, load_generator, timing
from nircolor.models.inference import InferenceEngine, InferenceOptions, resolve_device
from nircolor.models.preprocess import nir_to_tensor
from nircolor.models.names import training_name
from nircolor.models.zoo import paper_model
from nircolor.pipeline import metrics, shard_dataset
from nircolor.pipeline.evaluation_report import write_reports
from nircolor.pipeline.evaluation_results import PSNR_CAP_DB, EvaluationResults, MetricTotals, ModelResult

BASELINE_NIR_GRAY = "baseline:nir-gray"
BASELINE_MEAN_COLOR = "baseline:mean-color"
BASELINES = (BASELINE_NIR_GRAY, BASELINE_MEAN_COLOR)
# The mean colour of the train split is estimated from this many evenly spaced frames.
MEAN_COLOR_SAMPLE_FRAMES = 256
TIMING_HEIGHT, TIMING_WIDTH = 768, 1024


class EvaluationError(ValueError):
    """A dataset or split that cannot be evaluated; the message names the path and the problem."""


# ---------------------------------------------------------------------------------------- data


def split_shards(dataset_dir: str | os.PathLike, split: str) -> list[Path]:
    """The shard files of a split (the same lookup training uses), errors as EvaluationError."""
    try:
        return shard_dataset.split_shards(dataset_dir, split)
    except shard_dataset.DatasetError as error:
        raise EvaluationError(str(error)) from None


def open_split(dataset_dir: str | os.PathLike, split: str) -> list[ShardReader]:
    """Every shard of a split opened with the one shard reader; a bad shard is one EvaluationError."""
    try:
        return [open_shard(path) for path in split_shards(dataset_dir, split)]
    except ShardError as error:
        raise EvaluationError(str(error)) from None


def mean_color_of_split(dataset_dir: str | os.PathLike, split: str = "train",
                        sample_frames: int = MEAN_COLOR_SAMPLE_FRAMES) -> np.ndarray:
    """Per-channel mean RGB in [0,1] over up to `sample_frames` evenly spaced frames of a split."""
    shards = open_split(dataset_dir, split)
    total = sum(len(shard) for shard in shards)
    if total == 0:
        raise EvaluationError(f"{dataset_dir}: the {split!r} split has no frames to take a mean colour from")
    wanted = set(np.linspace(0, total - 1, min(sample_frames, total)).round().astype(int).tolist())
    channel_sums = np.zeros(3)
    pixels = 0
    offset = 0
    for shard in shards:
        with shard:
            for index in sorted(index - offset for index in wanted if offset <= index < offset + len(shard)):
                frame = shard.rgb(index).astype(np.float64) / 255.0
                channel_sums += frame.reshape(-1, 3).sum(axis=0)
                pixels += frame.shape[0] * frame.shape[1]
        offset += len(shard)
    return channel_sums / pixels


# ----------------------------------------------------------------------------------- colorizers


@dataclass
class Colorizer:
    """Something that turns a (B,1,H,W) NIR batch in [0,1] into (B,3,H,W) RGB in [0,1]."""

    label: str
    source: str  # checkpoint path or baseline name
    model_name: str
    run: Callable[[torch.Tensor], torch.Tensor]
    parameters: int = 0
    generator: torch.nn.Module | None = None
    training: dict = field(default_factory=dict)
    inference: str | None = None  # how the generator ran (precision, compiled), None for baselines


def load_colorizer(source: str, dataset_dir: Path, device: str,
                   inference: InferenceOptions = InferenceOptions()) -> Colorizer:
    """A checkpoint directory or a baseline name → Colorizer (raises CheckpointError/EvaluationError)."""
    if source == BASELINE_NIR_GRAY:
        return Colorizer("NIR as gray", source, source, lambda nir: nir.expand(-1, 3, -1, -1))
    if source == BASELINE_MEAN_COLOR:
        mean = torch.tensor(mean_color_of_split(dataset_dir, "train"), dtype=torch.float32).view(1, 3, 1, 1)
        return Colorizer("train mean colour", source, source,
                         lambda nir: mean.to(nir.device).expand(nir.shape[0], 3, nir.shape[2], nir.shape[3]))
    if source.startswith("baseline:"):
        raise EvaluationError(f"unknown baseline {source!r}; choose {' or '.join(BASELINES)}")
    generator = load_generator(source, device=device)
    document = generator.checkpoint_info
    training = training_summary(document, Path(source))
    parameters = count_parameters(generator)
    engine = InferenceEngine(generator, device, inference)  # the same precision path as colorize
    return Colorizer(
        label=training_name(generator.config.name, training["conditional"]), source=str(source),
        model_name=generator.config.name, run=engine,
        parameters=parameters, generator=generator, training=training, inference=engine.description,
    )


def training_summary(document: dict, checkpoint_dir: Path | None = None) -> dict:
    """The training settings a checkpoint records that the paper's tables vary (λ, conditional D, step).

    Each comes from the checkpoint's config.json, else from the run folder's train_config.json
    (`<run>/best` and `<run>/checkpoints/step-N` lie one or two levels below it); checkpoints
    written before `c` became a training flag kept it in the generator's config.
    """
    training = {**(document.get("training") or {}), **document}
    run = _run_config(checkpoint_dir)
    old_generator_config = (document.get("model") or {}).get("config") or {}
    summary = {"step": document.get("training_step")}
    weight = training.get("lambda", training.get("l1_weight", run.get("l1_weight")))
    if weight is not None:
        summary["lambda"] = weight
    conditional = training.get("conditional", old_generator_config.get("conditional", run.get("conditional")))
    summary["conditional"] = bool(conditional)  # unrecorded: λ = 1 runs and old runs had none
    return summary


def _run_config(checkpoint_dir: Path | None) -> dict:
    """The train_config.json of the run a checkpoint belongs to, or {}."""
    if checkpoint_dir is None:
        return {}
    for folder in (checkpoint_dir.parent, checkpoint_dir.parent.parent):
        path = folder / "train_config.json"
        if path.is_file():
            try:
                document = json.loads(path.read_text())
            except (OSError, ValueError):
                return {}
            return document if isinstance(document, dict) else {}
    return {}


def paper_figures(model_name: str) -> dict | None:
    """The paper's Table 2/3 figures for this architecture (generator names carry no `c`)."""
    entry = paper_model(model_name)
    if entry is None:
        return None
    return {"l1": entry.l1_error, "parameters_m": entry.parameters_m, "titan_x_seconds": entry.titan_x_seconds,
            "table": entry.table}


def time_per_frame_ms(colorizer: Colorizer, device: str, repeats: int = 2) -> float:
    """Milliseconds for one 1024×768 frame: one warm-up run, then the best of `repeats`.

    The model's own engine through models/timing.py, the timing of `nircolor bench models`, so the two
    agree for one precision.
    """
    seconds = timing.time_frames(colorizer.run, TIMING_HEIGHT, TIMING_WIDTH, torch.device(device), repeats, warmup=1)
    return 1000.0 * min(seconds)


# ----------------------------------------------------------------------------------- evaluation


def evaluate_checkpoints(
    checkpoints: list[str],
    dataset_dir: str | os.PathLike,
    split: str = "eval",
    *,
    out_dir: str | os.PathLike | None = None,
    timing: bool = True,
    batch_size: int = 4,
    max_frames: int | None = None,
    grid_frames: int = 4,
    device: str | None = None,
    inference: InferenceOptions = InferenceOptions(),
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationResults:
    """Evaluate checkpoints and baselines on `split` of a dataset; write tables and a grid to `out_dir`.

    A checkpoint that cannot be loaded or run is listed in `failures` and the others go on.
    `max_frames` limits frames per shard (quick looks); `grid_frames` evenly spaced frames of the
    split form the sample grid.
    """
    dataset_dir = Path(dataset_dir)
    device = str(resolve_device(device))
    shards = open_split(dataset_dir, split)
    if not shards:
        raise EvaluationError(f"{dataset_dir}: the {split!r} split has no shards")
    frame_counts = [len(shard) if max_frames is None else min(len(shard), max_frames) for shard in shards]
    total_frames = sum(frame_counts)
    if total_frames == 0:
        raise EvaluationError(f"{dataset_dir}: the {split!r} split has no frames")

    colorizers: list[Colorizer] = []
    failures: list[tuple[str, str]] = []
    for source in checkpoints:
        try:
            colorizers.append(load_colorizer(str(source), dataset_dir, device, inference.with_frames(total_frames, device)))
        except (CheckpointError, EvaluationError) as error:
            failures.append((str(source), str(error)))
    _disambiguate_labels(colorizers)

    grid_indices = sorted(set(np.linspace(0, total_frames - 1, min(grid_frames, total_frames)).round().astype(int)))
    grid_samples: list[dict] = []  # per grid frame: nir (H,W,3) uint8, target, {label: prediction}
    totals = {colorizer.label: {} for colorizer in colorizers}
    failed_labels: set[str] = set()
    done = 0
    workers = max(1, min(batch_size, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as metric_pool:
        for shard, frame_count in zip(shards, frame_counts):
            for start, nir, rgb in shard.batches(batch_size, frame_count):
                nir_tensor = nir_to_tensor(nir, shard.nir_bits).to(device)
                targets = rgb.astype(np.float64) / 255.0
                batch_grid = [(position, done + position) for position in range(len(nir)) if done + position in grid_indices]
                for position, global_index in batch_grid:
                    gray = (nir_tensor[position, 0].cpu().numpy() * 255.0).round().astype(np.uint8)
                    grid_samples.append({
                        "recording_id": shard.recording_id, "index": start + position, "global_index": int(global_index),
                        "nir": np.repeat(gray[..., None], 3, axis=-1), "target": rgb[position], "predictions": {},
                    })
                for colorizer in colorizers:
                    if colorizer.label in failed_labels:
                        continue
                    try:
                        predictions = _colorize(colorizer, nir_tensor)
                    except RuntimeError as error:  # e.g. out of memory: this model stops, the others go on
                        failed_labels.add(colorizer.label)
                        failures.append((colorizer.source, f"failed on {shard.path.name}: {str(error).splitlines()[0]}"))
                        continue
                    recording_totals = totals[colorizer.label].setdefault(shard.recording_id, MetricTotals())
                    # NumPy releases the GIL in the large array operations, so frames score in parallel.
                    for values in metric_pool.map(score_frame, predictions, targets):
                        recording_totals.add(values)
                    for position, global_index in batch_grid:
                        sample = next(s for s in grid_samples if s["global_index"] == global_index)
                        sample["predictions"][colorizer.label] = (predictions[position] * 255.0).round().astype(np.uint8)
                done += len(nir)
                if progress is not None:
                    progress(done, total_frames)
            shard.close()

    results = []
    for colorizer in colorizers:
        if colorizer.label in failed_labels:
            continue
        per_recording = {recording: {"frames": recording_total.frames, **recording_total.means()}
                         for recording, recording_total in totals[colorizer.label].items()}
        overall = MetricTotals()
        for recording_total in totals[colorizer.label].values():
            overall.merge(recording_total)
        is_baseline = colorizer.source in BASELINES
        results.append(ModelResult(
            label=colorizer.label, source=colorizer.source, model_name=colorizer.model_name,
            parameters=colorizer.parameters, frames=overall.frames, metrics=overall.means(),
            per_recording=per_recording,
            ms_per_frame=time_per_frame_ms(colorizer, device) if timing and not is_baseline else None,
            paper=None if is_baseline else paper_figures(colorizer.model_name),
            training=colorizer.training, inference=colorizer.inference,
        ))

    evaluation = EvaluationResults(
        dataset_dir=str(dataset_dir), split=split, frames=total_frames,
        recordings=sorted({shard.recording_id for shard in shards}), device=device,
        models=results, failures=failures,
        grid_frames=[{"recording_id": s["recording_id"], "index": s["index"]} for s in grid_samples],
    )
    if out_dir is not None:
        evaluation.files = write_reports(evaluation, grid_samples, Path(out_dir))
    return evaluation


def _colorize(colorizer: Colorizer, nir: torch.Tensor) -> np.ndarray:
    """(B,1,H,W) NIR → (B,H,W,3) float64 RGB in [0,1], as the metrics take it."""
    with torch.inference_mode():
        output = colorizer.run(nir).float().clamp(0.0, 1.0)
    return output.permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)


def score_frame(prediction: np.ndarray, target: np.ndarray) -> dict:
    values = metrics.frame_metrics(prediction, target)
    values["psnr"] = min(values["psnr"], PSNR_CAP_DB)
    return values


def _disambiguate_labels(colorizers: list[Colorizer]) -> None:
    """Two checkpoints of one architecture (e.g. Table 1's λ sweep) get their run's name appended."""
    seen: dict[str, int] = {}
    for colorizer in colorizers:
        seen[colorizer.label] = seen.get(colorizer.label, 0) + 1
    for colorizer in colorizers:
        if seen[colorizer.label] > 1:
            colorizer.label = f"{colorizer.label} ({run_name(Path(colorizer.source))})"
    labels = [colorizer.label for colorizer in colorizers]
    for index, colorizer in enumerate(colorizers):
        if labels.count(colorizer.label) > 1:  # same run name in different places
            colorizer.label = f"{colorizer.label} #{index + 1}"


def run_name(checkpoint: Path) -> str:
    """`<run>/checkpoints/step-N` and `<run>/best` are named after <run>; other folders by their own name."""
    if checkpoint.name.startswith("step-") and checkpoint.parent.name == "checkpoints":
        return f"{checkpoint.parent.parent.name} {checkpoint.name}"
    if checkpoint.name == "best":
        return f"{checkpoint.parent.name} best"
    return checkpoint.name
