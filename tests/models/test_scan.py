"""The fast scans (the chunked PyTorch scan and the compiled numba kernel) against the step loop
and against mamba-ssm's own recorded ``selective_scan_ref``: output and every gradient, float32
and float64, lengths 1 to 4096, each optional part on and off."""

import pytest
import torch

from lumamba_bench.models.scan import selective_scan_chunked, selective_scan_ref
from lumamba_bench.models.scan_numba import selective_scan_numba

FAST = {"chunked": selective_scan_chunked, "numba": selective_scan_numba}


def _inputs(length, batch=2, dim=3, state=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=dtype) * scale).requires_grad_()

    return dict(
        u=randn(batch, dim, length),
        delta=randn(batch, dim, length, scale=0.5),
        A=(-torch.rand(dim, state, generator=g, dtype=dtype) * 4 - 0.1).requires_grad_(),
        B=randn(batch, state, length),
        C=randn(batch, state, length),
        D=randn(dim),
        z=randn(batch, dim, length),
        delta_bias=randn(dim, scale=0.1),
    )


@pytest.mark.parametrize("length", [1, 2, 3, 17, 64, 255, 256, 257, 1000, 4096])
def test_fast_scans_match_the_step_loop(length):
    args = _inputs(length)
    reference = selective_scan_ref(**args, delta_softplus=True)
    for name, fast in FAST.items():
        torch.testing.assert_close(fast(**args, delta_softplus=True), reference, atol=1e-10, rtol=1e-10, msg=name)


def _grads(scan, args, weights, softplus=True):
    out = (scan(**args, delta_softplus=softplus) * weights).sum()
    found = torch.autograd.grad(out, list(args.values()), allow_unused=True)
    return [torch.zeros_like(a) if g is None else g for a, g in zip(args.values(), found, strict=True)]


@pytest.mark.parametrize("length", [1, 5, 33, 300, 4096])
def test_gradients_match_the_step_loop(length):
    args = _inputs(length, seed=1)
    weights = torch.randn(2, 3, length, dtype=torch.float64)
    theirs = _grads(selective_scan_ref, args, weights)
    for backend, fast in FAST.items():
        for name, a, b in zip(args, _grads(fast, args, weights), theirs, strict=True):
            torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9, msg=f"{backend}: gradient of {name}")


@pytest.mark.parametrize("chunk", [1, 2, 7, 64])
def test_chunk_boundaries_carry_the_state(chunk):
    args = _inputs(100, seed=2)
    reference = selective_scan_ref(**args, delta_softplus=True)
    fast = selective_scan_chunked(**args, delta_softplus=True, chunk_size=chunk)
    torch.testing.assert_close(fast, reference, atol=1e-10, rtol=1e-12)


@pytest.mark.parametrize("length", [1, 50, 1024])
def test_optional_arguments_and_float32(length):
    """float32 values and gradients, each optional part dropped in turn, softplus on and off."""
    args = _inputs(length, seed=3, dtype=torch.float32)
    weights = torch.randn(2, 3, length)
    for drop in ({}, {"D": None}, {"z": None}, {"delta_bias": None}):
        kwargs = {k: v for k, v in (args | drop).items() if v is not None}
        for softplus in (True, False):
            if not softplus:  # a step the model could take: positive (else exp(delta A) grows without bound)
                kwargs["delta"] = args["delta"].detach().abs().requires_grad_()
            reference = selective_scan_ref(**kwargs, delta_softplus=softplus)
            theirs = _grads(selective_scan_ref, kwargs, weights, softplus)
            for backend, fast in FAST.items():
                out = fast(**kwargs, delta_softplus=softplus)
                assert out.dtype == torch.float32
                torch.testing.assert_close(out, reference, atol=1e-4, rtol=1e-4, msg=backend)
                for name, a, b in zip(kwargs, _grads(fast, kwargs, weights, softplus), theirs, strict=True):
                    scale = b.abs().max().clamp_min(1.0)  # sums over the sequence: relative to their size
                    torch.testing.assert_close(a / scale, b / scale, atol=2e-4, rtol=0, msg=f"{backend} d{name}")


