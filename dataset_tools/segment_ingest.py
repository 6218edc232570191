"""One segment of one recording → one shard: decode both streams, take the planned pairs by
presentation time, feed them to a PairSink, record the outcome in a state file (paper §4 data).

`SegmentIngestor` is the worker that `pipeline/ingest.py` runs in this process or on Ray actors;
nothing here knows about Ray. A finished segment leaves its shard and a state file, so a re-run
skips it (`finished`); a worker that dies mid-shard leaves only a temporary file, removed on retry.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.clock_offset import MotionSignal
from nircolor.dataset_tools.pair_sink import PairSink
from nircolor.dataset_tools.pairing import NearestFrames
from nircolor.dataset_tools.recording import RecordingError
from nircolor.dataset_tools.registration import RegistrationPolicy
from nircolor.dataset_tools.sampling import Sampler, SamplingOptions
from nircolor.dataset_tools.shards import ShardWriter
from nircolor.dataset_tools.streams import STREAM_ERRORS, StreamSource, iter_source_frames
from nircolor.dataset_tools.video import Frame

STATE_FOLDER = ".ingest"  # per-segment state files: what a finished segment produced
SAME_INSTANT_SECONDS = 1e-6  # planned pair times are the streams' own frame times: matched exactly


@dataclass(frozen=True)
class SegmentTask:
    recording_id: str
    day: str
    location: str
    split: str
    nir: StreamSource
    rgb: StreamSource
    nir_bits: int
    height: int
    width: int
    segment: int
    pairs: tuple[tuple[int, float, float], ...]  # (NIR frame index, NIR seconds, RGB seconds)
    shard_path: str
    state_path: str
    key: str  # digest of everything that decides the shard's content
    every_frames: int
    every_seconds: float | None
    max_shift: float
    homography: tuple[float, ...] | None = None  # RGB pixel → NIR pixel, applied before registration


@dataclass
class SegmentResult:
    recording_id: str
    segment: int
    shard: dict | None = None  # manifest entry, None when no pair survived
    stats: dict = field(default_factory=dict)
    error: str | None = None
    skipped: bool = False  # already complete from an earlier run


def finished(task: SegmentTask) -> SegmentResult | None:
    """The result an earlier run recorded for this exact task, if its shard is still there intact."""
    try:
        state = json.loads(Path(task.state_path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if state.get("key") != task.key:
        return None
    shard = state.get("shard")
    if shard is not None:
        path = Path(task.shard_path)
        if not path.is_file() or path.stat().st_size != state.get("size"):
            return None
    return SegmentResult(task.recording_id, task.segment, shard=shard, stats=state["stats"], skipped=True)


class SegmentIngestor:
    """Ingest one segment per call (`worker(task, report)`); bad input becomes the result's error.

    Seams for tests and benchmarks: `frames` (the decoder of one stream), `sink_class` and `make_sink`.
    """

    sink_class: type[PairSink] = PairSink

    def __call__(self, task: SegmentTask, report=None) -> SegmentResult:
        # One core per actor, and OpenCV's threaded reductions (template matching) sum in an order
        # that depends on the thread count: single-threaded, a shard's bytes do not depend on the host.
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            return self.ingest(task)
        except (*STREAM_ERRORS, RecordingError, OSError, ValueError) as error:
            message = str(error) if isinstance(error, (*STREAM_ERRORS, RecordingError)) else \
                f"{task.nir.label()}: segment {task.segment} failed ({type(error).__name__}: {error})"
            return SegmentResult(task.recording_id, task.segment, error=message)
        finally:
            cv2.setNumThreads(threads)

    def frames(self, source: StreamSource, kind: str, start_seconds: float, end_seconds: float,
               lazy: bool = False) -> Iterator[Frame]:
        return iter_source_frames(source, kind, start_seconds, end_seconds, lazy=lazy)

    def make_sink(self, task: SegmentTask) -> PairSink:
        def open_writer(height: int, width: int, nir_bits: int) -> ShardWriter:
            if (height, width, nir_bits) != (task.height, task.width, task.nir_bits):
                raise ValueError(f"a {width}x{height} {nir_bits}-bit frame in a "
                                 f"{task.width}x{task.height} {task.nir_bits}-bit recording")
            return ShardWriter(task.shard_path, recording_id=task.recording_id, day=task.day,
                               location=task.location, split=task.split, nir_bits=task.nir_bits,
                               height=task.height, width=task.width)

        sampler = Sampler(SamplingOptions(every_frames=task.every_frames, every_seconds=task.every_seconds))
        homography = np.asarray(task.homography).reshape(3, 3) if task.homography else None
        return self.sink_class(open_writer, RegistrationPolicy(max_shift=task.max_shift), sampler, homography)

    def ingest(self, task: SegmentTask) -> SegmentResult:
        shard_path = Path(task.shard_path)
        atomic.remove_leftovers(shard_path)  # left by a worker that died mid-shard
        sink = self.make_sink(task)
        frames_decoded = missing = 0
        shards = []
        motion = {"nir": MotionSignal(), "rgb": MotionSignal()}  # for the clock-offset estimate
        if task.pairs:
            # Sampling by interval: pixels only for the pairs it keeps (a skipped frame costs a preview).
            # Without it every frame is converted, and the preview would only add a decode.
            lazy = task.every_frames > 1 or task.every_seconds is not None
            streams = [self.frames(source, kind, task.pairs[0][column], task.pairs[-1][column] + 1e-4, lazy)
                       for source, kind, column in ((task.nir, "nir", 1), (task.rgb, "rgb", 2))]
            try:
                nir_frames = NearestFrames(motion["nir"].tap(streams[0]), tolerate_errors=False)
                rgb_frames = NearestFrames(motion["rgb"].tap(streams[1]), tolerate_errors=False)
                for frame_index, nir_seconds, rgb_seconds in task.pairs:
                    nir = nir_frames.at(nir_seconds, SAME_INSTANT_SECONDS)
                    rgb = rgb_frames.at(rgb_seconds, SAME_INSTANT_SECONDS)
                    frames_decoded += (nir is not None) + (rgb is not None)
                    if nir is None or rgb is None:
                        missing += 1  # a packet that did not decode into a frame
                        continue
                    sink.add_frames(nir, rgb, task.nir_bits, frame_index)
                for frames in streams:
                    frames.close()
                shards = sink.close()
            except BaseException:
                sink.abort()
                raise
        shard = None
        if shards:
            shard = {"path": f"{task.split}/{shard_path.name}", "split": task.split, "recording_id": task.recording_id,
                     "pairs": shards[0].pairs, "sha256": shards[0].sha256}
        stats = {"paired": len(task.pairs), "frames_decoded": frames_decoded, "undecodable": missing,
                 "motion": {kind: signal.pairs() for kind, signal in motion.items()}, **sink.statistics()}
        atomic.write_json(Path(task.state_path), {"key": task.key, "shard": shard, "stats": stats,
                                                  "size": shard_path.stat().st_size if shard else None},
                          sort_keys=True, indent=None)
        return SegmentResult(task.recording_id, task.segment, shard=shard, stats=stats)
