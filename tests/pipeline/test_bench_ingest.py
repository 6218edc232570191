"""`nircolor bench ingest`'s measurements: timed stages and decode-only through build_dataset's worker seam."""
from nircolor.dataset_tools.manifest import read_manifest
from nircolor.dataset_tools.synthetic import SynthOptions, synthesize_recordings
from nircolor.pipeline.bench.ingest import compare
from nircolor.pipeline.ingest import IngestOptions, build_dataset


def test_timed_ingest_measures_every_stage_and_writes_the_same_dataset(tmp_path):
    synthesize_recordings(tmp_path / "in", SynthOptions(count=2, frames=8, width=128, height=96))
    options = IngestOptions(executor="local", segment_seconds=0.2)
    result = compare(tmp_path / "in", tmp_path / "bench", options, repeats=1)
    assert set(result.ingest.stage_seconds) == {"decode", "sample", "register", "write"}
    assert result.decode.frames == result.ingest.frames == 2 * 2 * 8
    assert result.ingest.worker_cpu_seconds > 0 and result.decode_cpu_seconds > 0
    assert result.wall_ratio > 0 and result.cpu_ratio > 0
    assert not read_manifest(tmp_path / "bench" / "decode-0")["shards"]  # decode only writes no shard

    plain = build_dataset(tmp_path / "in", tmp_path / "plain", options)
    timed, untimed = read_manifest(tmp_path / "bench" / "dataset-0"), read_manifest(tmp_path / "plain")
    assert plain.ok and timed["shards"] == untimed["shards"]  # the timers change nothing stored
