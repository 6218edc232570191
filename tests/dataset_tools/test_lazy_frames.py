"""Frames of bags and image sequences convert their pixels on first use: a sampled build converts only
the pairs the interval keeps, and the clock-offset signal reads a preview (every k-th pixel of a raw
image, a JPEG decoded at a fraction of its size) that is what the full pixels would give."""
from types import SimpleNamespace

import cv2
import h5py
import numpy as np
import pytest

from nircolor.dataset_tools import streams
from nircolor.dataset_tools.bags import COMPRESSED, IMAGE, BagError, image_pixels, image_preview
from nircolor.dataset_tools.convert import ConvertOptions, convert_recording
from nircolor.dataset_tools.image_files import SequenceError, read_image_preview
from nircolor.dataset_tools.segment_ingest import SegmentIngestor
from nircolor.dataset_tools.synthetic import SynthOptions, read_frame_code, synthesize_recordings
from nircolor.pipeline.ingest import IngestOptions, build_dataset

MAX_PIXELS = 1 << 24
WIDTH = 64


def _raw(encoding: str, pixels: np.ndarray, pad: int = 0, big_endian: bool = False):
    """A sensor_msgs/Image of `pixels` (rows padded by `pad` bytes, as some drivers align them)."""
    data = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<")).view(np.uint8)
    rows = data.reshape(pixels.shape[0], -1)
    rows = np.concatenate([rows, np.full((rows.shape[0], pad), 7, np.uint8)], axis=1)
    return SimpleNamespace(encoding=encoding, height=pixels.shape[0], width=pixels.shape[1], step=rows.shape[1],
                           data=rows.ravel(), is_bigendian=big_endian)


@pytest.mark.parametrize("encoding,channels,dtype", [
    ("mono8", 1, np.uint8), ("mono16", 1, np.uint16), ("rgb8", 3, np.uint8), ("bgr8", 3, np.uint8),
    ("rgba8", 4, np.uint8), ("bgra16", 4, np.uint16)])
@pytest.mark.parametrize("big_endian", [False, True])
def test_a_raw_preview_is_every_kth_pixel_of_the_full_image(encoding, channels, dtype, big_endian):
    random = np.random.default_rng(3)
    shape = (150, 333) + ((channels,) if channels > 1 else ())
    pixels = random.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    message = _raw(encoding, pixels, pad=6, big_endian=big_endian)
    full, order = image_pixels(message, IMAGE, "here", MAX_PIXELS)
    preview, preview_order = image_preview(message, IMAGE, "here", MAX_PIXELS, WIDTH)
    every = 333 // WIDTH
    assert preview_order == order and preview.dtype == full.dtype
    np.testing.assert_array_equal(preview, full[::every, ::every])
    assert preview.shape[1] >= WIDTH


@pytest.mark.parametrize("encoding", ["bayer_rggb8", "bayer_gbrg16"])
def test_a_bayer_preview_samples_one_colour_of_the_mosaic(encoding):
    dtype = np.uint16 if encoding.endswith("16") else np.uint8
    mosaic = np.random.default_rng(4).integers(0, 200, (96, 320)).astype(dtype)
    preview, _ = image_preview(_raw(encoding, mosaic), IMAGE, "here", MAX_PIXELS, WIDTH)
    np.testing.assert_array_equal(preview, mosaic[::6, ::6])  # 320 // 64 = 5, made even: one colour site


