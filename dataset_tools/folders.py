"""Names read from the tool's own files (manifest.json, recording.json) must stay inside their folder.

Those files are input like any other: a name that is absolute, climbs out with `..`, or passes
through a link leading outside would let a command read, overwrite or delete files it does not own.
"""
from __future__ import annotations

import os
from pathlib import Path


def leaves_folder(folder: str | os.PathLike, name: str) -> str | None:
    """How `name` leaves `folder`: "by name" (absolute, `..`, NUL), "by link", "by link loop"; None when inside."""
    if "\0" in name or os.path.isabs(name) or os.path.normpath(name).split(os.sep)[0] == os.pardir:
        return "by name"
    try:
        inside = (Path(folder) / name).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, RuntimeError):  # RuntimeError: a link loop on older Pythons
        return "by link loop"
    return None if inside else "by link"
