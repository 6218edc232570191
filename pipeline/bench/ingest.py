"""`nircolor bench ingest`: dataset-build throughput against decode-only of the same segments.

Both runs go through `pipeline.ingest.build_dataset` with its `worker_class` seam: `TimedIngestor`
(the production worker with a clock around each stage: decode, sample, register, write) and
`SegmentDecoder` (decodes the segment's frames of both streams and nothing else), on the same
workers. Production code carries no timers; this module adds them. `TimedIngestorWithoutVzeroupper`
(`compare(..., vzeroupper=False)`) switches off the VZEROUPPER after each deflate
(dataset_tools/vector_state.py) inside the worker's own process, which is where a Ray actor runs it.
"""
from __future__ import annotations

import os
import time
from contextlib import nullcontext
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from nircolor.dataset_tools import vector_state
from nircolor.dataset_tools.pair_sink import PairSink
from nircolor.dataset_tools.segment_ingest import SegmentIngestor, SegmentResult, SegmentTask
from nircolor.dataset_tools.streams import iter_source_frames
from nircolor.pipeline.ingest import BuildSummary, IngestOptions, build_dataset


@dataclass
class TimedResult(SegmentResult):
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of the worker process for this task (robust to a busy machine)
    stage_seconds: dict = field(default_factory=dict)  # decode, sample, register, write


class TimedSink(PairSink):
    """PairSink with a clock around each stage; `timing` is shared with the worker's decode clock."""

    timing: Counter

    def _timed(self, stage: str, work: Callable, *args):
        mark = time.perf_counter()
        try:
            return work(*args)
        finally:
            self.timing[stage] += time.perf_counter() - mark

    def add_frames(self, nir, rgb, nir_bits, frame_index):
        if not (self.sampler and self.sampler.skips_by_interval(nir.seconds)):
            self._timed("decode", lambda: (nir.array, rgb.array))  # a LazyFrame converts its pixels here
        return super().add_frames(nir, rgb, nir_bits, frame_index)

    def sample(self, *args):
        return self._timed("sample", super().sample, *args)

    def register(self, *args):
        return self._timed("register", super().register, *args)

    def write(self, *args):
        return self._timed("write", super().write, *args)

    def close(self):
        return self._timed("write", super().close)  # the last chunks are compressed and flushed here


class TimedIngestor(SegmentIngestor):
    """The ingest worker, timed per stage and in CPU seconds."""

    sink_class = TimedSink
    vzeroupper = True  # VZEROUPPER after each deflate, set in the worker's process for each task

    def __call__(self, task: SegmentTask, report=None) -> TimedResult:
        self.timing: Counter = Counter()
        started, cpu_started = time.perf_counter(), time.process_time()
        with vector_state.enabled(self.vzeroupper):
            result = super().__call__(task, report)
        return TimedResult(**vars(result), seconds=time.perf_counter() - started,
                           cpu_seconds=time.process_time() - cpu_started, stage_seconds=dict(self.timing))

    def frames(self, *args) -> Iterator:
        frames = super().frames(*args)
        try:
            while True:
                mark = time.perf_counter()
                frame = next(frames, None)
                self.timing["decode"] += time.perf_counter() - mark
                if frame is None:
                    return
                yield frame
        finally:
            frames.close()

    def make_sink(self, task: SegmentTask) -> TimedSink:
        sink = super().make_sink(task)
        sink.timing = self.timing
        return sink


class TimedIngestorWithoutVzeroupper(TimedIngestor):
    """`TimedIngestor` with the VZEROUPPER after each deflate switched off (to measure what it saves)."""

    vzeroupper = False


class SegmentDecoder:
    """Benchmark baseline: decode the same segment of both streams and nothing else (writes nothing)."""

    def __call__(self, task: SegmentTask, report=None) -> TimedResult:
        started, cpu_started = time.perf_counter(), time.process_time()
        frames = 0
        if task.pairs:
            for source, kind, column in ((task.nir, "nir", 1), (task.rgb, "rgb", 2)):
                for _ in iter_source_frames(source, kind, task.pairs[0][column], task.pairs[-1][column] + 1e-4):
                    frames += 1
        return TimedResult(task.recording_id, task.segment, stats={"frames_decoded": frames},
                           seconds=time.perf_counter() - started, cpu_seconds=time.process_time() - cpu_started)


