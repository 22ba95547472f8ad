"""Can the loader feed the training step? Windows per second that ``batches_of`` delivers from
shards (22 x 1280 windows, zstd; row groups decoded, batches collated, shuffled by row-group
blocks as in training, page cache warm, row-group cache cold) with 0, 2 and 4 worker processes,
next to what one LuMamba mixed-objective training step consumes on this machine's CPU.

    python benchmarks/loader_throughput.py [--batch-size 64] [--batches 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--megabytes", type=float, default=400, help="Size of the synthetic shards read.")
    parser.add_argument("--workers", default="0,2,4")
    args = parser.parse_args()

    from verification import write_shards

    from lumamba_bench.data.channels import positions
    from lumamba_bench.data.loader import MontageBatchSampler, ShardDataset, batches_of
    from lumamba_bench.data.montages import TCP_NAMES
    from lumamba_bench.data.shards import FORMAT_VERSION
    from lumamba_bench.files import write_json_atomic

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "synthetic"
        entries, _ = write_shards(folder, args.megabytes)  # 512 filtered-noise windows of 22 x 1280 per shard
        rows = sum(e["rows"] for e in entries)
        write_json_atomic(
            folder / "manifest.json",
            {
                "format_version": FORMAT_VERSION,
                "recipe": {"name": "synthetic", "version": "1"},
                "preprocessing": {"sfreq": 256.0, "window_s": 5.0},
                "label_names": ["a"],
                "splits": {"train": {"recordings": len(entries), "windows": rows}},
                "montages": {"tcp22": {"channels": list(TCP_NAMES), "coords": positions(list(TCP_NAMES)).tolist()}},
                "files": [],
                "shards": entries,
            },
        )
        for workers in (int(w) for w in args.workers.split(",")):
            dataset = ShardDataset(folder, "train")  # cold: no row group cached
            order = list(MontageBatchSampler(dataset, args.batch_size, shuffle=True, seed=0))[: args.batches]
            start = time.perf_counter()
            count = sum(len(batch["label"]) for batch in batches_of(dataset, order, workers))
            rate = count / (time.perf_counter() - start)
            print(f"loader, {workers} workers: {rate:8.0f} windows/s ({count} of {rows} windows, shuffled, cold)")
    from step_throughput import measure

    step = measure("cpu", "fp32", args.batch_size, 3)
    print(f"training step (mixed objective, CPU, batch {args.batch_size}): {step['windows_per_s']:8.0f} windows/s")


if __name__ == "__main__":
    main()
