"""Renaming published checkpoints onto our modules with an explicit (pattern, target) table.

Strict by design: each published tensor is either placed by a table row, or matches one of the
family's declared non-encoder patterns (decoders, heads, constants), or the load fails naming it.
No tensor can be dropped silently."""

from __future__ import annotations

import re

import torch

from lumamba_bench.errors import LumambaError

PREFIXES = r"^(student|module|model)\."  # wrappers the published training scripts add


def rename(
    tensors: dict[str, torch.Tensor],
    table: tuple[tuple[str, str], ...],
    own: set[str],
    ignored: dict[str, str] | None = None,
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(our name -> tensor, the published keys left out because ``ignored`` declares them).

    Each key loses a wrapper prefix, then takes the first table row whose pattern matches it whole
    and whose target names one of our tensors. A key that no row places and no ``ignored``
    pattern (pattern -> reason) names is an error."""
    mapped, left_out, unknown = {}, [], []
    for key, tensor in tensors.items():
        stripped = re.sub(PREFIXES, "", key)
        for pattern, target in table:
            if re.fullmatch(pattern, stripped) and (name := re.sub(pattern, target, stripped)) in own:
                if name in mapped:
                    raise LumambaError(f"published tensors {key!r} and another both map to {name!r}")
                mapped[name] = tensor
                break
        else:
            if any(re.fullmatch(pattern, stripped) for pattern in (ignored or {})):
                left_out.append(key)
            else:
                unknown.append(key)
    if unknown:
        shown = ", ".join(unknown[:5]) + ("..." if len(unknown) > 5 else "")
        raise LumambaError(
            f"{len(unknown)} published tensors are neither part of this encoder nor a declared head or "
            f"constant: {shown}; nothing was loaded"
        )
    return mapped, left_out
