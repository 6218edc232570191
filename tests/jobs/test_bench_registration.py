"""`nircolor bench registration` and the injected-shift accuracy it reports."""
from __future__ import annotations

import re

import cv2
import numpy as np
from typer.testing import CliRunner

import nircolor.pipeline.bench.registration as accuracy
from nircolor.dataset_tools.registration import ShiftEstimate
from nircolor.dataset_tools.synthetic import synthetic_pairs
from nircolor.jobs.cli import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_errors_are_measured_against_the_injected_shifts(monkeypatch):
    pairs = synthetic_pairs(2, width=320, height=240)
    result = accuracy.injected_shift_errors("synthetic", pairs, shifts_per_pair=3, max_shift=3.0)
    assert result.size == (320, 240) and len(result.errors) == 6
    assert result.figures()["median_px"] < 0.2  # drawn road scenes register well
    # A measurement that always answers (0, 0) is off by the whole injected shift.
    monkeypatch.setattr(accuracy, "measure_shift", lambda *args, **kwargs: ShiftEstimate(0.0, 0.0, 1.0))
    blind = accuracy.injected_shift_errors("synthetic", pairs, shifts_per_pair=3, max_shift=3.0)
    rng = np.random.default_rng(0)
    injected = np.hypot(*rng.uniform(-3.0, 3.0, (6, 2)).T)
    assert np.allclose(blind.errors, injected)


def test_pair_folder_source(tmp_path):
    for index, (nir, rgb) in enumerate(synthetic_pairs(2, width=160, height=128)):
        cv2.imwrite(str(tmp_path / f"frame{index}_nir.png"), nir)
        cv2.imwrite(str(tmp_path / f"frame{index}_rgb.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    result = runner.invoke(app, ["bench", "registration", "--pairs", str(tmp_path), "--shifts", "2"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "pairs" in line and "160×128" in line)
    cells = [cell.strip() for cell in re.split(r"[│┃]", row) if cell.strip()]
    assert cells[2] == "4"  # 2 pairs × 2 shifts
    assert float(cells[3]) < 0.5  # median error, px


def test_missing_source_is_one_line():
    result = runner.invoke(app, ["bench", "registration", "--pairs", "/nonexistent/pairs"])
    assert result.exit_code == 1
    assert "/nonexistent/pairs: no such folder" in result.output
    assert "Traceback" not in result.output
