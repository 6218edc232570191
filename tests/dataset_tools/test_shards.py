"""Shard format: contract datasets and attributes, atomic writes, reproducible checksums, verification."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from nircolor.dataset_tools.shard_verify import verify_shard
from nircolor.dataset_tools.shards import ShardError, ShardWriter, open_shard, read_shard_header


def _frames(count=3, height=12, width=20, nir_bits=10, seed=0):
    rng = np.random.default_rng(seed)
    dtype = np.uint8 if nir_bits <= 8 else np.uint16
    nir = rng.integers(0, 2**nir_bits, (count, height, width)).astype(dtype)
    rgb = rng.integers(0, 256, (count, height, width, 3)).astype(np.uint8)
    return nir, rgb


def _write(path, nir, rgb, nir_bits=10, split="train"):
    with ShardWriter(path, recording_id="drive-1", day="2017-05-01", location="tuebingen", split=split,
                     nir_bits=nir_bits, height=nir.shape[1], width=nir.shape[2]) as writer:
        for index in range(len(nir)):
            writer.append(nir[index], rgb[index], frame_index=10 + index, pts_seconds=0.04 * index,
                          shift=(0.25 * index, -0.5), score=0.9)
    return writer.close()


def test_shard_follows_contract(tmp_path):
    nir, rgb = _frames()
    info = _write(tmp_path / "train" / "drive-1.h5", nir, rgb)
    assert info.pairs == 3 and info.path.is_file() and len(info.sha256) == 64
    with h5py.File(info.path, "r") as handle:
        assert handle["nir"].dtype == np.uint16 and handle["nir"].chunks == (1, 12, 20)
        assert handle["rgb"].chunks == (1, 12, 20, 3) and handle["nir"].compression == "gzip"
        np.testing.assert_array_equal(handle["nir"][:], nir)
        np.testing.assert_array_equal(handle["rgb"][:], rgb)
        np.testing.assert_array_equal(handle["frame_index"][:], [10, 11, 12])
        np.testing.assert_allclose(handle["pts_seconds"][:], [0.0, 0.04, 0.08])
        np.testing.assert_allclose(handle["registration_shift"][:], [[0, -0.5], [0.25, -0.5], [0.5, -0.5]])
        assert handle["registration_shift"].dtype == np.float32
        assert handle["registration_score"].dtype == np.float32
        assert dict(handle.attrs)["split"] == "train" and handle.attrs["nir_bits"] == 10
    header = read_shard_header(info.path)
    assert (header.recording_id, header.day, header.location) == ("drive-1", "2017-05-01", "tuebingen")
    assert (header.pairs, header.height, header.width, header.schema) == (3, 12, 20, "nircolor.shard")
    assert verify_shard(info.path, info.sha256) == []
    assert list(tmp_path.joinpath("train").iterdir()) == [info.path]  # no temporary left over


def test_identical_content_gives_identical_checksum(tmp_path):
    nir, rgb = _frames(nir_bits=8)
    first = _write(tmp_path / "a" / "x.h5", nir, rgb, nir_bits=8)
    second = _write(tmp_path / "b" / "x.h5", nir, rgb, nir_bits=8)
    assert first.sha256 == second.sha256
    rgb[1, 0, 0, 0] ^= 1
    assert _write(tmp_path / "c" / "x.h5", nir, rgb, nir_bits=8).sha256 != first.sha256


def test_exception_leaves_no_file(tmp_path):
    nir, rgb = _frames()
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path / "x.h5", recording_id="r", day="d", location="l", split="eval",
                         nir_bits=10, height=12, width=20) as writer:
            writer.append(nir[0], rgb[0], 0, 0.0)
            raise RuntimeError("crash mid-recording")
    assert list(tmp_path.iterdir()) == []


def test_wrong_frames_are_refused_with_the_file_named(tmp_path):
    nir, rgb = _frames()
    with ShardWriter(tmp_path / "x.h5", recording_id="r", day="d", location="l", split="train",
                     nir_bits=10, height=12, width=20) as writer:
        with pytest.raises(ShardError, match="x.h5.*shard expects"):
            writer.append(nir[0][:, :10], rgb[0], 0, 0.0)
        with pytest.raises(ShardError, match="uint16"):
            writer.append(nir[0].astype(np.uint8), rgb[0], 0, 0.0)
    with pytest.raises(ShardError, match="split"):
        ShardWriter(tmp_path / "y.h5", recording_id="r", day="d", location="l", split="test",
                    nir_bits=8, height=4, width=4)


def test_verify_reports_flipped_byte_and_missing_file(tmp_path):
    nir, rgb = _frames()
    info = _write(tmp_path / "x.h5", nir, rgb)
    data = bytearray(info.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    info.path.write_bytes(bytes(data))
    problems = verify_shard(info.path, info.sha256)
    assert problems and "checksum mismatch" in problems[0] and "x.h5" in problems[0]
    assert "missing" in verify_shard(tmp_path / "gone.h5", info.sha256)[0]
    with pytest.raises(ShardError, match="not found"):
        read_shard_header(tmp_path / "gone.h5")


@pytest.mark.parametrize("nir_bits", [8, 12])
def test_frames_are_deflated_and_every_compression_reads_back_alike(tmp_path, nir_bits):
    # Smooth frames compress well: the chunks written by hand must be real deflate streams that plain h5py inflates.
    height, width = 48, 64
    ramp = np.add.outer(np.arange(height), np.arange(width))
    nir = np.stack([ramp * (2 ** nir_bits - 1) // ramp.max() for _ in range(2)]).astype(
        np.uint8 if nir_bits <= 8 else np.uint16)
    rgb = np.stack([np.stack([ramp % 256, (2 * ramp) % 256, np.full_like(ramp, 7)], axis=-1)] * 2).astype(np.uint8)
    stored = {}
    for compression in ("gzip", "lzf", None):
        path = tmp_path / f"{compression}.h5"
        with ShardWriter(path, recording_id="r", day="d", location="l", split="eval", nir_bits=nir_bits,
                         height=height, width=width, compression=compression) as writer:
            for index in range(2):
                writer.append(nir[index], rgb[index], frame_index=index, pts_seconds=float(index))
        with h5py.File(path, "r") as handle:
            np.testing.assert_array_equal(handle["nir"][:], nir)
            np.testing.assert_array_equal(handle["rgb"][:], rgb)
            stored[compression] = handle["nir"].id.get_storage_size() + handle["rgb"].id.get_storage_size()
            assert handle["nir"].compression == compression
    assert stored["gzip"] < stored[None] / 4


def test_reader_gives_attributes_and_frames_by_index_and_range(tmp_path):
    nir, rgb = _frames(count=5)
    info = _write(tmp_path / "x.h5", nir, rgb)
    with open_shard(info.path) as shard:
        assert (len(shard), shard.nir_bits, shard.recording_id) == (5, 10, "drive-1")
        assert (shard.header.height, shard.header.width, shard.header.split) == (12, 20, "train")
        pair_nir, pair_rgb = shard.pair(3)
        np.testing.assert_array_equal(pair_nir, nir[3])
        np.testing.assert_array_equal(pair_rgb, rgb[3])
        range_nir, range_rgb = shard.frames(1, 4)
        np.testing.assert_array_equal(range_nir, nir[1:4])
        np.testing.assert_array_equal(range_rgb, rgb[1:4])
        batches = [(start, len(batch_nir)) for start, batch_nir, _ in shard.batches(2, stop=5)]
        assert batches == [(0, 2), (2, 2), (4, 1)]
        assert [start for start, *_ in shard.batches(2, stop=3)] == [0, 2]
        with pytest.raises(IndexError, match="x.h5.*pair 5"):
            shard.pair(5)
        assert shard.is_open
    assert not shard.is_open


def _garble(path, **attributes):
    with h5py.File(path, "a") as handle:
        for name, value in attributes.items():
            if value is None:
                del handle.attrs[name]
            else:
                handle.attrs[name] = value


@pytest.mark.parametrize("attributes, message", [
    ({"nir_bits": None}, r"not a nircolor shard \(missing nir_bits\)"),
    ({"nir_bits": "twelve"}, r"cannot read shard"),
    ({"nir_bits": 40}, r"nir_bits is 40, expected 1 to 16"),
    ({"nir_bits": 8}, r"nir is uint16 but nir_bits is 8"),
    ({"recording_id": None, "day": None}, r"missing recording_id, day"),
])
def test_a_missing_or_garbled_attribute_is_one_error_naming_the_file(tmp_path, attributes, message):
    nir, rgb = _frames()
    info = _write(tmp_path / "garbled.h5", nir, rgb)
    _garble(info.path, **attributes)  # raw h5py on purpose: ShardWriter cannot write a bad shard
    with pytest.raises(ShardError, match=r"garbled\.h5: .*" + message):
        open_shard(info.path)


def test_reader_refuses_rgb_that_does_not_pair_with_the_nir(tmp_path):
    path = tmp_path / "odd.h5"
    nir, rgb = _frames(count=3, nir_bits=8)
    _write(path, nir, rgb, nir_bits=8)
    with h5py.File(path, "a") as handle:  # raw h5py on purpose: one RGB frame short
        del handle["rgb"]
        handle.create_dataset("rgb", data=rgb[:2])
    with pytest.raises(ShardError, match=r"odd\.h5: rgb has shape \(2, 12, 20, 3\), nir \(3, 12, 20\): they do not pair up"):
        open_shard(path)


@pytest.mark.parametrize("name, data", [
    ("registration_score", np.zeros(2, np.float32)),  # one score short
    ("registration_shift", np.array([[b"a", b"b"]] * 3)),  # not numbers
])
def test_reader_gives_registration_and_refuses_a_garbled_one(tmp_path, name, data):
    path = tmp_path / "reg.h5"
    nir, rgb = _frames(count=3)
    _write(path, nir, rgb)
    with open_shard(path) as shard:
        shifts, scores = shard.registration()
    np.testing.assert_allclose(shifts, [[0, -0.5], [0.25, -0.5], [0.5, -0.5]])
    np.testing.assert_allclose(scores, [0.9, 0.9, 0.9])
    with h5py.File(path, "a") as handle:  # raw h5py on purpose: ShardWriter cannot write a bad shard
        del handle[name]
        handle.create_dataset(name, data=data)
    with open_shard(path) as shard, pytest.raises(ShardError, match=r"reg\.h5: registration_shift is"):
        shard.registration()
