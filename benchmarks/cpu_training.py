"""LuMamba's efficiency on the CPU, measured against limits in one process: every figure is a
ratio to something run in the same process, interleaved round by round (median of the rounds,
with the spread min-max of the per-round ratios).

1. scan forward + backward (one LuMamba Mamba layer: d_inner 768, d_state 16, batch 2): the
   numba kernel against the chunked PyTorch scan and mambapy's ``pscan`` (when installed), at
   L = 256 / 1024 / 4096;
2. training step (forward, backward, AdamW) of the bare encoder (22 channels, batch 8, loss the
   tokens' mean square): LuMamba against LUNA-Base, windows per second at 5 / 30 / 60 s, and the
   step's peak memory (``analysis/memory.py``);
3. roofline fraction: each step's achieved GFLOP/s (3x its counted forward FLOPs) over the GFLOP/s
   this process reaches on a plain float32 matmul of comparable size;
4. the quick start's pre-training step (``lumamba-mixed``, the demo's batch of 16 windows of
   22 x 1280) as runs now take it (the numba scan, freed memory kept in the heap) against the
   same step as they took it before (the chunked scan, glibc's default heap);
5. inference (``profile``'s measure, no gradients, batch 8): LuMamba against LUNA-Base windows per
   second at 5 and 60 s.

The process keeps freed memory in the heap, as every CPU run does (``heap.keep_freed_memory``).

    python benchmarks/cpu_training.py [--rounds 5] [--threads 2] [--parts scan,step,roofline,pretrain,inference]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import time

import torch

from lumamba_bench.heap import keep_freed_memory


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def rounds_of(candidates: dict, rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each candidate, interleaved: round r runs every candidate once."""
    for fn in candidates.values():  # warm-up: compilation, allocator, caches
        fn()
    times = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            times[name].append(timed(fn))
    return times


def ratio(times: dict, slow: str, fast: str) -> dict:
    """How many times faster ``fast`` is than ``slow``: median of per-round ratios, and their range."""
    per_round = [a / b for a, b in zip(times[slow], times[fast], strict=True)]
    return {"median": statistics.median(per_round), "min": min(per_round), "max": max(per_round)}


def scan_part(rounds: int) -> dict:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from scan import inputs, mambapy_layout, mambapy_scan

    from lumamba_bench.models.scan import selective_scan_chunked
    from lumamba_bench.models.scan_numba import selective_scan_numba

    try:
        import mambapy  # noqa: F401
    except ImportError:
        mambapy = None
    out = {}
    for length in (256, 1024, 4096):
        data = inputs(length, 2, 768, 16, "cpu")
        candidates = {
            "numba": lambda d=data: selective_scan_numba(**d, delta_softplus=True).sum().backward(),
            "chunked": lambda d=data: selective_scan_chunked(**d, delta_softplus=True).sum().backward(),
        }
        if mambapy is not None:
            theirs = mambapy_layout(data)
            candidates["mambapy"] = lambda d=theirs: mambapy_scan(**d).sum().backward()
        times = rounds_of(candidates, rounds)
        out[length] = {"seconds": {k: statistics.median(v) for k, v in times.items()},
                       "numba_vs_chunked": ratio(times, "chunked", "numba")}  # fmt: skip
        if mambapy is not None:
            out[length]["numba_vs_mambapy"] = ratio(times, "mambapy", "numba")
            out[length]["chunked_vs_mambapy"] = ratio(times, "mambapy", "chunked")
        print(f"scan L={length}: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in out[length]["seconds"].items()))
    return out


def _encoder_step(model: str, seconds: float, batch: int):
    from lumamba_bench.analysis.profile import build_for_length, montage

    torch.manual_seed(0)
    samples = int(seconds * 256)
    encoder = build_for_length(model, 22, samples)
    _, coords = montage(22)
    x = 20 * torch.randn(batch, 22, samples)
    c = coords.unsqueeze(0).expand(batch, -1, -1).contiguous()
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-4)
    encoder.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        encoder(x, c).float().pow(2).mean().backward()
        optimizer.step()

    return encoder, x, c, step


