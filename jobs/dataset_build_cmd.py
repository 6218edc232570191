"""`nircolor dataset build` (placeholder until issue 3's ingest lands)."""
from jobs.runtime import fail


def build() -> None:
    """Not built yet (issue 3)."""
    fail("`nircolor dataset build` is not built yet (issue 3)", code=2)
