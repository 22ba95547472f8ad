"""Forward FLOPs of an encoder, counted the same way for every architecture.

Counting rules (a multiply-accumulate is 2 FLOPs throughout):

1. ``torch.utils.flop_counter.FlopCounterMode`` counts what it knows: matrix products
   (``mm``, ``addmm``, ``bmm``, ``baddbmm``, so also ``einsum`` and ``nn.Linear``) and
   convolutions, at 2 x MACs; fused attention kernels at 4 B H Lq Lk d (QK^T and AV).
2. Added here for what it does not see:
   - PyTorch's CPU fused attention (``_scaled_dot_product_flash_attention_for_cpu``): the same
     4 B H Lq Lk d as the GPU kernels, so CPU and GPU counts agree.
   - FFTs (LUNA's frequency pathway, LaBraM's resampling): 2.5 n log2 n per real transform of
     length n, 5 n log2 n per complex one (the usual radix-2 count).
   - The selective scan (Mamba): 9 B L D N (discretisation exp(delta A) and delta B u, the
     recurrence h = a h + b, the read-out C h; the convention of the Mamba and VMamba
     papers) plus B L D for the skip term D u and B L D for the gate, whatever backend runs it.
     What the counter saw inside the scan (the chunked scan's C h einsum) is replaced by this,
     so the count does not depend on the scan implementation.
3. Not counted, for every model alike (as in fvcore and the papers' tables): element-wise
   activations, normalisations, softmax outside fused attention, additions, data movement.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock

import torch
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten


def _prod(values) -> int:
    return math.prod(int(v) for v in values)


def _sdpa_cpu_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """(B, H, L, E) x (B, H, S, E) x (B, H, S, Ev): QK^T and AV."""
    *batch, length, dim = query
    source = key[-2]
    return 2 * _prod(batch) * length * source * (dim + value[-1])


def _fft_flops(shape, dims, real: bool) -> int:
    total = 0
    for dim in dims:
        n = int(shape[dim])
        if n > 1:
            per = (2.5 if real else 5.0) * n * math.log2(n)
            total += int(per * _prod(shape) / shape[dim])
    return total


def _fft_r2c_flops(self_shape, dim, *args, out_shape=None, **kwargs) -> int:
    return _fft_flops(self_shape, dim, real=True)


def _fft_c2r_flops(self_shape, dim, *args, out_shape=None, **kwargs) -> int:
    return _fft_flops(out_shape, dim, real=True)


def _fft_c2c_flops(self_shape, dim, *args, out_shape=None, **kwargs) -> int:
    return _fft_flops(self_shape, dim, real=False)


EXTRA_FORMULAS = {
    aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops,
    aten._fft_r2c: _fft_r2c_flops,
    aten._fft_c2r: _fft_c2r_flops,
    aten._fft_c2c: _fft_c2c_flops,
}


def selective_scan_flops(batch: int, length: int, inner: int, state: int, skip: bool = True, gate: bool = True) -> int:
    """9 B L D N for the scan itself, + B L D each for the D skip and the SiLU gate."""
    return 9 * batch * length * inner * state + (int(skip) + int(gate)) * batch * length * inner


@dataclass
class FlopCount:
    total: int
    counted: int  # by FlopCounterMode and the extra formulas, scan internals removed
    scan: int  # analytic selective-scan FLOPs


@contextmanager
def _analytic_scan(counter: FlopCounterMode, tally: dict):
    """Route Mamba's scan through a wrapper that books 9 B L D N (+ skip, gate) and removes what
    the counter saw inside the backend."""
    from lumamba_bench.models import mamba

    real = mamba.selective_scan

    def counted(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
        before = counter.get_total_flops()
        y = real(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
        tally["inside"] += counter.get_total_flops() - before
        batch, inner, length = u.shape
        tally["scan"] += selective_scan_flops(batch, length, inner, A.shape[1], D is not None, z is not None)
        return y

    # The fused inference pass (CPU, numba) does the same work in two kernels the counter cannot
    # see: it is turned off while counting, so every encoder is counted step by step.
    with mock.patch.object(mamba, "selective_scan", counted), mamba.step_by_step():
        yield


@contextmanager
def _frozen(module: torch.nn.Module):
    """No gradients anywhere (FlopCounterMode's module tracker trips on grad-requiring parameters
    under ``no_grad``), restored afterwards."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def count_forward_flops(encoder: torch.nn.Module, x: torch.Tensor, coords: torch.Tensor) -> FlopCount:
    """Forward FLOPs of ``encoder(x, coords)`` under the rules above (for the whole batch)."""
    tally = {"inside": 0, "scan": 0}
    counter = FlopCounterMode(display=False, custom_mapping=EXTRA_FORMULAS)
    with _frozen(encoder), counter, _analytic_scan(counter, tally):
        encoder(x, coords)
    counted = counter.get_total_flops() - tally["inside"]
    return FlopCount(total=counted + tally["scan"], counted=counted, scan=tally["scan"])
