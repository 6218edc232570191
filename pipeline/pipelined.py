"""Run read → process → write as three overlapping stages joined by bounded queues.

A reader thread fills a queue, processing runs in the caller's thread, a writer thread drains a
second queue; the first error in any stage stops the other two and is raised to the caller.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

_END = object()  # end-of-stream marker between the stages
_POLL_SECONDS = 0.1  # how often a blocked stage looks whether another one has failed


@dataclass
class StageSeconds:
    """Time each stage spent working (not waiting on its neighbours); the sum can exceed the wall time."""

    read: float = 0.0
    process: float = 0.0
    write: float = 0.0


def run_pipelined(read: Iterable, process: Callable, write: Callable, depth: int = 4) -> StageSeconds:
    """Feed every item of `read` through `process` into `write`, the three stages overlapping.

    `depth` items at most wait between two stages. Raises the first stage's error (after the
    other stages have stopped); returns the seconds each stage worked.
    """
    return _Pipeline(depth).run(read, process, write)


class _Pipeline:
    def __init__(self, depth: int):
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.to_process: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.to_write: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.seconds = StageSeconds()

    def run(self, read: Iterable, process: Callable, write: Callable) -> StageSeconds:
        reader = threading.Thread(target=self._stage, args=(self._read, read), name="read", daemon=True)
        writer = threading.Thread(target=self._stage, args=(self._write, write), name="write", daemon=True)
        reader.start()
        writer.start()
        try:
            self._stage(self._process, process)
        finally:  # also on KeyboardInterrupt in this thread: the other stages see `stop` and end
            reader.join()
            writer.join()
        if self.errors:
            raise self.errors[0]
        return self.seconds

    def _stage(self, body: Callable, argument) -> None:
        try:
            body(argument)
        except BaseException as error:
            self.errors.append(error)
            self.stop.set()

    def _read(self, items: Iterable) -> None:
        iterator = iter(items)
        try:
            while True:
                clock = time.perf_counter()
                item = next(iterator, _END)
                self.seconds.read += time.perf_counter() - clock
                if item is _END or not self._put(self.to_process, item):
                    break
        finally:
            close = getattr(iterator, "close", None)  # a generator releases its files now, in this thread
            if close is not None:
                close()
        self._put(self.to_process, _END)

    def _process(self, process: Callable) -> None:
        while (item := self._get(self.to_process)) is not _END:
            clock = time.perf_counter()
            output = process(item)
            self.seconds.process += time.perf_counter() - clock
            if not self._put(self.to_write, output):
                return
        self._put(self.to_write, _END)

    def _write(self, write: Callable) -> None:
        while (item := self._get(self.to_write)) is not _END:
            clock = time.perf_counter()
            write(item)
            self.seconds.write += time.perf_counter() - clock

    # Every wait gives up once another stage has failed, so no thread blocks forever.
    def _put(self, target: queue.Queue, item) -> bool:
        while not self.stop.is_set():
            try:
                target.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, source: queue.Queue):
        while not self.stop.is_set():
            try:
                return source.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
        return _END
