"""`nircolor colorize` (placeholder until issue 5 lands)."""
from jobs.runtime import fail


def colorize() -> None:
    """Not built yet (issue 5)."""
    fail("`nircolor colorize` is not built yet (issue 5)", code=2)
