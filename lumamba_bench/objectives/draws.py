"""Random draws of a step reach the device without stopping the host.

Masks, view offsets, coordinate jitter and SIGReg directions are drawn from a CPU generator
seeded by (seed, step, rank): the same numbers on every device and as the reference draws them,
so a run, a resume and a CPU/GPU pair agree bit for bit. They are small; on CUDA they travel
through pinned memory with a non-blocking copy, so drawing them does not wait for the GPU.
"""

from __future__ import annotations

import torch


def to_device(tensor: torch.Tensor, device: torch.device | str | None) -> torch.Tensor:
    """``tensor`` on ``device`` (None: where it is)."""
    if device is None or torch.device(device).type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)
