"""``lumamba-bench doctor``: what this machine will run, and a parity check that it runs right.

Reports torch, CUDA, the GPU and its driver, whether mamba-ssm's compiled scan imports (and why
not), which scan backend ``selective_scan`` uses on the chosen device, then checks that backend
against the step-by-step recurrence (forward and all gradients, float32) on that device.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import time
from unittest import mock

import torch

from lumamba_bench.models.scan import KERNEL_ERROR, scan_backend, scan_report, selective_scan, selective_scan_ref

TOLERANCE = 1e-4  # relative, float32, L = 256: the two scans sum the same terms in another order


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _driver() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def environment(device: torch.device) -> dict:
    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": cuda,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "driver": _driver() if cuda else None,
        "mamba_ssm": _version("mamba-ssm") or _version("mamba_ssm"),
        "kernel_imports": KERNEL_ERROR is None,
        "kernel_error": KERNEL_ERROR,
        "numba": _version("numba"),
        "device": str(device),
        "scan_backend": scan_report(device),
    }


def parity(device: torch.device, length: int = 256, seed: int = 0) -> dict:
    """The backend ``selective_scan`` uses on ``device`` against ``selective_scan_ref``."""
    generator = torch.Generator().manual_seed(seed)
    batch, dim, state = 2, 64, 16

    def rand(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=generator)).to(device).requires_grad_()

    inputs = {
        "u": rand(batch, dim, length),
        "delta": rand(batch, dim, length, scale=0.5),
        "A": (-torch.rand(dim, state, generator=generator) - 0.1).to(device).requires_grad_(),
        "B": rand(batch, state, length),
        "C": rand(batch, state, length),
        "D": rand(dim),
        "z": rand(batch, dim, length),
        "delta_bias": rand(dim, scale=0.1),
    }
    grad_out = torch.randn(batch, dim, length, generator=generator).to(device)
    started = time.perf_counter()
    results = {}
    for name, scan in (("backend", selective_scan), ("reference", selective_scan_ref)):
        out = scan(**inputs, delta_softplus=True)
        grads = torch.autograd.grad(out, list(inputs.values()), grad_out)
        results[name] = [out.detach()] + [g.detach() for g in grads]
    names = ["output"] + [f"d{k}" for k in inputs]
    errors = {
        n: float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))
        for n, a, b in zip(names, results["backend"], results["reference"], strict=True)
    }
    if device.type == "cpu" and scan_backend(device) == "numba":
        errors["fused inference"] = _fused_inference_error(seed)
    worst = max(errors, key=errors.get)
    return {
        "backend": scan_backend(device),
        "length": length,
        "relative_errors": errors,
        "worst": worst,
        "passed": errors[worst] <= TOLERANCE,
        "tolerance": TOLERANCE,
        "seconds": time.perf_counter() - started,
    }


def _fused_inference_error(seed: int) -> float:
    """The CPU inference pass of a Mamba layer (``models/mamba_numba.py``) against the layer's
    unfused steps with the step-loop scan: the relative error of its output."""
    from lumamba_bench.models import mamba

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layer, x = mamba.Mamba(32), torch.randn(2, 256, 32)
    with torch.no_grad():
        fused = layer(x)
        with mock.patch.object(mamba, "selective_scan", selective_scan_ref), mamba.step_by_step():
            reference = layer(x)
    return float((fused - reference).abs().max() / reference.abs().max())
