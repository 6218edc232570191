"""Measure colorization end to end (decode → infer → encode) against the model alone.

Same model, device and batch size on both sides; the end-to-end run is the colorizer actor's own
code path run in this process, so the gap is what decode, encode and their overlap cost.
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from dataset_tools.video import VideoWriter
from models.checkpoint import save_generator
from models.names import build_generator
from pipeline.colorize import ColorizeOptions, colorize_inputs
from pipeline.colorize_worker import Colorizer


@dataclass
class ColorizeBenchResult:
    model: str
    device: str
    width: int
    height: int
    frames: int
    batch_size: int
    threads: int
    model_fps: float
    end_to_end_fps: float
    decode_seconds: float
    inference_seconds: float
    encode_seconds: float
    wall_seconds: float

    @property
    def ratio(self) -> float:
        return self.end_to_end_fps / self.model_fps if self.model_fps else 0.0


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


def model_only_fps(colorizer: Colorizer, frames: int, width: int, height: int, batch_size: int) -> float:
    """Generator forward passes on a tensor already on the device (bf16 + channels_last on CUDA)."""
    generator = colorizer.generator
    nir = torch.rand(batch_size, 1, height, width, device=colorizer.device)  # (B,1,H,W)
    if colorizer.cuda:
        nir = nir.contiguous(memory_format=torch.channels_last)

    def step():
        with torch.inference_mode():
            if colorizer.cuda:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    generator(nir)
            else:
                generator(nir)

    step()  # warm-up: allocator, kernel selection
    batches = max(1, frames // batch_size)
    if colorizer.cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(batches):
        step()
    if colorizer.cuda:
        torch.cuda.synchronize()
    return batches * batch_size / (time.perf_counter() - started)


def run_colorize_bench(model: str = "johnson-6", checkpoint: str | None = None, width: int = 320, height: int = 240,
                       frames: int = 64, batch_size: int = 8, device: str = "auto", codec: str = "h264",
                       preset: str = "veryfast", repeats: int = 3, work_dir: str | None = None) -> ColorizeBenchResult:
    """Best of `repeats` alternating model-only / end-to-end runs (shared machines are noisy)."""
    with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
        scratch = Path(scratch)
        if checkpoint is None:
            torch.manual_seed(0)
            checkpoint = str(save_generator(build_generator(model), scratch / "checkpoint"))
        nir = synthetic_nir_video(scratch / "bench.mp4", frames, width, height)
        colorizer = Colorizer(checkpoint, device)
        options = ColorizeOptions(codec=codec, preset=preset, batch_size=batch_size, device=device,
                                  segment_seconds=None, executor="local")
        model_fps, report = 0.0, None
        for repeat in range(max(1, repeats)):
            model_fps = max(model_fps, model_only_fps(colorizer, frames, width, height, batch_size))
            summary = colorize_inputs(checkpoint, [nir], scratch / f"out-{repeat}", options)
            if summary.failed:
                raise RuntimeError(summary.failed[0].error)
            candidate = json.loads((scratch / f"out-{repeat}" / "bench.json").read_text())
            if report is None or candidate["fps_achieved"] > report["fps_achieved"]:
                report = candidate
        timing = report["timing_seconds"]
        return ColorizeBenchResult(
            model=colorizer.model_name, device=str(colorizer.device), width=width, height=height,
            frames=report["frames"], batch_size=batch_size, threads=torch.get_num_threads(), model_fps=model_fps,
            end_to_end_fps=report["fps_achieved"], decode_seconds=timing["decode"],
            inference_seconds=timing["inference"], encode_seconds=timing["encode"], wall_seconds=timing["wall"],
        )
