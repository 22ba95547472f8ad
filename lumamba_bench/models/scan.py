"""The selective scan of Mamba (Gu & Dao 2023, Algorithm 2), four ways.

``selective_scan`` dispatches to mamba-ssm's fused CUDA kernel when it is installed and the
tensors are on a GPU, and to the compiled numba kernel (``models/scan_numba.py``) on the CPU
(``--scan-backend auto``), or to the one a user demands (``set_scan_backend``: demanding a kernel
where it cannot run is an error, never a silent fallback; a run whose kernel cannot load under
``auto`` says so once). Otherwise it runs ``selective_scan_chunked``, a pure-PyTorch two-level
scan: the sequence is cut into ~sqrt(L) chunks, all chunks are scanned at once (a loop over the
~sqrt(L) positions of a chunk), then chunk states are carried forward (a loop over chunks). It
does O(L) work in O(sqrt L) vectorised steps and uses only products of decays <= 1 (nothing can
overflow). Its backward is written by hand: it recomputes the states from the inputs (as
mamba-ssm's kernel does) and runs the same scan in reverse time, so nothing of size
(B, D, L, N) is kept between the passes. ``selective_scan_ref`` is the step-by-step recurrence,
written from the definition, that the tests hold the fast paths to.

Arguments and shapes follow ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``:
u, delta, z: (B, D, L); A: (D, N); B, C: (B, N, L); D, delta_bias: (D,). Returns (B, D, L).
"""

from __future__ import annotations

import math
import warnings

import torch

from lumamba_bench.errors import LumambaError
from lumamba_bench.models.scan_parts import discretisation_step, finish, gated, outer_gradients, upcast

BACKENDS = ("auto", "mamba-ssm", "numba", "chunked")


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


def _load_numba():
    """The compiled CPU scan, imported on first need (numba and LLVM take about 120 MiB of every
    process that imports them: a process that never scans on the CPU never pays); numba is a
    dependency, so failing to import it is said, not hidden."""
    global _numba_scan, NUMBA_ERROR, _numba_tried
    if not _numba_tried:
        _numba_tried = True
        try:
            from lumamba_bench.models.scan_numba import selective_scan_numba as _numba_scan
        except ImportError as error:
            NUMBA_ERROR = f"the numba CPU scan cannot be imported: {error}"
    return _numba_scan


_mamba_ssm_scan, KERNEL_ERROR = _load_kernel()
_numba_scan, NUMBA_ERROR, _numba_tried = None, None, False
_requested = "auto"
_warned: set[str] = set()


def mamba_ssm_available() -> bool:
    return _mamba_ssm_scan is not None


def numba_available() -> bool:
    return _load_numba() is not None


