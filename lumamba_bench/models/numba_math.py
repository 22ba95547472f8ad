"""Vectorisable float32 maths for the numba kernels (``exp``, ``log1p``, a typed zero) and their
thread count: shared by the scan, its element-wise parts and the fused inference pass."""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

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



def threads() -> None:
    """numba's pool follows torch's thread count (the ``--threads`` a run was given)."""
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


@numba.njit(inline="always", fastmath=FASTMATH)
def vsoftplus(x):
    """softplus without overflow, and x itself above 20, as torch and mamba-ssm."""
    smooth = max(x, zero(x)) + vlog1p(vexp(-abs(x)))
    return smooth + (x > 20) * (x - smooth)


@numba.njit(inline="always", fastmath=FASTMATH)
def vsigmoid(x):
    return 1 / (1 + vexp(-x))


@numba.njit(inline="always", fastmath=FASTMATH)
def vsilu(x):
    return x / (1 + vexp(-x))
