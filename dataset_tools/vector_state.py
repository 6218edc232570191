"""Clear the upper halves of the x86 vector registers (VZEROUPPER) after ISA-L's deflate.

ISA-L's AVX-512 deflate returns with the upper vector state dirty. Legacy-SSE code that runs next,
such as FFmpeg's decoders, then carries a false dependency on every vector instruction: in ingest,
decoding ran 20–30% slower between deflate calls than on its own (docs/benchmarks.md, "Ingest").
Compiled AVX kernels (numpy's, for one) clean up after themselves; ISA-L's hand-written ones do
not. One VZEROUPPER instruction, run from a 4-byte executable page, restores the clean state.
Where it cannot apply (not x86-64 Linux, no AVX, or no executable memory allowed), or while
switched off in this process with `set_enabled(False)` / `with enabled(False):` (the seam
`nircolor bench ingest --no-vzeroupper` uses in its workers to measure the difference),
`clear_upper_vector_state` does nothing.
"""
from __future__ import annotations

import ctypes
import mmap
import platform
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_VZEROUPPER_RET = bytes([0xC5, 0xF8, 0x77, 0xC3])  # vzeroupper; ret


def _has_avx() -> bool:
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return False
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return "avx" in line.split(":", 1)[1].split()
    except OSError:
        pass
    return False


def _build():
    if not _has_avx():
        return None
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError, AttributeError):
        return None  # executable anonymous memory refused (hardened kernels)
    page.write(_VZEROUPPER_RET)
    function = ctypes.CFUNCTYPE(None)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
    return page, function  # the page must live as long as the function


_COMPILED = _build()
AVAILABLE = _COMPILED is not None  # whether the instruction can run here (`active()`: whether it does)
_enabled = True  # per process: a switch set in a driver does not reach Ray workers


def set_enabled(on: bool) -> bool:
    """Switch the call on or off in this process (benchmarks measure the difference); returns the previous setting."""
    global _enabled
    previous, _enabled = _enabled, bool(on)
    return previous


@contextmanager
def enabled(on: bool) -> Iterator[None]:
    """`set_enabled(on)` for the duration of the block, then the previous setting again."""
    previous = set_enabled(on)
    try:
        yield
    finally:
        set_enabled(previous)


def active() -> bool:
    """Whether `clear_upper_vector_state` really runs the instruction in this process now."""
    return _enabled and _COMPILED is not None


def clear_upper_vector_state() -> None:
    """Run VZEROUPPER (≈0.1 µs) where it applies and is switched on; otherwise nothing."""
    if _enabled and _COMPILED is not None:
        _COMPILED[1]()