@pytest.mark.parametrize("drop", ["D", "z", "delta_bias", "softplus", "all"])
def test_gradients_without_the_optional_parts_match_the_step_loop(drop):
    """The skip, the gate, the bias and the softplus are fused into the scan's own backward:
    each left out (and all of them) must still give the step loop's gradients (float64)."""
    args = _inputs(40, seed=5)
    for name in ("D", "z", "delta_bias") if drop == "all" else [drop]:
        args.pop(name, None)
    softplus = drop not in ("softplus", "all")
    weights = torch.randn(2, 3, 40, dtype=torch.float64)

    theirs = _grads(selective_scan_ref, args, weights, softplus)
    for backend, fast in FAST.items():
        for name, a, b in zip(args, _grads(fast, args, weights, softplus), theirs, strict=True):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10, msg=f"{backend}: gradient of {name}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_long_sequences_do_not_overflow_with_strong_decay(dtype):
    """exp(delta A) far below the smallest normal float32: the kernel's exp gives 0, not garbage."""
    args = _inputs(2048, seed=4, dtype=dtype)
    args["delta"] = (args["delta"].detach() * 0 + 40).requires_grad_()  # exp(delta * A) ~ exp(-160)
    reference = selective_scan_ref(**args, delta_softplus=True)
    for backend, fast in FAST.items():
        out = fast(**args, delta_softplus=True)
        assert torch.isfinite(out).all()
        atol = 1e-8 if dtype == torch.float64 else 1e-4
        torch.testing.assert_close(out, reference, atol=atol, rtol=1e-5, msg=backend)


@pytest.mark.parametrize("scan", ["reference", "chunked", "numba"])
def test_scans_equal_mamba_ssms_own_reference(scan):
    """Output and all eight gradients against mamba-ssm's ``selective_scan_ref`` (recorded by
    ``tests/models/golden/regenerate.py``): an oracle that shares no code with ours, so a wrong
    discretisation (e.g. the input term without its delta) cannot pass."""
    from pathlib import Path

    import numpy as np

    from lumamba_bench.models.scan import selective_scan_ref

    function = {"reference": selective_scan_ref, **FAST}[scan]
    with np.load(Path(__file__).parent / "golden" / "scan.npz") as arrays:
        data = {k: torch.from_numpy(v) for k, v in arrays.items()}
    names = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
    inputs = {k: data[k].double().requires_grad_() for k in names}
    y = function(
        inputs["u"], inputs["delta"], inputs["A"], inputs["B"], inputs["C"], inputs["D"],
        z=inputs["z"], delta_bias=inputs["delta_bias"], delta_softplus=True,
    )  # fmt: skip
    (y * data["weight"].double()).sum().backward()
    torch.testing.assert_close(y.float(), data["y"], rtol=1e-5, atol=1e-5)
    for name in names:
        torch.testing.assert_close(inputs[name].grad.float(), data[f"grad_{name}"], rtol=1e-4, atol=1e-4, msg=name)


@pytest.mark.parametrize("slab_bytes", [1, 3 * 4 * 8 * 64])
def test_channel_slabs_give_the_same_values_and_gradients(monkeypatch, slab_bytes):
    """The scan works slab by slab of channels to bound its memory: one channel per slab, or a
    few, must equal the step loop in value and in every gradient (float64)."""
    from lumamba_bench.models import scan

    monkeypatch.setattr(scan, "SLAB_BYTES", (slab_bytes, slab_bytes))
    args = _inputs(300, dim=5)
    assert len(scan._slabs(2, 300, scan._chunk_length(300), 5, 4, 8)) > 1
    fast = selective_scan_chunked(**args, delta_softplus=True)
    reference = selective_scan_ref(**args, delta_softplus=True)
    torch.testing.assert_close(fast, reference, atol=1e-10, rtol=0)
    ours = torch.autograd.grad(fast.sum(), list(args.values()))
    theirs = torch.autograd.grad(reference.sum(), list(args.values()))
    for name, a, b in zip(args, ours, theirs, strict=True):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9, msg=name)
