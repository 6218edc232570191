"""One execution layer for ingest and colorize: a list of tasks run in this process or on Ray actors.

The caller chooses where (`executor="local"` or `"ray"`), never a guess from the process state.
A worker is a class built once per actor (or once in this process) from `arguments`; calling it
with a task and a `report` callback returns the task's result. Only tasks (paths, bounds) and
results (statistics) travel; `report(key, value)` carries live progress (counts, never frames)
through a tiny board actor that the driver polls. Ray retries a task on a restarted actor; an actor
lost beyond that is replaced and its task resubmitted a few times, then reported as lost, so one
bad machine or input never stops the rest.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

EXECUTORS = ("local", "ray")
RESUBMISSIONS = 2  # after Ray's own task retries
TICK_SECONDS = 0.5  # how often the driver polls live progress while tasks run


class WorkerStartError(ValueError):
    """The worker class could not be built (checkpoint unreadable on that node, no memory)."""


@dataclass(frozen=True)
class Execution:
    """Where and how wide tasks run. `actor_options`: Ray resources per actor (num_cpus, num_gpus)."""

    executor: str = "local"
    workers: int = 1
    actor_options: dict = field(default_factory=lambda: {"num_cpus": 1})

    def __post_init__(self):
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor {self.executor!r} is not one of {', '.join(EXECUTORS)}")


def run_tasks(
    tasks: list,
    worker_class: type,
    arguments: tuple = (),
    keywords: dict | None = None,
    *,
    execution: Execution,
    on_result: Callable,  # (result) -> None, once per task that started
    lost_result: Callable,  # (task, attempts, error text) -> the result reported for a task lost too often
    task_key: Callable,  # (task) -> hashable identity, for counting attempts
    should_start: Callable = lambda task: True,  # False skips a task (the user interrupted, say)
    on_progress: Callable | None = None,  # (key, value) -> None: the workers' latest reports
) -> int:
    """Run every task; returns how many workers ran them. Raises WorkerStartError when no worker
    can be built: that is one problem for the whole run, not one per task."""
    if not tasks:
        return 0
    report = on_progress or (lambda key, value: None)
    if execution.executor == "local":
        try:
            worker = worker_class(*arguments, **(keywords or {}))
        except Exception as error:
            raise WorkerStartError(str(error) or type(error).__name__) from None
        for task in tasks:
            if should_start(task):
                on_result(worker(task, report))
        return 1
    return _run_on_ray(tasks, worker_class, arguments, keywords or {}, execution, on_result, lost_result, task_key,
                       should_start, on_progress)


def first_line(error: BaseException) -> str:
    """The useful line of a Ray error: the worker's own message is the last line of Ray's text."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()  # Ray colours its messages
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:300]


def _run_on_ray(tasks, worker_class, arguments, keywords, execution, on_result, lost_result, task_key,
                should_start, on_progress) -> int:
    workers = max(1, min(execution.workers, len(tasks)))
    remote_class = ray.remote(_ActorWorker).options(max_restarts=2, max_task_retries=2, **execution.actor_options)

    def new_actor():
        return remote_class.remote(worker_class, arguments, keywords)

    board = ray.remote(_ProgressBoard).options(num_cpus=0).remote() if on_progress else None
    idle = [new_actor() for _ in range(workers)]
    try:
        problems = [problem for problem in ray.get([actor.ready.remote() for actor in idle]) if problem]
        if problems:
            raise WorkerStartError(problems[0])

        def poll() -> None:
            if board is not None:
                for key, value in ray.get(board.snapshot.remote()).items():
                    on_progress(key, value)

        _pool(tasks, idle, new_actor, board, on_result, lost_result, task_key, should_start, poll)
    finally:
        for actor in idle:
            ray.kill(actor, no_restart=True)
        if board is not None:
            ray.kill(board)
    return workers


def _pool(tasks, idle, new_actor, board, on_result, lost_result, task_key, should_start, poll) -> None:
    """Keep every idle actor busy until the queue is empty; replace and resubmit on lost actors."""
    queue = list(tasks)
    attempts: dict = {}
    running: dict = {}
    while queue or running:
        while queue and idle:
            task = queue.pop(0)
            if not should_start(task):
                continue
            actor = idle.pop()
            running[actor.run.remote(task, board)] = (actor, task)
        if not running:
            continue
        done, _ = ray.wait(list(running), num_returns=1, timeout=TICK_SECONDS)
        poll()
        for reference in done:
            actor, task = running.pop(reference)
            try:
                result = ray.get(reference)
            except (RayActorError, ActorDiedError, ActorUnavailableError, WorkerStartError) as error:
                key = task_key(task)
                attempts[key] = attempts.get(key, 0) + 1
                ray.kill(actor, no_restart=True)
                idle.append(new_actor())
                if attempts[key] <= RESUBMISSIONS:
                    queue.insert(0, task)
                    continue
                result = lost_result(task, attempts[key], first_line(error))
            else:
                idle.append(actor)
            on_result(result)


class _ProgressBoard:
    """The latest value each worker reported per key (a retried task reports absolute counts again)."""

    def __init__(self):
        self.values: dict = {}

    def report(self, key, value) -> None:
        self.values[key] = value

    def snapshot(self) -> dict:
        return dict(self.values)


class _ActorWorker:
    """The actor: builds the worker inside its own process and runs one task per call."""

    def __init__(self, worker_class: type, arguments: tuple, keywords: dict):
        # Never raise here: Ray would print the traceback of every retry; the driver asks `ready()`.
        self.worker, self.problem = None, None
        try:
            self.worker = worker_class(*arguments, **keywords)
        except Exception as error:
            self.problem = str(error) or type(error).__name__

    def ready(self) -> str | None:
        return self.problem

    def run(self, task, board=None):
        if self.worker is None:  # restarted by Ray on a node where the worker cannot be built
            raise WorkerStartError(self.problem)
        report = (lambda key, value: None) if board is None else (lambda key, value: board.report.remote(key, value))
        return self.worker(task, report)
