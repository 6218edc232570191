"""The colorizer worker inside: the pipelined read → infer → write helper, torch threads, progress."""
from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest
import torch

from nircolor.dataset_tools.video import probe
from nircolor.pipeline.colorize import ColorizeOptions, colorize_inputs
from nircolor.pipeline.colorize_worker import ColorizeTask, ColorizeWorker
from nircolor.pipeline.pipelined import run_pipelined
from tests.pipeline.colorize_helpers import LOCAL, tiny_checkpoint, write_nir


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory)


# --- pipeline/pipelined.py ------------------------------------------------------------------------

def test_pipelined_stages_overlap_keep_the_order_and_report_their_seconds():
    threads = {}
    written = []

    def read():
        for item in range(20):
            threads.setdefault("read", threading.current_thread())
            yield item

    def process(item):
        threads.setdefault("process", threading.current_thread())
        time.sleep(0.005)
        return item * 10

    def write(item):
        threads.setdefault("write", threading.current_thread())
        written.append(item)

    seconds = run_pipelined(read(), process, write, depth=2)
    assert written == [item * 10 for item in range(20)]
    assert threads["process"] is threading.current_thread()  # inference stays in the caller's thread
    assert len({threads["read"], threads["process"], threads["write"]}) == 3
    assert seconds.process >= 20 * 0.005 and seconds.read >= 0 and seconds.write >= 0


def _endless(closed: list):
    try:
        item = 0
        while True:
            yield item
            item += 1
    finally:
        closed.append(True)


@pytest.mark.parametrize("failing", ["read", "process", "write"])
def test_an_error_in_any_stage_stops_the_others_and_reaches_the_caller(failing):
    closed = []

    def read():
        yield from range(3)
        if failing == "read":
            raise OSError("read failed")
        yield from _endless(closed)

    def process(item):
        if failing == "process" and item == 5:
            raise ValueError("process failed")
        return item

    def write(item):
        if failing == "write" and item == 5:
            raise RuntimeError("write failed")

    before = threading.active_count()
    with pytest.raises((OSError, ValueError, RuntimeError), match=f"{failing} failed"):
        run_pipelined(read(), process, write, depth=2)  # an endless reader: only stopping ends it
    assert threading.active_count() == before  # no stage left running
    if failing != "read":
        assert closed == [True]  # the reader's generator was closed, releasing its files


def test_keyboard_interrupt_in_the_caller_stops_every_stage():
    def process(item):
        if item == 3:
            raise KeyboardInterrupt
        return item

    before = threading.active_count()
    with pytest.raises(KeyboardInterrupt):
        run_pipelined(_endless([]), process, lambda item: None)
    assert threading.active_count() == before


# --- pipeline/colorize_worker.py --------------------------------------------------------------------

def _task(nir: Path, out: Path) -> ColorizeTask:
    info = probe(nir)
    return ColorizeTask(name="clip", segment=0, nir_path=str(nir), nir_stream=0, output_path=str(out),
                        width=info.width, height=info.height, bits=info.bits, time_base=info.time_base,
                        rate=info.average_rate, preset="ultrafast")


class ThreadsSeenWorker(ColorizeWorker):
    """Notes torch's thread count while it runs a task."""

    seen: list[int] = []

    def _infer(self, batch, bits):
        ThreadsSeenWorker.seen.append(torch.get_num_threads())
        return super()._infer(batch, bits)


def test_worker_sets_torch_threads_only_while_it_runs_a_task(tmp_path, checkpoint):
    nir = write_nir(tmp_path / "clip.mp4", list(range(6)))
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # the caller's own choice, unlike the worker's
    try:
        ThreadsSeenWorker.seen = []
        options = ColorizeOptions(executor="local", batch_size=4, preset="ultrafast", threads=1)
        summary = colorize_inputs(checkpoint, [nir], tmp_path / "out", options, worker_class=ThreadsSeenWorker)
        assert [entry.status for entry in summary.outputs] == ["done"]
        assert ThreadsSeenWorker.seen == [1, 1]
        assert torch.get_num_threads() == 3  # the caller's process is as it was

        ThreadsSeenWorker.seen = []  # no --threads in this process: torch's setting is left alone
        colorize_inputs(checkpoint, [nir], tmp_path / "default", LOCAL, worker_class=ThreadsSeenWorker)
        assert ThreadsSeenWorker.seen == [3, 3] and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_worker_reports_progress_times_its_stages_and_turns_errors_into_results(tmp_path, checkpoint, monkeypatch):
    monkeypatch.setattr("nircolor.pipeline.colorize_worker.REPORT_SECONDS", 0.0)  # report after every batch
    nir = write_nir(tmp_path / "clip.mp4", list(range(10)))
    worker = ColorizeWorker(str(checkpoint), "cpu", batch_size=4)
    reports = []
    result = worker(_task(nir, tmp_path / "clip-out.mp4"), lambda key, frames: reports.append((key, frames)))
    assert result.error is None and result.frames == 10
    assert reports == [(("clip", 0), 4), (("clip", 0), 8), (("clip", 0), 10)]
    assert min(result.decode_seconds, result.inference_seconds, result.encode_seconds) > 0
    assert result.wall_seconds > 0 and (tmp_path / "clip-out.mp4").is_file()

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(nir.read_bytes()[:2000])
    failed = worker(dataclasses.replace(_task(nir, tmp_path / "broken-out.mp4"), nir_path=str(broken)))
    assert failed.error and "broken.mp4" in failed.error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken.mp4", "clip-out.mp4", "clip.mp4"]
