"""Encoders: the protocol every encoder follows, the registry, LuMamba and the scan backends.

Encoder protocol: ``embed_dim`` (size of one output token) and
``forward(x (B, C, T) float32 microvolts, coords (B, C, 3) metres, mask (B, C, S) bool | None)
-> tokens (B, S, embed_dim)``.
"""

from lumamba_bench.models.registry import (
    build_encoder,
    build_for_input,
    list_encoders,
    list_model_names,
    parse_model_name,
    register_encoder,
)

__all__ = [
    "build_encoder",
    "build_for_input",
    "list_encoders",
    "list_model_names",
    "parse_model_name",
    "register_encoder",
]
