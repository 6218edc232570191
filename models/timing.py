"""Time one frame through an inference engine: evaluate's ms/frame and `nircolor bench models`.

Production code (evaluate) needs it, so it lives here rather than in the benchmark package; one
function for both keeps their figures comparable. Batch 1 under torch.inference_mode, as the paper
times single frames; CUDA is synchronized around every timed frame.
"""
from __future__ import annotations

import time

import torch


def time_engine(engine, height: int, width: int, device: torch.device, repeats: int, warmup: int) -> tuple[float, ...]:
    """Seconds per (1,1,height,width) frame for `repeats` frames after `warmup` untimed ones."""
    nir = torch.rand(1, 1, height, width, device=device)
    seconds = []
    with torch.inference_mode():
        for index in range(warmup + repeats):
            _synchronize(device)
            start = time.perf_counter()
            rgb = engine(nir)
            _synchronize(device)
            if index >= warmup:
                seconds.append(time.perf_counter() - start)
            if tuple(rgb.shape) != (1, 3, height, width):  # a cheap guard that the timed work was real
                raise RuntimeError(f"generator returned {tuple(rgb.shape)} for a {width}×{height} frame")
    return tuple(seconds)


def time_frames(engine, height: int, width: int, device: torch.device, repeats: int, warmup: int) -> tuple[float, ...]:
    """The one one-frame timing of `bench models` and of evaluate's ms/frame: `time_engine`, after a
    compiled engine has compiled this frame size on one more untimed frame (its `compile_seconds`)."""
    if compiles(engine):
        time_engine(engine, height, width, device, 1, 0)
    return time_engine(engine, height, width, device, repeats, warmup)


def compiles(engine) -> bool:
    """Whether the engine compiles per frame size (InferenceEngine with compile; ONNX never does)."""
    return bool(getattr(engine, "compiled", False))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
