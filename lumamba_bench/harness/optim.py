"""Learning-rate schedules, layer-wise decay and gradient clipping: one definition each, shared by
`pretrain` and `run` so the loops cannot drift apart.

The fine-tuning schedules are the authors' own, written from their definitions and checked against
their code step by step (``tests/harness/test_finetune_golden.py``):
- ``timm_cosine``: timm's ``CosineLRScheduler`` as BioFoundation steps it (``t_in_epochs=False``,
  one update per optimiser step): a linear warm-up from ``warmup_lr`` to each group's own rate,
  then a cosine from it to the absolute floor ``min_lr`` over *all* steps (timm does not shift the
  cosine by the warm-up), the floor once ``total`` is reached.
- ``labram_cosine``: LaBraM's ``utils.cosine_scheduler`` (``np.linspace(0, base, warmup)``, then a
  cosine to ``min_lr`` over the remaining steps), multiplied by each group's scale afterwards.
"""

from __future__ import annotations

import math

import torch
from torch import nn

GRAD_CLIP_NORM = 1.0  # global L2 norm, as the reference's pre-training configs clip (gradient_clip_val 1.0)


def warmup_cosine(step: int, total: int, warmup: int, base: float) -> float:
    """Pre-training: linear warm-up to ``base`` over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def timm_cosine(step: int, total: int, warmup: int, base: float, warmup_lr: float, min_lr: float) -> float:
    """The rate of optimiser step ``step`` (0-based) for a group whose rate is ``base``."""
    if step < warmup:
        return warmup_lr + step * ((base - warmup_lr) / warmup)
    if step >= total:
        return min_lr
    return min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * step / total))


def labram_cosine(step: int, total: int, warmup: int, base: float, min_lr: float) -> float:
    """LaBraM's schedule value at step ``step``, before its group's scale is applied."""
    if step < warmup:
        return 0.0 if warmup == 1 else step * (base / (warmup - 1))
    decay_steps = total - warmup
    i = min(step - warmup, decay_steps - 1)
    return min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * i / decay_steps))


def blocks_scales(encoder: nn.Module, decay: float) -> dict[int, float]:
    """BioFoundation's layer decay: block i of the encoder's n ``decay_blocks()`` at
    ``decay ** (n - i)``; every other parameter (front end, final norm, head) at 1. By parameter id."""
    blocks = encoder.decay_blocks()
    return {id(p): decay ** (len(blocks) - i) for i, block in enumerate(blocks) for p in block.parameters()}


def labram_layer_id(name: str, depth: int) -> int:
    """LaBraM's ``optim_factory.get_num_layer_for_vit`` on an encoder-relative name: the class
    token, spatial embedding and patch embedding are layer 0, block i is i + 1, everything else
    (the temporal embedding included, as the reference assigns it, and the head) is depth + 1."""
    if name in ("cls_token", "mask_token", "pos_embed") or name.startswith("patch_embed"):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return depth + 1


def labram_scales(encoder: nn.Module, decay: float) -> dict[int, float]:
    depth = len(encoder.decay_blocks())
    return {id(p): decay ** (depth + 1 - labram_layer_id(n, depth)) for n, p in encoder.named_parameters()}


def labram_no_weight_decay(name: str, parameter: nn.Parameter) -> bool:
    """LaBraM's ``get_parameter_groups``: 1-D tensors, biases and ``no_weight_decay()`` names."""
    return parameter.ndim <= 1 or name.endswith(".bias") or name in ("pos_embed", "cls_token", "time_embed")


def clip_gradients(parameters, max_norm: float = GRAD_CLIP_NORM) -> torch.Tensor:
    """Clip the global gradient norm in place; returns the norm before clipping (on the device)."""
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)
