"""s3:// locations end to end against a local S3-compatible server (moto) on 127.0.0.1: synth → build →
train → colorize with every location in the bucket, and the one-line failures."""
from __future__ import annotations

import json

import av
import pytest
from typer.testing import CliRunner

from nircolor.jobs.cli import app
from tests.s3_server import BUCKET, free_port

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
def keys(client, prefix: str = "") -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def invoke(arguments: list[str]):
    result = runner.invoke(app, arguments)
    assert "Traceback" not in result.output
    return result


@pytest.mark.slow
def test_build_train_colorize_with_every_location_in_object_storage(s3, tmp_path, ray_local):
    bucket = f"s3://{BUCKET}"
    result = invoke(["synth", "recordings", f"{bucket}/recordings", "--count", "2", "--frames", "12",
                     "--size", "64x48", "--days", "2", "--locations", "2"])
    assert result.exit_code == 0, result.output
    assert {"recordings/drive-000/recording.json", "recordings/drive-001/recording.json"} <= keys(s3, "recordings/")

    result = invoke(["dataset", "build", f"{bucket}/recordings", f"{bucket}/ds", "--workers", "1",
                     "--split-override", "drive-001=eval", "--segment-seconds", "0"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="ds/manifest.json")["Body"].read())
    shards = {shard["path"] for shard in manifest["shards"]}
    assert shards and {f"ds/{path}" for path in shards} <= keys(s3, "ds/")
    assert "./s3:" not in result.output and not (tmp_path / "s3:").exists()  # never a local folder named s3:
    assert f"{bucket}/ds" in result.output  # messages name the URI, not the cache behind it

    # A cache wiped (another machine): training reads the dataset from the bucket.
    result = invoke(["train", f"{bucket}/ds", f"{bucket}/run", "--model", "johnson-6", "--tiny", "--steps", "2",
                     "--crop", "32", "--checkpoint-every", "2", "--eval-every", "2", "--sample-every", "0"])
    assert result.exit_code == 0, result.output
    run_keys = keys(s3, "run/")
    assert "run/checkpoints/step-0000002/generator.safetensors" in run_keys
    assert "run/best/config.json" in run_keys

    result = invoke(["colorize", f"{bucket}/run/best", f"{bucket}/recordings/drive-001", "--out", f"{bucket}/out"])
    assert result.exit_code == 0, result.output
    out_keys = keys(s3, "out/")
    assert "out/drive-001.mp4" in out_keys
    video = tmp_path / "downloaded.mp4"
    s3.download_file(BUCKET, "out/drive-001.mp4", str(video))
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12
    # Only complete files reach the bucket: no temporary names, locks or the mirror's own records.
    every_key = keys(s3)
    assert not [key for key in every_key if ".tmp" in key or key.endswith((".lock", "nircolor-sync.json"))]
    assert "ds/.ingest/drive-000-000.json" in every_key  # the build's own records travel: it resumes anywhere

    # Read again with the cache in place: nothing is fetched a second time.
    result = invoke(["dataset", "verify", f"{bucket}/ds"])
    assert result.exit_code == 0, result.output
    assert "fetched" not in result.output


def test_unreachable_object_storage_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("NIRCOLOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    result = invoke(["dataset", "verify", "s3://drives/ds"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: s3://drives/ds: cannot reach object storage at http://127.0.0.1:")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cache"] or not list(tmp_path.iterdir())


@pytest.mark.parametrize("location", ["s3://", "s3://b/../x", "s3://b//x"])
def test_a_malformed_s3_location_is_one_line_and_creates_nothing(tmp_path, monkeypatch, location):
    monkeypatch.chdir(tmp_path)
    result = invoke(["dataset", "build", str(tmp_path), location])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {location}:")
    assert list(tmp_path.iterdir()) == []
