"""`nircolor evaluate` (placeholder until issue 6 lands)."""
from jobs.runtime import fail


def evaluate() -> None:
    """Not built yet (issue 6)."""
    fail("`nircolor evaluate` is not built yet (issue 6)", code=2)
