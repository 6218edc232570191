"""VZEROUPPER after ISA-L's deflate: it really leaves the upper vector state clean, it is available exactly
where the instruction exists, it turns into a no-op where it cannot run, and the benchmarks' switch
turns it off in this process only for as long as asked."""
from __future__ import annotations

import ctypes
import mmap
import platform
import sys
from pathlib import Path

import pytest

from nircolor.dataset_tools import vector_state

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


@pytest.mark.skipif(not vector_state.AVAILABLE or "xgetbv1" not in _cpu_flags(),
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


def test_available_exactly_where_the_cpu_has_avx():
    expected = sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64") and "avx" in _cpu_flags()
    assert vector_state.AVAILABLE == expected
    assert vector_state.active() == expected  # switched on unless a benchmark says otherwise


def test_refused_executable_memory_makes_it_a_no_op(monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("executable mappings are not allowed here")

    monkeypatch.setattr(vector_state.mmap, "mmap", refuse)
    monkeypatch.setattr(vector_state, "_has_avx", lambda: True)
    assert vector_state._build() is None
    monkeypatch.setattr(vector_state, "_COMPILED", None)
    assert vector_state.clear_upper_vector_state() is None  # runs nothing, raises nothing


class _Counted:
    """Stands in for the compiled instruction: counts the calls that would have run it."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1


def test_switch_turns_the_call_off_and_back_on(monkeypatch):
    instruction = _Counted()
    monkeypatch.setattr(vector_state, "_COMPILED", (None, instruction))
    vector_state.clear_upper_vector_state()
    assert instruction.calls == 1 and vector_state.active()

    assert vector_state.set_enabled(False) is True  # returns the previous setting
    try:
        vector_state.clear_upper_vector_state()
        assert instruction.calls == 1 and not vector_state.active()
    finally:
        assert vector_state.set_enabled(True) is False
    vector_state.clear_upper_vector_state()
    assert instruction.calls == 2 and vector_state.active()


def test_context_manager_restores_the_previous_setting_even_on_error(monkeypatch):
    instruction = _Counted()
    monkeypatch.setattr(vector_state, "_COMPILED", (None, instruction))
    with pytest.raises(RuntimeError):
        with vector_state.enabled(False):
            vector_state.clear_upper_vector_state()
            with vector_state.enabled(True):  # nested: on inside, off again after
                vector_state.clear_upper_vector_state()
            vector_state.clear_upper_vector_state()
            raise RuntimeError("the task failed")
    assert instruction.calls == 1 and vector_state.active()
    vector_state.clear_upper_vector_state()
    assert instruction.calls == 2


def test_switched_on_without_the_instruction_still_runs_nothing(monkeypatch):
    monkeypatch.setattr(vector_state, "_COMPILED", None)
    with vector_state.enabled(True):
        assert not vector_state.active()
        assert vector_state.clear_upper_vector_state() is None
