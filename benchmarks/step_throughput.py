"""Training-step throughput of the mixed objective (LuMamba, 22 x 1280 windows) per batch size
and precision, on one device: forward + backward + AdamW, windows per second (median of the
timed steps, after warm-up), and peak GPU memory. An out-of-memory batch is reported, not fatal.

    python benchmarks/step_throughput.py --device cuda [--batches 16,64,256,1024] [--steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import time


def measure(device: str, precision: str, batch_size: int, steps: int) -> dict:
    import torch

    from lumamba_bench.data.montages import TCP_NAMES
    from lumamba_bench.harness import precision as precisions
    from lumamba_bench.models import build_encoder
    from lumamba_bench.models.scan import scan_backend
    from lumamba_bench.objectives import build_objective

    torch.manual_seed(0)
    precisions.configure(torch.device(device), precision)
    model = build_objective("mixed", build_encoder("lumamba"), num_slices=128).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = (torch.randn(batch_size, 22, 1280) * 20).to(device)
    coords = (torch.rand(batch_size, 22, 3) * 0.1).to(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = []
    try:
        for step in range(steps + 2):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            generator = torch.Generator().manual_seed(step)
            with precisions.autocast(device):
                loss = model(x, coords, generator, step=step, channels=list(TCP_NAMES))["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if step >= 2:
                times.append(time.perf_counter() - start)
    except torch.OutOfMemoryError:
        return {"precision": precision, "batch": batch_size, "windows_per_s": None, "note": "out of memory"}
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
    return {
        "precision": precision,
        "batch": batch_size,
        "windows_per_s": batch_size / statistics.median(times),
        "peak_gib": peak,
        "scan": scan_backend(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batches", default="16,64,256,1024")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    print(f"{'precision':9s} {'batch':>6s} {'windows/s':>10s} {'peak GiB':>9s}  scan")
    for precision in args.precisions.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            row = measure(args.device, precision, batch, args.steps)
            rate = "-" if row["windows_per_s"] is None else f"{row['windows_per_s']:.0f}"
            peak = "-" if row.get("peak_gib") is None else f"{row['peak_gib']:.1f}"
            print(f"{precision:9s} {batch:6d} {rate:>10s} {peak:>9s}  {row.get('scan', row.get('note'))}")


if __name__ == "__main__":
    main()
