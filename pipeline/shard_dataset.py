"""A torch Dataset over the HDF5 shards of one split, and the step-addressed batch order (§4.2).

Every batch is a pure function of (seed, step, rank, world size): the order of an epoch is a
seeded permutation, each Ray Train worker takes its own interleaved share, and crops/flips are
drawn from a generator seeded by (seed, epoch, pair). A resume therefore continues from the exact
data position by knowing only the step. Shards are read through `dataset_tools.shards.ShardReader`,
which opens the HDF5 file lazily in the reading process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nircolor.dataset_tools.manifest import shards_for_split
from nircolor.dataset_tools.shards import ShardError, ShardReader, open_shard
from nircolor.models.preprocess import nir_to_tensor, rgb_to_tensor
from nircolor.pipeline.recipe import PAPER_AUGMENTATION, Augmentation


class DatasetError(ValueError):
    """A dataset folder that cannot be trained on; the message names the path and the problem."""


def split_shards(dataset_dir: str | os.PathLike, split: str) -> list[Path]:
    """The shard files of one split: from the manifest when there is one, else `<dataset>/<split>/*.h5`."""
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise DatasetError(f"{dataset_dir}: dataset folder not found")
    if (dataset_dir / "manifest.json").is_file():
        try:
            return [Path(path) for path in shards_for_split(dataset_dir, split)]
        except (ValueError, KeyError, OSError) as error:
            raise DatasetError(f"{dataset_dir}: cannot read the manifest ({error})") from None
    # Hand-made shard folders (no manifest) are read as they lie.
    return sorted((dataset_dir / split).glob("*.h5"))


@dataclass(frozen=True)
class PairKey:
    """One pair to read: its index in the split, and the epoch that seeds its crop and flip."""

    index: int
    epoch: int


class ShardDataset(torch.utils.data.Dataset):
    """Registered NIR/RGB pairs of one split as (nir (1,H,W), rgb (3,H,W)) float tensors in [0,1].

    `crop_size` takes a random square crop (full frames when None); `flip` mirrors NIR and RGB
    together; `augmentation` adds scale-crops and NIR contrast jitter (off by default, see
    pipeline/recipe.py). Items are addressed by `PairKey` (or a plain int: epoch 0).
    """

    def __init__(self, shard_paths: list[Path], *, crop_size: int | None = None, flip: bool = True, seed: int = 0,
                 augmentation: Augmentation = PAPER_AUGMENTATION):
        if not shard_paths:
            raise DatasetError("no shards given")
        self.shard_paths = [Path(path) for path in shard_paths]
        self.crop_size = crop_size
        self.flip = flip
        self.seed = int(seed)
        self.augmentation = augmentation
        self.shards: list[ShardReader] = []
        for path in self.shard_paths:
            try:
                shard = open_shard(path)
            except ShardError as error:
                raise DatasetError(str(error)) from None
            header = shard.header
            if crop_size is not None and (header.height < crop_size or header.width < crop_size):
                raise DatasetError(
                    f"{path}: frames are {header.height}×{header.width}, smaller than the {crop_size}-pixel crop"
                )
            self.shards.append(shard)
        self.headers = [shard.header for shard in self.shards]
        counts = np.array([len(shard) for shard in self.shards], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
        if self._starts[-1] == 0:
            raise DatasetError(f"{self.shard_paths[0].parent}: the shards hold no pairs")

    @classmethod
    def from_split(cls, dataset_dir: str | os.PathLike, split: str, **options) -> "ShardDataset":
        shards = split_shards(dataset_dir, split)
        if not shards:
            raise DatasetError(f"{dataset_dir}: no {split} shards")
        return cls(shards, **options)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def close(self) -> None:
        # Pickling drops the readers' HDF5 handles: every process (Ray worker, loader worker) opens its own.
        for shard in self.shards:
            shard.close()

    def locate(self, index: int) -> tuple[int, int]:
        """(shard number, row in that shard) of a pair index."""
        if not 0 <= index < len(self):
            raise IndexError(f"pair {index} out of range (split has {len(self)})")
        shard = int(np.searchsorted(self._starts, index, side="right") - 1)
        return shard, int(index - self._starts[shard])

    def read_pair(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Raw (nir (H,W) uint8|uint16, rgb (H,W,3) uint8, nir_bits) of one pair."""
        shard, row = self.locate(index)
        nir, rgb = self.shards[shard].pair(row)
        return nir, rgb, self.shards[shard].nir_bits

    def __getitem__(self, key: PairKey | int) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(key, PairKey):
            key = PairKey(int(key), 0)
        nir, rgb, nir_bits = self.read_pair(key.index)
        random = np.random.default_rng([self.seed, key.epoch, key.index])
        # Without augmentation the draws are exactly the paper recipe's (crop, then flip), so runs
        # started before augmentation existed resume unchanged.
        if self.augmentation.scales:
            size = (self.crop_size, self.crop_size) if self.crop_size is not None else nir.shape
            nir, rgb = self.augmentation.scale_crop(nir, rgb, size, random)
        elif self.crop_size is not None:
            height, width = nir.shape
            top = int(random.integers(0, height - self.crop_size + 1))
            left = int(random.integers(0, width - self.crop_size + 1))
            nir = nir[top : top + self.crop_size, left : left + self.crop_size]
            rgb = rgb[top : top + self.crop_size, left : left + self.crop_size]
        if self.flip and random.random() < 0.5:
            nir, rgb = nir[:, ::-1], rgb[:, ::-1]
        nir_tensor = nir_to_tensor(np.ascontiguousarray(nir), nir_bits)[0]  # (1,H,W)
        rgb_tensor = rgb_to_tensor(np.ascontiguousarray(rgb))[0]  # (3,H,W)
        return self.augmentation.jitter_contrast(nir_tensor, random), rgb_tensor


