"""Renaming published checkpoints onto our modules with an explicit (pattern, target) table."""

from __future__ import annotations

import re

import torch

PREFIXES = r"^(student|module|model)\."  # wrappers the published training scripts add


def rename(
    tensors: dict[str, torch.Tensor], table: tuple[tuple[str, str], ...], own: set[str]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(our name -> tensor, published keys with no counterpart in ``own``).

    Each key loses a wrapper prefix, then takes the first table row whose pattern matches it whole
    and whose target names one of our tensors; a key no row places is returned apart."""
    mapped, ignored = {}, []
    for key, tensor in tensors.items():
        stripped = re.sub(PREFIXES, "", key)
        for pattern, target in table:
            if re.fullmatch(pattern, stripped) and (name := re.sub(pattern, target, stripped)) in own:
                mapped.setdefault(name, tensor)
                break
        else:
            ignored.append(key)
    return mapped, ignored
