"""`nircolor bench train` (placeholder until issue 4 lands)."""
from jobs.runtime import fail


def bench_train() -> None:
    """Not built yet (issue 4)."""
    fail("`nircolor bench train` is not built yet (issue 4)", code=2)
