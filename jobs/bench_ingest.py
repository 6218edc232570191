"""`nircolor bench ingest` (placeholder until issue 3 lands)."""
from jobs.runtime import fail


def bench_ingest() -> None:
    """Not built yet (issue 3)."""
    fail("`nircolor bench ingest` is not built yet (issue 3)", code=2)
