"""The colorizer actor: decode → infer → encode one recording or segment inside one process.

The three stages overlap (pipeline/pipelined.py), so frames never leave the actor; only the task
and its statistics travel (DESIGN: Performance facts). Inference is batched; the models normalize
per sample (§4.2, batch-1 BN), so a frame's colors do not depend on the other frames of its batch.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from nircolor.dataset_tools.calibration import warp_to_nir
from nircolor.dataset_tools.pairing import NearestFrames
from nircolor.dataset_tools.streams import StreamSource, iter_source_frames
from nircolor.dataset_tools.video import VideoError, VideoWriter
from nircolor.models.checkpoint import load_generator
from nircolor.models.inference import InferenceEngine, InferenceOptions, resolve_device
from nircolor.models.onnx_engine import OnnxEngine
from nircolor.models.preprocess import nir_to_gray8, nir_to_tensor, tensor_to_rgb
from nircolor.pipeline.pipelined import run_pipelined

ENGINES = ("torch", "onnxruntime")
REPORT_SECONDS = 0.5  # live progress about twice a second


@dataclass(frozen=True)
class ColorizeTask:
    """One unit of actor work: a whole recording or one keyframe-aligned segment of it."""

    name: str
    segment: int
    nir_path: str
    nir_stream: int
    output_path: str
    width: int
    height: int
    bits: int
    time_base: Fraction
    rate: Fraction | None
    start_seconds: float | None = None
    end_seconds: float | None = None
    batch_breaks: tuple[float, ...] = ()  # a batch never holds frames from both sides of one
    rgb_path: str | None = None
    rgb_stream: int = 0
    nir_source: StreamSource | None = None  # how to read the streams; None: the video files above
    rgb_source: StreamSource | None = None
    homography: tuple[float, ...] | None = None  # a two-camera rig's RGB pixel → NIR pixel (the review's RGB)
    review_path: str | None = None  # side-by-side NIR | colorized | RGB video
    codec: str = "h264"
    crf: int | None = None
    preset: str | None = None


@dataclass
class TaskResult:
    name: str
    segment: int
    frames: int = 0
    first_seconds: float | None = None
    last_seconds: float | None = None
    decode_seconds: float = 0.0
    inference_seconds: float = 0.0
    encode_seconds: float = 0.0
    wall_seconds: float = 0.0
    error: str | None = None
    device: str = "cpu"
    inference: str = ""  # engine and precision, e.g. "bf16 autocast + channels_last, compiled (inductor, frozen)"
    compile_seconds: float = 0.0  # part of inference_seconds spent compiling
    extra: dict = field(default_factory=dict)


class Colorizer:
    """A loaded model that turns batches of NIR frames into uint8 RGB frames.

    `checkpoint` is a checkpoint folder (run by PyTorch, precision per models/inference.py) or,
    with engine="onnxruntime", a `nircolor export` folder or .onnx file.
    """

    def __init__(self, checkpoint: str, device: str | None = "auto", inference: InferenceOptions = InferenceOptions(),
                 engine: str = "torch", threads: int | None = None):
        if engine not in ENGINES:
            raise ValueError(f"--engine {engine!r} is not one of {', '.join(ENGINES)}")
        self.device = resolve_device(device)
        if engine == "onnxruntime":
            if self.device.type != "cpu":
                raise ValueError(f"--engine onnxruntime runs on the CPU; --device {device} is not supported with it")
            self.engine = OnnxEngine(checkpoint, threads=threads)
        else:
            self.engine = InferenceEngine(load_generator(checkpoint, device=self.device), self.device, inference)
        self.model_name = self.engine.model_name

    @property
    def description(self) -> str:
        return self.engine.description

    @property
    def compile_seconds(self) -> float:
        return self.engine.compile_seconds

    def __call__(self, nir_frames: np.ndarray, nir_bits: int) -> np.ndarray:
        """(N,H,W) NIR at native depth -> (N,H,W,3) uint8 RGB."""
        nir = nir_to_tensor(nir_frames, nir_bits)  # (N,1,H,W)
        return tensor_to_rgb(self.engine(nir))  # (N,3,H,W) -> (N,H,W,3)


@contextmanager
def torch_threads(threads: int | None):
    """torch's thread count is `threads` inside the block and what it was after it.

    The count is process-wide: run in this process (executor "local"), a worker must leave its
    caller's setting as it found it; in a Ray actor the process is the worker's own anyway.
    """
    if not threads:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def side_by_side(nir: np.ndarray, bits: int, rgb: np.ndarray, truth: np.ndarray | None,
                 with_truth: bool = True) -> np.ndarray:
    """NIR | colorized | RGB ground truth (a rig's RGB comes warped onto the NIR grid; other sizes are resized).

    Without a ground-truth stream the review has two panels; a frame whose RGB is missing gets black.
    """
    gray = nir_to_gray8(nir, bits)
    panels = [np.repeat(gray[..., None], 3, axis=2), rgb]
    if with_truth and truth is None:
        truth = np.zeros_like(rgb)
    if with_truth:
        if truth.shape[:2] != rgb.shape[:2]:
            truth = cv2.resize(truth, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
        panels.append(truth)
    return np.concatenate(panels, axis=1)  # (H, 3W, 3)


class ColorizeWorker:
    """Ray actor body (also usable in-process): owns a model, runs whole tasks, returns statistics."""

    def __init__(self, checkpoint: str, device: str | None = "auto", batch_size: int = 8, threads: int | None = None,
                 queue_batches: int = 4, inference: InferenceOptions = InferenceOptions(), engine: str = "torch"):
        self.threads = threads  # torch's, set for each task only (torch_threads)
        self.colorizer = Colorizer(checkpoint, device, inference, engine, threads)
        self.batch_size = max(1, int(batch_size))
        self.queue_batches = queue_batches

    def __call__(self, task: ColorizeTask, report_frames: Callable | None = None) -> TaskResult:
        """Run one task; `report_frames((name, segment), frames_done)` is called about twice a second."""
        result = TaskResult(task.name, task.segment, device=str(self.colorizer.device),
                            inference=self.colorizer.description)
        compiled_before = self.colorizer.compile_seconds
        started = time.perf_counter()
        try:
            with torch_threads(self.threads):
                self._run(task, result, report_frames)
        except (VideoError, ValueError, OSError) as error:
            result.error = str(error)
        except Exception as error:  # one bad input must not take the actor down with a traceback
            result.error = f"{task.nir_path}: {type(error).__name__}: {error}"
        result.wall_seconds = time.perf_counter() - started
        result.compile_seconds = self.colorizer.compile_seconds - compiled_before
        return result

    def _run(self, task: ColorizeTask, result: TaskResult, report_frames: Callable | None) -> None:
        frames = _TaskFrames(task, self.batch_size)
        output = _TaskOutput(task, result, report_frames)
        try:
            seconds = run_pipelined(frames, lambda batch: (batch, self._infer(batch, task.bits)), output.write,
                                    depth=self.queue_batches)
            result.decode_seconds, result.inference_seconds = seconds.read, seconds.process
            result.encode_seconds = seconds.write + output.close()
        except BaseException:
            output.abort()
            raise
        result.extra.update(frames.statistics())
        if result.frames == 0 and task.segment == 0:
            raise VideoError(f"{task.nir_path}: no decodable frames")

    def _infer(self, batch: list, bits: int) -> np.ndarray:
        nir = np.stack([frame.array for frame, _ in batch])  # (N,H,W)
        return self.colorizer(nir, bits)  # (N,H,W,3) uint8


class _TaskFrames:
    """A task's NIR frames in batches that never straddle a batch break, each with its RGB twin."""

    def __init__(self, task: ColorizeTask, batch_size: int):
        self.task, self.batch_size = task, batch_size
        self.truth: NearestFrames | None = None
        self.without_truth = 0

    def __iter__(self) -> Iterator[list]:
        task = self.task
        if task.review_path and task.rgb_path:
            # Start a little early so the first NIR frame still finds its nearest RGB frame.
            rgb_start = None if task.start_seconds is None else max(0.0, task.start_seconds - 1.0)
            self.truth = NearestFrames(iter_source_frames(task.rgb_source or StreamSource("video", task.rgb_path,
                                                                                          task.rgb_stream),
                                                          "rgb", rgb_start, None))
        # A ground-truth frame further than two frame intervals away is not this frame's twin
        # (e.g. the RGB file ends early): the review shows black rather than a stale image.
        tolerance = 2.0 / float(task.rate) if task.rate else 0.1
        breaks = list(task.batch_breaks)
        batch = []
        nir = task.nir_source or StreamSource("video", task.nir_path, task.nir_stream)
        for frame in iter_source_frames(nir, "nir", task.start_seconds, task.end_seconds):
            if breaks and frame.seconds >= breaks[0] - 1e-9:
                while breaks and frame.seconds >= breaks[0] - 1e-9:
                    breaks.pop(0)
                if batch:
                    yield batch
                    batch = []
            batch.append((frame, self._twin(frame.seconds, tolerance)))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _twin(self, seconds: float, tolerance: float) -> np.ndarray | None:
        if self.truth is None:
            return None
        paired = self.truth.at(seconds, tolerance)
        if paired is None:
            self.without_truth += 1
            return None
        if self.task.homography is not None:  # a two-camera rig: the RGB camera's view on the NIR grid
            return warp_to_nir(paired.array, self.task.homography, self.task.height, self.task.width)
        return paired.array

    def statistics(self) -> dict:
        """What the report says about the ground truth: frames without a twin, a stream that broke off."""
        extra = {}
        if self.without_truth:
            extra["frames_without_truth"] = self.without_truth
        if self.truth is not None and self.truth.problem:
            extra["warning"] = f"ground truth for the review video ends early: {self.truth.problem}"
        return extra


class _TaskOutput:
    """The colorized video (and the review video, opened at its first frame) of one task."""

    def __init__(self, task: ColorizeTask, result: TaskResult, report_frames: Callable | None):
        self.task, self.result, self.report_frames = task, result, report_frames
        self.with_truth = bool(task.rgb_path)
        self.review: VideoWriter | None = None
        self.last_report = float("-inf")  # the first batch is reported at once: frames are flowing
        self.video: VideoWriter | None = self._writer(task.output_path, task.width, task.height)

    def _writer(self, path: str, width: int, height: int) -> VideoWriter:
        task = self.task
        return VideoWriter(path, width=width, height=height, time_base=task.time_base, rate=task.rate,
                           codec=task.codec, crf=task.crf, preset=task.preset)

    def write(self, colorized: tuple[list, np.ndarray]) -> None:
        batch, rgb_frames = colorized
        task, result = self.task, self.result
        for (frame, truth), rgb in zip(batch, rgb_frames):
            self.video.write(rgb, frame.pts)
            if task.review_path:
                panel = side_by_side(frame.array, task.bits, rgb, truth, self.with_truth)
                if self.review is None:
                    self.review = self._writer(task.review_path, panel.shape[1], panel.shape[0])
                self.review.write(panel, frame.pts)
            if result.first_seconds is None:
                result.first_seconds = frame.seconds
            result.last_seconds = frame.seconds
            result.frames += 1
        if self.report_frames is not None and time.perf_counter() - self.last_report > REPORT_SECONDS:
            self.report_frames((task.name, task.segment), result.frames)
            self.last_report = time.perf_counter()

    def close(self) -> float:
        """Give the videos their final names; returns the seconds that took (the encoders' flush).

        An empty video never gets a final name (a segment past the last frame)."""
        if self.result.frames == 0:
            self.abort()
            return 0.0
        clock = time.perf_counter()
        for writer in (self.video, self.review):
            if writer is not None:
                writer.close()
        self.video = self.review = None
        return time.perf_counter() - clock

    def abort(self) -> None:
        for writer in (self.video, self.review):
            if writer is not None:
                writer.abort()
        self.video = self.review = None
