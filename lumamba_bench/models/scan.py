"""The selective scan of Mamba (Gu & Dao 2023, Algorithm 2), three ways.

``selective_scan`` dispatches to mamba-ssm's fused CUDA kernel when it is installed and the
tensors are on a GPU; otherwise it runs ``selective_scan_chunked``, a pure-PyTorch scan that
is parallel over time: inside a chunk a Hillis-Steele doubling scan (log2(chunk) vectorised
steps on products of decays <= 1, so nothing can overflow), and one carried state between
chunks. ``selective_scan_ref`` is the step-by-step recurrence, written from the definition, that
the tests hold the fast paths to.

Arguments and shapes follow ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``:
u, delta, z: (B, D, L); A: (D, N); B, C: (B, N, L); D, delta_bias: (D,). Returns (B, D, L).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

try:  # optional: the fused kernel (extra `cuda`)
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as _mamba_ssm_scan
except Exception:  # noqa: BLE001 - any import failure means "not available"
    _mamba_ssm_scan = None

DEFAULT_CHUNK = 256


def mamba_ssm_available() -> bool:
    return _mamba_ssm_scan is not None


def _prepare(u, delta, A, B, C, delta_bias, delta_softplus):
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    # Discretisation (zero-order hold for A, Euler for B, as in the reference kernel).
    log_decay = delta.unsqueeze(-1) * A[None, :, None, :]  # (B, D, L, N), <= 0 for A < 0
    drive = (delta * u).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(1)  # (B, D, L, N)
    return log_decay, drive


def _finish(y, u, D, z):
    if D is not None:
        y = y + u * D[None, :, None]
    if z is not None:
        y = y * F.silu(z)
    return y


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """The recurrence h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, y_t = C_t h_t, one step at a time."""
    log_decay, drive = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    decay = torch.exp(log_decay)
    state = torch.zeros_like(drive[:, :, 0])  # (B, D, N)
    outputs = []
    for t in range(u.shape[-1]):
        state = decay[:, :, t] * state + drive[:, :, t]
        outputs.append(torch.einsum("bdn,bn->bd", state, C[:, :, t]))
    y = torch.stack(outputs, dim=-1) if outputs else torch.zeros_like(u)
    return _finish(y, u, D, z)


def _doubling_scan(decay: torch.Tensor, drive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inclusive scan of h_t = a_t h_{t-1} + b_t along dim 2 (zero initial state).

    Returns (h, cumulative decay prod_{s<=t} a_s); log2(L) vectorised steps.
    """
    length, shift = decay.shape[2], 1
    while shift < length:
        # Combine each position with the partial result ``shift`` steps back.
        drive = torch.cat([drive[:, :, :shift], drive[:, :, shift:] + decay[:, :, shift:] * drive[:, :, :-shift]], 2)
        decay = torch.cat([decay[:, :, :shift], decay[:, :, shift:] * decay[:, :, :-shift]], 2)
        shift *= 2
    return drive, decay


def selective_scan_chunked(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, chunk_size: int = DEFAULT_CHUNK
):
    """Pure-PyTorch parallel scan: doubling inside chunks, a carried state across them."""
    log_decay, drive = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    decay = torch.exp(log_decay)
    outputs, carry = [], None
    for start in range(0, u.shape[-1], chunk_size):
        stop = min(start + chunk_size, u.shape[-1])
        states, cumulative = _doubling_scan(decay[:, :, start:stop], drive[:, :, start:stop])
        if carry is not None:
            states = states + cumulative * carry.unsqueeze(2)
        carry = states[:, :, -1]
        outputs.append(torch.einsum("bdln,bnl->bdl", states, C[:, :, start:stop]))
    y = torch.cat(outputs, dim=-1) if outputs else torch.zeros_like(u)
    return _finish(y, u, D, z)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """The fastest available scan: mamba-ssm's kernel on CUDA, else the chunked PyTorch scan."""
    if _mamba_ssm_scan is not None and u.is_cuda:
        return _mamba_ssm_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    return selective_scan_chunked(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
