"""torchrun support: the same command runs on one process or many (gloo on CPU, NCCL on GPU)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from lumamba_bench.errors import LumambaError
from lumamba_bench.ranks import rank_and_world

T = TypeVar("T")


@dataclass
class Context:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def parse_device(device: str | None):
    """``--device`` as a torch device that this machine has: cpu, cuda or cuda:N (default: cuda
    when available, else cpu); anything else is one line naming what was given and why."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError):
        raise LumambaError(f"--device {device!r} is not a device; use cpu, cuda or cuda:N") from None
    if chosen.type not in ("cpu", "cuda"):
        raise LumambaError(f"--device {device}: lumamba-bench runs on cpu or cuda, not {chosen.type}")
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise LumambaError(f"--device {device}: this torch build sees no CUDA device (torch {torch.__version__})")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise LumambaError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA devices")
    return chosen


def setup(device: str | None = None) -> Context:
    """Initialise the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    use_cuda = parse_device(device).type == "cuda"
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        chosen = torch.device("cuda", local_rank)
    else:
        chosen = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Context(rank, world_size, chosen)


def main_first(ctx: Context, work: Callable[[], T]) -> T:
    """Run ``work`` on rank 0 first and on the other ranks after it (behind a barrier): for work
    whose first call writes files, such as preparing the demo corpus, and whose later calls read them."""
    if ctx.world_size == 1:
        return work()
    if ctx.is_main:
        result = work()
        dist.barrier()
        return result
    dist.barrier()
    return work()


def teardown() -> None:
    """End the process group ``setup`` began (run and pretrain do, when they return or fail)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    world = rank_and_world()[1]
    if world > 1:
        value = value.detach().clone()
        dist.all_reduce(value)
        value /= world
    return value
