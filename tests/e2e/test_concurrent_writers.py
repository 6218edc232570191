"""A second nircolor writing the same dataset, run folder or --out refuses at once: one line, pid, exit 1,
and nothing in the folder changes."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from nircolor.jobs.cli import app

runner = CliRunner()

HOLD = textwrap.dedent("""
    import sys
    from nircolor.dataset_tools.writer_lock import writer_lock
    with writer_lock(sys.argv[1], "holder"):
        print("held", flush=True)
        sys.stdin.read()
""")


@pytest.fixture
def held(tmp_path):
    folder = tmp_path / "target"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    yield folder, holder.pid
    holder.communicate("")


def _pairs(tmp_path):
    import cv2
    import numpy as np
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    cv2.imwrite(str(pairs / "a_nir.png"), np.full((16, 16), 80, np.uint8))
    cv2.imwrite(str(pairs / "a_rgb.png"), np.full((16, 16, 3), 80, np.uint8))
    return pairs


def test_import_pairs_cli_refuses_with_one_line_naming_the_pid(tmp_path, held):
    folder, pid = held
    before = sorted(path.name for path in folder.iterdir())
    result = runner.invoke(app, ["dataset", "import-pairs", str(_pairs(tmp_path)), str(folder),
                                 "--day", "d", "--location", "l"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert f"pid {pid}" in result.output and "another nircolor" in result.output, result.output
    assert sorted(path.name for path in folder.iterdir()) == before


# build, train and colorize start Ray from their commands; their stage functions take the same lock.
def _build(tmp_path, folder):
    from nircolor.pipeline.ingest import IngestOptions, build_dataset
    summary = build_dataset(_pairs(tmp_path), folder, IngestOptions(executor="local"))
    raise ValueError(summary.error)


def _train(tmp_path, folder):
    from nircolor.pipeline.train import TrainConfig, train_in_process
    train_in_process(TrainConfig(model="johnson-1-w4", dataset=str(tmp_path / "none"), run_dir=str(folder), steps=1))


def _colorize(tmp_path, folder):
    from nircolor.pipeline.colorize import colorize_inputs
    colorize_inputs(tmp_path / "no-checkpoint", [tmp_path / "none.mkv"], folder)


@pytest.mark.parametrize("stage", [_build, _train, _colorize], ids=["build", "train", "colorize"])
def test_stage_refuses_before_touching_the_folder(tmp_path, held, stage):
    folder, pid = held
    before = sorted(path.name for path in folder.iterdir())
    with pytest.raises((ValueError, RuntimeError)) as caught:  # TrainError is a RuntimeError
        stage(tmp_path, folder)
    assert f"another nircolor holder (pid {pid}) is writing here" in str(caught.value)
    assert sorted(path.name for path in folder.iterdir()) == before


def test_evaluate_refuses_a_report_folder_another_evaluate_is_writing(tmp_path, held):
    folder, pid = held
    before = sorted(path.name for path in folder.iterdir())
    result = runner.invoke(app, ["evaluate", "baseline:nir-gray", "--data", str(tmp_path / "no-dataset"),
                                 "--out", str(folder)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"pid {pid}" in result.output and "another nircolor" in result.output, result.output
    assert sorted(path.name for path in folder.iterdir()) == before
