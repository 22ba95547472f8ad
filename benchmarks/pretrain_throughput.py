"""Pre-training step throughput and peak memory per objective on CPU (22 x 1280 windows).

Each configuration runs in its own subprocess so that peak RSS (``ru_maxrss``) is its own.
The baseline is a plain forward + backward of the bare encoder (mean of its tokens as the loss)
at the same batch size; the ratios say what each objective costs on top of the encoder.

    python benchmarks/pretrain_throughput.py [--batch-size 16] [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def measure(objective: str, batch_size: int, steps: int, num_slices: int) -> dict:
    import torch

    from lumamba_bench.data.montages import TCP_NAMES
    from lumamba_bench.models import build_encoder
    from lumamba_bench.objectives import build_objective

    torch.manual_seed(0)
    encoder = build_encoder("lumamba")
    model = encoder if objective == "encoder" else build_objective(objective, encoder, num_slices=num_slices)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch_size, 22, 1280) * 20
    coords = torch.rand(batch_size, 22, 3) * 0.1
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for step in range(steps + 1):
        start = time.perf_counter()
        if objective == "encoder":
            loss = model(x, coords).mean()
        else:
            loss = model(x, coords, torch.Generator().manual_seed(step), step=step, channels=list(TCP_NAMES))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    seconds = sorted(times[1:])[len(times[1:]) // 2]  # median, first step is warm-up
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "objective": objective,
        "windows_per_s": batch_size / seconds,
        "step_s": seconds,
        "peak_rss_mib": peak / 1024,
        "step_rss_mib": (peak - baseline_rss) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--num-slices", type=int, default=128)  # the reference configuration
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.batch_size, args.steps, args.num_slices)))
        return
    rows = []
    for objective in ("encoder", "recon", "lejepa", "mixed"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                objective,
                "--batch-size",
                str(args.batch_size),
                "--steps",
                str(args.steps),
                "--num-slices",
                str(args.num_slices),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = rows[0]
    print(f"pre-training step on CPU, batch {args.batch_size} x 22 x 1280, median of {args.steps} steps")
    header = f"{'objective':10s} {'windows/s':>10s} {'step time':>10s} {'peak RSS MiB':>13s} {'memory':>10s}"
    print(f"{header}  (ratios vs the bare encoder)")
    for row in rows:
        print(
            f"{row['objective']:10s} {row['windows_per_s']:10.2f} {base['windows_per_s'] / row['windows_per_s']:9.2f}x "
            f"{row['peak_rss_mib']:13.0f} {row['peak_rss_mib'] / base['peak_rss_mib']:9.2f}x"
        )


if __name__ == "__main__":
    main()
