"""The element-wise parts of ``selective_scan_fn`` around the recurrence, as torch operations, for
the PyTorch scans (the chunked scan and the step-loop reference): delta's bias and softplus, the
D skip and the z gate, and their gradients given those of the recurrence. The numba scan has
its own compiled passes (``scan_numba_parts.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def upcast(*tensors):
    """Half-precision inputs (bf16 autocast) are computed in float32, as mamba-ssm's reference does."""
    return [t.float() if t is not None and t.dtype in (torch.bfloat16, torch.float16) else t for t in tensors]


def discretisation_step(delta, delta_bias, softplus):
    """delta as the scan uses it, and the input of the softplus (for its gradient)."""
    before = delta + delta_bias[None, :, None] if delta_bias is not None else delta
    return (F.softplus(before) if softplus else before), before


def finish(y, u, D, z):  # noqa: N803 - the paper's names
    """The recurrence's output y with the D skip and the z gate."""
    if D is not None:
        y = y + u * D[None, :, None]
    if z is not None:
        y = y * F.silu(z)
    return y


def gated(grad_out, z):
    """dL/d(y + u D) from dL/d(output): through the z gate."""
    return grad_out if z is None else grad_out * F.silu(z)


def outer_gradients(grad_out, grad_y, y, grad_u, grad_step, u, D, z, before, softplus, has_bias):  # noqa: N803
    """The inputs' gradients given the recurrence's: ``grad_y`` = dL/dy (``gated``), ``y`` its
    output, ``grad_u`` / ``grad_step`` dL/du and dL/d(delta as used) through it. Returns
    (du, ddelta, dD, dz, ddelta_bias), None for absent parts."""
    grad_D = grad_z = grad_bias = None
    if D is not None:
        grad_u = grad_u + grad_y * D[None, :, None]
        grad_D = (grad_y * u).sum((0, 2))
    if z is not None:
        skipped = y + u * D[None, :, None] if D is not None else y
        sig = torch.sigmoid(z)
        grad_z = grad_out * skipped * sig * (1 + z * (1 - sig))  # silu'(z)
    if softplus:
        grad_step = grad_step * torch.sigmoid(before)
    if has_bias:
        grad_bias = grad_step.sum((0, 2))
    return grad_u, grad_step, grad_D, grad_z, grad_bias
