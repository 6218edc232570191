"""Ingest: true same-instant pairs, native NIR depth, crash recovery, bad recordings, idempotence."""
import json
import os
from pathlib import Path

import av
import h5py
import numpy as np
import pytest

from nircolor.dataset_tools.manifest import read_manifest
from nircolor.dataset_tools.pair_sink import PairSink
from nircolor.dataset_tools.shard_verify import verify_shard
from nircolor.dataset_tools.synthetic import SynthOptions, read_frame_code, synthesize_recordings, truncate_file, write_frame_code
from nircolor.pipeline.ingest import IngestOptions, SegmentIngestor, build_dataset

SMALL = dict(width=128, height=96, fps=25.0)


def _manifest_without_time(dataset_dir):
    manifest = read_manifest(dataset_dir)
    manifest.pop("created", None)
    return manifest


def _stored_pairs(dataset_dir):
    for path in sorted(dataset_dir.glob("*/*.h5")):
        with h5py.File(path, "r") as shard:
            yield path, shard["nir"][:], shard["rgb"][:], shard["frame_index"][:], dict(shard.attrs)


def test_dropped_frames_pair_by_instant_on_ray_actors(ray_local, tmp_path):
    recordings = synthesize_recordings(tmp_path / "in", SynthOptions(count=2, frames=20, drop_frames=4, **SMALL))
    summary = build_dataset(tmp_path / "in", tmp_path / "out",
                            IngestOptions(segment_seconds=0.4, executor="ray", workers=2))
    assert summary.ok and summary.workers == 2
    stored = 0
    for path, nir, rgb, frame_index, attrs in _stored_pairs(tmp_path / "out"):
        nir_codes = [read_frame_code(frame) for frame in nir]
        rgb_codes = [read_frame_code(frame) for frame in rgb]
        assert nir_codes == rgb_codes, f"{path.name}: a pair joins frames of different instants"
        recording = next(r for r in recordings if r.id == attrs["recording_id"])
        assert set(rgb_codes) <= set(recording.rgb_frames)
        assert list(frame_index) == nir_codes  # NIR is complete here, so its index is the frame number
        stored += len(nir)
    manifest = read_manifest(tmp_path / "out")
    for recording in recordings:
        entry = manifest["recordings"][recording.id]
        assert entry["dropped"] == {"nir": 0, "rgb": 4}
        assert entry["frames_seen"] == 20 and entry["frames_paired"] == 16
        assert entry["segments"] == 2
    assert stored == summary.pairs_stored == sum(entry["pairs"] for entry in manifest["recordings"].values())


def test_sixteen_bit_nir_stays_uint16(tmp_path):
    synthesize_recordings(tmp_path / "in", SynthOptions(count=2, frames=6, nir_bits=16, **SMALL))
    summary = build_dataset(tmp_path / "in", tmp_path / "out", IngestOptions(executor="local"))
    assert summary.ok and summary.pairs_stored > 0
    for path, nir, rgb, frame_index, attrs in _stored_pairs(tmp_path / "out"):
        assert nir.dtype == np.uint16 and attrs["nir_bits"] == 16
        assert nir.max() > 255 and rgb.dtype == np.uint8
        assert verify_shard(path) == []


class _CrashingSink(PairSink):
    """Kills its process right after storing a pair, the first time any worker gets there."""

    marker: Path

    def write(self, *args):
        super().write(*args)
        if not self.marker.exists():
            self.marker.write_text("crashed\n")
            os._exit(1)  # a lost node mid-shard: the temporary shard stays behind


class CrashOnceMidShard(SegmentIngestor):
    sink_class = _CrashingSink

    def make_sink(self, task):
        sink = super().make_sink(task)
        sink.marker = Path(task.state_path).parents[2] / "crashed-once"  # beside the dataset folder
        return sink


def test_killed_actor_is_retried_and_output_is_unchanged(ray_local, tmp_path):
    synthesize_recordings(tmp_path / "in", SynthOptions(count=2, frames=20, **SMALL))
    # The undisturbed reference runs in this process: output must not depend on where it was made.
    reference = build_dataset(tmp_path / "in", tmp_path / "reference",
                              IngestOptions(segment_seconds=0.4, executor="local"))
    marker = tmp_path / "crashed-once"
    options = IngestOptions(segment_seconds=0.4, executor="ray", workers=2)
    summary = build_dataset(tmp_path / "in", tmp_path / "out", options, worker_class=CrashOnceMidShard)
    assert marker.exists(), "the fault hook never fired"
    assert summary.ok and reference.ok
    assert _manifest_without_time(tmp_path / "out") == _manifest_without_time(tmp_path / "reference")
    leftovers = [path.name for path in (tmp_path / "out").rglob("*") if path.name.endswith(".tmp")]
    assert leftovers == []

    shards = {path: path.stat().st_mtime_ns for path in (tmp_path / "out").glob("*/*.h5")}
    again = build_dataset(tmp_path / "in", tmp_path / "out", options)
    assert again.ok and again.segments_done == 0 and again.segments_skipped == summary.segments_done == 4
    assert {path: path.stat().st_mtime_ns for path in (tmp_path / "out").glob("*/*.h5")} == shards
    assert _manifest_without_time(tmp_path / "out") == _manifest_without_time(tmp_path / "reference")


