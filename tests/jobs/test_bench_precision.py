"""`nircolor bench precision`: the bf16-against-float32 figures behind `--precision auto`."""
from __future__ import annotations

from typer.testing import CliRunner

from nircolor.jobs.cli import app
from nircolor.models import save_generator
from nircolor.models.inference import BOUND_MAXIMUM, BOUND_TYPICAL
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
    assert 0 < quantile <= maximum <= 8  # bf16 moves a tiny trained net's output by a few 1/255 steps
    # The verdict follows the bound's definition; whether 5 steps of training land inside it depends on
    # the CPU's bf16 path (AMX or AVX-512-BF16 round differently).
    assert row[5].strip() == ("yes" if quantile <= BOUND_TYPICAL and maximum <= BOUND_MAXIMUM else "no")
    assert "2 frames of 64×48" in output.read_text()
