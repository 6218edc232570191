"""Progress for people and for logs: a rich bar on a terminal, and when stdout is not one (nohup,
Slurm, Kubernetes logs, a pipe) a plain line per task every `nircolor --log-interval` seconds
(count, rate, ETA), so a long command is never silent until it ends."""
from __future__ import annotations

import os
import threading

from rich.console import Console
from rich.progress import Progress, Task

# Seconds between progress lines when stdout is not a terminal; `nircolor --log-interval` sets it.
LOG_INTERVAL = 30.0


def set_log_interval(seconds: float) -> None:
    global LOG_INTERVAL
    LOG_INTERVAL = float(seconds)


def duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def task_line(task: Task) -> str:
    """'segments: 120/480 (35.2/s, ETA 0:10) 2/4 recordings, 96 pairs kept'."""
    done = f"{task.completed:g}" + (f"/{task.total:g}" if task.total is not None else "")
    elapsed = task.elapsed or 0.0
    rate = task.speed or (task.completed / elapsed if elapsed > 0 else 0.0)
    details = []
    if rate:
        details.append(f"{rate:.1f}/s")
        if task.total is not None and task.total > task.completed:
            details.append(f"ETA {duration((task.total - task.completed) / rate)}")
    extra = " ".join(str(value) for value in task.fields.values() if isinstance(value, str) and value)
    return f"{task.description}: {done}" + (f" ({', '.join(details)})" if details else "") + (f" {extra}" if extra else "")


def is_interactive(console: Console) -> bool:
    """A terminal a person watches. FORCE_COLOR or TTY_COMPATIBLE make rich treat a pipe or a log
    file as a terminal, where a live bar becomes one endless line: the stream itself decides."""
    if not console.is_terminal:
        return False
    try:
        return os.isatty(console.file.fileno())
    except (AttributeError, OSError, ValueError):  # no descriptor (a buffer forced to act as a terminal)
        return True


class LoggedProgress(Progress):
    """A rich Progress that, off a terminal, prints `task_line` for every unfinished task each interval
    instead of drawing the live bar."""

    def __enter__(self) -> "LoggedProgress":
        self._stop = threading.Event()
        self._lines = None
        logging = not self.disable and not is_interactive(self.console)
        if logging:
            self.disable = True  # no live bar: lines instead, and (unless transient) the final state at the end
        super().__enter__()
        if logging:
            self._lines = threading.Thread(target=self._print_lines, name="progress-lines", daemon=True)
            self._lines.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._lines is not None:
            self._lines.join()
            if not self.live.transient:  # what the live bar would have left behind, as lines
                self._print_tasks(unfinished_only=False)
        super().__exit__(*exc_info)

    def _print_lines(self) -> None:
        while not self._stop.wait(LOG_INTERVAL):
            self._print_tasks(unfinished_only=True)

    def _print_tasks(self, unfinished_only: bool) -> None:
        for task in self.tasks:
            if task.visible and not (unfinished_only and task.finished):
                self.console.print(task_line(task), soft_wrap=True, highlight=False)
