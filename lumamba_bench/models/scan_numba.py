"""The selective scan as a compiled CPU kernel (numba), forward and backward.

The kernels do the recurrence h_t = exp(delta_t A) h_{t-1} + delta_t u_t B_t, y_t = C_t . h_t,
one (batch, channel) row per step of a parallel loop with the row's state (N numbers) in
registers; the element-wise parts around it (delta's bias and softplus, the D skip, the z gate
and their gradients) are torch's vectorised passes, shared with the chunked scan
(``scan_parts.py``). Nothing of size (B, D, L, N) is kept between the passes: the backward
recomputes a row's states into a scratch of (L, N) per worker, then runs the adjoint recurrence
in reverse time. Rows run in parallel on ``torch.get_num_threads()`` threads; in the backward,
each worker owns a group of channels and its own partial dB and dC (summed afterwards), so no
two workers write one place.

Compiled functions are cached on disk (numba's ``cache=True``): a second process loads them.
``scan.py`` dispatches here on the CPU; ``selective_scan_ref`` is the step loop the tests hold
it to.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from lumamba_bench.models.scan_parts import discretisation_step, finish, gated, outer_gradients

# Reassociation lets LLVM vectorise the sums over the state; no assumption that values are finite.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
LOG2E, LN2_HI, LN2_LO = 1.44269504088896341, 0.693359375, -2.12194440e-4
EXPF = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)


def vexp(x):
    """exp, in a form LLVM can vectorise for float32 (see its overload); math.exp for float64."""
    return math.exp(x)


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float32 whose IEEE bits are ``bits`` (an int32): 2**k is ``(k + 127) << 23``."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@overload(vexp, inline="always")
def _vexp(x):
    if x != types.float32:
        return lambda x: math.exp(x)

    def expf(x):
        """Cephes' expf: x = k ln2 + r with |r| <= ln2 / 2, exp(r) by its degree-7 polynomial,
        times 2**k from the exponent bits (within 2 ulp; 0 below the smallest normal float)."""
        clamped = min(max(x, np.float32(-87.3)), np.float32(88.3))
        k = np.floor(clamped * np.float32(LOG2E) + np.float32(0.5))
        r = clamped - k * np.float32(LN2_HI) - k * np.float32(LN2_LO)
        p = np.float32(EXPF[0]) * r + np.float32(EXPF[1])  # Horner, written out: no loop inside the caller's
        p = p * r + np.float32(EXPF[2])
        p = p * r + np.float32(EXPF[3])
        p = p * r + np.float32(EXPF[4])
        p = p * r + np.float32(EXPF[5])
        p = p * r * r + r + np.float32(1.0)
        scaled = p * _float_from_bits(np.int32((np.int32(k) + np.int32(127)) << np.int32(23)))
        return scaled * np.float32(x >= np.float32(-87.3))  # a product, not a branch: it inlines anywhere

    return expf


LOGF = (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
        -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1)


def vlog1p(x):
    """log(1 + x) for 0 <= x <= 1, vectorisable for float32 (see its overload); math.log1p else."""
    return math.log1p(x)


@overload(vlog1p, inline="always")
def _vlog1p(x):
    if x != types.float32:
        return lambda x: math.log1p(x)

    def log1pf(x):
        """Cephes' logf polynomial on log(1 + m), |m| <= sqrt(2) - 1: m = x below sqrt(2) - 1
        (exact for small x, where 1 + x would round), else 1 + x = 2 (1 + m) with m = (x - 1) / 2."""
        k = np.float32(x > np.float32(0.41421356))  # 1 or 0, chosen without a branch
        m = x + k * ((x - np.float32(1.0)) * np.float32(0.5) - x)
        p = np.float32(LOGF[0]) * m + np.float32(LOGF[1])  # Horner, written out (as in expf)
        p = p * m + np.float32(LOGF[2])
        p = p * m + np.float32(LOGF[3])
        p = p * m + np.float32(LOGF[4])
        p = p * m + np.float32(LOGF[5])
        p = p * m + np.float32(LOGF[6])
        p = p * m + np.float32(LOGF[7])
        p = p * m + np.float32(LOGF[8])
        z = m * m
        return m + (p * m * z - np.float32(0.5) * z + k * np.float32(LN2_LO)) + k * np.float32(LN2_HI)

    return log1pf


def zero(x):
    return 0.0


@overload(zero, inline="always")
def _zero(x):
    """A zero of ``x``'s type: sums in float32 stay float32."""
    if x == types.float32:
        return lambda x: np.float32(0.0)
    return lambda x: 0.0


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


def threads() -> None:
    """numba's pool follows torch's thread count (the ``--threads`` a run was given)."""
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


class NumbaScan(torch.autograd.Function):
    """``selective_scan_fn`` on CPU tensors of one dtype (float32 or float64). The kernels do the
    recurrence (O(B D L N)); the O(B D L) parts around it (delta's bias and softplus, the D skip,
    the z gate and their gradients) are torch's vectorised element-wise operations, which cost
    less than the same functions evaluated one scalar at a time inside the loop. Only the inputs
    are kept for the backward pass."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, softplus):  # noqa: N803
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias)
        ctx.softplus = softplus
        dt, _ = discretisation_step(delta, delta_bias, softplus)
        y = torch.empty_like(u, memory_format=torch.contiguous_format)
        threads()
        _forward(*_arrays(u, dt, A, B, C), y.numpy())
        return finish(y, u, D, z)

    @staticmethod
    def backward(ctx, grad_out):
        with torch.autocast("cpu", enabled=False):
            return NumbaScan._backward(ctx, grad_out)

    @staticmethod
    def _backward(ctx, grad_out):
        u, delta, A, B, C, D, z, delta_bias = ctx.saved_tensors
        batch, dim, length = u.shape
        state = A.shape[1]
        grad_out = grad_out.to(u.dtype)
        dt, before = discretisation_step(delta, delta_bias, ctx.softplus)
        gy = gated(grad_out, z)  # dL/d(y + u D)
        threads()
        groups = min(dim, max(1, math.ceil(4 * torch.get_num_threads() / batch)))  # >= 4 jobs a thread
        grad_u, grad_dt, y = torch.empty_like(u), torch.empty_like(u), torch.empty_like(u)
        grad_A_rows = torch.empty(batch, dim, state, dtype=torch.float64)
        parts = torch.zeros(2, groups, batch, length, state, dtype=u.dtype)  # dB, dC per channel group
        _backward(*_arrays(u, dt, A, B, C), gy.contiguous().numpy(), groups, grad_u.numpy(), grad_dt.numpy(),
                  y.numpy(), grad_A_rows.numpy(), parts[0].numpy(), parts[1].numpy())  # fmt: skip
        grad_B, grad_C = parts.sum(1).transpose(2, 3)  # (B, N, L) each
        grad_u, grad_delta, grad_D, grad_z, grad_bias = outer_gradients(
            grad_out, gy, y, grad_u, grad_dt, u, D, z, before, ctx.softplus, delta_bias is not None
        )
        return grad_u, grad_delta, grad_A_rows.sum(0).to(A.dtype), grad_B, grad_C, grad_D, grad_z, grad_bias, None


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
