"""glibc's heap kept for reuse (CPU runs) or handed back (memory measurement), read from glibc's
own accounting (``mallinfo2``) and the resident set."""

import ctypes

import pytest
import torch

from lumamba_bench import heap


class _MallInfo(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]  # fmt: skip


def _mallinfo() -> _MallInfo:
    libc = heap._glibc()
    libc.mallinfo2.restype = _MallInfo
    return libc.mallinfo2()


def _resident() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


pytestmark = pytest.mark.skipif(
    heap._glibc() is None or not hasattr(heap._glibc(), "mallinfo2"), reason="glibc 2.33's mallinfo2"
)
MIB = 1 << 20


def test_a_cpu_run_keeps_freed_memory_and_measuring_memory_hands_it_back():
    try:
        assert heap.keep_freed_memory()
        mapped = _mallinfo().hblkhd
        tensor = torch.empty(64 * MIB // 4)
        assert _mallinfo().hblkhd - mapped < MIB  # from the heap, not mapped on its own
        free = _mallinfo().fordblks
        del tensor
        assert _mallinfo().fordblks - free >= 64 * MIB  # kept in the heap for the next one
        with heap.returning_freed_memory():  # the kept memory handed back: a new tensor is resident anew
            resident = _resident()
            tensor = torch.empty(64 * MIB // 4).fill_(1.0)
            assert _resident() - resident >= 60 * MIB
            del tensor
        tensor = torch.empty(64 * MIB // 4)
        assert _mallinfo().hblkhd - mapped < MIB  # kept again after the measurement
        del tensor
    finally:
        heap._keeping = False
        heap._set(heap.DEFAULTS)


def test_running_on_the_cpu_keeps_freed_memory(monkeypatch):
    from lumamba_bench.harness.compute import apply

    calls = []
    monkeypatch.setattr("lumamba_bench.harness.compute.keep_freed_memory", lambda: calls.append(1))
    apply("cpu", "fp32", "auto")
    assert calls == [1]
