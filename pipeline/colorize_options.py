"""What a colorize run is asked (`ColorizeOptions`) and what it answers (`ColorizeSummary`).

Plain data shared by planning, dispatch and finishing (pipeline/colorize.py is the entry point).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from nircolor.models.inference import InferenceOptions

Progress = Callable[..., None]  # progress(event, **fields): "planned", "frames", "finished"


@dataclass(frozen=True)
class ColorizeOptions:
    codec: str = "h264"
    crf: int | None = 18
    preset: str | None = "veryfast"
    side_by_side: bool = False
    batch_size: int = 8
    workers: int | None = None  # None: one per GPU, or one per 2 CPUs
    segment_seconds: float | None = 20.0  # None or 0: never cut
    # Batches end at the first keyframe after every multiple of this, and segments are cut only
    # there, so segment-parallel output equals single-pass output bit for bit (dataset_tools/segments.py).
    batch_grid_seconds: float = 10.0
    device: str = "auto"
    # None: by codec (dataset_tools/video.suffix_for): MP4 keeps the input's time base exactly,
    # FFV1 goes into Matroska (.mkv, timestamps in whole milliseconds).
    suffix: str | None = None
    executor: str = "local"  # "local" (this process) or "ray" (actors; the caller has started Ray)
    threads: int | None = None  # torch threads per worker; None: the CPUs a Ray actor holds (or torch's default)
    overwrite: bool = False  # redo outputs even when their report says they were made the same way
    engine: str = "torch"  # or "onnxruntime": `checkpoint` is then a `nircolor export` folder or .onnx file
    inference: InferenceOptions = InferenceOptions()  # precision and compilation (models/inference.py)


@dataclass
class OutputSummary:
    name: str
    origin: str
    status: str  # "done", "skipped" or "failed"
    output: str | None = None
    report: str | None = None
    frames: int = 0
    duration_seconds: float = 0.0
    fps: float = 0.0
    error: str | None = None
    warning: str | None = None  # e.g. fewer frames than the container announced (truncated file?)


@dataclass
class ColorizeSummary:
    outputs: list[OutputSummary] = field(default_factory=list)
    wall_seconds: float = 0.0
    model: str = ""
    workers: int = 0

    @property
    def failed(self) -> list[OutputSummary]:
        return [entry for entry in self.outputs if entry.status == "failed"]

    @property
    def frames(self) -> int:
        return sum(entry.frames for entry in self.outputs if entry.status == "done")

    @property
    def fps(self) -> float:
        return self.frames / self.wall_seconds if self.wall_seconds > 0 else 0.0
