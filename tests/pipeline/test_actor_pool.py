"""The actor pool behind ingest and colorize: lost actors are replaced, their tasks resubmitted, and a
task that keeps killing its actor is reported once while every other task completes."""
from __future__ import annotations

import os

from pipeline.actor_pool import RESUBMISSIONS, run_actor_pool


class _Squarer:
    def run(self, task: int) -> int:
        if task < 0:
            os._exit(1)  # a task that takes its worker process down with it, every time
        return task * task


def test_lost_actors_are_replaced_and_a_poisoned_task_is_reported_once(ray_local):
    ray = ray_local
    remote_class = ray.remote(_Squarer).options(num_cpus=0, max_restarts=0, max_task_retries=0)
    results, lost = [], []

    def lost_result(task, attempts, error):
        lost.append((task, attempts))
        return None

    run_actor_pool(
        [1, 2, -1, 3, 4], [remote_class.remote() for _ in range(2)],
        submit=lambda actor, task: actor.run.remote(task),
        new_actor=remote_class.remote,
        on_result=results.append,
        lost_result=lost_result,
        task_key=lambda task: task,
    )
    assert sorted(result for result in results if result is not None) == [1, 4, 9, 16]
    assert results.count(None) == 1
    assert lost == [(-1, RESUBMISSIONS + 1)]


def test_tasks_the_caller_declines_are_skipped(ray_local):
    ray = ray_local
    remote_class = ray.remote(_Squarer).options(num_cpus=0)
    results = []
    run_actor_pool(
        [1, 2, 3], [remote_class.remote()],
        submit=lambda actor, task: actor.run.remote(task),
        new_actor=remote_class.remote,
        on_result=results.append,
        lost_result=lambda task, attempts, error: None,
        task_key=lambda task: task,
        should_start=lambda task: task != 2,
    )
    assert sorted(results) == [1, 9]
