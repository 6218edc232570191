"""One writer per folder: build, import-pairs, train and colorize take `.nircolor.lock` in what they write.

A second nircolor run on the same dataset, run folder or output folder refuses at once instead of
interleaving shards, checkpoints or videos with the first. The lock is an flock(2) on the file, so
the kernel drops it when its process dies: a lock file left by a dead pid is simply taken over.
"""
from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".nircolor.lock"


class WriterBusy(ValueError):
    """Another live nircolor process is writing the folder (the message names the folder, command and pid),
    or the folder cannot be created or written at all."""


@contextmanager
def writer_lock(folder: str | os.PathLike, command: str) -> Iterator[Path]:
    """Hold the folder's lock for the block (creating the folder); WriterBusy when another process holds it."""
    folder = Path(folder)
    path = folder / LOCK_NAME
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = _acquire(path, folder)
    except OSError as error:  # a file in the way, no permission, read-only disk
        raise WriterBusy(f"{folder}: cannot write here ({error.strerror or error})") from None
    try:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps({"pid": os.getpid(), "command": command}).encode(), 0)
        yield path
    finally:
        # Unlink while still holding the lock: a waiter that opened this inode sees it is gone and retries.
        try:
            if _same_file(descriptor, path):
                path.unlink()
        finally:
            os.close(descriptor)
            if created and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()  # work that could not start leaves no empty folder behind


def _acquire(path: Path, folder: Path) -> int:
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(descriptor)
            os.close(descriptor)
            raise WriterBusy(f"{folder}: another nircolor {owner} is writing here; "
                             "wait for it to finish or use another folder") from None
        if _same_file(descriptor, path):
            return descriptor
        os.close(descriptor)  # the holder removed this file as we locked it: lock the new one


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        return os.fstat(descriptor).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _owner(descriptor: int) -> str:
    """`COMMAND (pid N)` from the lock file, as far as it can be read (the holder may be mid-write)."""
    try:
        record = json.loads(os.pread(descriptor, 4096, 0).decode())
        return f"{str(record['command'])[:60]} (pid {int(record['pid'])})"
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, OSError, RecursionError):
        return "run (pid unknown)"
