"""Tiny HDF5 datasets for evaluation tests, written with h5py exactly as the shard contract says."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def write_shard(path: Path, nir: np.ndarray, rgb: np.ndarray, *, recording_id: str, split: str,
                nir_bits: int = 8, day: str = "2026-06-01", location: str = "test-road") -> Path:
    """One shard (DESIGN "Data contracts"): nir (N,H,W), rgb (N,H,W,3) uint8 and per-frame fields."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count, height, width = nir.shape
    with h5py.File(path, "w") as shard:
        shard.create_dataset("nir", data=nir, chunks=(1, height, width), compression="gzip")
        shard.create_dataset("rgb", data=rgb, chunks=(1, height, width, 3), compression="gzip")
        shard.create_dataset("frame_index", data=np.arange(count, dtype=np.int64))
        shard.create_dataset("pts_seconds", data=np.arange(count, dtype=np.float64) / 25.0)
        shard.create_dataset("registration_shift", data=np.zeros((count, 2), np.float32))
        shard.create_dataset("registration_score", data=np.ones(count, np.float32))
        shard.attrs.update({"schema": "nircolor.shard", "version": 1, "recording_id": recording_id,
                            "day": day, "location": location, "split": split, "nir_bits": nir_bits})
    return path


def synthetic_pairs(count: int, height: int, width: int, seed: int, nir_bits: int = 8):
    """Random NIR frames and RGB targets that are a fixed colour mapping of them plus noise."""
    rng = np.random.default_rng(seed)
    peak = (1 << nir_bits) - 1
    nir = rng.integers(0, peak + 1, size=(count, height, width)).astype(np.uint8 if nir_bits == 8 else np.uint16)
    unit = nir.astype(np.float64) / peak
    rgb = np.stack([unit * 0.9, unit * 0.6 + 0.2, 1.0 - unit], axis=-1) + rng.normal(0, 0.02, (count, height, width, 3))
    return nir, np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def make_dataset(root: Path) -> Path:
    """eval: two recordings (3 + 2 frames, 8-bit and 12-bit NIR); train: one recording (4 frames)."""
    dataset = root / "dataset"
    nir, rgb = synthetic_pairs(3, 20, 28, seed=1)
    write_shard(dataset / "eval" / "road-a.h5", nir, rgb, recording_id="road-a", split="eval")
    nir, rgb = synthetic_pairs(2, 20, 28, seed=2, nir_bits=12)
    write_shard(dataset / "eval" / "road-b.h5", nir, rgb, recording_id="road-b", split="eval", nir_bits=12)
    nir, rgb = synthetic_pairs(4, 20, 28, seed=3)
    write_shard(dataset / "train" / "road-c.h5", nir, rgb, recording_id="road-c", split="train")
    return dataset