class StepBatches(torch.utils.data.Sampler):
    """Batches of PairKeys for steps [start_step, stop_step) of one worker.

    Epoch e is a permutation of all pairs seeded by (seed, e); worker `rank` takes every
    `world_size`-th pair of it, cut to the same length on every worker so DDP steps stay in lock
    step, and the last partial batch is dropped.
    """

    def __init__(self, pairs: int, *, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 start_step: int = 0, stop_step: int):
        self.pairs, self.batch_size, self.seed = int(pairs), int(batch_size), int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.start_step, self.stop_step = int(start_step), int(stop_step)
        self.steps_per_epoch = (self.pairs // self.world_size) // self.batch_size
        if self.steps_per_epoch == 0:
            raise DatasetError(
                f"{self.pairs} pairs cannot fill one batch of {self.batch_size} on each of {self.world_size} workers"
            )

    def batch_for_step(self, step: int) -> list[PairKey]:
        epoch, position = divmod(int(step), self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(self.pairs)
        share = order[self.rank :: self.world_size][: self.steps_per_epoch * self.batch_size]
        chosen = share[position * self.batch_size : (position + 1) * self.batch_size]
        return [PairKey(int(index), epoch) for index in chosen]

    def __iter__(self):
        for step in range(self.start_step, self.stop_step):
            yield self.batch_for_step(step)

    def __len__(self) -> int:
        return max(0, self.stop_step - self.start_step)


def collate_pairs(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (nir, rgb) items into (B,1,H,W), (B,3,H,W); full frames of one batch must share a size."""
    sizes = {tuple(nir.shape[-2:]) for nir, _ in items}
    if len(sizes) > 1:
        raise DatasetError(f"a batch mixes frame sizes {sorted(sizes)}; use --crop or --batch-size 1")
    return torch.stack([nir for nir, _ in items]), torch.stack([rgb for _, rgb in items])


def step_loader(dataset: ShardDataset, batches: StepBatches, *, loader_workers: int = 0, pin_memory: bool = False):
    """A DataLoader yielding one (nir, rgb) batch per step of `batches`."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collate_pairs,
        num_workers=loader_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
    )
