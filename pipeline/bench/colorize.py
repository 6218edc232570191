"""Measure colorization end to end (decode → infer → encode) against the model alone.

Same model, device, batch size and threads on both sides; the end-to-end run is the colorizer
actor's own code path run in this process, so the gap is what decode, encode and their overlap cost.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from nircolor.dataset_tools.video import VideoWriter, probe, suffix_for
from nircolor.models.checkpoint import save_generator
from nircolor.models.export import export_checkpoint
from nircolor.models.names import build_generator
from nircolor.pipeline.bench.timing import mode_options
from nircolor.pipeline.colorize_worker import Colorizer, ColorizeTask, ColorizeWorker, torch_threads


@dataclass
class ColorizeBenchResult:
    model: str
    mode: str  # pipeline/bench/timing.py MODES: fp32, bf16, bf16-compiled, onnxruntime
    inference: str  # what the engine says it runs
    compile_seconds: float
    device: str
    width: int
    height: int
    frames: int
    batch_size: int
    threads: int
    model_fps: float
    end_to_end_fps: float
    # Process CPU seconds per frame (all threads): robust on a shared machine, where wall time is not.
    model_cpu_per_frame: float
    end_to_end_cpu_per_frame: float
    decode_seconds: float
    inference_seconds: float
    encode_seconds: float
    wall_seconds: float

    @property
    def ratio(self) -> float:
        return self.end_to_end_fps / self.model_fps if self.model_fps else 0.0

    @property
    def cpu_ratio(self) -> float:
        return self.model_cpu_per_frame / self.end_to_end_cpu_per_frame if self.end_to_end_cpu_per_frame else 0.0


def synthetic_nir_video(path: Path, frames: int, width: int, height: int) -> Path:
    """Gray frames of drifting texture (compresses like real footage, not like noise)."""
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    with VideoWriter(path, width=width, height=height, time_base=Fraction(1, 25), rate=25, codec="h264",
                     kind="gray", preset="veryfast") as writer:
        for index in range(frames):
            shift = 3.0 * index
            image = 128 + 60 * np.sin((columns + shift) / 17.0) * np.cos((rows - shift) / 23.0)
            image += 30 * np.sin((columns + rows + 2 * shift) / 7.0)
            writer.write(np.clip(image, 0, 255).astype(np.uint8), index)
    return path


def model_only_fps(colorizer: Colorizer, frames: int, width: int, height: int, batch_size: int) -> tuple[float, float]:
    """Forward passes of the colorizer's engine on a tensor already in memory (same precision path).

    Returns (frames per second, process CPU seconds per frame).
    """
    engine = colorizer.engine
    nir = torch.rand(batch_size, 1, height, width)  # (B,1,H,W)
    on_cuda = colorizer.device.type == "cuda"
    engine(nir)  # warm-up: allocator, kernel selection, compilation
    batches = max(1, frames // batch_size)
    if on_cuda:
        torch.cuda.synchronize()
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(batches):
        engine(nir)
    if on_cuda:
        torch.cuda.synchronize()
    frames_done = batches * batch_size
    return frames_done / (time.perf_counter() - started), (time.process_time() - cpu_started) / frames_done


def _worker_for(mode: str, checkpoint: str, scratch: Path, device: str, batch_size: int, threads: int | None) -> ColorizeWorker:
    if mode == "onnxruntime":
        export = scratch / "export"
        if not export.exists():
            export_checkpoint(checkpoint, export, check_sizes=((64, 96),))
        return ColorizeWorker(str(export), "cpu", batch_size, threads=threads, engine="onnxruntime")
    return ColorizeWorker(checkpoint, device, batch_size, threads=threads, inference=mode_options(mode))


def run_colorize_bench(model: str = "johnson-6", checkpoint: str | None = None, width: int = 320, height: int = 240,
                       frames: int = 64, batch_size: int = 8, device: str = "auto", codec: str = "h264",
                       preset: str = "veryfast", repeats: int = 3, threads: int | None = None,
                       work_dir: str | None = None, modes: tuple[str, ...] = ("fp32",)) -> list[ColorizeBenchResult]:
    """Per mode, the best of `repeats` alternating model-only / end-to-end runs (shared machines are noisy)."""
    results = []
    with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
        scratch = Path(scratch)
        if checkpoint is None:
            torch.manual_seed(0)
            checkpoint = str(save_generator(build_generator(model), scratch / "checkpoint"))
        nir = synthetic_nir_video(scratch / "bench.mp4", frames, width, height)
        info = probe(nir)
        for mode in modes:
            # The actor's own code path (decode thread → inference → encode thread), run in this process
            # so that model loading and Ray start-up stay out of the figures.
            worker = _worker_for(mode, checkpoint, scratch, device, batch_size, threads)
            colorizer = worker.colorizer
            model_fps, model_cpu, end_to_end_cpu, best = 0.0, float("inf"), float("inf"), None
            for repeat in range(max(1, repeats)):
                with torch_threads(threads):  # as the worker sets them for each task
                    fps, cpu = model_only_fps(colorizer, frames, width, height, batch_size)
                model_fps, model_cpu = max(model_fps, fps), min(model_cpu, cpu)
                task = ColorizeTask(
                    name="bench", segment=0, nir_path=str(nir), nir_stream=0,
                    output_path=str(scratch / f"out-{mode}-{repeat}{suffix_for(codec)}"), width=info.width, height=info.height,
                    bits=info.bits, time_base=info.time_base, rate=info.average_rate, codec=codec, preset=preset, crf=18,
                )
                cpu_started = time.process_time()
                result = worker(task)
                if result.error:
                    raise RuntimeError(result.error)
                end_to_end_cpu = min(end_to_end_cpu, (time.process_time() - cpu_started) / result.frames)
                if best is None or result.wall_seconds < best.wall_seconds:
                    best = result
            results.append(ColorizeBenchResult(
                model=colorizer.model_name, mode=mode, inference=colorizer.description,
                compile_seconds=colorizer.compile_seconds, device=str(colorizer.device), width=width, height=height,
                frames=best.frames, batch_size=batch_size, threads=threads or torch.get_num_threads(), model_fps=model_fps,
                end_to_end_fps=best.frames / best.wall_seconds, model_cpu_per_frame=model_cpu,
                end_to_end_cpu_per_frame=end_to_end_cpu, decode_seconds=best.decode_seconds,
                inference_seconds=best.inference_seconds, encode_seconds=best.encode_seconds,
                wall_seconds=best.wall_seconds,
            ))
            del worker, colorizer
    return results
