"""The selective scan as a compiled CPU kernel (numba), forward and backward.

The kernels do the recurrence h_t = exp(delta_t A) h_{t-1} + delta_t u_t B_t, y_t = C_t . h_t,
one (batch, channel) row per step of a parallel loop with the row's state (N numbers) in
registers; the element-wise parts around it (delta's bias and softplus, the D skip, the z gate
and their gradients) are compiled passes of their own (``scan_numba_parts.py``). Nothing of
size (B, D, L, N) is kept between the passes: the backward recomputes a row's states into a
scratch of (L, N) per worker, then runs the adjoint recurrence in reverse time. Rows run in
parallel on ``torch.get_num_threads()`` threads; in the backward, each worker owns a group of
channels and its own partial dB and dC (summed afterwards), so no two workers write one place.

Compiled functions are cached on disk (numba's ``cache=True``): a second process loads them.
``scan.py`` dispatches here on the CPU; ``selective_scan_ref`` is the step loop the tests hold
it to.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

from lumamba_bench.models import scan_numba_parts as parts
from lumamba_bench.models.numba_math import FASTMATH, threads, vexp, zero


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def _forward(u, dt, A, Bt, Ct, y):  # noqa: N803 - the paper's names
    """y[b, d, t] = C_t . h_t, h_t = exp(dt_t A_d) h_{t-1} + dt_t u_t B_t, one row per worker step."""
    batch, dim, length = u.shape
    state = A.shape[1]
    for row in numba.prange(batch * dim):
        b, d = row // dim, row % dim
        h = np.zeros(state, dtype=u.dtype)
        for t in range(length):
            step = dt[b, d, t]
            du = step * u[b, d, t]
            out = zero(step)
            for n in range(state):
                h[n] = vexp(step * A[d, n]) * h[n] + du * Bt[b, t, n]
                out += Ct[b, t, n] * h[n]
            y[b, d, t] = out


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH)
def _backward(u, dt, A, Bt, Ct, gy, groups, grad_u, grad_dt, y, grad_A_rows, grad_Bt_parts, grad_Ct_parts):  # noqa: N803
    """The adjoint of ``_forward`` given dL/dy (``gy``): dL/du, dL/d(dt), y itself (for the gate's
    gradient), dA per row, and dB, dC per channel group (each worker sums its own)."""
    batch, dim, length = u.shape
    state = A.shape[1]
    per_group = (dim + groups - 1) // groups
    for job in numba.prange(batch * groups):
        b, group = job // groups, job % groups
        # Scratch of one row: states[t + 1] = h_t (states[0] = h_-1 = 0), decays[t] = exp(dt_t A)
        # (decays[L] = 0: nothing flows back from beyond the end). No branch in the loops over n.
        states = np.zeros((length + 1, state), dtype=u.dtype)
        decays = np.zeros((length + 1, state), dtype=u.dtype)
        h = np.empty(state, dtype=u.dtype)  # h_t, carried forwards in the recomputation
        decay = np.empty(state, dtype=u.dtype)
        g = np.empty(state, dtype=u.dtype)  # dL/dh_t, carried backwards
        grad_A = np.empty(state)  # float64 sums over the sequence
        grad_Bt, grad_Ct = grad_Bt_parts[group, b], grad_Ct_parts[group, b]
        for d in range(group * per_group, min(dim, (group + 1) * per_group)):
            h[:] = 0.0
            for t in range(length):  # the forward again: states and decays into the scratch
                step = dt[b, d, t]
                du = step * u[b, d, t]
                for n in range(state):  # as in _forward, on small arrays (2.2x faster than on the scratch)
                    decay[n] = vexp(step * A[d, n])
                    h[n] = decay[n] * h[n] + du * Bt[b, t, n]
                for n in range(state):
                    decays[t, n] = decay[n]
                    states[t + 1, n] = h[n]
            g[:] = 0.0
            grad_A[:] = 0.0
            for t in range(length - 1, -1, -1):
                step, ut, gyt = dt[b, d, t], u[b, d, t], gy[b, d, t]
                out = zero(step)
                g_dot_B = zero(step)
                through_decay = zero(step)  # sum over n of dL/d(dt_t A_n) A_n
                dtu = step * ut
                # Three short loops, not one: each touches few arrays, so each vectorises.
                for n in range(state):
                    g[n] = g[n] * decays[t + 1, n] + gyt * Ct[b, t, n]  # g_t = gy_t C_t + a_{t+1} g_{t+1}
                for n in range(state):
                    grad_Ct[t, n] += gyt * states[t + 1, n]
                    grad_Bt[t, n] += g[n] * dtu
                for n in range(state):
                    out += Ct[b, t, n] * states[t + 1, n]
                    g_dot_B += g[n] * Bt[b, t, n]
                    x = g[n] * states[t, n] * decays[t, n]  # d/d(dt_t A_n) of exp(dt_t A_n) h_{t-1}
                    through_decay += x * A[d, n]
                    grad_A[n] += x * step
                y[b, d, t] = out
                grad_u[b, d, t] = step * g_dot_B
                grad_dt[b, d, t] = through_decay + ut * g_dot_B
            grad_A_rows[b, d] = grad_A


class NumbaScan(torch.autograd.Function):
    """``selective_scan_fn`` on CPU tensors of one dtype (float32 or float64). The kernels do the
    recurrence (O(B D L N)); the O(B D L) parts around it are four compiled passes
    (``scan_numba_parts``), vectorised along time, as evaluating them one scalar at a time inside
    the recurrence's loop was slower. Only the inputs are kept for the backward pass."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, softplus):  # noqa: N803
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias)
        ctx.softplus = softplus
        u, delta, z = _dense(u, delta, z)
        dt, y, out = torch.empty_like(u), torch.empty_like(u), torch.empty_like(u)
        threads()
        parts.discretise(delta.numpy(), _per_channel(delta_bias, u), softplus, dt.numpy())
        _forward(*_arrays(u, dt, A, B, C), y.numpy())
        parts.finish(y.numpy(), u.numpy(), _per_channel(D, u), (y if z is None else z).numpy(), z is not None,
                     out.numpy())  # fmt: skip
        return out

    @staticmethod
    def backward(ctx, grad_out):
        with torch.autocast("cpu", enabled=False):
            return NumbaScan._backward(ctx, grad_out)

    @staticmethod
    def _backward(ctx, grad_out):
        u, delta, A, B, C, D, z, delta_bias = ctx.saved_tensors
        batch, dim, length = u.shape
        state = A.shape[1]
        u, delta, z, grad_out = _dense(u, delta, z, grad_out.to(u.dtype))
        bias, skip = _per_channel(delta_bias, u), _per_channel(D, u)
        threads()
        dt = torch.empty_like(u)
        parts.discretise(delta.numpy(), bias, ctx.softplus, dt.numpy())
        gy = grad_out
        if z is not None:  # dL/d(y + u D), through the gate
            gy = torch.empty_like(u)
            parts.gate(grad_out.numpy(), z.numpy(), gy.numpy())
        groups = min(dim, max(1, math.ceil(4 * torch.get_num_threads() / batch)))  # >= 4 jobs a thread
        grad_u, grad_dt, y = torch.empty_like(u), torch.empty_like(u), torch.empty_like(u)
        grad_A_rows = torch.empty(batch, dim, state, dtype=torch.float64)
        partial = torch.zeros(2, groups, batch, length, state, dtype=u.dtype)  # dB, dC per channel group
        _backward(*_arrays(u, dt, A, B, C), gy.numpy(), groups, grad_u.numpy(), grad_dt.numpy(),
                  y.numpy(), grad_A_rows.numpy(), partial[0].numpy(), partial[1].numpy())  # fmt: skip
        grad_B, grad_C = partial.sum(1).transpose(2, 3)  # (B, N, L) each
        grad_z, grad_delta = torch.empty_like(u) if z is not None else None, torch.empty_like(u)
        rows = torch.empty(2, batch, dim, dtype=u.dtype)  # per (b, d): sums for dD and d(bias)
        parts.outer_gradients(
            grad_out.numpy(), gy.numpy(), y.numpy(), grad_u.numpy(), grad_dt.numpy(), u.numpy(), skip,
            (y if z is None else z).numpy(), delta.numpy(), bias, ctx.softplus, z is not None,
            (y if grad_z is None else grad_z).numpy(), grad_delta.numpy(), rows[0].numpy(), rows[1].numpy(),
        )  # fmt: skip
        grad_D = rows[0].sum(0).to(D.dtype) if D is not None else None
        grad_bias = rows[1].sum(0).to(delta_bias.dtype) if delta_bias is not None else None
        return grad_u, grad_delta, grad_A_rows.sum(0).to(A.dtype), grad_B, grad_C, grad_D, grad_z, grad_bias, None


