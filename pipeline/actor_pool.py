"""A pool of Ray actors working through a queue of tasks, surviving lost actors (ingest, colorize).

Each actor takes one task at a time; only the task (paths, bounds) and its result (statistics)
travel. Ray itself retries a task on a restarted actor (`max_restarts`, `max_task_retries`); when
an actor is lost beyond that, the pool replaces it and resubmits the task a few more times before
reporting it as failed, so one bad machine or input never stops the rest.
"""
from __future__ import annotations

from typing import Callable

RESUBMISSIONS = 2


def run_actor_pool(
    tasks: list,
    actors: list,
    *,
    submit: Callable,  # (actor, task) -> ObjectRef of the task's result
    new_actor: Callable,  # () -> a fresh actor replacing a lost one
    on_result: Callable,  # (result) -> None, called once per task
    lost_result: Callable,  # (task, attempts, error) -> the result reported for a task lost too often
    task_key: Callable,  # (task) -> hashable identity, for counting attempts
    should_start: Callable = lambda task: True,  # False skips a task (e.g. the user interrupted)
    on_tick: Callable | None = None,  # () -> None, called about every `tick_seconds` while tasks run
    tick_seconds: float | None = None,
) -> None:
    """Run every task on the actors; kills the actors when done."""
    import ray
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

    queue = list(tasks)
    idle = list(actors)
    attempts: dict = {}
    running: dict = {}
    while queue or running:
        while queue and idle:
            task = queue.pop(0)
            if not should_start(task):
                continue
            actor = idle.pop()
            running[submit(actor, task)] = (actor, task)
        if not running:
            continue
        done, _ = ray.wait(list(running), num_returns=1, timeout=tick_seconds)
        if on_tick is not None:
            on_tick()
        for reference in done:
            actor, task = running.pop(reference)
            try:
                result = ray.get(reference)
            except (RayActorError, ActorDiedError, ActorUnavailableError) as error:
                key = task_key(task)
                attempts[key] = attempts.get(key, 0) + 1
                ray.kill(actor, no_restart=True)
                idle.append(new_actor())
                if attempts[key] <= RESUBMISSIONS:
                    queue.insert(0, task)
                    continue
                result = lost_result(task, attempts[key], error)
            else:
                idle.append(actor)
            on_result(result)
    for actor in idle:
        ray.kill(actor, no_restart=True)
