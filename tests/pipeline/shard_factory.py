"""Tiny synthetic datasets for tests, every shard written with ShardWriter (the one shard writer).

`write_dataset`: learnable NIR→RGB pairs for training; `make_dataset`: the small evaluation dataset
(two eval recordings of 8- and 12-bit NIR, one train recording); `shard_entry`: one tiny shard and
its manifest entry. Tests that need a garbled shard write it with raw h5py in the test itself.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nircolor.dataset_tools.shards import ShardWriter, file_sha256


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


def write_shard(path: Path, nir: np.ndarray, rgb: np.ndarray, *, recording_id: str, split: str,
                nir_bits: int = 8, day: str = "2026-06-01", location: str = "test-road") -> Path:
    """One shard of frames nir (N,H,W), rgb (N,H,W,3) uint8 at 25 fps; returns its path."""
    count, height, width = nir.shape
    with ShardWriter(path, recording_id=recording_id, day=day, location=location, split=split,
                     nir_bits=nir_bits, height=height, width=width) as writer:
        for index in range(count):
            writer.append(nir[index], rgb[index], index, index / 25.0, shift=(0.0, 0.0), score=1.0)
    return path


def shard_entry(path: Path, *, recording_id: str, split: str, pairs: int = 1, day: str = "2026-06-01",
                location: str = "test-road") -> dict:
    """A tiny 8-bit shard (pair i: NIR all i, RGB black) and its entry as `write_manifest` takes it."""
    nir = np.broadcast_to(np.arange(pairs, dtype=np.uint8)[:, None, None], (pairs, 8, 10))
    write_shard(path, nir, np.zeros((pairs, 8, 10, 3), np.uint8), recording_id=recording_id, split=split,
                day=day, location=location)
    return {"path": path, "split": split, "recording_id": recording_id, "pairs": pairs, "sha256": file_sha256(path)}


def synthetic_pairs(count: int, height: int, width: int, seed: int, nir_bits: int = 8):
    """Random NIR frames and RGB targets that are a fixed colour mapping of them plus noise."""
    rng = np.random.default_rng(seed)
    peak = (1 << nir_bits) - 1
    nir = rng.integers(0, peak + 1, size=(count, height, width)).astype(np.uint8 if nir_bits <= 8 else np.uint16)
    unit = nir.astype(np.float64) / peak
    rgb = np.stack([unit * 0.9, unit * 0.6 + 0.2, 1.0 - unit], axis=-1) + rng.normal(0, 0.02, (count, height, width, 3))
    return nir, np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def make_dataset(root: Path) -> Path:
    """<root>/dataset: eval has two recordings (3 + 2 frames, 8-bit and 12-bit NIR); train one (4 frames)."""
    dataset = root / "dataset"
    nir, rgb = synthetic_pairs(3, 20, 28, seed=1)
    write_shard(dataset / "eval" / "road-a.h5", nir, rgb, recording_id="road-a", split="eval")
    nir, rgb = synthetic_pairs(2, 20, 28, seed=2, nir_bits=12)
    write_shard(dataset / "eval" / "road-b.h5", nir, rgb, recording_id="road-b", split="eval", nir_bits=12)
    nir, rgb = synthetic_pairs(4, 20, 28, seed=3)
    write_shard(dataset / "train" / "road-c.h5", nir, rgb, recording_id="road-c", split="train")
    return dataset
