"""VZEROUPPER after ISA-L's deflate: active exactly where the instruction exists, a no-op elsewhere."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from dataset_tools import vector_state

ROOT = Path(__file__).resolve().parents[2]


def _avx_in_cpuinfo() -> bool:
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return False
    return "avx" in flags.split(":", 1)[1].split()


def test_active_where_the_cpu_has_avx():
    expected = sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64") and _avx_in_cpuinfo()
    assert vector_state.ACTIVE == expected
    vector_state.clear_upper_vector_state()  # executes the instruction here; must return normally


def _active_in_child(environment: dict) -> str:
    code = "from dataset_tools import vector_state; print(vector_state.ACTIVE)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.skipif(not vector_state.ACTIVE, reason="VZEROUPPER does not apply on this machine")
def test_environment_switch_turns_it_off():
    environment = {**os.environ, "NIRCOLOR_VZEROUPPER": "0"}
    assert _active_in_child(environment) == "False"
    assert _active_in_child({**os.environ, "NIRCOLOR_VZEROUPPER": "1"}) == "True"
