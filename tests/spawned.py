"""Test code run in other processes: the ranks of a two-process job, and a fresh interpreter
counting numba's disk-cache hits."""

from __future__ import annotations

import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_ranks(target, world: int, *args, timeout: float = 300) -> dict[int, dict]:
    """Start ``target(rank, world, port, *args, results)`` in ``world`` spawned processes; each puts
    a dict with its ``rank`` on ``results``. Returns them by rank."""
    import torch.multiprocessing as mp

    port = free_port()
    context = mp.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=target, args=(r, world, port, *args, results)) for r in range(world)]
    for p in processes:
        p.start()
    outcome = {}
    for _ in processes:
        item = results.get(timeout=timeout)
        outcome[item["rank"]] = item
    for p in processes:
        p.join(timeout=60)
    return outcome


def cache_hits_and_misses(code: str, kernels: str) -> list[str]:
    """Run ``code`` in a fresh interpreter, then print the disk-cache hits and misses summed over
    ``kernels`` (an expression for a tuple of numba functions); returns the two numbers as text."""
    probe = (
        f"{code}\nkernels = {kernels}\n"
        "print(sum(sum(k.stats.cache_hits.values()) for k in kernels), "
        "sum(sum(k.stats.cache_misses.values()) for k in kernels))"
    )
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