def _dense(*tensors):
    """Contiguous (B, D, L) tensors (delta, z and the output's gradient arrive as transposed views
    of the Linear layers' (B, L, D) outputs)."""
    return [None if t is None else t.detach().contiguous() for t in tensors]


def _per_channel(tensor, like: torch.Tensor):
    """A (D,) parameter as the passes take it: zeros where it is absent."""
    values = torch.zeros(like.shape[1], dtype=like.dtype) if tensor is None else tensor.detach().to(like.dtype)
    return values.contiguous().numpy()


def _arrays(u, dt, A, B, C):  # noqa: N803
    """The kernels' arguments: (B, D, L) rows, B and C position-major (B, L, N)."""
    return (
        u.detach().contiguous().numpy(), dt.detach().contiguous().numpy(), A.detach().contiguous().numpy(),
        B.detach().transpose(1, 2).contiguous().numpy(), C.detach().transpose(1, 2).contiguous().numpy(),
    )  # fmt: skip


def selective_scan_numba(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):  # noqa: N803
    """The compiled scan; half-precision inputs are computed in float32, as mamba-ssm's reference does."""
    dtype = u.dtype
    work = torch.float64 if dtype == torch.float64 else torch.float32
    tensors = [None if t is None else t.to(work) for t in (u, delta, A, B, C, D, z, delta_bias)]
    with torch.autocast("cpu", enabled=False):
        return NumbaScan.apply(*tensors, bool(delta_softplus)).to(dtype)
