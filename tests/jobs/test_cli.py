"""The `nircolor` command itself: --version, help without the heavy libraries, every command
registered, and a user's own modules in the working directory shadowing nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nircolor.jobs.cli import COMMANDS, app
from nircolor.jobs.runtime import frame_size
from nircolor.models import parse_model_name, save_generator

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
NIRCOLOR = str(Path(sys.executable).with_name("nircolor"))


def test_version_is_the_installed_distributions():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"nircolor {version('nircolor')}"


def test_help_lists_every_command_without_importing_torch_ray_or_pyav():
    code = ("import sys\nfrom nircolor.jobs.cli import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in ('torch', 'ray', 'av', 'h5py', 'cv2') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "COLUMNS": "200"}).stdout
    assert output.strip().endswith("LOADED []"), output
    for name in COMMANDS:
        assert f" {name} " in output, name


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_loads_and_answers_help(name):
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.mark.slow
def test_a_users_own_modules_in_the_working_directory_break_no_command(tmp_path):
    # Modules named like nircolor's four folders, each failing on import, where the user runs nircolor.
    work = tmp_path / "work"
    work.mkdir()
    for name in ("models", "pipeline", "jobs", "dataset_tools"):
        (work / f"{name}.py").write_text(f"raise ImportError('the user\\'s own {name}.py was imported')\n")
    (work / "recordings").mkdir()
    checkpoint = save_generator(parse_model_name("johnson-6").tiny().build(), tmp_path / "checkpoint")
    environment = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(work)}  # as if installed beside them

    def nircolor(*arguments: str) -> subprocess.CompletedProcess:
        result = subprocess.run([NIRCOLOR, *arguments], cwd=work, capture_output=True, text=True, env=environment)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "user's own" not in result.stdout + result.stderr
        return result

    nircolor("--help")
    nircolor("models", "list")
    nircolor("synth", "recordings", "recordings", "--count", "2", "--frames", "8", "--size", "64x48")
    nircolor("dataset", "build", "recordings", "dataset", "--eval-fraction", "0.5")
    assert json.loads((work / "dataset" / "manifest.json").read_text())["recordings"]
    recording = sorted(path for path in (work / "recordings").iterdir() if path.is_dir())[0]
    nircolor("colorize", str(checkpoint), str(recording), "--out", "colorized")
    assert list((work / "colorized").glob("*.mp4"))


def test_frame_sizes_are_width_x_height_everywhere_and_bad_ones_are_one_line():
    assert frame_size("1024x768") == (1024, 768) and frame_size("97X73") == (97, 73)
    for bad in ("1024", "x768", "1024x", "ax3", "0x10", "-4x4"):
        with pytest.raises(typer.Exit):
            frame_size(bad)
    for command in (["bench", "train", "--size", "256"], ["bench", "models", "--size", "12x"],
                    ["bench", "colorize", "--size", "8x8"], ["bench", "precision", "x", "--size", "a"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1 and "--size" in result.output and "WxH" in result.output, (command, result.output)
        assert "Traceback" not in result.output
    # bench train's --crop: 0 means full frames (its help says so); 1–7 and crops beyond the frame are refused.
    for crop, words in (("4", "at least 8 pixels, or 0 for full frames"), ("300", "larger than the 256×256 frame")):
        result = runner.invoke(app, ["bench", "train", "--crop", crop])
        assert result.exit_code == 1 and words in result.output and "Traceback" not in result.output, result.output


@pytest.mark.parametrize("arguments", [
    ["dataset", "build", "{tmp}", "s3a://bucket/ds"],
    ["train", "gs://bucket/ds", "{tmp}/run", "--model", "johnson-6"],
    ["colorize", "{tmp}", "{tmp}", "--out=https://example.com/out"],
    ["dataset", "info", "file:///data/ds"],
])
def test_a_location_with_an_unsupported_scheme_is_one_line_and_creates_nothing(tmp_path, monkeypatch, arguments):
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    result = runner.invoke(app, [argument.replace("{tmp}", str(tmp_path)) for argument in arguments])
    assert result.exit_code == 1 and "unsupported scheme" in result.output and "s3://" in result.output
    assert "Traceback" not in result.output and sorted(tmp_path.rglob("*")) == before  # no ./s3:/bucket/ds


def test_a_ray_client_address_is_not_taken_for_a_location():
    assert runner.invoke(app, ["train", "--help", "--address", "ray://head:10001"]).exit_code == 0


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, tmp_path):
    import nircolor.jobs.models_cmd as models_cmd

    def broken(name):
        raise OSError(28, "No space left on device", str(tmp_path / "out.mp4"))

    monkeypatch.setattr(models_cmd, "parse_model_name", broken)
    result = runner.invoke(app, ["models", "show", "unet-64-s"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "OSError" in lines[0] and "No space left on device" in lines[0] and "out.mp4" in lines[0]
    assert "--debug" in lines[0]
    debugged = runner.invoke(app, ["--debug", "models", "show", "unet-64-s"])
    assert isinstance(debugged.exception, OSError)  # the real exception, traceback and all


def test_an_interrupt_exits_130_with_one_line(monkeypatch):
    import nircolor.jobs.models_cmd as models_cmd

    def interrupted(name):
        raise KeyboardInterrupt

    monkeypatch.setattr(models_cmd, "parse_model_name", interrupted)
    result = runner.invoke(app, ["models", "show", "unet-64-s"])
    assert result.exit_code == 130 and "interrupted" in result.output
