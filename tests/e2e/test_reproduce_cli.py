"""`nircolor reproduce` end to end on Ray: a custom one-model comparison trained for two steps."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nircolor.jobs.cli import app
from tests.pipeline.shard_factory import make_dataset


@pytest.mark.slow  # tens of seconds on 2 cores: CI runs it (scripts/test.sh), plain pytest skips it
def test_reproduce_trains_on_ray_and_writes_tables(tmp_path, ray_local):
    dataset = make_dataset(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["reproduce", "custom", "--model", "johnson-6", "--data", str(dataset),
                                      "--out", str(out), "--steps", "2", "--tiny", "--no-timing"])
    assert result.exit_code == 0, result.output
    assert (out / "custom.md").is_file() and (out / "evaluation" / "grid.png").is_file()
    document = json.loads((out / "evaluation" / "evaluation.json").read_text())
    trained = [model for model in document["models"] if not model["source"].startswith("baseline:")]
    assert len(trained) == 1 and trained[0]["training"]["step"] == 2
    assert "johnson-6-lambda0.99" in trained[0]["source"]
