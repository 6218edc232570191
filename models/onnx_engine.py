"""Run an exported generator (models/export.py) with onnxruntime on the CPU.

`OnnxEngine(path)` takes an export folder or its model.onnx and is called like a generator:
NIR (B,1,H,W) float32 in [0,1] -> RGB (B,3,H,W) float32 in [0,1], any H, W.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from nircolor.models.export import (
    EXPORT_FILE,
    META_CHECKPOINT,
    META_MODEL,
    META_PREPROCESSING,
    META_WEIGHTS_SHA256,
    ONNX_FILE,
    ExportError,
    _one_line,
)


def is_exported_model(path: str | os.PathLike) -> bool:
    """An export folder (model.onnx + export.json) or a .onnx file, rather than a checkpoint."""
    path = Path(path)
    if path.is_dir():
        return (path / ONNX_FILE).is_file() and (path / EXPORT_FILE).is_file()
    return path.suffix.lower() == ".onnx" and path.is_file()


class OnnxEngine:
    """An onnxruntime session over a nircolor export, with the checkpoint's metadata."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        import onnxruntime  # optional and heavy: loaded only when an exported model is run

        path = Path(path)
        self.path = path / ONNX_FILE if path.is_dir() else path
        if not self.path.is_file():
            raise ExportError(f"{path}: not an exported model (no {ONNX_FILE})" if path.is_dir()
                              else f"{path}: no such ONNX file")
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only; the exporter's graph triggers harmless warnings
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own types for unreadable files
            raise ExportError(f"{self.path}: not a readable ONNX model ({_one_line(error)})") from None
        metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        if META_MODEL not in metadata:
            raise ExportError(f"{self.path}: not a nircolor export (no {META_MODEL} metadata); use nircolor export")
        try:
            preprocessing = json.loads(metadata[META_PREPROCESSING])
            self.checkpoint_info: dict = json.loads(metadata.get(META_CHECKPOINT, "{}")) or {
                "model": {"name": metadata[META_MODEL]}, "preprocessing": preprocessing,
            }
            self.nir_bits = int(preprocessing["nir_bits"])
        except (KeyError, TypeError, ValueError) as error:
            raise ExportError(f"{self.path}: bad nircolor metadata ({_one_line(error)})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ExportError(f"{self.path}: expected one input and one output, got {len(inputs)} and {len(outputs)}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.metadata = metadata
        self.model_name: str = metadata[META_MODEL]
        self.weights_sha256: str | None = metadata.get(META_WEIGHTS_SHA256)
        self.threads = threads
        thread_text = "" if threads is None else f", {threads} thread{'s' if threads != 1 else ''}"
        self.description = f"onnxruntime {onnxruntime.__version__} CPU{thread_text}, float32"
        self.compile_seconds = 0.0  # like InferenceEngine's: onnxruntime builds its graph when loading

    def __call__(self, nir: torch.Tensor) -> torch.Tensor:
        if nir.dim() != 4 or nir.shape[1] != 1:
            raise ValueError(
                f"{self.model_name} expects NIR frames shaped (batch, 1, height, width), got {tuple(nir.shape)}"
            )
        frames = nir.detach().to("cpu", torch.float32).contiguous().numpy()
        (rgb,) = self.session.run([self.output_name], {self.input_name: frames})
        return torch.from_numpy(rgb)

    def __repr__(self) -> str:
        return f"OnnxEngine({str(self.path)!r}, model={self.model_name!r}, {self.description})"
