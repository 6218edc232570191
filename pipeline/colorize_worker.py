"""The colorizer actor: decode → infer → encode one recording or segment inside one process.

Three stages overlap through bounded queues (a decode thread, inference on the calling thread, an
encode thread), so frames never leave the actor; only the task and its statistics travel (DESIGN:
Performance facts). Inference is batched; the models normalize per sample (§4.2, batch-1 BN), so a
frame's colors do not depend on the other frames of its batch.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from dataset_tools.pairing import NearestFrames
from dataset_tools.video import VideoError, VideoWriter, iter_frames
from models.checkpoint import load_generator
from models.inference import InferenceEngine, InferenceOptions, resolve_device
from models.preprocess import nir_to_gray8, nir_to_tensor, tensor_to_rgb

_DONE = object()  # end-of-stream marker between the stages
ENGINES = ("torch", "onnxruntime")


class _Stopped(Exception):
    """Another stage failed (or nothing was decoded): discard the partial output quietly."""


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
        if engine == "onnxruntime":
            from models.onnx_engine import OnnxEngine  # onnxruntime loads only when it is used

            if resolve_device(device).type != "cpu":
                raise ValueError(f"--engine onnxruntime runs on the CPU; --device {device} is not supported with it")
            self.engine = OnnxEngine(checkpoint, threads=threads)
            self.device = torch.device("cpu")
        else:
            device = resolve_device(device)
            self.engine = InferenceEngine(load_generator(checkpoint, device=device), device, inference)
            self.device = self.engine.device
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


def side_by_side(nir: np.ndarray, bits: int, rgb: np.ndarray, truth: np.ndarray | None,
                 with_truth: bool = True) -> np.ndarray:
    """NIR | colorized | RGB ground truth (resized to the NIR size when the cameras differ).

    Without a ground-truth stream the review has two panels; a frame whose RGB is missing gets black.
    """
    import cv2

    gray = nir_to_gray8(nir, bits)
    panels = [np.repeat(gray[..., None], 3, axis=2), rgb]
    if with_truth and truth is None:
        truth = np.zeros_like(rgb)
    if with_truth:
        if truth.shape[:2] != rgb.shape[:2]:
            truth = cv2.resize(truth, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
        panels.append(truth)
    return np.concatenate(panels, axis=1)  # (H, 3W, 3)


def output_pix_fmt(codec: str, width: int, height: int) -> str | None:
    # 4:2:0 needs even sides; x264/x265 take odd sizes in 4:4:4.
    if codec in ("h264", "hevc") and (width % 2 or height % 2):
        return "yuv444p"
    return None


class ColorizeWorker:
    """Ray actor body (also usable in-process): owns a model, runs whole tasks, returns statistics."""

    def __init__(self, checkpoint: str, device: str | None = "auto", batch_size: int = 8, threads: int | None = None,
                 queue_batches: int = 4, inference: InferenceOptions = InferenceOptions(), engine: str = "torch"):
        if threads:
            torch.set_num_threads(int(threads))
        self.checkpoint = checkpoint
        self.colorizer = Colorizer(checkpoint, device, inference, engine, threads)
        self.batch_size = max(1, int(batch_size))
        self.queue_batches = queue_batches

    def __call__(self, task: ColorizeTask, report_frames=None) -> TaskResult:
        """Run one task; `report_frames((name, segment), frames_done)` is called about twice a second."""
        result = TaskResult(task.name, task.segment, device=str(self.colorizer.device),
                            inference=self.colorizer.description)
        compiled_before = self.colorizer.compile_seconds
        started = time.perf_counter()
        try:
            self._run(task, result, report_frames)
        except (VideoError, ValueError, OSError) as error:
            result.error = str(error)
        except Exception as error:  # one bad input must not take the actor down with a traceback
            result.error = f"{task.nir_path}: {type(error).__name__}: {error}"
        result.wall_seconds = time.perf_counter() - started
        result.compile_seconds = self.colorizer.compile_seconds - compiled_before
        return result

    def _run(self, task: ColorizeTask, result: TaskResult, report_frames=None) -> None:
        stop = threading.Event()
        decoded: queue.Queue = queue.Queue(maxsize=self.queue_batches)
        colorized: queue.Queue = queue.Queue(maxsize=self.queue_batches)
        errors: list[BaseException] = []
        pairing: list[NearestFrames | None] = [None]  # set by the decode thread

        # Every wait gives up when another stage has failed, so no thread blocks forever.
        def put(target: queue.Queue, item) -> bool:
            while not stop.is_set():
                try:
                    target.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def get(source: queue.Queue):
            while not stop.is_set():
                try:
                    return source.get(timeout=0.1)
                except queue.Empty:
                    continue
            return _DONE

        def decode() -> None:
            try:
                truth = None
                if task.review_path and task.rgb_path:
                    # Start a little early so the first NIR frame still finds its nearest RGB frame.
                    rgb_start = None if task.start_seconds is None else max(0.0, task.start_seconds - 1.0)
                    truth = NearestFrames(iter_frames(task.rgb_path, task.rgb_stream, kind="rgb",
                                                      start_seconds=rgb_start, end_seconds=None))
                    pairing[0] = truth
                # A ground-truth frame further than two frame intervals away is not this frame's twin
                # (e.g. the RGB file ends early): the review shows black rather than a stale image.
                tolerance = 2.0 / float(task.rate) if task.rate else 0.1
                batch = []
                breaks = list(task.batch_breaks)
                clock = time.perf_counter()
                for frame in iter_frames(task.nir_path, task.nir_stream, kind="nir",
                                         start_seconds=task.start_seconds, end_seconds=task.end_seconds):
                    if breaks and frame.seconds >= breaks[0] - 1e-9:
                        while breaks and frame.seconds >= breaks[0] - 1e-9:
                            breaks.pop(0)
                        if batch:
                            result.decode_seconds += time.perf_counter() - clock
                            if not put(decoded, batch):
                                return
                            batch = []
                            clock = time.perf_counter()
                    paired = truth.at(frame.seconds, tolerance) if truth is not None else None
                    if truth is not None and paired is None:
                        result.extra["frames_without_truth"] = result.extra.get("frames_without_truth", 0) + 1
                    batch.append((frame, None if paired is None else paired.array))
                    if len(batch) == self.batch_size:
                        result.decode_seconds += time.perf_counter() - clock
                        if not put(decoded, batch):
                            return
                        batch = []
                        clock = time.perf_counter()
                result.decode_seconds += time.perf_counter() - clock
                if batch and not put(decoded, batch):
                    return
            except BaseException as error:
                errors.append(error)
            finally:
                put(decoded, _DONE)

        with_truth = bool(task.rgb_path)

        def encode() -> None:
            writer = review = None
            last_report = time.perf_counter()
            try:
                writer = VideoWriter(
                    task.output_path, width=task.width, height=task.height, time_base=task.time_base,
                    rate=task.rate, codec=task.codec, crf=task.crf, preset=task.preset,
                    pix_fmt=output_pix_fmt(task.codec, task.width, task.height),
                )
                while True:
                    item = get(colorized)
                    if item is _DONE:
                        break
                    clock = time.perf_counter()
                    for (frame, truth), rgb in item:
                        if review is None and task.review_path:
                            panel = side_by_side(frame.array, task.bits, rgb, truth, with_truth)
                            review = VideoWriter(
                                task.review_path, width=panel.shape[1], height=panel.shape[0],
                                time_base=task.time_base, rate=task.rate, codec=task.codec, crf=task.crf,
                                preset=task.preset, pix_fmt=output_pix_fmt(task.codec, panel.shape[1], panel.shape[0]),
                            )
                        writer.write(rgb, frame.pts)
                        if review is not None:
                            review.write(side_by_side(frame.array, task.bits, rgb, truth, with_truth), frame.pts)
                        if result.first_seconds is None:
                            result.first_seconds = frame.seconds
                        result.last_seconds = frame.seconds
                        result.frames += 1
                    result.encode_seconds += time.perf_counter() - clock
                    if report_frames is not None and time.perf_counter() - last_report > 0.5:
                        report_frames((task.name, task.segment), result.frames)
                        last_report = time.perf_counter()
                if errors or stop.is_set() or result.frames == 0:
                    raise _Stopped  # an empty or unfinished video never gets a final name
                clock = time.perf_counter()
                writer.close()
                if review is not None:
                    review.close()
                result.encode_seconds += time.perf_counter() - clock
            except BaseException as error:
                for open_writer in (writer, review):
                    if open_writer is not None:
                        open_writer.abort()
                if not isinstance(error, _Stopped):
                    errors.append(error)
                stop.set()

        decoder = threading.Thread(target=decode, name="decode", daemon=True)
        encoder = threading.Thread(target=encode, name="encode", daemon=True)
        decoder.start()
        encoder.start()
        try:
            while True:
                item = get(decoded)
                if item is _DONE:
                    break
                clock = time.perf_counter()
                nir = np.stack([frame.array for frame, _ in item])  # (N,H,W)
                rgb = self.colorizer(nir, task.bits)  # (N,H,W,3) uint8
                result.inference_seconds += time.perf_counter() - clock
                if not put(colorized, list(zip(item, rgb))):
                    break
        except BaseException as error:
            errors.append(error)
            stop.set()
        finally:
            if errors:
                stop.set()
            if not stop.is_set():
                put(colorized, _DONE)
            decoder.join()
            encoder.join()
        if errors:
            raise errors[0]
        if pairing[0] is not None and pairing[0].problem:
            result.extra["warning"] = f"ground truth for the review video ends early: {pairing[0].problem}"
        if result.frames == 0 and task.segment == 0:
            raise VideoError(f"{task.nir_path}: no decodable frames")
