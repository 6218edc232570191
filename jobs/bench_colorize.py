"""`nircolor bench colorize` (placeholder until issue 5 lands)."""
from jobs.runtime import fail


def bench_colorize() -> None:
    """Not built yet (issue 5)."""
    fail("`nircolor bench colorize` is not built yet (issue 5)", code=2)
