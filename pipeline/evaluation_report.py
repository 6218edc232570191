"""Evaluation outputs: Markdown/CSV/JSON tables laid out like the paper's Table 3 (with the paper's
figures beside ours) and a sample grid like its Figure 6 (input, each model, target). §4.

It writes the results of `pipeline.evaluation_results` and imports nothing from `pipeline.evaluate`.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import cv2
import numpy as np

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.atomic import json_safe
from nircolor.pipeline.evaluation_results import METRIC_NOTES, EvaluationResults

GRID_TILE_WIDTH = 256
GRID_HEADER_HEIGHT = 28
GRID_GUTTER = 2


def write_reports(evaluation: EvaluationResults, grid_samples: list[dict], out_dir: Path) -> list[Path]:
    """Write evaluation.md/.csv/.json, per_recording.csv and grid.png; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [
        atomic.write_text(out_dir / "evaluation.md", markdown_tables(evaluation)),
        atomic.write_text(out_dir / "evaluation.csv", summary_csv(evaluation)),
        atomic.write_text(out_dir / "per_recording.csv", per_recording_csv(evaluation)),
        atomic.write_text(out_dir / "evaluation.json", json.dumps(json_safe(evaluation.to_dict()), indent=2) + "\n"),
    ]
    if grid_samples and evaluation.models:
        written.append(atomic.write_bytes(out_dir / "grid.png", grid_png(grid_samples, [m.label for m in evaluation.models])))
    return written


def summary_rows(evaluation: EvaluationResults) -> list[dict]:
    rows = []
    for model in evaluation.models:
        paper = model.paper or {}
        rows.append({
            "model": model.label,
            "source": model.source,
            "lambda": model.training.get("lambda"),
            "conditional": model.training.get("conditional"),
            "frames": model.frames,
            "l1": model.metrics["l1"],
            "paper_l1": paper.get("l1"),
            "psnr_db": model.metrics["psnr"],
            "ssim": model.metrics["ssim"],
            "delta_e2000": model.metrics["delta_e"],
            "angular_error_deg": model.metrics.get("angular_error"),
            "parameters_m": model.parameters / 1e6 if model.parameters else None,
            "paper_parameters_m": paper.get("parameters_m"),
            "ms_per_frame": model.ms_per_frame,
            "inference": model.inference,
            "paper_titan_x_ms": paper["titan_x_seconds"] * 1000 if paper.get("titan_x_seconds") else None,
        })
    return rows


def summary_csv(evaluation: EvaluationResults) -> str:
    rows = summary_rows(evaluation)
    buffer = io.StringIO()
    fields = list(rows[0]) if rows else ["model"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: ("" if value is None else value) for key, value in row.items()})
    return buffer.getvalue()


def per_recording_csv(evaluation: EvaluationResults) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "recording_id", "frames", "l1", "psnr_db", "ssim", "delta_e2000", "angular_error_deg"])
    for model in evaluation.models:
        for recording, values in sorted(model.per_recording.items()):
            writer.writerow([model.label, recording, values["frames"], values["l1"], values["psnr"],
                             values["ssim"], values["delta_e"], values.get("angular_error")])
    return buffer.getvalue()


