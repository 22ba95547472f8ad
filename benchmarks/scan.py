"""Selective scan, forward + backward: ours vs mambapy's parallel scan vs the step-by-step loop.

Shapes are one LuMamba Mamba layer's (d_inner 768, d_state 16) at batch 2, the whole function
each time (bias + softplus on delta, discretisation, scan, C readout, D skip, z gate). mambapy
(``pip install mambapy``; not a dependency) gets its own (B, L, D) layout, transposed outside the
timing. Times are interleaved and repeated, the ratio is the median of per-round ratios; peak
memory is each implementation's own process's peak RSS growth over one forward + backward.

    python benchmarks/scan.py [--lengths 256,1024,4096] [--repeats 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from lumamba_bench.models.scan import selective_scan, selective_scan_ref


def inputs(length: int, batch: int, dim: int, state: int, device: str) -> dict:
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
    )


def mambapy_layout(data: dict) -> dict:
    """The same tensors in mambapy's (B, L, D) / (B, L, N) layout, as leaf tensors."""
    out = {}
    for key, value in data.items():
        moved = value.detach().transpose(1, 2) if key in ("u", "delta", "B", "C", "z") else value.detach()
        out[key] = moved.contiguous().requires_grad_()
    return out


def mambapy_scan(u, delta, A, B, C, D, z, delta_bias):
    """The function ``selective_scan`` computes, written as mambapy's ``MambaBlock.selective_scan``
    writes it (its ``pscan``: a Blelloch parallel scan with its own backward)."""
    from mambapy.pscan import pscan

    delta = F.softplus(delta + delta_bias)
    decay = torch.exp(delta.unsqueeze(-1) * A)
    drive = (delta * u).unsqueeze(-1) * B.unsqueeze(2)
    states = pscan(decay, drive)
    y = (states @ C.unsqueeze(-1)).squeeze(3) + D * u
    return y * F.silu(z)


IMPLEMENTATIONS = {
    "ours": lambda d: selective_scan(**d, delta_softplus=True),
    "mambapy": lambda d: mambapy_scan(**d),
    "step loop": lambda d: selective_scan_ref(**d, delta_softplus=True),
}


def one_pass(name: str, data: dict, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    IMPLEMENTATIONS[name](data).sum().backward()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def peak_memory(name: str, length: int, args) -> float:
    """MiB of peak RSS growth for one forward + backward, in a fresh process."""
    command = [sys.executable, __file__, "--one", f"{name}:{length}", "--batch", str(args.batch), "--dim",
               str(args.dim), "--state", str(args.state), "--device", args.device]  # fmt: skip
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)["mib"]


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(field + ":"))


def measure_one(spec: str, args) -> None:
    """Peak resident memory above the inputs during one forward + backward (Linux: the peak is
    reset through /proc/self/clear_refs after the inputs exist)."""
    name, length = spec.rsplit(":", 1)
    data = inputs(int(length), args.batch, args.dim, args.state, args.device)
    data = mambapy_layout(data) if name == "mambapy" else data
    one_pass(
        name,
        inputs(8, 1, 4, 2, args.device) if name != "mambapy" else mambapy_layout(inputs(8, 1, 4, 2, args.device)),
        args.device,
    )
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset VmHWM, the peak resident set size
    before = _status_kib("VmRSS")
    one_pass(name, data, args.device)
    print(json.dumps({"mib": (_status_kib("VmHWM") - before) / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="256,1024,4096")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--state", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--loop-up-to", type=int, default=1024, help="Time the step loop only up to this length.")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return measure_one(args.one, args)
    try:
        import mambapy  # noqa: F401
    except ImportError:
        IMPLEMENTATIONS.pop("mambapy")
        print("mambapy is not installed (pip install mambapy): comparing with the step loop only")
    print(
        f"selective scan forward + backward, batch {args.batch}, d_inner {args.dim}, d_state {args.state}, "
        f"{args.device}, {torch.get_num_threads()} threads; median of {args.repeats} interleaved rounds"
    )
    names = [n for n in IMPLEMENTATIONS if n != "step loop"]
    print(f"{'L':>6s} " + " ".join(f"{n + ' ms':>12s} {n + ' MiB':>12s}" for n in [*names, "step loop"]) + "  ours vs")
    for length in (int(v) for v in args.lengths.split(",")):
        data = inputs(length, args.batch, args.dim, args.state, args.device)
        layouts = {"ours": data, "mambapy": mambapy_layout(data), "step loop": data}
        timed = [n for n in IMPLEMENTATIONS if n != "step loop" or length <= args.loop_up_to]
        for name in timed:
            one_pass(name, layouts[name], args.device)  # warm-up
        times: dict[str, list[float]] = {name: [] for name in timed}
        for _ in range(args.repeats if length <= 1024 else max(2, args.repeats // 2)):
            for name in timed:
                times[name].append(one_pass(name, layouts[name], args.device))
        cells, ratios = [], []
        for name in [*names, "step loop"]:
            if name in times:
                memory = peak_memory(name, length, args)
                cells.append(f"{1e3 * statistics.median(times[name]):12.1f} {memory:12.0f}")
                if name != "ours":
                    per_round = [a / b for a, b in zip(times[name], times["ours"], strict=True)]
                    ratios.append(f"{name} {statistics.median(per_round):.2f}x")
            else:
                cells.append(f"{'-':>12s} {'-':>12s}")
        print(f"{length:6d} " + " ".join(cells) + "  " + ", ".join(ratios))


if __name__ == "__main__":
    main()
