"""The element-wise parts around the numba scan (delta's bias and softplus, the D skip, the SiLU
gate and their gradients), each one compiled pass over (B, D, L) rows vectorised along time.

In a training step these O(B D L) parts stream tensors through memory; as torch operations they
took about a dozen passes (the largest cost of LuMamba's step at 60 s). Here they are four:
delta's step and the output's finish forward, the gate and the outer gradients backward. The
tests hold them, through ``NumbaScan``, to the step loop with every optional part on and off.
"""

from __future__ import annotations

import numba

from lumamba_bench.models.numba_math import FASTMATH, vsigmoid, vsoftplus, zero


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def discretise(delta, bias, softplus, dt):
    """dt = softplus(delta + bias), or delta + bias without the softplus."""
    batch, dim, length = delta.shape
    for row in numba.prange(batch * dim):
        b, d = row // dim, row % dim
        if softplus:
            for t in range(length):
                dt[b, d, t] = vsoftplus(delta[b, d, t] + bias[d])
        else:
            for t in range(length):
                dt[b, d, t] = delta[b, d, t] + bias[d]


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def finish(y, u, skip, z, gated, out):
    """out = (y + skip u) silu(z), or y + skip u without the gate."""
    batch, dim, length = y.shape
    for row in numba.prange(batch * dim):
        b, d = row // dim, row % dim
        if gated:
            for t in range(length):
                out[b, d, t] = (y[b, d, t] + skip[d] * u[b, d, t]) * z[b, d, t] * vsigmoid(z[b, d, t])
        else:
            for t in range(length):
                out[b, d, t] = y[b, d, t] + skip[d] * u[b, d, t]


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def gate(grad_out, z, gy):
    """dL/d(y + skip u) = dL/d(out) silu(z)."""
    batch, dim, length = grad_out.shape
    for row in numba.prange(batch * dim):
        b, d = row // dim, row % dim
        for t in range(length):
            gy[b, d, t] = grad_out[b, d, t] * z[b, d, t] * vsigmoid(z[b, d, t])


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def outer_gradients(grad_out, gy, y, grad_u, grad_dt, u, skip, z, delta, bias, softplus, gated, grad_z,
                    grad_delta, skip_rows, bias_rows):  # fmt: skip
    """Given the recurrence's dL/du and dL/d(dt) (``grad_u`` is completed in place): dL/dz, dL/d(delta),
    and per row the sums that make dL/d(skip) and dL/d(bias)."""
    batch, dim, length = u.shape
    for row in numba.prange(batch * dim):
        b, d = row // dim, row % dim
        to_skip, to_bias = zero(u[b, d, 0]), zero(u[b, d, 0])
        for t in range(length):
            grad_u[b, d, t] += gy[b, d, t] * skip[d]
            to_skip += gy[b, d, t] * u[b, d, t]
        if gated:
            for t in range(length):
                zt = z[b, d, t]
                s = vsigmoid(zt)
                grad_z[b, d, t] = grad_out[b, d, t] * (y[b, d, t] + skip[d] * u[b, d, t]) * s * (1 + zt * (1 - s))
        if softplus:
            for t in range(length):
                x = delta[b, d, t] + bias[d]
                slope = vsigmoid(x)
                grad_delta[b, d, t] = grad_dt[b, d, t] * (slope + (x > 20) * (1 - slope))  # 1 where softplus is x
                to_bias += grad_delta[b, d, t]
        else:
            for t in range(length):
                grad_delta[b, d, t] = grad_dt[b, d, t]
                to_bias += grad_dt[b, d, t]
        skip_rows[b, d] = to_skip
        bias_rows[b, d] = to_bias
