"""The training settings `pretrain` and `run` share: the learning-rate schedule and gradient
clipping (one definition, so the two loops cannot drift apart)."""

from __future__ import annotations

import math

import torch

GRAD_CLIP_NORM = 1.0  # global L2 norm, as the reference configs clip (gradient_clip_val 1.0)


def warmup_cosine(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warm-up to ``base`` over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def clip_gradients(parameters, max_norm: float = GRAD_CLIP_NORM) -> torch.Tensor:
    """Clip the global gradient norm in place; returns the norm before clipping (on the device)."""
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)