def matmul_gflops(rounds: int, size: int = 1024) -> float:
    """The float32 GFLOP/s this process reaches on a (size x size) @ (size x size) matmul."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    times = rounds_of({"matmul": lambda: a @ b}, rounds * 4)["matmul"]
    return 2 * size**3 / statistics.median(times) / 1e9


def step_part(rounds: int, batch: int, with_roofline: bool) -> dict:
    from lumamba_bench.analysis.flops import count_forward_flops
    from lumamba_bench.analysis.memory import peak_step_memory

    peak_gflops = matmul_gflops(rounds) if with_roofline else None
    out = {"matmul_gflops": peak_gflops}
    for seconds in (5, 30, 60):
        built = {m: _encoder_step(m, seconds, batch) for m in ("lumamba", "luna-base")}
        times = rounds_of({m: b[3] for m, b in built.items()}, rounds)
        row = {"windows_per_s": {m: batch / statistics.median(t) for m, t in times.items()},
               "lumamba_vs_luna": ratio(times, "luna-base", "lumamba")}  # fmt: skip
        memory = {}
        for model, (encoder, x, c, _) in built.items():
            memory[model] = peak_step_memory(encoder, x[:1], c[:1]) / 2**20
        row["memory_mib"] = memory
        row["memory_lumamba_over_luna"] = memory["lumamba"] / memory["luna-base"]
        if with_roofline:
            achieved = {}
            for model, (encoder, x, c, _) in built.items():
                flops = 3 * count_forward_flops(encoder, x, c).total  # forward + backward ~ 3x forward
                achieved[model] = flops / statistics.median(times[model]) / 1e9
            row["achieved_gflops"] = achieved
            row["roofline_fraction"] = {m: g / peak_gflops for m, g in achieved.items()}
        out[seconds] = row
        print(f"step {seconds:g} s: LuMamba {row['lumamba_vs_luna']['median']:.2f}x LUNA-Base windows/s, "
              f"memory {row['memory_lumamba_over_luna']:.2f}x"
              + (f", roofline {row['roofline_fraction']['lumamba']:.3f} vs "
                 f"{row['roofline_fraction']['luna-base']:.3f}" if with_roofline else ""))  # fmt: skip
    return out


def pretrain_part(rounds: int) -> dict:
    from lumamba_bench.analysis.profile import montage
    from lumamba_bench.models import build_encoder, scan
    from lumamba_bench.objectives import build_objective

    torch.manual_seed(0)
    model = build_objective("mixed", build_encoder("lumamba"), num_slices=128)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    _, coords = montage(22)
    x, c = 20 * torch.randn(16, 22, 1280), coords.unsqueeze(0).expand(16, -1, -1).contiguous()
    model.train()

    from lumamba_bench.data.montages import TCP_NAMES
    from lumamba_bench.heap import returning_freed_memory

    def step(backend: str, heap):
        def run():
            scan.set_scan_backend(backend)
            with heap():
                loss = model(x, c, torch.Generator().manual_seed(1), step=0, channels=list(TCP_NAMES))["loss"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

        return run

    candidates = {"now": step("numba", contextlib.nullcontext), "chunked": step("chunked", contextlib.nullcontext),
                  "before": step("chunked", returning_freed_memory)}  # fmt: skip
    try:
        times = rounds_of(candidates, rounds)
    finally:
        scan.set_scan_backend("auto")
    out = {"seconds": {k: statistics.median(v) for k, v in times.items()},
           "now_vs_before": ratio(times, "before", "now"),
           "numba_vs_chunked": ratio(times, "chunked", "now")}  # fmt: skip
    print(f"quick start pre-training step: now {out['seconds']['now']:.3f} s, before (chunked scan, default heap) "
          f"{out['seconds']['before']:.3f} s ({out['now_vs_before']['median']:.2f}x); chunked scan, heap kept "
          f"{out['seconds']['chunked']:.3f} s")
    return out


def inference_part(rounds: int, batch: int) -> dict:
    from lumamba_bench.analysis.profile import _inputs, build_for_length, interleaved_throughput, montage

    _, coords = montage(22)
    out = {}
    for seconds in (5, 60):
        samples = int(seconds * 256)
        encoders = {}
        for model in ("lumamba", "luna-base"):
            torch.manual_seed(0)
            encoders[model] = build_for_length(model, 22, samples)
        x, c = _inputs(batch, 22, samples, coords, "cpu", 0)
        per_round = [interleaved_throughput(encoders, x, c, min_time_s=0.0) for _ in range(rounds)]
        rates = {m: statistics.median(r[m] for r in per_round) for m in encoders}
        ratios = [r["lumamba"] / r["luna-base"] for r in per_round]
        out[seconds] = {"windows_per_s": rates, "lumamba_vs_luna": {"median": statistics.median(ratios),
                        "min": min(ratios), "max": max(ratios)}}  # fmt: skip
        print(f"inference {seconds} s: LuMamba {rates['lumamba']:.1f}, LUNA-Base {rates['luna-base']:.1f} windows/s "
              f"({statistics.median(ratios):.2f}x, {min(ratios):.2f}-{max(ratios):.2f})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--parts", default="scan,step,roofline,pretrain,inference")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as every CPU run does
    parts = set(args.parts.split(","))
    report = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                          "torch": torch.__version__}, "rounds": args.rounds}  # fmt: skip
    if "scan" in parts:
        report["scan"] = scan_part(args.rounds)
    if "step" in parts or "roofline" in parts:
        report["step"] = step_part(args.rounds, args.batch_size, "roofline" in parts)
    if "pretrain" in parts:
        report["pretrain"] = pretrain_part(args.rounds)
    if "inference" in parts:
        report["inference"] = inference_part(args.rounds, args.batch_size)
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