@dataclass
class Run:
    """One build (or decode-only pass) with the figures the benchmark reports."""

    summary: BuildSummary
    task_seconds: float  # wall clock from the end of planning (the whole build is summary.seconds)
    worker_cpu_seconds: float = 0.0  # over the segments run (not skipped)
    planning_cpu_seconds: float = 0.0  # the driver, until the tasks start
    stage_seconds: dict = field(default_factory=dict)  # summed over workers

    @property
    def frames(self) -> int:
        return self.summary.frames_decoded


def timed_build(recordings: str | os.PathLike, dataset_dir: str | os.PathLike, options: IngestOptions,
                worker_class: type = TimedIngestor) -> Run:
    """`build_dataset` with `worker_class`, its workers' stage times and CPU time summed."""
    cpu_started = time.process_time()
    marks = {}
    stages: Counter = Counter()
    worker_cpu = 0.0

    def progress(event: dict) -> None:
        nonlocal worker_cpu
        if event["type"] == "start":
            marks.update(planning_cpu=time.process_time() - cpu_started, tasks_started=time.perf_counter())
        elif event["type"] == "segment" and isinstance(event.get("result"), TimedResult) and not event["skipped"]:
            worker_cpu += event["result"].cpu_seconds
            stages.update(event["result"].stage_seconds)

    summary = build_dataset(recordings, dataset_dir, options, progress=progress, worker_class=worker_class)
    task_seconds = time.perf_counter() - marks["tasks_started"] if marks else 0.0
    return Run(summary, task_seconds, worker_cpu, marks.get("planning_cpu", 0.0), dict(stages))


@dataclass
class Comparison:
    ingest: Run  # best wall-clock run, timed whole (planning, pairing, ..., manifest)
    ingest_cpu: Run  # best CPU-time run (on a shared machine the two bests can differ)
    decode: Run  # best wall-clock run, timed from the end of planning
    decode_cpu_seconds: float

    @property
    def wall_ratio(self) -> float:
        return (self.ingest.frames / self.ingest.summary.seconds) / (self.decode.frames / self.decode.task_seconds)

    @property
    def cpu_ratio(self) -> float:
        ingest_cpu = self.ingest_cpu.worker_cpu_seconds + self.ingest_cpu.planning_cpu_seconds
        return (self.decode_cpu_seconds / self.decode.frames) / (ingest_cpu / self.ingest_cpu.frames)


def compare(recordings: Path, scratch: Path, options: IngestOptions, repeats: int,
            status: Callable[[str], object] | None = None, vzeroupper: bool = True) -> Comparison:
    """Alternate decode-only and full ingest `repeats` times each (other load on the machine hits
    both alike) and keep each one's best. `status(text)` returns a context manager, e.g. a spinner.
    `vzeroupper=False`: the ingest workers skip the VZEROUPPER after each deflate.
    Raises ValueError with the build's own message when a recording fails."""
    ingestor = TimedIngestor if vzeroupper else TimedIngestorWithoutVzeroupper
    decode_runs, ingest_runs = [], []
    for repeat in range(repeats):
        with status(f"decode only ({repeat + 1}/{repeats})") if status else nullcontext():
            decode_runs.append(timed_build(recordings, scratch / f"decode-{repeat}", options, SegmentDecoder))
        with status(f"full ingest ({repeat + 1}/{repeats})") if status else nullcontext():
            run = timed_build(recordings, scratch / f"dataset-{repeat}", options, ingestor)
        for summary in (decode_runs[-1].summary, run.summary):
            if summary.error or summary.failed:
                raise ValueError(summary.error or summary.failed[0].error)
        ingest_runs.append(run)
    return Comparison(
        ingest=min(ingest_runs, key=lambda run: run.summary.seconds),
        ingest_cpu=min(ingest_runs, key=lambda run: run.worker_cpu_seconds + run.planning_cpu_seconds),
        decode=min(decode_runs, key=lambda run: run.task_seconds),
        decode_cpu_seconds=min(run.worker_cpu_seconds for run in decode_runs),
    )
