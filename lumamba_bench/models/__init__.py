"""Encoders: the protocol every encoder follows, the registry, LuMamba and the scan backends.

Encoder protocol: ``embed_dim`` (size of one output token), ``config.input_normalisation``
(what the encoder applies to its microvolt input, ``models/normalisation.py``) and
``forward(x (B, C, T) float32 microvolts, coords (B, C, 3) metres (head frame), mask | None,
channels: list[str] | None = the C channel names) -> tokens (B, S, embed_dim)``. Names matter
only to encoders whose reference looks electrodes up by name (LaBraM).
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
