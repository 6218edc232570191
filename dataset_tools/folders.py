"""Names read from the tool's own files (manifest.json, recording.json) must stay inside their folder,
and names that become file names (recording ids, video stems) must make distinct, ordinary files.

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


# File systems allow 255 bytes; outputs append suffixes such as `.review.mp4` or `-000.h5`.
MAX_NAME_BYTES = 200
# `<name>.review.mp4` is the side-by-side video of `<name>`: a name ending so would take another's file.
RESERVED_ENDING = ".review"


def name_problem(name: str) -> str | None:
    """Why `name` cannot be the stem of the files nircolor writes for it, or None when it can."""
    if not name.strip():
        return "is empty"
    if any(character in name for character in "/\\") or any(ord(character) < 32 or ord(character) == 127
                                                             for character in name):
        return "holds a path separator or a control character"
    if name.startswith("."):
        return "starts with a dot (hidden, or `..`)"
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    if name.casefold().endswith(RESERVED_ENDING):
        return f"ends with {RESERVED_ENDING!r}, the ending of side-by-side review videos"
    return None
