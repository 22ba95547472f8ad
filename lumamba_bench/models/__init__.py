"""Encoders: the contract every encoder declares (``models/base.py``: ``Encoder``), the registry,
LuMamba and the scan backends.

An encoder is an ``Encoder`` subclass registered with ``@register_encoder``; ``forward(x (B, C, T)
float32 microvolts, coords (B, C, 3) metres (head frame), mask | None, channels: list[str] | None
= the C channel names) -> tokens (B, S, embed_dim)``. Names matter only to encoders whose
reference looks electrodes up by name (LaBraM).
"""

from lumamba_bench.models.base import Encoder
from lumamba_bench.models.registry import (
    build_encoder,
    build_for_input,
    list_encoders,
    list_model_names,
    parse_model_name,
    register_encoder,
)

__all__ = [
    "Encoder",
    "build_encoder",
    "build_for_input",
    "list_encoders",
    "list_model_names",
    "parse_model_name",
    "register_encoder",
]
