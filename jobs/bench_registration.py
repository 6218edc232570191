"""`nircolor bench registration`: sub-pixel accuracy and cost of the NIR↔RGB shift measurement."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from nircolor.dataset_tools.synthetic import synthetic_pairs
from nircolor.jobs.runtime import console, fail
from nircolor.pipeline.bench.registration import injected_shift_errors, read_pair_folder, read_video_frames


def bench_registration(
    pairs: list[Path] = typer.Option(None, "--pairs", help="Folder of <name>_nir.png / <name>_rgb.png pairs (or .tif, .jpg, ...; repeatable)."),
    video: list[Path] = typer.Option(None, "--video", help="RGB video; a NIR stand-in is made from each frame (repeatable)."),
    every: int = typer.Option(20, "--every", min=1, help="Video frames: measure one of every N."),
    limit: int = typer.Option(60, "--limit", min=1, help="At most this many pairs or frames per source."),
    shifts: int = typer.Option(3, "--shifts", min=1, help="Random injected shifts per pair."),
    max_shift: float = typer.Option(3.5, "--max-shift", min=0.0, help="Injected shifts lie within ±this many px per axis."),
    seed: int = typer.Option(0, "--seed", help="Seed of the injected shifts."),
) -> None:
    """Inject known sub-pixel shifts and report how far `measure_shift` lands (default: synthetic frames)."""
    sources = []
    for folder in pairs or []:
        if not folder.is_dir():
            fail(f"{folder}: no such folder")
        sources.append((f"pairs {folder}", lambda folder=folder: read_pair_folder(folder, limit)))
    for path in video or []:
        if not path.is_file():
            fail(f"{path}: no such video")
        sources.append((f"video {path.name}", lambda path=path: read_video_frames(path, every, limit, seed)))
    if not sources:
        sources.append(("synthetic 640×480", lambda: synthetic_pairs(min(limit, 12), seed=seed)))
    table = Table(title=f"Injected shifts within ±{max_shift:g} px, {shifts} per pair; error = |(moved − as is) − injected| px")
    for column in ("source", "size", "measurements", "median", "p90", "max", "> 0.5 px", "ms / measurement"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, load in sources:
        with console.status(f"measuring {name}"):
            try:
                result = injected_shift_errors(name, load(), shifts_per_pair=shifts, max_shift=max_shift, seed=seed)
            except ValueError as error:  # unreadable image or video, empty source
                fail(str(error))
        figures = result.figures()
        table.add_row(escape(name), f"{result.size[0]}×{result.size[1]}", str(figures["measurements"]),
                      f"{figures['median_px']:.3f}", f"{figures['p90_px']:.3f}", f"{figures['max_px']:.3f}",
                      f"{figures['over_0_5px']:.0%}", f"{figures['ms']:.2f}")
    console.print(table)
