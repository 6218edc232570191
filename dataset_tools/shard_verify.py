"""Shard verification (`nircolor dataset verify`): checksum, contract attributes, dataset shapes and types.

Apart from `shards.py` (the writer and reader) because only verification checks a shard against the
whole contract and may decode every frame; training and evaluation read through `ShardReader`.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from nircolor.dataset_tools.shards import SHARD_SCHEMA, SHARD_VERSION, SPLITS, ShardError, file_sha256, read_shard_header


def verify_shard(path: str | os.PathLike, expected_sha256: str | None = None) -> list[str]:
    """Problems with one shard (empty list = fine): checksum, schema, dataset shapes and types."""
    path = Path(path)
    if not path.is_file():
        return [f"{path}: shard is missing"]
    problems: list[str] = []
    if expected_sha256 is not None:
        actual = file_sha256(path)
        if actual != expected_sha256:
            problems.append(f"{path}: checksum mismatch (sha256 {actual[:12]}…, manifest says {expected_sha256[:12]}…)")
    try:
        header = read_shard_header(path)
    except ShardError as error:
        return problems + [str(error)]
    if header.schema != SHARD_SCHEMA:
        problems.append(f"{path}: schema is {header.schema!r}, expected {SHARD_SCHEMA!r}")
    if header.version > SHARD_VERSION:
        problems.append(f"{path}: shard version {header.version} is newer than this nircolor ({SHARD_VERSION})")
    if header.split not in SPLITS:
        problems.append(f"{path}: split attribute is {header.split!r}, expected train or eval")
    n, h, w = header.pairs, header.height, header.width
    expected = {
        "nir": ((n, h, w), None),
        "rgb": ((n, h, w, 3), np.uint8),
        "frame_index": ((n,), np.int64),
        "pts_seconds": ((n,), np.float64),
        "registration_shift": ((n, 2), np.float32),
        "registration_score": ((n,), np.float32),
    }
    try:
        with h5py.File(path, "r") as handle:
            for name, (shape, dtype) in expected.items():
                dataset = handle[name]
                if dataset.shape != shape:
                    problems.append(f"{path}: dataset {name} has shape {dataset.shape}, expected {shape}")
                if dtype is not None and dataset.dtype != dtype:
                    problems.append(f"{path}: dataset {name} is {dataset.dtype}, expected {np.dtype(dtype)}")
            if expected_sha256 is None or problems:
                # Without a checksum (or once one failed), read every frame: corrupt chunks fail to decode.
                for name in ("nir", "rgb"):
                    for index in range(handle[name].shape[0]):
                        handle[name][index]
    except (OSError, KeyError, ValueError) as error:
        problems.append(f"{path}: cannot read shard data ({error})")
    return problems