def test_a_jpeg_preview_is_the_gray_picture_at_a_fraction_of_its_size():
    yy, xx = np.mgrid[0:480, 0:640]
    picture = np.dstack([(xx // 3) % 256, (yy // 2) % 256, ((xx + yy) // 5) % 256]).astype(np.uint8)
    data = np.frombuffer(cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes(), np.uint8)
    message = SimpleNamespace(format="jpeg", data=data)
    preview, _ = image_preview(message, COMPRESSED, "here", MAX_PIXELS, WIDTH)
    assert preview.shape == (60, 80)  # 1/8: the smallest reduction still at least 64 across
    gray = cv2.resize(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), (80, 60), interpolation=cv2.INTER_AREA)
    assert np.abs(preview.astype(int) - gray).mean() < 4
    png = SimpleNamespace(format="png", data=np.frombuffer(cv2.imencode(".png", picture)[1].tobytes(), np.uint8))
    assert image_preview(png, COMPRESSED, "here", MAX_PIXELS, WIDTH) is None  # no cheaper decode than the full one


def test_a_preview_refuses_what_the_full_conversion_refuses(tmp_path):
    short = _raw("rgb8", np.zeros((10, 10, 3), np.uint8))
    short.data = short.data[:100]
    with pytest.raises(BagError, match="holds 100 bytes"):
        image_preview(short, IMAGE, "here", MAX_PIXELS, WIDTH)
    with pytest.raises(BagError, match="at most"):
        image_preview(_raw("mono8", np.zeros((10, 10), np.uint8)), IMAGE, "here", 50, WIDTH)
    garbage = SimpleNamespace(format="jpeg", data=np.frombuffer(b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x10\x00\x10"
                                                                  + b"\x00" * 40, np.uint8))
    with pytest.raises(BagError, match="does not decode"):
        image_preview(garbage, COMPRESSED, "here", MAX_PIXELS, WIDTH)
    broken = tmp_path / "000001.jpg"
    broken.write_bytes(garbage.data.tobytes())
    with pytest.raises(SequenceError, match="000001.jpg"):
        read_image_preview(broken, MAX_PIXELS, WIDTH)


@pytest.fixture(scope="module")
def bag_recordings(tmp_path_factory):
    root = tmp_path_factory.mktemp("lazy")
    videos = synthesize_recordings(root / "videos", SynthOptions(count=1, frames=40, width=96, height=72, fps=25.0))
    for recording in videos:
        convert_recording(recording.folder, root / "bags" / recording.id, ConvertOptions(form="ros1", rgb_encoding="jpeg"))
    return root / "bags"


def _stored_codes(dataset):
    codes = []
    for path in sorted(dataset.glob("*/*.h5")):
        with h5py.File(path, "r") as shard:
            codes += [(read_frame_code(nir), read_frame_code(rgb)) for nir, rgb in zip(shard["nir"][:], shard["rgb"][:])]
    return codes


def test_a_sampled_build_converts_only_the_pairs_the_interval_keeps(bag_recordings, tmp_path, monkeypatch):
    conversions = []
    convert = streams.to_kind

    def counting(pixels, order, kind, where):
        conversions.append(kind)
        return convert(pixels, order, kind, where)

    monkeypatch.setattr(streams, "to_kind", counting)
    options = IngestOptions(executor="local", eval_fraction=0.0, every_frames=5, segment_seconds=None)
    summary = build_dataset(bag_recordings, tmp_path / "lazy", options)
    assert summary.ok and summary.pairs_stored > 0
    # 40 paired frames, every 5th considered: 8 pairs converted, two frames each; none of the 32 skipped.
    assert conversions.count("nir") == conversions.count("rgb") == 8

    # Every pair kept: every frame is converted as it is read (a preview would only add a decode).
    conversions.clear()
    assert build_dataset(bag_recordings, tmp_path / "all", IngestOptions(executor="local", eval_fraction=0.0,
                                                                         segment_seconds=None)).ok
    assert conversions.count("nir") == conversions.count("rgb") == 40

    # The same build converting every frame first stores exactly the same pairs.
    conversions.clear()
    eager = lambda self, source, kind, start, end, lazy: streams.iter_source_frames(source, kind, start, end)  # noqa: E731
    monkeypatch.setattr(SegmentIngestor, "frames", eager)
    assert build_dataset(bag_recordings, tmp_path / "eager", options).ok
    assert conversions.count("nir") == conversions.count("rgb") == 40
    assert _stored_codes(tmp_path / "lazy") == _stored_codes(tmp_path / "eager") != []
