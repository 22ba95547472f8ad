"""The selective scan of Mamba (Gu & Dao 2023, Algorithm 2), three ways.

``selective_scan`` dispatches to mamba-ssm's fused CUDA kernel when it is installed and the
tensors are on a GPU (``--scan-backend auto``), or to the one a user demands
(``set_scan_backend``: demanding the kernel where it cannot run is an error, never a silent
fallback; a GPU run without the kernel under ``auto`` says so once). Otherwise it runs
``selective_scan_chunked``, a pure-PyTorch two-level
scan: the sequence is cut into ~sqrt(L) chunks, all chunks are scanned at once (a loop over the
~sqrt(L) positions of a chunk), then chunk states are carried forward (a loop over chunks). It
does O(L) work in O(sqrt L) vectorised steps, uses only products of decays <= 1 (nothing can
overflow), and has its own backward (the same scan in reverse time), so autograd stores two
(B, D, L, N) tensors instead of a graph per step. ``selective_scan_ref`` is the step-by-step
recurrence, written from the definition, that the tests hold the fast paths to.

Arguments and shapes follow ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``:
u, delta, z: (B, D, L); A: (D, N); B, C: (B, N, L); D, delta_bias: (D,). Returns (B, D, L).
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

from lumamba_bench.errors import LumambaError

BACKENDS = ("auto", "mamba-ssm", "chunked")


def _load_kernel():
    """mamba-ssm's scan, imported narrowly: the compiled extension first (an ABI mismatch or a
    build without the kernel shows here, with its cause), then the Python wrapper."""
    try:
        import selective_scan_cuda  # noqa: F401 - the compiled kernel itself
    except ImportError as error:
        return None, f"mamba-ssm's compiled kernel (selective_scan_cuda) cannot be imported: {error}"
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError as error:
        return None, f"mamba_ssm cannot be imported: {error}"
    return selective_scan_fn, None


_mamba_ssm_scan, KERNEL_ERROR = _load_kernel()
_requested = "auto"
_warned = False


def mamba_ssm_available() -> bool:
    return _mamba_ssm_scan is not None


def set_scan_backend(name: str) -> None:
    """``auto``: the kernel for CUDA tensors when it imports, else chunked; ``mamba-ssm``: the kernel
    or an error saying why not; ``chunked``: the PyTorch scan everywhere."""
    global _requested
    if name not in BACKENDS:
        raise LumambaError(f"unknown scan backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "mamba-ssm" and _mamba_ssm_scan is None:
        raise LumambaError(f"--scan-backend mamba-ssm: {KERNEL_ERROR}")
    _requested = name


def scan_backend(device: torch.device | str) -> str:
    """The backend ``selective_scan`` runs for tensors on ``device``."""
    on_cuda = torch.device(device).type == "cuda"
    if _requested == "mamba-ssm" and not on_cuda:
        raise LumambaError("--scan-backend mamba-ssm: the kernel runs on CUDA tensors; this run is on the CPU")
    if _requested == "chunked" or not on_cuda or _mamba_ssm_scan is None:
        return "chunked"
    return "mamba-ssm"


def scan_report(device: torch.device | str) -> dict:
    """What results files, checkpoint cards and profiles record about the scan."""
    return {"requested": _requested, "used": scan_backend(device), "kernel_error": KERNEL_ERROR}


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
    dtype = u.dtype
    u, delta, A, B, C, D, z, delta_bias = _upcast(u, delta, A, B, C, D, z, delta_bias)
    log_decay, drive = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    decay = torch.exp(log_decay)
    state = torch.zeros_like(drive[:, :, 0])  # (B, D, N)
    outputs = []
    for t in range(u.shape[-1]):
        state = decay[:, :, t] * state + drive[:, :, t]
        outputs.append(torch.einsum("bdn,bn->bd", state, C[:, :, t]))
    y = torch.stack(outputs, dim=-1) if outputs else torch.zeros_like(u)
    return _finish(y, u, D, z).to(dtype)


def _linear_scan(a: torch.Tensor, b: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t along dim 2 of (B, D, L, N) tensors, h_{-1} = 0; no autograd.

    Two levels, O(L) work and O(sqrt L) Python steps: the sequence is cut into chunks of ``chunk``
    positions (default ceil(sqrt L)); a loop over the positions inside a chunk scans every chunk
    at once, then a loop over the chunks carries each chunk's last state into the next one.
    """
    batch, dim, length, state = b.shape
    size = chunk or _chunk_length(length)
    count = math.ceil(length / size)
    pad = count * size - length
    if pad:
        a = F.pad(a, (0, 0, 0, pad), value=1.0)
        b = F.pad(b, (0, 0, 0, pad))
    a = a.reshape(batch, dim, count, size, state)
    h = b.reshape(batch, dim, count, size, state).clone()
    decay = a.clone()  # running product of a inside each chunk
    for t in range(1, size):
        h[:, :, :, t].addcmul_(a[:, :, :, t], h[:, :, :, t - 1])
        decay[:, :, :, t].mul_(decay[:, :, :, t - 1])
    for k in range(1, count):
        h[:, :, k].addcmul_(decay[:, :, k], h[:, :, k - 1, -1:])
    return h.reshape(batch, dim, count * size, state)[:, :, :length]


