"""The process's C heap (glibc's malloc): freed memory handed back to the system, or kept for
reuse. The one place the package asks glibc for either."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from contextlib import contextmanager
from functools import cache

# glibc's mallopt parameters and their defaults (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
DEFAULTS = {M_TRIM_THRESHOLD: 128 * 1024, M_MMAP_THRESHOLD: 128 * 1024, M_MMAP_MAX: 65536}
KEPT = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: 1 << 30}  # large blocks from the heap, freed memory not trimmed

_keeping = False


@cache
def _glibc():
    """glibc, or None (another C library: nothing to ask)."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def _set(options: dict[int, int]) -> bool:
    libc = _glibc()
    return libc is not None and all(libc.mallopt(option, value) == 1 for option, value in options.items())


def release_free_memory() -> None:
    """Collect garbage, then ``malloc_trim``, so that memory a step freed no longer counts in the
    process's resident set."""
    gc.collect()
    if _glibc() is not None:
        _glibc().malloc_trim(0)


def keep_freed_memory() -> bool:
    """Keep freed memory for the next allocation instead of handing it back at once; True where
    glibc took the setting. PyTorch on the CPU allocates and frees tensors of tens of MiB in
    every forward pass; by default glibc maps each large one fresh from the system and unmaps it
    when freed, so every pass pays a page fault per 4 KiB touched (at 60 s windows, batch 8:
    130,000 in one LuMamba forward, about 0.9 us each, a quarter of its time). Kept in the heap,
    the next pass reuses the pages. The resident set then stays near the process's peak;
    ``release_free_memory`` still hands free memory back."""
    global _keeping
    _keeping = _set(KEPT)
    return _keeping


@contextmanager
def returning_freed_memory():
    """glibc's default behaviour for the duration (large blocks mapped and unmapped, the heap's
    top trimmed), starting from a heap whose free memory is handed back, so that the resident set
    follows what is allocated: for measuring memory."""
    kept = _keeping
    _set(DEFAULTS)
    release_free_memory()
    try:
        yield
    finally:
        if kept:
            _set(KEPT)
