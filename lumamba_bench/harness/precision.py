"""Numeric precision of training and embedding: fp32 (TF32 matmuls on CUDA) or bf16 autocast.

bf16 autocast runs matmuls and convolutions in bfloat16 and keeps reductions and losses in
float32; the selective scan computes in float32 whatever it is given (as mamba-ssm's reference
does), so only the projections around it lose precision. Recorded in results files and cards.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from lumamba_bench.errors import LumambaError

PRECISIONS = ("fp32", "bf16")
_active = "fp32"


def configure(device: torch.device, precision: str) -> None:
    """Check the choice; on CUDA let fp32 matmuls use TF32 tensor cores (10-bit mantissa inputs,
    float32 accumulation: PyTorch's default for convolutions, off by default for matmuls)."""
    global _active
    if precision not in PRECISIONS:
        raise LumambaError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    _active = precision
    if torch.device(device).type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def restore(precision: str) -> None:
    """Put back a precision ``active`` returned (after a run with its own)."""
    global _active
    if precision not in PRECISIONS:
        raise LumambaError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    _active = precision


def active() -> str:
    """The precision ``configure`` chose (recorded in results files and checkpoint cards)."""
    return _active


def autocast(device: torch.device | str):
    """The context a forward pass (and its loss) runs in, for the configured precision."""
    if _active == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return nullcontext()
