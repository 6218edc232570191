"""`nircolor bench models` (placeholder until issue 2's benchmark lands)."""
from jobs.runtime import fail


def bench_models() -> None:
    """Not built yet (issue 2)."""
    fail("`nircolor bench models` is not built yet (issue 2)", code=2)
