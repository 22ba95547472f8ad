"""Where this process stands in a torchrun job: the one helper every layer asks (rank 0 of 1
when not distributed)."""

from __future__ import annotations


def rank_and_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1
