"""Mamba's inference pass on the CPU, fused in position-major layout (numba).

The training path (``Mamba.forward`` with gradients) transposes between the Linear layers'
(B, L, D) layout and the convolution's and scan's (B, D, L) one, and keeps what its backward
pass needs. Inference needs none of that, so here two kernels work on the Linear layers' own
layout, vectorised across channels: the causal depthwise convolution with its SiLU, and the
scan with delta's bias and softplus, the D skip and the SiLU gate folded into its time loop. No
tensor is transposed or copied between ``in_proj`` and ``out_proj``. This is what mamba-ssm's
``mamba_inner_fn`` does on CUDA; the tests hold it to the unfused path and the step loop.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
import torch.nn.functional as F

from lumamba_bench.models.numba_math import FASTMATH, threads, vexp, vsilu, vsoftplus, zero

WIDTH = 32  # channels a worker carries at once (measured: 16 ran 1.1x, 8 5x slower at 60 s)


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def _conv_silu(xz, weight, bias, u):
    """u[b, t, d] = silu(bias[d] + sum_k weight[k, d] xz[b, t - K + 1 + k, d]) for d < D: the
    causal depthwise convolution on the first half of ``in_proj``'s output."""
    batch, length, dim = u.shape
    width = weight.shape[0]
    for row in numba.prange(batch * length):
        b, t = row // length, row % length
        out = u[b, t]
        out[:] = bias
        for k in range(max(0, width - 1 - t), width):
            source = xz[b, t - width + 1 + k]
            taps = weight[k]
            for d in range(dim):
                out[d] += taps[d] * source[d]
        for d in range(dim):
            out[d] = vsilu(out[d])


@numba.njit(inline="always", fastmath=FASTMATH)
def _scan_block(u, delta, delta_bias, A_t, Bt, Ct, skip, xz, y, b, first, lanes):  # noqa: N803
    """``lanes`` channels from ``first`` of batch element ``b``; inlined, so a constant ``lanes``
    gives loops of known length, which LLVM vectorises across the channels."""
    length, dim = u.shape[1], u.shape[2]
    state = A_t.shape[0]
    h = np.zeros((state, lanes), dtype=u.dtype)
    decay_rates = np.empty((state, lanes), dtype=u.dtype)  # A, this block's columns
    for n in range(state):
        for j in range(lanes):
            decay_rates[n, j] = A_t[n, first + j]
    step = np.empty(lanes, dtype=u.dtype)
    drive = np.empty(lanes, dtype=u.dtype)
    out = np.empty(lanes, dtype=u.dtype)
    for t in range(length):
        for j in range(lanes):
            x = delta[b, t, first + j] + delta_bias[first + j]
            step[j] = vsoftplus(x)
            drive[j] = step[j] * u[b, t, first + j]
            out[j] = zero(x)
        for n in range(state):
            bn, cn = Bt[b, t, n], Ct[b, t, n]
            for j in range(lanes):
                h[n, j] = vexp(step[j] * decay_rates[n, j]) * h[n, j] + drive[j] * bn
                out[j] += cn * h[n, j]
        for j in range(lanes):
            z = xz[b, t, dim + first + j]
            y[b, t, first + j] = (out[j] + skip[first + j] * u[b, t, first + j]) * vsilu(z)


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def _gated_scan(u, delta, delta_bias, A_t, Bt, Ct, skip, xz, y):  # noqa: N803 - the paper's names
    """y = (C_t . h_t + skip u_t) silu(z_t), h_t = exp(dt_t A) h_{t-1} + dt_t u_t B_t with
    dt = softplus(delta + bias); every array position-major, z the second half of ``xz``.
    Blocks of ``WIDTH`` channels run in parallel; the last, narrower block if any, alone."""
    batch, dim = u.shape[0], u.shape[2]
    full = dim // WIDTH
    for job in numba.prange(batch * full):
        _scan_block(u, delta, delta_bias, A_t, Bt, Ct, skip, xz, y, job // full, (job % full) * WIDTH, WIDTH)
    if dim % WIDTH:
        for b in numba.prange(batch):
            _scan_block(u, delta, delta_bias, A_t, Bt, Ct, skip, xz, y, b, full * WIDTH, dim % WIDTH)


def mamba_inference(mamba, x: torch.Tensor) -> torch.Tensor:
    """``mamba(x)`` without gradients, x: (B, L, d_model) float32 or float64 on the CPU."""
    dim, state = mamba.d_inner, mamba.d_state
    dtype = x.dtype
    xz = mamba.in_proj(x).contiguous()  # (B, L, 2 d_inner): u's input, then the gate z
    batch, length, _ = xz.shape
    u = torch.empty(batch, length, dim, dtype=dtype)
    threads()
    conv = mamba.conv1d
    _conv_silu(xz.numpy(), _array(conv.weight[:, 0, :].T, dtype), _array(conv.bias, dtype), u.numpy())
    step, B, C = mamba.x_proj(u).split([mamba.dt_rank, state, state], dim=-1)
    delta = F.linear(step, mamba.dt_proj.weight).contiguous()  # the bias is added in the kernel
    y = torch.empty_like(u)
    _gated_scan(
        u.numpy(), delta.numpy(), _array(mamba.dt_proj.bias, dtype), _array(-torch.exp(mamba.A_log.float()).T, dtype),
        _array(B, dtype), _array(C, dtype), _array(mamba.D, dtype), xz.numpy(), y.numpy(),
    )  # fmt: skip
    return mamba.out_proj(y)


def _array(tensor: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    return tensor.detach().to(dtype).contiguous().numpy()
