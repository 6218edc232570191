"""What an evaluation measured (§4, Tables 1–3): per-model results, the whole run, and the notes that
define each metric. `pipeline.evaluate` fills these in and `pipeline.evaluation_report` writes them;
both import this module, neither imports the other's results.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from nircolor.pipeline import metrics

# PSNR of an exact frame is infinite; cap it so a mean over frames stays a number.
PSNR_CAP_DB = 100.0

METRIC_NOTES = {
    "l1": "mean |prediction − target| over pixels and RGB channels, values in [0,1] (the paper's L1 error)",
    "psnr": f"dB on [0,1] RGB (peak 1.0), computed per frame, then the mean over frames (as the VCIP 2020 "
            f"colorization papers report it); each frame capped at {PSNR_CAP_DB:g} dB",
    "ssim": "gaussian window σ=1.5 (11×11), K1=0.01, K2=0.03, on BT.601 luminance, mean over frames",
    "delta_e": "CIEDE2000 on OpenCV Lab (D65) of the float RGB, mean over pixels and frames",
    "angular_error": "AE in degrees: per pixel the arccos of the normalized dot product of the two RGB vectors, "
                     "mean over pixels (black pixels, which have no direction, left out), then over frames",
    "ms_per_frame": "one 1024×768 frame on the evaluation device with the model's inference settings, best of 2 after a warm-up",
}


@dataclass
class MetricTotals:
    frames: int = 0
    sums: dict = field(default_factory=lambda: {name: 0.0 for name in metrics.METRIC_NAMES})

    def add(self, values: dict) -> None:
        self.frames += 1
        for name in metrics.METRIC_NAMES:
            self.sums[name] += values[name]

    def merge(self, other: "MetricTotals") -> None:
        self.frames += other.frames
        for name in metrics.METRIC_NAMES:
            self.sums[name] += other.sums[name]

    def means(self) -> dict:
        return {name: (total / self.frames if self.frames else float("nan")) for name, total in self.sums.items()}


@dataclass
class ModelResult:
    label: str
    source: str
    model_name: str
    parameters: int
    frames: int
    metrics: dict  # l1, psnr, ssim, delta_e, angular_error: means over frames
    per_recording: dict  # recording_id → {"frames": n, l1, psnr, ssim, delta_e, angular_error}
    ms_per_frame: float | None
    paper: dict | None
    training: dict
    inference: str | None = None  # e.g. "float32" or "bf16 autocast + channels_last"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class EvaluationResults:
    dataset_dir: str
    split: str
    frames: int
    recordings: list[str]
    device: str
    models: list[ModelResult]
    failures: list[tuple[str, str]]  # (checkpoint or baseline, one-line reason)
    grid_frames: list[dict]  # {"recording_id", "index"} of the frames in the sample grid
    files: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "dataset_dir": self.dataset_dir, "split": self.split, "frames": self.frames,
            "recordings": self.recordings, "device": self.device,
            "models": [model.to_dict() for model in self.models],
            "failures": [{"source": source, "reason": reason} for source, reason in self.failures],
            "grid_frames": self.grid_frames, "metric_notes": METRIC_NOTES,
        }
