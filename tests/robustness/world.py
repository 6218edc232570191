"""A small valid world (recordings, a dataset, a checkpoint, still pairs) that each hostile case copies
and breaks in one way, and the checks every case shares."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from typer.testing import CliRunner

from nircolor.jobs.cli import app
from nircolor.models import parse_model_name, save_generator

runner = CliRunner(env={"COLUMNS": "300", "NO_COLOR": "1"})


def build_world(root: Path) -> Path:
    """root/recs/drive-00{0,1}, root/ds (built from them), root/ck (tiny johnson), root/pairs (stills)."""
    result = runner.invoke(app, ["synth", "recordings", str(root / "recs"), "--count", "2", "--frames", "8",
                                 "--size", "64x48", "--days", "2", "--locations", "2"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["dataset", "build", str(root / "recs"), str(root / "ds"), "--workers", "1",
                                 "--split-override", "drive-001=eval", "--segment-seconds", "0"])
    assert result.exit_code == 0, result.output
    save_generator(parse_model_name("johnson-6").tiny().build(), root / "ck")
    pairs = root / "pairs"
    pairs.mkdir()
    random = np.random.default_rng(0)
    for index in range(2):
        nir = random.integers(0, 255, (48, 64), dtype=np.uint8)
        cv2.imwrite(str(pairs / f"p{index}_nir.png"), nir)
        cv2.imwrite(str(pairs / f"p{index}_rgb.png"), np.repeat(nir[..., None], 3, axis=2))
    return root


@dataclass
class Case:
    """One hostile input: `breaks` damages the copied world and returns the command line; the command
    must exit with `code`, name `names` (a path or word) on a line, and leave every file outside
    `writes` (paths relative to the world) byte-identical."""

    id: str
    breaks: Callable[[Path], list[str]]
    names: str
    code: int = 1
    writes: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)


def snapshot(root: Path, exclude: tuple[Path, ...]) -> dict[str, str]:
    files = {}
    for path in sorted(root.rglob("*")):
        if any(path == folder or folder in path.parents for folder in exclude):
            continue
        if path.is_symlink():
            files[str(path.relative_to(root))] = "-> " + os.readlink(path)
        elif path.is_file():
            files[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            files[str(path.relative_to(root)) + "/"] = "dir"
    return files


def run_case(case: Case, pristine: Path, tmp_path: Path) -> None:
    world = tmp_path / "w"
    shutil.copytree(pristine, world, symlinks=True)
    arguments = [argument.replace("{w}", str(world)) for argument in case.breaks(world)]
    before = snapshot(tmp_path, tuple(world / name for name in case.writes))
    result = runner.invoke(app, arguments)
    output = result.output
    assert "Traceback" not in output, output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == case.code, f"exit {result.exit_code}, wanted {case.code}:\n{output}"
    lines = [line for line in output.splitlines() if case.names in line]
    assert lines, f"no line names {case.names!r}:\n{output}"
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) <= 1, output
    for line in errors:
        assert len(line) < 1000, line
    after = snapshot(tmp_path, tuple(world / name for name in case.writes))
    changed = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    assert not changed, f"changed outside {case.writes}: {changed}"


# -- ways to break a file --------------------------------------------------------------------------

DEEP = "[" * 200_000 + "]" * 200_000  # deep enough to exhaust the JSON parser's recursion


def write(path: Path, content: str | bytes) -> None:
    path.unlink(missing_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def edit_json(path: Path, change: Callable[[dict], object]) -> None:
    document = json.loads(path.read_text())
    replaced = change(document)
    path.write_text(json.dumps(document if replaced is None else replaced))


def outside_file(world: Path, name: str = "secret.h5", content: bytes = b"outside data") -> Path:
    target = world.parent / "outside" / name
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(content)
    return target