def test_bad_recordings_are_reported_and_the_rest_complete(tmp_path):
    root = tmp_path / "in"
    recordings = synthesize_recordings(root, SynthOptions(count=5, frames=20, days=1, locations=1, **SMALL))
    good, corrupt, truncated, missing, bad_json = recordings
    nir = corrupt.folder / "nir.mkv"
    data = bytearray(nir.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 2000] = np.random.default_rng(0).integers(0, 256, 2000, np.uint8).tobytes()
    nir.write_bytes(bytes(data))
    truncate_file(truncated.folder / "rgb.mkv", 0.5)
    (missing.folder / "rgb.mkv").unlink()
    (bad_json.folder / "recording.json").write_text('{"id": "drive-004", "day": ')

    twin = root / "drive-005"  # a copy of a good recording under the same id
    twin.mkdir()
    for name in ("recording.json", "nir.mkv", "rgb.mkv"):
        (twin / name).write_bytes((good.folder / name).read_bytes())

    summary = build_dataset(root, tmp_path / "out", IngestOptions(eval_fraction=0.0, executor="local"))
    failed = {recording.id: recording.error for recording in summary.failed}
    assert set(failed) == {corrupt.id, truncated.id, missing.id, bad_json.id, "drive-005"}
    assert "already used by" in failed["drive-005"]
    assert [recording.pairs > 0 for recording in summary.recordings] == [True, False, False, False, False, False]
    assert "decoding failed" in failed[corrupt.id] and "nir.mkv" in failed[corrupt.id]
    assert "truncated" in failed[truncated.id]
    assert "rgb.mkv" in failed[missing.id] and "missing" in failed[missing.id]
    assert "not valid JSON" in failed[bad_json.id]
    assert all("\n" not in error for error in failed.values())

    manifest = read_manifest(tmp_path / "out")
    assert [shard["recording_id"] for shard in manifest["shards"]] == [good.id]
    assert manifest["recordings"][good.id]["pairs"] > 0
    assert manifest["recordings"][corrupt.id]["error"] == failed[corrupt.id]
    # Nothing half-written under a final name: every .h5 is a complete shard listed in the manifest.
    listed = {shard["path"] for shard in manifest["shards"]}
    on_disk = {str(path.relative_to(tmp_path / "out")) for path in (tmp_path / "out").rglob("*.h5")}
    assert on_disk == listed
    assert all(verify_shard(tmp_path / "out" / path) == [] for path in listed)
    assert not [path for path in (tmp_path / "out").rglob("*") if ".tmp" in path.name or "partial" in path.name]


def test_sampling_and_registration_options_reach_the_shards(tmp_path):
    synthesize_recordings(tmp_path / "in", SynthOptions(count=2, frames=12, shift=(0.0, 2.0), **SMALL))
    summary = build_dataset(tmp_path / "in", tmp_path / "out", IngestOptions(every_frames=3, executor="local"))
    assert summary.ok
    manifest = read_manifest(tmp_path / "out")
    for entry in manifest["recordings"].values():
        assert entry["rejected"].get("interval", 0) >= 12 - 4
        assert entry["pairs"] <= 4
        assert entry["registration"]["median_dx"] == pytest.approx(2.0, abs=0.6)
    assert manifest["build_parameters"]["every_frames"] == 3
    for path, nir, rgb, frame_index, attrs in _stored_pairs(tmp_path / "out"):
        assert np.all(np.diff(frame_index) >= 3)
        with h5py.File(path, "r") as shard:
            assert np.allclose(shard["registration_shift"][:, 1], 2.0, atol=0.6)


