"""`nircolor models list|show` through typer's CliRunner on the real app."""
from __future__ import annotations

import re

import pytest
import torch
from typer.testing import CliRunner

from nircolor.jobs.cli import app
from nircolor.models import ALL_NAMES, count_parameters, parse_model_name

# Wide enough that rich never truncates a name or a number.
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def _parameters_m(name: str) -> float:
    with torch.device("meta"):
        return count_parameters(parse_model_name(name).build()) / 1e6


def test_models_list_shows_every_paper_name_with_its_parameters():
    result = runner.invoke(app, ["models", "list", "--no-gflops"])
    assert result.exit_code == 0, result.output
    rows = {}
    for line in result.output.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃]", line) if cell.strip()]
        if cells and cells[0] in ALL_NAMES:
            rows[cells[0]] = cells
    assert set(rows) == set(ALL_NAMES)
    for name, cells in rows.items():
        assert cells[1] == f"{_parameters_m(name):.2f}", f"{name}: {cells}"


def test_models_show_prints_the_parameter_count():
    result = runner.invoke(app, ["models", "show", "Johnson-6"])
    assert result.exit_code == 0, result.output
    expected = count_parameters(parse_model_name("johnson-6").build())
    assert f"trainable parameters: {expected:,}" in result.output
    assert "johnson-6" in result.output


@pytest.mark.parametrize("name", ["bogus", "honari-64-5-q"])
def test_models_show_rejects_a_bad_name_in_one_line(name):
    result = runner.invoke(app, ["models", "show", name])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no crash
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert name in lines[0] and "honari-<nc>-<branches>[-i][c]" in lines[0]


def test_bench_models_writes_a_markdown_row_per_model(tmp_path):
    output = tmp_path / "docs" / "models.md"
    result = runner.invoke(
        app,
        ["bench", "models", "--names", "honari-64-5,Johnson-6", "--height", "40", "--width", "56",
         "--repeats", "2", "--warmup", "0", "--device", "cpu", "--modes", "fp32,bf16", "--output", str(output)],
    )
    assert result.exit_code == 0, result.output
    lines = output.read_text().splitlines()
    header = next(line for line in lines if line.startswith("| model"))
    assert "fp32 eager ms" in header and "bf16 eager ms" in header and "compile" not in header
    rows = [line.split("|")[1:-1] for line in lines if line.startswith("| ") and "model" not in line]
    assert [row[0].strip() for row in rows] == ["honari-64-5", "johnson-6"]
    for row in rows:
        fp32_ms, bf16_ms, speedup = float(row[4]), float(row[5]), float(row[6].strip().rstrip("×"))
        assert fp32_ms > 0 and bf16_ms > 0
        # printed to one decimal, from times printed to 0.1 ms
        assert speedup == pytest.approx(fp32_ms / min(fp32_ms, bf16_ms), abs=0.06, rel=0.05)
    assert "Frame 56×40" in output.read_text() and "median of 2 timed frames" in output.read_text()
    assert sorted(path.name for path in output.parent.iterdir()) == ["models.md"]


@pytest.mark.parametrize("arguments", [["--names", "bogus-1"], ["--device", "cuda:7"], ["--device", "tpu"],
                                       ["--modes", "fp32,fp8"]])
def test_bench_models_rejects_bad_options_in_one_line(arguments):
    if "cuda:7" in arguments and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = runner.invoke(app, ["bench", "models", *arguments])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