def _chunk_length(length: int) -> int:
    """~sqrt(L), preferring a divisor of L (up to 2 sqrt L) so that no padding copy is needed."""
    root = max(1, math.ceil(math.sqrt(length)))
    for size in range(root, 2 * root + 1):
        if length % size == 0:
            return size
    return root


class _LinearScan(torch.autograd.Function):
    """Autograd for the linear recurrence: the backward pass is the same scan, run in reverse."""

    @staticmethod
    def forward(ctx, a, b, chunk):
        h = _linear_scan(a, b, chunk)
        ctx.save_for_backward(a, h)
        ctx.chunk = chunk
        return h

    @staticmethod
    def backward(ctx, grad_h):
        a, h = ctx.saved_tensors
        # g_t = dL/dh_t (total) = grad_h_t + a_{t+1} g_{t+1}: a scan backwards in time.
        a_next = F.pad(a[:, :, 1:], (0, 0, 0, 1))
        g = _linear_scan(a_next.flip(2), grad_h.contiguous().flip(2), ctx.chunk).flip(2)
        h_prev = F.pad(h[:, :, :-1], (0, 0, 1, 0))
        return g * h_prev, g, None


def _upcast(*tensors):
    """Half-precision inputs (bf16 autocast) are computed in float32, as mamba-ssm's reference does."""
    return [t.float() if t is not None and t.dtype in (torch.bfloat16, torch.float16) else t for t in tensors]


def selective_scan_chunked(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, chunk_size: int | None = None
):
    """Pure-PyTorch chunked scan: O(L) work, O(sqrt L) Python steps, exact (no log-space tricks).
    The output has u's dtype; half-precision inputs are computed in float32."""
    dtype = u.dtype
    u, delta, A, B, C, D, z, delta_bias = _upcast(u, delta, A, B, C, D, z, delta_bias)
    log_decay, drive = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    states = _LinearScan.apply(torch.exp(log_decay), drive, chunk_size)
    y = torch.einsum("bdln,bnl->bdl", states, C)
    return _finish(y, u, D, z).to(dtype)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """The chosen scan (``set_scan_backend``): mamba-ssm's kernel on CUDA, else the chunked scan."""
    global _warned
    if scan_backend(u.device) == "mamba-ssm":
        return _mamba_ssm_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    if u.is_cuda and _requested == "auto" and not _warned:
        _warned = True
        warnings.warn(f"{KERNEL_ERROR}; the chunked PyTorch scan runs on the GPU instead", stacklevel=2)
    return selective_scan_chunked(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
