"""Does the data path scale to TUEG? A synthetic prepared dataset with the footer structure of a
corpus of N windows (shards of 2048 windows in row groups of 64, as ``prepare`` writes them; each
window 1 channel x 4 samples, so that 16 million windows fit on a laptop disk) is opened and its
first batch read, and the per-process memory (resident set size, and its growth) is reported:
for 1 process, and for R ranks x W DataLoader workers (each rank its own process, opening the
dataset and iterating its share of the batches through W worker processes; the ranks form a gloo
process group, each a fresh Python process as torchrun starts them, so rank 0 verifies and indexes
the shards for all of them).

    python benchmarks/loader_scale.py [--windows 16000000] [--ranks 4] [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROWS_PER_SHARD = 2048


def build(folder: Path, windows: int) -> Path:
    """Shards and a manifest for ``windows`` tiny windows (written once; reused when present)."""
    from rich.progress import Progress

    from lumamba_bench.data.shards import FORMAT_VERSION, ShardBuffer, write_table_atomic
    from lumamba_bench.files import write_json_atomic

    if (folder / "manifest.json").is_file():
        return folder
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    meta = {"channels": ["CZ"], "coords": [[0.0, 0.0, 0.1]], "montage": "tiny", "n_samples": 4, "sfreq": 256.0,
            "units": "uV", "label_names": ["a", "b"]}  # fmt: skip
    shards = []
    with Progress() as progress:
        task = progress.add_task("synthetic shards", total=windows)
        for number, start in enumerate(range(0, windows, ROWS_PER_SHARD)):
            rows = min(ROWS_PER_SHARD, windows - start)
            buffer = ShardBuffer("train", "tiny", meta, n_values=4)
            signal = np.full((rows, 1, 4), number % 7, dtype=np.float32)
            buffer.add(f"rec{number:07d}", f"subj{number // 16:06d}", signal, np.zeros(rows), np.arange(rows) % 2)
            file = f"train-tiny-{number:07d}.parquet"
            sha = write_table_atomic(buffer.to_table(), folder / "shards" / file)
            shards.append({"file": file, "split": "train", "montage": "tiny", "rows": rows, "sha256": sha})
            progress.advance(task, rows)
    write_json_atomic(folder / "manifest.json", {
        "format_version": FORMAT_VERSION, "recipe": {"name": "synthetic", "version": "1"},
        "preprocessing": {"sfreq": 256.0, "window_s": 4 / 256.0}, "label_names": ["a", "b"],
        "splits": {"train": {"recordings": len(shards), "windows": windows}, "val": {"recordings": 0, "windows": 0},
                   "test": {"recordings": 0, "windows": 0}},
        "montages": {"tiny": {"channels": meta["channels"], "coords": meta["coords"]}},
        "files": [], "shards": shards,
    })  # fmt: skip
    return folder


def rss_mib() -> float:
    """This process's resident set size (VmRSS), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_of(pid: str = "self") -> dict:
    """Resident set, proportional set (shared pages divided among the processes sharing them) and
    private pages of a process, MiB (``/proc/PID/smaps_rollup``)."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":")[0], line.split()[1]
        fields[name] = int(value) / 1024
    return {"rss": fields["Rss"], "pss": fields["Pss"], "private": fields["Private_Clean"] + fields["Private_Dirty"]}


def children() -> list[str]:
    """This process's child processes (its DataLoader workers)."""
    return [pid for task in Path("/proc/self/task").iterdir() for pid in (task / "children").read_text().split()]


