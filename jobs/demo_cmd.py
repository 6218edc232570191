"""`nircolor demo` (until issue 6 lands: prints the model zoo)."""
from jobs.models_cmd import list_models


def demo() -> None:
    """Show the paper's networks (the full synthetic-data demo arrives with issue 6)."""
    list_models(gflops=True)