def markdown_tables(evaluation: EvaluationResults) -> str:
    rows = summary_rows(evaluation)
    lines = [
        f"# Evaluation on `{evaluation.split}` of `{evaluation.dataset_dir}`",
        "",
        f"{evaluation.frames} frames from {len(evaluation.recordings)} recordings; device {evaluation.device}. "
        "Columns marked *paper* are the figures of Limmer & Lensch (BMVC 2017), Tables 2–3 "
        "(800 evaluation frames at 1024×768, TITAN X Pascal); they are beside ours for reference, "
        "not measured here.",
        "",
        "| model | λ | C | L1 ↓ | paper L1 | PSNR [dB] ↑ | SSIM ↑ | ΔE00 ↓ | AE [°] ↓ | params [M] "
        "| paper params [M] | ms / 1024×768 frame | paper ms (TITAN X) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {_cell(row['lambda'], '{:g}')} | {_flag(row['conditional'])} "
            f"| {_cell(row['l1'], '{:.6f}')} | {_cell(row['paper_l1'], '{:.6f}')} "
            f"| {_cell(row['psnr_db'], '{:.2f}')} | {_cell(row['ssim'], '{:.4f}')} | {_cell(row['delta_e2000'], '{:.2f}')} "
            f"| {_cell(row['angular_error_deg'], '{:.2f}')} "
            f"| {_cell(row['parameters_m'], '{:.2f}')} | {_cell(row['paper_parameters_m'], '{:.1f}')} "
            f"| {_cell(row['ms_per_frame'], '{:.1f}')} | {_cell(row['paper_titan_x_ms'], '{:.0f}')} |"
        )
    ran = sorted({row["inference"] for row in rows if row["inference"]})
    if ran:
        lines += ["", f"Inference: {'; '.join(ran)} (models/inference.py)."]
    if len(evaluation.recordings) > 1 and evaluation.models:
        lines += ["", "## L1 error per recording", "",
                  "| recording | frames | " + " | ".join(model.label for model in evaluation.models) + " |",
                  "|---|---|" + "---|" * len(evaluation.models)]
        for recording in evaluation.recordings:
            frames = next((m.per_recording[recording]["frames"] for m in evaluation.models
                           if recording in m.per_recording), 0)
            cells = [_cell(m.per_recording.get(recording, {}).get("l1"), "{:.6f}") for m in evaluation.models]
            lines.append(f"| {recording} | {frames} | " + " | ".join(cells) + " |")
    if evaluation.failures:
        lines += ["", "## Not evaluated", ""]
        lines += [f"- `{source}`: {reason.removeprefix(f'{source}: ')}" for source, reason in evaluation.failures]
    lines += ["", "## Metrics", ""]
    lines += [f"- **{name}**: {note}" for name, note in METRIC_NOTES.items()]
    if evaluation.grid_frames:
        frames = ", ".join(f"{frame['recording_id']}#{frame['index']}" for frame in evaluation.grid_frames)
        lines += ["", f"Sample grid `grid.png` (rows: {frames}; columns: input, each model, target)."]
    return "\n".join(lines) + "\n"


def grid_png(grid_samples: list[dict], labels: list[str]) -> bytes:
    """Rows = sample frames; columns = NIR input, each model, target (the layout of Figure 6)."""
    columns = ["input (NIR)", *labels, "target"]
    rows = []
    for sample in grid_samples:
        tiles = [sample["nir"], *[sample["predictions"].get(label) for label in labels], sample["target"]]
        rows.append(np.concatenate([_tile(tile, sample["target"].shape) for tile in tiles], axis=1))
    body = np.concatenate(rows, axis=0)
    header = np.full((GRID_HEADER_HEIGHT, body.shape[1], 3), 255, np.uint8)
    tile_width = body.shape[1] // len(columns)
    for column, title in enumerate(columns):
        cv2.putText(header, title[:32], (column * tile_width + 4, GRID_HEADER_HEIGHT - 9),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    image = np.concatenate([header, body], axis=0)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not encode the sample grid as PNG")
    return encoded.tobytes()


def _tile(image: np.ndarray | None, shape: tuple) -> np.ndarray:
    height, width = shape[:2]
    tile_height = max(1, round(height * GRID_TILE_WIDTH / width))
    if image is None:  # a model that failed on this frame: a gray tile
        image = np.full((height, width, 3), 128, np.uint8)
    interpolation = cv2.INTER_AREA if width > GRID_TILE_WIDTH else cv2.INTER_NEAREST
    tile = cv2.resize(image, (GRID_TILE_WIDTH, tile_height), interpolation=interpolation)
    # A white gutter on the right and bottom keeps neighbouring tiles apart.
    tile[-GRID_GUTTER:, :] = 255
    tile[:, -GRID_GUTTER:] = 255
    return tile


def _cell(value, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return pattern.format(value)


def _flag(value) -> str:
    return "—" if value is None else ("yes" if value else "no")


