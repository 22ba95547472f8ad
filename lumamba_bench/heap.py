"""Freed heap handed back to the system: the one place the package asks glibc for it."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def release_free_memory() -> None:
    """Collect garbage, then ``malloc_trim`` (glibc; elsewhere nothing to do), so that memory a
    step freed no longer counts in the process's resident set."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name:
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):  # glibc
            libc.malloc_trim(0)
