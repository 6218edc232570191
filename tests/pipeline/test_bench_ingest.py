"""`nircolor bench ingest`'s measurements: timed stages and decode-only through build_dataset's worker seam,
and --no-vzeroupper through the worker class."""
from nircolor.dataset_tools import vector_state
from nircolor.dataset_tools.manifest import read_manifest
from nircolor.dataset_tools.synthetic import SynthOptions, synthesize_recordings
from nircolor.pipeline.bench.ingest import TimedIngestor, compare, timed_build
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


def test_no_vzeroupper_switches_it_off_inside_the_ingest_worker(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(vector_state, "_COMPILED", (None, lambda: calls.append(1)))  # counts the instruction's runs
    synthesize_recordings(tmp_path / "in", SynthOptions(count=1, frames=6, width=64, height=48))
    options = IngestOptions(executor="local", segment_seconds=0.2, eval_fraction=0.0)
    result = compare(tmp_path / "in", tmp_path / "off", options, repeats=1, vzeroupper=False)
    assert result.ingest.summary.pairs_stored > 0 and not calls  # deflated every pair, never ran it
    assert vector_state.active()  # the worker's process (here: this one) is switched back on after each task

    run = timed_build(tmp_path / "in", tmp_path / "on", options, TimedIngestor)
    assert run.summary.pairs_stored > 0 and len(calls) >= run.summary.pairs_stored  # the control: on by default
