"""Per-frame L1 of checkpoints/baselines on a split, and paired bootstrap intervals of their differences.

Used for docs/results.md: with 18–20 evaluation frames, a mean-L1 gap between two models means
little until the per-frame differences (same frames, so paired) are seen to keep their sign.
Usage: python scripts/paired_l1.py DATASET SOURCE... [--split eval] [--pairs A:B,...] [--resamples 10000]
SOURCE is a checkpoint folder or baseline:nir-gray / baseline:mean-color.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from nircolor.models.preprocess import nir_to_tensor
from nircolor.pipeline import metrics
from nircolor.pipeline.evaluate import load_colorizer, open_split


def per_frame_l1(dataset: Path, sources: list[str], split: str) -> dict[str, np.ndarray]:
    colorizers = [load_colorizer(source, dataset, "cpu") for source in sources]
    values: dict[str, list[float]] = {source: [] for source in sources}
    for shard in open_split(dataset, split):
        for _, nir, rgb in shard.batches(batch_size=4):
            nir_tensor = nir_to_tensor(nir, shard.nir_bits)
            targets = rgb.astype(np.float64) / 255.0
            for source, colorizer in zip(sources, colorizers):
                with torch.inference_mode():
                    output = colorizer.run(nir_tensor).float().clamp(0.0, 1.0)
                predictions = output.permute(0, 2, 3, 1).numpy().astype(np.float64)
                values[source] += [metrics.l1_error(p, t) for p, t in zip(predictions, targets)]
    return {source: np.asarray(frame_values) for source, frame_values in values.items()}


def bootstrap_interval(differences: np.ndarray, resamples: int, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the mean of paired per-frame differences (frames resampled)."""
    generator = np.random.default_rng(seed)
    picks = generator.integers(0, len(differences), size=(resamples, len(differences)))
    means = differences[picks].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("sources", nargs="+")
    parser.add_argument("--split", default="eval")
    parser.add_argument("--pairs", default="", help="comma-separated A:B source indices (0-based) to compare")
    parser.add_argument("--resamples", type=int, default=10_000)
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    l1 = per_frame_l1(arguments.dataset, arguments.sources, arguments.split)
    for index, (source, frame_values) in enumerate(l1.items()):
        print(f"[{index}] {source}: mean L1 {frame_values.mean():.4f} over {len(frame_values)} frames "
              f"(frame std {frame_values.std(ddof=1):.4f})")
    for pair in filter(None, arguments.pairs.split(",")):
        first, second = (int(part) for part in pair.split(":"))
        differences = l1[arguments.sources[first]] - l1[arguments.sources[second]]
        low, high = bootstrap_interval(differences, arguments.resamples)
        better = int((differences < 0).sum())
        print(f"[{first}] − [{second}]: mean {differences.mean():+.4f}, 95 % CI [{low:+.4f}, {high:+.4f}], "
              f"[{first}] lower on {better}/{len(differences)} frames")


if __name__ == "__main__":
    main()
