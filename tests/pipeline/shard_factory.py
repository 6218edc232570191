"""Tiny synthetic datasets for training tests: learnable NIR→RGB pairs written with ShardWriter."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dataset_tools.shards import ShardWriter


def synthetic_pair(random: np.random.Generator, height: int, width: int, nir_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth NIR and an RGB that is a fixed per-channel curve of it (so a generator can learn it)."""
    coarse = random.random((height // 8 + 2, width // 8 + 2))
    rows = np.linspace(0, coarse.shape[0] - 1.001, height)
    cols = np.linspace(0, coarse.shape[1] - 1.001, width)
    smooth = coarse[rows.astype(int)][:, cols.astype(int)]  # nearest-neighbour upsampling: blocky, smooth enough
    intensity = 0.15 + 0.7 * smooth
    rgb = np.stack([intensity, intensity**2, 1.0 - intensity], axis=-1)
    nir = np.round(intensity * ((1 << nir_bits) - 1)).astype(np.uint8 if nir_bits <= 8 else np.uint16)
    return nir, np.round(rgb * 255).astype(np.uint8)


def write_dataset(root: Path, *, train_pairs: int = 8, eval_pairs: int = 2, height: int = 40, width: int = 48,
                  nir_bits: int = 8, shards: int = 2, seed: int = 0) -> Path:
    """<root>/train/*.h5 and <root>/eval/*.h5 following the shard contract; returns root."""
    random = np.random.default_rng(seed)
    for split, pairs in (("train", train_pairs), ("eval", eval_pairs)):
        split_shards = shards if split == "train" else 1
        per_shard = np.array_split(np.arange(pairs), split_shards)
        for number, indices in enumerate(per_shard):
            if len(indices) == 0:
                continue
            with ShardWriter(root / split / f"{split}-rec{number}.h5", recording_id=f"{split}-rec{number}",
                             day=f"2017-0{number + 1}-01", location=f"{split}-place{number}", split=split,
                             nir_bits=nir_bits, height=height, width=width) as writer:
                for frame in indices:
                    nir, rgb = synthetic_pair(random, height, width, nir_bits)
                    writer.append(nir, rgb, int(frame), float(frame) / 25.0, shift=(0.0, 0.0), score=1.0)
    return root
