"""Selective scan: the chunked PyTorch scan vs the step-by-step loop, forward and backward.

Shapes are one LuMamba Mamba layer's (d_inner 768, d_state 16) at batch 2; the step loop is
``selective_scan_ref``. Prints milliseconds and the speed-up at each length.

    python benchmarks/scan.py [--lengths 256,1024,4096] [--repeats 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time

import torch

from lumamba_bench.models.scan import mamba_ssm_available, selective_scan, selective_scan_ref


def inputs(length: int, batch: int, dim: int, state: int, device: str):
    g = torch.Generator().manual_seed(0)

    def randn(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(device).requires_grad_()

    A = (-torch.rand(dim, state, generator=g) * 4 - 0.1).to(device).requires_grad_()
    return dict(
        u=randn(batch, dim, length),
        delta=randn(batch, dim, length, scale=0.5),
        A=A,
        B=randn(batch, state, length),
        C=randn(batch, state, length),
        D=randn(dim),
        z=randn(batch, dim, length),
        delta_bias=randn(dim, scale=0.1),
        delta_softplus=True,
    )


def timed(fn, args, repeats: int, device: str) -> float:
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn(**args).sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="256,1024,4096")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--state", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    backend = "mamba-ssm kernel" if mamba_ssm_available() and args.device == "cuda" else "chunked PyTorch"
    print(
        f"selective scan forward+backward, batch {args.batch}, d_inner {args.dim}, d_state {args.state}, "
        f"{args.device} ({backend} vs step loop), {torch.get_num_threads()} threads"
    )
    print(f"{'L':>6s} {'step loop ms':>13s} {'fast ms':>9s} {'speed-up':>9s}")
    for length in (int(v) for v in args.lengths.split(",")):
        data = inputs(length, args.batch, args.dim, args.state, args.device)
        timed(selective_scan, data, 1, args.device)  # warm-up
        fast = timed(selective_scan, data, args.repeats, args.device)
        loop = timed(selective_scan_ref, data, 1 if length > 1024 else args.repeats, args.device)
        print(f"{length:6d} {loop * 1e3:13.1f} {fast * 1e3:9.1f} {loop / fast:8.1f}x")


if __name__ == "__main__":
    main()
