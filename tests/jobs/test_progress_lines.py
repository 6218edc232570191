"""Progress off a terminal: a line per task every --log-interval seconds, while the command runs."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import TextColumn

from nircolor.jobs import progress
from nircolor.jobs.progress import LoggedProgress, task_line
from nircolor.models import parse_model_name, save_generator

NIRCOLOR = str(Path(sys.executable).with_name("nircolor"))


def test_lines_carry_count_rate_eta_and_fields_and_stop_with_the_work(monkeypatch):
    monkeypatch.setattr(progress, "LOG_INTERVAL", 0.05)
    buffer = io.StringIO()
    bar = LoggedProgress(TextColumn("{task.description}"), console=Console(file=buffer, force_terminal=False))
    with bar:
        task = bar.add_task("frames", total=100, pairs="7 pairs kept")
        for _ in range(4):
            bar.advance(task, 10)
            time.sleep(0.1)
        lines_before_end = [line for line in buffer.getvalue().splitlines() if line.startswith("frames: ")]
        bar.update(task, completed=100)
    assert len(lines_before_end) >= 2
    assert "/100 (" in lines_before_end[-1] and "/s, ETA " in lines_before_end[-1]
    assert lines_before_end[-1].endswith("7 pairs kept")
    printed = len([line for line in buffer.getvalue().splitlines() if line.startswith("frames: ")])
    time.sleep(0.2)
    assert len([line for line in buffer.getvalue().splitlines() if line.startswith("frames: ")]) == printed


def test_a_terminal_gets_the_bar_and_no_lines(monkeypatch):
    monkeypatch.setattr(progress, "LOG_INTERVAL", 0.01)
    buffer = io.StringIO()
    with LoggedProgress(console=Console(file=buffer, force_terminal=True)) as bar:
        bar.add_task("frames", total=10)
        time.sleep(0.1)
    assert "frames: " not in buffer.getvalue()


def test_a_pipe_that_rich_is_told_is_a_terminal_still_gets_lines_and_no_bar(monkeypatch):
    # FORCE_COLOR (set by many CI systems) makes rich call a pipe a terminal; a live bar there is
    # one endless line of redraws, so the stream itself decides.
    monkeypatch.setattr(progress, "LOG_INTERVAL", 0.05)
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as pipe, os.fdopen(read_end) as reader:
        console = Console(file=pipe, force_terminal=True, width=120)
        with LoggedProgress(TextColumn("{task.description}"), console=console) as bar:
            task = bar.add_task("frames", total=10)
            bar.advance(task, 3)
            time.sleep(0.3)
            bar.advance(task, 7)
        pipe.close()
        printed = reader.read()
    assert "frames: 3/10 (" in printed
    assert "\r" not in printed and "\x1b[2K" not in printed  # no redraws


def test_task_line_without_a_total_or_a_rate():
    bar = LoggedProgress(console=Console(file=io.StringIO(), force_terminal=False))
    identifier = bar.add_task("reading recordings", total=None, pairs="")
    task = next(task for task in bar.tasks if task.id == identifier)
    assert task_line(task) == "reading recordings: 0"


@pytest.mark.slow
def test_a_piped_colorize_prints_progress_lines_before_it_ends(tmp_path):
    checkpoint = save_generator(parse_model_name("johnson-6").tiny().build(), tmp_path / "checkpoint")
    environment = {**os.environ, "COLUMNS": "200", "FORCE_COLOR": "1"}  # the CI case: rich told "terminal"
    subprocess.run([NIRCOLOR, "synth", "recordings", str(tmp_path / "recordings"), "--count", "1", "--frames", "150",
                    "--size", "160x120"], check=True, capture_output=True, env=environment)
    recording = next(path for path in (tmp_path / "recordings").iterdir() if path.is_dir())
    process = subprocess.Popen([NIRCOLOR, "--log-interval", "0.2", "colorize", str(checkpoint), str(recording),
                                "--out", str(tmp_path / "out"), "--batch-size", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    lines_while_running = []
    for line in process.stdout:  # a pipe: not a terminal
        if process.poll() is None and "/s" in line and ": " in line:
            lines_while_running.append(line.strip())
    assert process.wait() == 0
    assert lines_while_running, "no progress line arrived before colorize ended"
