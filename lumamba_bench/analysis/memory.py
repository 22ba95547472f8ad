"""Peak memory of one training step (forward + backward), measured, not estimated.

CUDA: ``torch.cuda.max_memory_allocated`` above what was allocated before the step.
CPU: the process's resident set. Linux keeps a high-water mark of it (``VmHWM``) that can be
reset (``/proc/self/clear_refs``, value 5); freed memory is handed back to the system first
(``malloc_trim``), so the mark rises by what the step itself needs. The step runs twice and the
second is measured: one-time costs (thread pools, kernel caches) stay out of the figure.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lumamba_bench.errors import LumambaError
from lumamba_bench.heap import release_free_memory, returning_freed_memory

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def cpu_peak_supported() -> bool:
    return _STATUS.exists() and _CLEAR_REFS.exists()


def _status_bytes(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LumambaError(f"{_STATUS} has no {field}")


def _training_step(encoder: torch.nn.Module, x: torch.Tensor, coords: torch.Tensor) -> None:
    encoder.zero_grad(set_to_none=True)
    encoder(x, coords).float().pow(2).mean().backward()


def peak_step_memory(encoder: torch.nn.Module, x: torch.Tensor, coords: torch.Tensor) -> int:
    """Bytes a forward + backward step of ``encoder`` on ``x`` needs above the resting state
    (weights and input resident), gradients included."""
    with returning_freed_memory():  # the resident set follows what is allocated
        return _peak_step_memory(encoder, x, coords)


def _peak_step_memory(encoder: torch.nn.Module, x: torch.Tensor, coords: torch.Tensor) -> int:
    encoder.train()
    _training_step(encoder, x, coords)  # warm-up: one-time allocations
    encoder.zero_grad(set_to_none=True)
    if x.is_cuda:
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
        release_free_memory()
        base = _status_bytes("VmRSS")
        _CLEAR_REFS.write_text("5")  # reset the high-water mark to the current RSS
        _training_step(encoder, x, coords)
        peak = _status_bytes("VmHWM") - base
    encoder.zero_grad(set_to_none=True)
    return max(0, peak)
