"""The execution layer behind ingest and colorize: lost actors are replaced, their tasks resubmitted,
a task that keeps killing its actor is reported once while every other task completes, and the
same worker runs in this process or on Ray with the same results and progress reports."""
from __future__ import annotations

import os

import pytest

from nircolor.pipeline.execution import RESUBMISSIONS, Execution, WorkerStartError, run_tasks


class _Squarer:
    def __init__(self, offset: int = 0):
        self.offset = offset

    def __call__(self, task: int, report) -> int:
        if task < 0:
            os._exit(1)  # a task that takes its worker process down with it, every time
        report(task, task * 10)
        return task * task + self.offset


class _Unbuildable:
    def __init__(self):
        raise OSError("checkpoint unreadable on this node")


def _run(tasks, execution, worker_class=_Squarer, **kwargs):
    results, lost, progress = [], [], {}

    def lost_result(task, attempts, error):
        lost.append((task, attempts))
        return None

    workers = run_tasks(tasks, worker_class, (1,) if worker_class is _Squarer else (), execution=execution,
                        on_result=results.append, lost_result=lost_result, task_key=lambda task: task,
                        on_progress=progress.__setitem__, **kwargs)
    return results, lost, progress, workers


def test_lost_actors_are_replaced_and_a_poisoned_task_is_reported_once(ray_local):
    execution = Execution("ray", 2, {"num_cpus": 0})
    results, lost, _, workers = _run([1, 2, -1, 3, 4], execution)
    assert sorted(result for result in results if result is not None) == [2, 5, 10, 17]
    assert results.count(None) == 1
    assert lost == [(-1, RESUBMISSIONS + 1)]
    assert workers == 2


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_local_and_ray_give_the_same_results_and_skip_declined_tasks(ray_local, executor):
    execution = Execution(executor, 2, {"num_cpus": 0})
    results, lost, progress, _ = _run([1, 2, 3], execution, should_start=lambda task: task != 2)
    assert sorted(results) == [2, 10] and lost == []
    if executor == "local":  # Ray's board is polled; the last poll may precede the last report
        assert progress == {1: 10, 3: 30}
    else:
        assert set(progress) <= {1, 3}


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_worker_that_cannot_start_is_one_error_for_the_run(ray_local, executor):
    with pytest.raises(WorkerStartError, match="checkpoint unreadable"):
        _run([1, 2], Execution(executor, 1, {"num_cpus": 0}), worker_class=_Unbuildable)


def test_an_unknown_executor_is_refused():
    with pytest.raises(ValueError, match="executor 'auto'"):
        Execution("auto")