def test_no_possible_split_stops_with_one_sentence(tmp_path):
    synthesize_recordings(tmp_path / "in", SynthOptions(count=2, frames=3, days=1, locations=1, **SMALL))
    summary = build_dataset(tmp_path / "in", tmp_path / "out", IngestOptions(executor="local"))
    assert summary.error and "--split-by" in summary.error and "\n" not in summary.error
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_rebuild_with_other_splits_leaves_no_stale_shards(tmp_path):
    synthesize_recordings(tmp_path / "in", SynthOptions(count=2, frames=4, **SMALL))
    first = build_dataset(tmp_path / "in", tmp_path / "out",
                          IngestOptions(executor="local", split_overrides=(("drive-000", "eval"),)))
    second = build_dataset(tmp_path / "in", tmp_path / "out",
                           IngestOptions(executor="local", split_overrides=(("drive-000", "train"),)))
    assert first.ok and second.ok
    listed = {shard["path"] for shard in read_manifest(tmp_path / "out")["shards"]}
    assert listed == {"eval/drive-001-000.h5", "train/drive-000-000.h5"}
    on_disk = {str(path.relative_to(tmp_path / "out")) for path in (tmp_path / "out").rglob("*.h5")}
    assert on_disk == listed


def test_single_file_recording_with_two_streams(tmp_path):
    root = tmp_path / "in"
    for index, (day, location) in enumerate([("2017-05-10", "estuary"), ("2017-05-11", "harbour")]):
        folder = root / f"take-{index}"
        folder.mkdir(parents=True)
        with av.open(str(folder / "drive.mkv"), "w") as container:
            # Stream 0 carries RGB and stream 1 NIR, so a mix-up of the two indices cannot pass.
            rgb_stream, nir_stream = container.add_stream("ffv1", rate=25), container.add_stream("ffv1", rate=25)
            for stream, pix_fmt in ((rgb_stream, "bgr0"), (nir_stream, "gray")):
                stream.width, stream.height, stream.pix_fmt = 128, 96, pix_fmt
            rng = np.random.default_rng(index)
            for frame_number in range(8):
                nir = rng.integers(0, 256, (96, 128), np.uint8)
                rgb = np.repeat(nir[..., None], 3, axis=2)
                write_frame_code(nir, frame_number, 255)
                write_frame_code(rgb, 100 + frame_number, 255)  # RGB codes differ: which stream is which
                for stream, array, format in ((rgb_stream, rgb, "rgb24"), (nir_stream, nir, "gray")):
                    frame = av.VideoFrame.from_ndarray(array, format=format)
                    frame.pts = frame_number
                    container.mux(stream.encode(frame))
            for stream in (rgb_stream, nir_stream):
                container.mux(stream.encode(None))
        (folder / "recording.json").write_text(json.dumps({"id": f"take-{index}", "day": day, "location": location,
                                                           "video": "drive.mkv", "nir_stream": 1, "rgb_stream": 0}))
    summary = build_dataset(root, tmp_path / "out", IngestOptions(executor="local"))
    assert summary.ok and summary.pairs_stored > 0
    for path, nir, rgb, frame_index, attrs in _stored_pairs(tmp_path / "out"):
        for nir_frame, rgb_frame in zip(nir, rgb):
            assert read_frame_code(rgb_frame) == read_frame_code(nir_frame) + 100


def test_a_build_never_silently_drops_what_the_dataset_already_lists(tmp_path):
    synthesize_recordings(tmp_path / "a", SynthOptions(count=3, frames=4, **SMALL))
    other = synthesize_recordings(tmp_path / "b", SynthOptions(count=2, frames=4, **SMALL))
    for recording in other:  # another drive: other ids
        description = recording.folder / "recording.json"
        description.write_text(json.dumps({**json.loads(description.read_text()), "id": f"other-{recording.id}"}))
    options = IngestOptions(executor="local", split_overrides=(("drive-000", "eval"),))
    assert build_dataset(tmp_path / "a", tmp_path / "out", options).ok
    before = (tmp_path / "out" / "manifest.json").read_bytes()
    refused = build_dataset(tmp_path / "b", tmp_path / "out", IngestOptions(executor="local"))
    assert not refused.ok and "lists recordings this build does not make ('drive-000', 'drive-001', 'drive-002')" in refused.error
    assert (tmp_path / "out" / "manifest.json").read_bytes() == before
    (tmp_path / "a" / "drive-002" / "recording.json").write_text("{")  # a re-run may fail a recording it made
    rerun = build_dataset(tmp_path / "a", tmp_path / "out", options)
    assert rerun.error is None and not rerun.ok and sorted(read_manifest(tmp_path / "out")["recordings"]) == ["drive-000", "drive-001", "drive-002"]
    (tmp_path / "out" / "manifest.json").write_text("{not json")
    assert "refusing to replace it" in build_dataset(tmp_path / "a", tmp_path / "out", options).error
