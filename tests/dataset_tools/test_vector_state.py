"""VZEROUPPER after ISA-L's deflate: it really leaves the upper vector state clean, it is active exactly
where the instruction exists, and it turns into a no-op where it cannot run."""
from __future__ import annotations

import ctypes
import mmap
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from nircolor.dataset_tools import vector_state

ROOT = Path(__file__).resolve().parents[2]

# vpcmpeqd ymm0,ymm0,ymm0 (all ones: the upper halves are now in use); sub rsp,8; call rdi; add rsp,8;
# mov ecx,1; xgetbv (XINUSE: which register states are in use); ret. Bit 2 of XINUSE is the upper YMM state.
_DIRTY_CALL_XINUSE = bytes.fromhex("C5FD76C0" "4883EC08" "FFD7" "4883C408" "B901000000" "0F01D0" "C3")
_UPPER_YMM_IN_USE = 1 << 2


def _cpu_flags() -> set[str]:
    try:
        line = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return set()
    return set(line.split(":", 1)[1].split())


def _executable(code: bytes):
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    return page, ctypes.addressof(ctypes.c_char.from_buffer(page))


@pytest.mark.skipif(not vector_state.ACTIVE or "xgetbv1" not in _cpu_flags(),
                    reason="needs the instruction active and XGETBV(1) to read the register state")
def test_the_upper_vector_state_is_clean_after_the_call():
    probe_page, probe_address = _executable(_DIRTY_CALL_XINUSE)
    probe = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)(probe_address)
    plain_page, plain_return = _executable(b"\xC3")
    cleared = ctypes.cast(vector_state._COMPILED[1], ctypes.c_void_p).value
    # The control: after a 256-bit instruction and a call that does nothing, the upper state is dirty.
    assert probe(plain_return) & _UPPER_YMM_IN_USE
    # The same sequence calling the module's code: the upper halves are back in their clean state.
    assert not probe(cleared) & _UPPER_YMM_IN_USE
    del probe_page, plain_page


def test_active_exactly_where_the_cpu_has_avx():
    expected = sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64") and "avx" in _cpu_flags()
    assert vector_state.ACTIVE == expected


def test_refused_executable_memory_makes_it_a_no_op(monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("executable mappings are not allowed here")

    monkeypatch.setattr(vector_state.mmap, "mmap", refuse)
    monkeypatch.setattr(vector_state, "_has_avx", lambda: True)
    assert vector_state._build() is None
    monkeypatch.setattr(vector_state, "_COMPILED", None)
    assert vector_state.clear_upper_vector_state() is None  # runs nothing, raises nothing


def _active_in_child(environment: dict) -> str:
    code = "from nircolor.dataset_tools import vector_state; print(vector_state.ACTIVE)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.skipif(not vector_state.ACTIVE, reason="VZEROUPPER does not apply on this machine")
def test_environment_switch_turns_it_off():
    assert _active_in_child({**os.environ, "NIRCOLOR_VZEROUPPER": "0"}) == "False"
    assert _active_in_child({**os.environ, "NIRCOLOR_VZEROUPPER": "1"}) == "True"
