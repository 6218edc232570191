"""Files and folders that appear whole or not at all: write a temporary sibling, then rename.

The one home of nircolor's temp-file-and-rename. A temporary name starts with a dot, carries the
process id (two processes never share one) and keeps the final suffix (muxers and image writers
choose their format by it), so a crash leaves only dot-files that `remove_leftovers` finds again.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np


def temporary_path(path: str | os.PathLike) -> Path:
    """This process's temporary sibling of `path`: `.NAME.PID.tmp` + the final suffix."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")


# `.NAME.PID.tmp[.suffix]` (temporary_path) and `.NAME.PID.old` (a folder being replaced).
_IN_PROGRESS = re.compile(r"^\..+\.\d+\.(tmp(\..*)?|old)$")


def in_progress(name: str) -> bool:
    """Whether a file or folder name is one of this module's unfinished-write names."""
    return bool(_IN_PROGRESS.match(name))


def leftovers(path: str | os.PathLike) -> list[Path]:
    """Temporary siblings of `path` that any process (perhaps one that died) left behind."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    prefix = f".{path.name}."
    return [entry for entry in path.parent.iterdir()
            if entry.name.startswith(prefix) and f".tmp{path.suffix}" in entry.name[len(prefix):]]


def remove_leftovers(path: str | os.PathLike) -> None:
    """Remove what interrupted runs left for `path`, but never a live process's work in progress."""
    for entry in leftovers(path):
        owner = entry.name[len(Path(path).name) + 2:].split(".", 1)[0]
        if owner.isdigit() and int(owner) != os.getpid() and _alive(int(owner)):
            continue
        _remove(entry)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    return True


def commit(temporary: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Move a finished temporary file or folder into place; a folder replaces an older one whole."""
    temporary, path = Path(temporary), Path(path)
    if temporary.is_dir() and path.exists():
        old = path.with_name(f".{path.name}.{os.getpid()}.old")
        _remove(old)
        os.replace(path, old)
        os.replace(temporary, path)
        _remove(old)
    else:
        os.replace(temporary, path)
    return path


def discard(temporary: str | os.PathLike) -> None:
    _remove(Path(temporary))


@contextmanager
def replacing(path: str | os.PathLike, folder: bool = False) -> Iterator[Path]:
    """`with replacing(final) as temporary:` write to `temporary`; it becomes `final` on success
    and is removed on any exception. With folder=True `temporary` is a fresh empty folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    _remove(temporary)
    if folder:
        temporary.mkdir()
    try:
        yield temporary
    except BaseException:
        _remove(temporary)
        raise
    commit(temporary, path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with replacing(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with replacing(path) as temporary:
        temporary.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, document, **dumps_options) -> Path:
    """JSON with a trailing newline (indent 2 unless told otherwise)."""
    dumps_options.setdefault("indent", 2)
    return write_text(path, json.dumps(document, **dumps_options) + "\n")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def json_safe(value):
    """`value` as JSON can hold it: dataclasses and dicts → objects, tuples and sets → lists, Paths →
    strings, numpy scalars → numbers, NaN and ±inf → null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
