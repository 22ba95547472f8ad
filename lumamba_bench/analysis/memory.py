"""Peak memory of one training step (forward + backward), measured, not estimated.

CUDA: ``torch.cuda.max_memory_allocated`` above what was allocated before the step.
CPU: the process's resident set. Linux keeps a high-water mark of it (``VmHWM``) that can be
reset (``/proc/self/clear_refs``, value 5); freed memory is handed back to the system first
(``malloc_trim``), so the mark rises by what the step itself needs. During the measured step
glibc maps every buffer of 1 MiB or more directly and unmaps it when freed (a fixed
``M_MMAP_THRESHOLD``): with glibc's default, moving threshold, freed buffers are kept in the heap
and the mark depends on the order of earlier allocations, not only on what the step holds, the
way CUDA's ``max_memory_allocated`` counts live tensors and not the caching allocator's reserve.
The threshold is set to glibc's own upper value (32 MiB) afterwards. The step runs twice and the
second is measured: one-time costs (thread pools, kernel caches) stay out of the figure.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from pathlib import Path

import torch

from lumamba_bench.errors import LumambaError

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def cpu_peak_supported() -> bool:
    return _STATUS.exists() and _CLEAR_REFS.exists()


def _status_bytes(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LumambaError(f"{_STATUS} has no {field}")


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def _glibc():
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def _release_free_memory() -> None:
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _map_buffers_from(threshold: int) -> None:
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, threshold)


def _training_step(encoder: torch.nn.Module, x: torch.Tensor, coords: torch.Tensor) -> None:
    encoder.zero_grad(set_to_none=True)
    encoder(x, coords).float().pow(2).mean().backward()


def peak_step_memory(encoder: torch.nn.Module, x: torch.Tensor, coords: torch.Tensor) -> int:
    """Bytes a forward + backward step of ``encoder`` on ``x`` needs above the resting state
    (weights and input resident), gradients included."""
    encoder.train()
    if x.is_cuda:
        _training_step(encoder, x, coords)  # warm-up: one-time allocations
        encoder.zero_grad(set_to_none=True)
        torch.cuda.synchronize(x.device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(x.device)
        base = torch.cuda.memory_allocated(x.device)
        _training_step(encoder, x, coords)
        torch.cuda.synchronize(x.device)
        peak = torch.cuda.max_memory_allocated(x.device) - base
    else:
        if not cpu_peak_supported():
            raise LumambaError("CPU peak memory needs Linux's /proc/self/clear_refs; use --device cuda")
        _map_buffers_from(128 * 2**10)
        try:
            _training_step(encoder, x, coords)  # warm-up: one-time allocations
            encoder.zero_grad(set_to_none=True)
            _release_free_memory()
            base = _status_bytes("VmRSS")
            _CLEAR_REFS.write_text("5")  # reset the high-water mark to the current RSS
            _training_step(encoder, x, coords)
            peak = _status_bytes("VmHWM") - base
        finally:
            _map_buffers_from(32 * 2**20)
    encoder.zero_grad(set_to_none=True)
    return max(0, peak)
