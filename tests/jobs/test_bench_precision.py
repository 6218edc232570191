"""`nircolor bench precision`: the bf16-against-float32 figures behind `--precision auto`."""
from __future__ import annotations

from typer.testing import CliRunner

from jobs.cli import app
from models import save_generator
from tests.models.tiny_training import trained_tiny

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_bench_precision_measures_each_checkpoint_and_lists_an_unreadable_one(tmp_path):
    checkpoint = save_generator(trained_tiny("johnson-6", steps=5), tmp_path / "johnson")
    broken = tmp_path / "broken"
    broken.mkdir()
    output = tmp_path / "precision.md"
    result = runner.invoke(app, ["bench", "precision", str(checkpoint), str(broken), "--frames", "2",
                                 "--height", "48", "--width", "64", "--output", str(output)])
    assert result.exit_code == 1, result.output  # the broken checkpoint was not measured
    assert "not a checkpoint" in result.output
    (row,) = [line.split("|")[1:-1] for line in output.read_text().splitlines() if line.startswith("| johnson")]
    maximum, quantile = float(row[2]), float(row[3])
    assert 0 < quantile <= maximum <= 8 and row[5].strip() == "yes"
    assert "2 frames of 64×48" in output.read_text()
