"""Shared test fixtures: one embedded Ray for the whole session, paths to the real data."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.s3_server"]  # the s3_server and s3 fixtures

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Ray in tests: tiny, quiet, no dashboard.
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; tests that need it skip when a fresh clone has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available ({SHARED_DATA} is absent)")
    return SHARED_DATA


@pytest.fixture
def ray_local():
    """The one shared embedded Ray instance (started on first use, 4 logical CPUs on any machine)."""
    import ray

    if not ray.is_initialized():
        # address="local": always our own instance, never a cluster another process on this machine started.
        ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray


def pytest_sessionfinish(session, exitstatus):
    try:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    except ImportError:
        pass


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU (none on this machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
