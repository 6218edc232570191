"""The shard Dataset: normalization from nir_bits, paired crops/flips, step-addressed worker shares."""
from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
import torch

from nircolor.pipeline.shard_dataset import DatasetError, PairKey, ShardDataset, StepBatches, split_shards
from tests.pipeline.shard_factory import write_dataset


@pytest.fixture
def dataset_dir(tmp_path):
    return write_dataset(tmp_path / "data", train_pairs=6, eval_pairs=2, height=40, width=48, nir_bits=12, shards=2)


def test_full_frames_are_normalized_from_the_shards_nir_bits(dataset_dir):
    dataset = ShardDataset.from_split(dataset_dir, "train", flip=False)
    assert len(dataset) == 6
    shard = split_shards(dataset_dir, "train")[1]
    with h5py.File(shard, "r") as handle:
        raw_nir, raw_rgb = handle["nir"][0], handle["rgb"][0]
    first_of_second_shard = dataset.headers[0].pairs
    nir, rgb = dataset[first_of_second_shard]
    assert nir.shape == (1, 40, 48) and rgb.shape == (3, 40, 48)
    assert raw_nir.dtype == np.uint16
    torch.testing.assert_close(nir[0], torch.from_numpy(raw_nir.astype(np.float32) / 4095.0))
    torch.testing.assert_close(rgb, torch.from_numpy(raw_rgb).permute(2, 0, 1).float() / 255.0)


def test_crops_and_flips_keep_nir_and_rgb_aligned_and_depend_only_on_the_key(dataset_dir):
    full = ShardDataset.from_split(dataset_dir, "train", flip=False)
    cropped = ShardDataset.from_split(dataset_dir, "train", crop_size=16, flip=True, seed=3)
    flipped_seen = set()
    for epoch in range(12):
        nir, rgb = cropped[PairKey(2, epoch)]
        assert nir.shape == (1, 16, 16) and rgb.shape == (3, 16, 16)
        full_nir, full_rgb = full[2]
        # Find where the crop came from (flipped or not) and check RGB comes from the same place.
        matches = []
        for flipped in (False, True):
            source_nir = full_nir.flip(-1) if flipped else full_nir
            source_rgb = full_rgb.flip(-1) if flipped else full_rgb
            for top in range(40 - 16 + 1):
                for left in range(48 - 16 + 1):
                    if torch.equal(source_nir[:, top : top + 16, left : left + 16], nir):
                        matches.append(torch.equal(source_rgb[:, top : top + 16, left : left + 16], rgb))
                        flipped_seen.add(flipped)
        assert matches and all(matches)
        again_nir, again_rgb = cropped[PairKey(2, epoch)]
        assert torch.equal(again_nir, nir) and torch.equal(again_rgb, rgb)
    assert flipped_seen == {False, True}


def test_dataset_pickles_after_opening_files(dataset_dir):
    dataset = ShardDataset.from_split(dataset_dir, "train")
    expected = dataset[PairKey(4, 1)]
    assert any(shard.is_open for shard in dataset.shards)  # a file is open now
    copy = pickle.loads(pickle.dumps(dataset))
    assert not any(shard.is_open for shard in copy.shards)
    result = copy[PairKey(4, 1)]
    assert torch.equal(result[0], expected[0]) and torch.equal(result[1], expected[1])


def test_workers_read_disjoint_shares_and_a_resume_continues_at_the_same_batch():
    pairs, world_size = 11, 2
    full = [StepBatches(pairs, batch_size=2, seed=5, rank=rank, world_size=world_size, stop_step=6) for rank in range(2)]
    assert full[0].steps_per_epoch == 2  # 5 pairs per worker → 2 batches of 2, one pair dropped
    per_epoch = [list(full[rank])[:2] for rank in range(2)]
    indices = [key.index for rank in range(2) for batch in per_epoch[rank] for key in batch]
    assert len(indices) == len(set(indices)) == 8
    epochs = [[key.index for batch in list(full[0])[2 * e : 2 * e + 2] for key in batch] for e in range(3)]
    assert epochs[0] != epochs[1] or epochs[1] != epochs[2]  # a new order every epoch
    resumed = StepBatches(pairs, batch_size=2, seed=5, rank=1, world_size=world_size, start_step=3, stop_step=6)
    assert list(resumed) == list(full[1])[3:]


def test_bad_inputs_give_one_clear_error(dataset_dir, tmp_path):
    with pytest.raises(DatasetError, match="no eval shards"):
        ShardDataset.from_split(write_dataset(tmp_path / "only_train", eval_pairs=0, train_pairs=2), "eval")
    with pytest.raises(DatasetError, match=r"train-rec0\.h5.*smaller than the 64-pixel crop"):
        ShardDataset.from_split(dataset_dir, "train", crop_size=64)
    with pytest.raises(DatasetError, match="cannot fill one batch"):
        StepBatches(3, batch_size=2, seed=0, world_size=2, stop_step=1)