def set_scan_backend(name: str) -> None:
    """``auto``: mamba-ssm's kernel for CUDA tensors and numba's for CPU tensors, where each loads,
    else chunked; ``mamba-ssm`` / ``numba``: that kernel or an error saying why not; ``chunked``:
    the PyTorch scan everywhere."""
    global _requested
    if name not in BACKENDS:
        raise LumambaError(f"unknown scan backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "mamba-ssm" and _mamba_ssm_scan is None:
        raise LumambaError(f"--scan-backend mamba-ssm: {KERNEL_ERROR}")
    if name == "numba" and _load_numba() is None:
        raise LumambaError(f"--scan-backend numba: {NUMBA_ERROR}")
    _requested = name


def requested() -> str:
    """The backend ``set_scan_backend`` chose (``auto`` until one is chosen)."""
    return _requested


def scan_backend(device: torch.device | str) -> str:
    """The backend ``selective_scan`` runs for tensors on ``device``."""
    on_cuda = torch.device(device).type == "cuda"
    if _requested == "mamba-ssm" and not on_cuda:
        raise LumambaError("--scan-backend mamba-ssm: the kernel runs on CUDA tensors; this run is on the CPU")
    if _requested == "numba" and on_cuda:
        raise LumambaError("--scan-backend numba: the kernel runs on CPU tensors; this run is on a GPU")
    if _requested in ("chunked", "mamba-ssm", "numba"):
        return _requested
    if on_cuda:
        return "mamba-ssm" if _mamba_ssm_scan is not None else "chunked"
    return "numba" if _load_numba() is not None else "chunked"


def scan_report(device: torch.device | str) -> dict:
    """What results files, checkpoint cards and profiles record about the scan."""
    return {"requested": _requested, "used": scan_backend(device), "kernel_error": KERNEL_ERROR,
            "numba_error": None if _load_numba() is not None else NUMBA_ERROR}  # fmt: skip


def _prepare(u, delta, A, B, C, delta_bias, delta_softplus):
    delta, _ = discretisation_step(delta, delta_bias, delta_softplus)
    # Discretisation (zero-order hold for A, Euler for B, as in the reference kernel).
    log_decay = delta.unsqueeze(-1) * A[None, :, None, :]  # (B, D, L, N), <= 0 for A < 0
    drive = (delta * u).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(1)  # (B, D, L, N)
    return log_decay, drive


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """The recurrence h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, y_t = C_t h_t, one step at a time."""
    dtype = u.dtype
    u, delta, A, B, C, D, z, delta_bias = upcast(u, delta, A, B, C, D, z, delta_bias)
    log_decay, drive = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    decay = torch.exp(log_decay)
    state = torch.zeros_like(drive[:, :, 0])  # (B, D, N)
    outputs = []
    for t in range(u.shape[-1]):
        state = decay[:, :, t] * state + drive[:, :, t]
        outputs.append(torch.einsum("bdn,bn->bd", state, C[:, :, t]))
    y = torch.stack(outputs, dim=-1) if outputs else torch.zeros_like(u)
    return finish(y, u, D, z).to(dtype)


def _chunk_length(length: int) -> int:
    """~sqrt(L), preferring a divisor of L (up to 2 sqrt L) so that no padding is needed."""
    root = max(1, math.ceil(math.sqrt(length)))
    for size in range(root, 2 * root + 1):
        if length % size == 0:
            return size
    return root


def _scan_(a: torch.Tensor, h: torch.Tensor, reverse: bool = False) -> None:
    """In place, on (B, K, T, D, N) chunked views: h_t += a_t h_{t-1} along the sequence (reverse:
    h_t += a_t h_{t+1}); ``a`` becomes the running product inside each chunk. Two levels, O(L)
    work in ~2 sqrt(L) vectorised steps: a loop over the T positions scans all K chunks at once,
    then a loop over the chunks carries each chunk's boundary state into the next one. Positions
    are the outer dimension, so every step touches contiguous (D, N) blocks."""
    count, size = h.shape[1], h.shape[2]
    positions = range(size - 2, -1, -1) if reverse else range(1, size)
    for t in positions:
        before = t + 1 if reverse else t - 1
        h[:, :, t].addcmul_(a[:, :, t], h[:, :, before])
        a[:, :, t].mul_(a[:, :, before])
    chunks = range(count - 2, -1, -1) if reverse else range(1, count)
    for k in chunks:
        edge = h[:, k + 1, :1] if reverse else h[:, k - 1, -1:]
        h[:, k].addcmul_(a[:, k], edge)


def _buffer(batch: int, length: int, size: int, like: torch.Tensor, state: int) -> torch.Tensor:
    """An uninitialised (B, K * T, D, N) buffer covering ``length`` positions."""
    count = math.ceil(length / size)
    return torch.empty(batch, count * size, like.shape[-1], state, dtype=like.dtype, device=like.device)


def _chunks(x: torch.Tensor, size: int) -> torch.Tensor:
    return x.view(x.shape[0], x.shape[1] // size, size, *x.shape[2:])


def _states(u_t, delta_t, A, B_t, size):
    """h (B, L', D, N) of the recurrence for every position (L' >= L: padded to whole chunks);
    inputs in position-major layout: u_t, delta_t (B, L, D), B_t (B, L, N)."""
    batch, length, _ = u_t.shape
    decay = _buffer(batch, length, size, u_t, A.shape[1])
    h = torch.empty_like(decay)
    torch.mul(delta_t.unsqueeze(-1), A, out=decay[:, :length]).exp_()
    torch.mul((delta_t * u_t).unsqueeze(-1), B_t.unsqueeze(2), out=h[:, :length])
    if decay.shape[1] > length:  # padding at the end: decay 1, drive 0, never read back
        decay[:, length:].fill_(1.0)
        h[:, length:].zero_()
    _scan_(_chunks(decay, size), _chunks(h, size))
    return h


def _contract(big: torch.Tensor, small: torch.Tensor, length: int, over_n: bool) -> torch.Tensor:
    """Per position (b, l): (D, N) @ (N,) -> (D,) when ``over_n``, else (D,) @ (D, N) -> (N,).
    A batched matmul on the position-major layout: no copy of the big tensor."""
    batch, _, dim, state = big.shape
    flat = big[:, :length].reshape(batch * length, dim, state)
    if over_n:
        return torch.bmm(flat, small.reshape(batch * length, state, 1)).view(batch, length, dim)
    return torch.bmm(small.reshape(batch * length, 1, dim), flat).view(batch, length, state)


SLAB_BYTES = (2 * 2**20, 16 * 2**20)  # bounds of a (B, L, D_slab, N) working buffer


def _slabs(batch: int, length: int, size: int, dim: int, state: int, itemsize: int) -> list[slice]:
    """Channel (d_inner) ranges whose state buffers are about the size of one (B, L, D) input,
    within ``SLAB_BYTES``: channels never mix in the scan, so working slab by slab keeps the
    transient memory of the scan in proportion to the activations the layer holds anyway (a few
    buffers of one input's size), and never above a few times the upper bound, whatever L."""
    padded = math.ceil(length / size) * size
    low, high = SLAB_BYTES
    budget = min(high, max(low, batch * padded * dim * itemsize))
    width = max(1, min(dim, budget // max(1, batch * padded * state * itemsize)))
    return [slice(start, min(start + width, dim)) for start in range(0, dim, width)]


def _scan_forward(u_t, delta_t, A, B_t, C_t, size):
    """y (B, L, D) of the recurrence, slab by slab; inputs position-major."""
    batch, length, dim = u_t.shape
    y_t = torch.empty_like(u_t)
    for slab in _slabs(batch, length, size, dim, A.shape[1], u_t.element_size()):
        h = _states(u_t[:, :, slab], delta_t[:, :, slab], A[slab], B_t, size)
        y_t[:, :, slab] = _contract(h, C_t, length, over_n=True)
    return y_t


def _scan_backward(u_t, delta_t, A, B_t, C_t, gy_t, size):
    """(du, ddelta, dA, dB, dC) position-major, and y recomputed on the way (the gate's gradient
    needs it)."""
    batch, length, dim = u_t.shape
    grad_u_t, grad_delta_t, grad_A = torch.empty_like(u_t), torch.empty_like(delta_t), torch.empty_like(A)
    grad_B, grad_C, y_t = torch.zeros_like(B_t), torch.zeros_like(C_t), torch.empty_like(u_t)
    for slab in _slabs(batch, length, size, dim, A.shape[1], u_t.element_size()):
        parts = _backward_slab(u_t[:, :, slab], delta_t[:, :, slab], A[slab], B_t, C_t, gy_t[:, :, slab], size)
        grad_u_t[:, :, slab], grad_delta_t[:, :, slab], grad_A[slab] = parts[:3]
        grad_B += parts[3]
        grad_C += parts[4]
        y_t[:, :, slab] = parts[5]
    return grad_u_t, grad_delta_t, grad_A, grad_B, grad_C, y_t


def _position_major(*tensors):
    return [t.transpose(1, 2).contiguous() for t in tensors]


class _SelectiveScan(torch.autograd.Function):
    """The whole of ``selective_scan_fn``: delta bias and softplus, the recurrence
    y_t = C_t . h_t with h_t = exp(delta_t A) h_{t-1} + delta_t u_t B_t, the D skip and the z gate,
    differentiated by hand, as mamba-ssm's kernel fuses them.

    A layer keeps only its inputs for the backward pass (u and z are held by the layer anyway),
    nothing of size (B, D, L, N) and none of the intermediate (B, D, L) tensors (softplus output,
    scan output, gate): the backward recomputes them, and the states, from the inputs. It runs
    the same two-level scan in reverse time, in place, without flipping copies. Internally the
    layout is position-major, (B, L, D, N), so that scan steps and read-outs work on contiguous
    blocks, and the work goes slab by slab of channels (``_slabs``), so transient memory does not
    grow with L x D."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, softplus, chunk):
        length = u.shape[2]
        size = chunk or _chunk_length(length)
        with torch.autocast(u.device.type, enabled=False):  # float32 throughout, under bf16 autocast too
            delta_used, _ = discretisation_step(delta, delta_bias, softplus)
            u_t, delta_t, B_t, C_t = _position_major(u, delta_used, B, C)
            y = finish(_scan_forward(u_t, delta_t, A, B_t, C_t, size).transpose(1, 2), u, D, z)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias)
        ctx.size, ctx.softplus = size, softplus
        return y

    @staticmethod
    def backward(ctx, grad_out):
        with torch.autocast(grad_out.device.type, enabled=False):
            return _SelectiveScan._backward(ctx, grad_out.to(ctx.saved_tensors[0].dtype))

    @staticmethod
    def _backward(ctx, grad_out):
        u, delta, A, B, C, D, z, delta_bias = ctx.saved_tensors
        grad_y = gated(grad_out, z)
        delta_used, before = discretisation_step(delta, delta_bias, ctx.softplus)
        u_t, delta_t, B_t, C_t, gy_t = _position_major(u, delta_used, B, C, grad_y)
        grad_u_t, grad_delta_t, grad_A, grad_B, grad_C, y_t = _scan_backward(u_t, delta_t, A, B_t, C_t, gy_t, ctx.size)
        grad_u, grad_delta, grad_D, grad_z, grad_bias = outer_gradients(
            grad_out, grad_y, y_t.transpose(1, 2), grad_u_t.transpose(1, 2), grad_delta_t.transpose(1, 2), u, D, z,
            before, ctx.softplus, delta_bias is not None,
        )  # fmt: skip
        grad_B, grad_C = grad_B.transpose(1, 2), grad_C.transpose(1, 2)
        return grad_u, grad_delta, grad_A, grad_B, grad_C, grad_D, grad_z, grad_bias, None, None


def _backward_slab(u_t, delta_t, A, B_t, C_t, gy_t, size):
    """Gradients for one channel slab: (du, ddelta, dA) of the slab, its parts of dB, dC, and the
    slab's y."""
    length = u_t.shape[1]
    h = _states(u_t, delta_t, A, B_t, size)
    y_t = _contract(h, C_t, length, over_n=True)
    grad_C = _contract(h, gy_t, length, over_n=False)
    # g_t = dL/dh_t = grad_y_t C_t + a_{t+1} g_{t+1}: a reverse scan with coefficient a_{t+1}
    coeff = torch.empty_like(h)
    g = torch.empty_like(h)
    torch.mul(delta_t[:, 1:].unsqueeze(-1), A, out=coeff[:, : length - 1]).exp_()
    coeff[:, length - 1 :].zero_()  # nothing flows back from beyond the last position
    torch.mul(gy_t.unsqueeze(-1), C_t.unsqueeze(2), out=g[:, :length])
    g[:, length:].zero_()
    _scan_(_chunks(coeff, size), _chunks(g, size), reverse=True)
    du_t = delta_t * u_t
    g_dot_B = _contract(g, B_t, length, over_n=True)
    grad_B = _contract(g, du_t, length, over_n=False)
    # d(delta A)_t = g_t h_{t-1} a_t, built in the coefficient buffer
    log_grad = coeff[:, :length]
    torch.mul(delta_t.unsqueeze(-1), A, out=log_grad).exp_()
    log_grad[:, 1:].mul_(h[:, : length - 1])
    log_grad[:, :1].zero_()
    log_grad.mul_(g[:, :length])
    scaled = torch.mul(log_grad, A, out=g[:, :length])  # g is spent: reuse its memory
    grad_delta_t = scaled.sum(-1) + u_t * g_dot_B
    grad_A = log_grad.mul_(delta_t.unsqueeze(-1)).sum((0, 1))
    return delta_t * g_dot_B, grad_delta_t, grad_A, grad_B, grad_C, y_t


def selective_scan_chunked(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, chunk_size: int | None = None
):
    """Pure-PyTorch chunked scan: O(L) work, O(sqrt L) Python steps, exact (no log-space tricks),
    states and intermediates recomputed in the backward pass instead of stored. The output has
    u's dtype; half-precision inputs are computed in float32."""
    dtype = u.dtype
    u, delta, A, B, C, D, z, delta_bias = upcast(u, delta, A, B, C, D, z, delta_bias)
    tensors = [t.contiguous() if t is not None else None for t in (u, delta, A, B, C, D, z, delta_bias)]
    return _SelectiveScan.apply(*tensors, bool(delta_softplus), chunk_size).to(dtype)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """The chosen scan (``set_scan_backend``): mamba-ssm's kernel on CUDA, numba's on the CPU,
    else the chunked scan."""
    backend = scan_backend(u.device)
    if backend == "mamba-ssm":
        return _mamba_ssm_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    if backend == "numba":
        return _numba_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    if _requested == "auto":  # a kernel that did not load: said once per device type
        where, error = ("the GPU", KERNEL_ERROR) if u.is_cuda else ("the CPU", NUMBA_ERROR)
        if where not in _warned:
            _warned.add(where)
            warnings.warn(f"{error}; the chunked PyTorch scan runs on {where} instead", stacklevel=2)
    return selective_scan_chunked(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