def open_and_first_batch(
    folder: Path, rank: int, world: int, workers: int, batch_size: int = 64, scan_kernel: bool = True
) -> dict:
    """One rank: open the split, build the sampler, read this rank's first batch (through
    ``workers`` DataLoader processes when > 0); times and memory."""
    import torch

    from lumamba_bench.data.loader import MontageBatchSampler, ShardDataset, batches_of
    from lumamba_bench.models import scan

    if scan_kernel:
        scan.numba_available()  # a training process on the CPU loads the numba kernel (LLVM)

    torch.set_num_threads(1)
    before = rss_mib()  # torch and the package imported: what any process of a run starts with
    started = time.perf_counter()
    dataset = ShardDataset(folder, "train")
    sampler = MontageBatchSampler(dataset, batch_size, shuffle=True, seed=0, drop_last=True)
    opened = time.perf_counter()
    batches = batches_of(dataset, sampler.for_rank(rank, world, 8), workers)
    first = next(batches)
    done = time.perf_counter()
    workers_memory = [memory_of(pid) for pid in children()]
    batches.close()  # the DataLoader's workers stop here, not at interpreter exit
    arrays = (dataset.group_shard, dataset.group_number, dataset.group_start, dataset.group_montage)
    index_bytes = sum(a.nbytes for a in arrays) + sum(g.nbytes for g in sampler.groups_of_montage)
    return {"rank": rank, "open_s": opened - started, "first_batch_s": done - started, "rss_mib": rss_mib(),
            "rss_growth_mib": rss_mib() - before, "memory_mib": memory_of(), "workers_memory_mib": workers_memory,
            "index_bytes_per_window": index_bytes / len(dataset),
            "batch": list(first["signal"].shape), "windows": len(dataset)}  # fmt: skip


def _rank_process(folder: Path, rank: int, world: int, workers: int, port: int) -> None:
    """One rank of a job, printing its figures as a JSON line; with several, a gloo process group
    as torchrun's ranks have (rank 0 verifies the shards and reads the footers, the others
    receive its index)."""
    if world > 1:
        import torch.distributed as dist

        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
        dist.init_process_group("gloo")
    try:
        print(json.dumps(open_and_first_batch(folder, rank, world, workers)), flush=True)
    finally:
        if world > 1:
            dist.destroy_process_group()


def run_ranks(folder: Path, world: int, workers: int) -> list[dict]:
    """``world`` ranks, each a fresh Python process started as torchrun starts them."""
    port = _free_port()
    processes = [subprocess.Popen([sys.executable, __file__, "--rank-of", str(world), "--rank", str(r), "--workers",
                                   str(workers), "--port", str(port), "--keep", str(folder)], stdout=subprocess.PIPE,
                                  text=True) for r in range(world)]  # fmt: skip
    results = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"rank {len(results)} failed ({process.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return sorted(results, key=lambda r: r["rank"])


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=16_000_000)
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="Build (or reuse) the synthetic dataset here.")
    parser.add_argument("--rank-of", type=int, help=argparse.SUPPRESS)  # a rank of a job of this size
    parser.add_argument("--rank", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank_of:
        _rank_process(args.keep, args.rank, args.rank_of, args.workers, args.port)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "synthetic"
        started = time.perf_counter()
        build(folder, args.windows)
        built = time.perf_counter() - started
        size = sum(f.stat().st_size for f in (folder / "shards").iterdir()) / 2**20
        report = {"windows": args.windows, "shards": len(os.listdir(folder / "shards")), "shard_mib": round(size),
                  "build_s": round(built, 1), "runs": {}}  # fmt: skip
        from lumamba_bench.data.integrity import CACHE

        (folder / CACHE).unlink(missing_ok=True)  # the first run hashes every shard
        for label, world, workers in (("1 process, cold hash cache", 1, 0), ("1 process", 1, 0),
                                      (f"{args.ranks} ranks x {args.workers} workers", args.ranks, args.workers)):
            results = run_ranks(folder, world, workers)
            report["runs"][label] = results
            worst = max(results, key=lambda r: r["first_batch_s"])
            print(f"{label}: first batch after {worst['first_batch_s']:.2f} s (open {worst['open_s']:.2f} s), "
                  f"resident {max(r['rss_mib'] for r in results):.0f} MiB per rank, of which opening and the first "
                  f"batch {max(r['rss_growth_mib'] for r in results):.0f} MiB (the rest is torch and numba), index "
                  f"{worst['index_bytes_per_window']:.3f} bytes per window; proportional set "
                  f"{max(r['memory_mib']['pss'] for r in results):.0f} MiB and private "
                  f"{max(r['memory_mib']['private'] for r in results):.0f} MiB per rank"
                  + (f"; workers: resident {max(w['rss'] for r in results for w in r['workers_memory_mib']):.0f}, "
                     f"proportional {max(w['pss'] for r in results for w in r['workers_memory_mib']):.0f}, private "
                     f"{max(w['private'] for r in results for w in r['workers_memory_mib']):.0f} MiB each"
                     if workers else ""))  # fmt: skip
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
