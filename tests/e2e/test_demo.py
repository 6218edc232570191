"""`nircolor demo` end to end at a tiny size: every stage runs and leaves what the README promises."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nircolor.dataset_tools.video import probe
from nircolor.jobs.cli import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.mark.slow  # tens of seconds on 2 cores: CI runs it (scripts/test.sh), plain pytest skips it
def test_demo_leaves_a_review_video_a_grid_and_an_evaluation_table(tmp_path, ray_local):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--steps", "3", "--recordings", "4", "--frames", "8",
                                 "--size", "96x64"])
    assert result.exit_code == 0, result.output
    assert "demo finished" in result.output

    table = (out / "evaluation" / "evaluation.md").read_text()
    assert "unet-4-s" in table and "NIR as gray" in table
    assert (out / "evaluation" / "grid.png").stat().st_size > 0
    reviews = sorted((out / "colorized").glob("*.review.mp4"))
    assert reviews, "no side-by-side video"
    name = reviews[0].name.removesuffix(".review.mp4")
    report = json.loads((out / "colorized" / f"{name}.json").read_text())
    review = probe(reviews[0])
    # NIR | colorized | RGB: three frames side by side, one review frame per colorized frame.
    assert review.width == 3 * 96 and review.height == 64
    assert review.frames == report["frames"] > 0
    assert (out / "evaluation" / "temporal").is_dir()
