"""Baseline encoders, written from their papers and plugged into the same registry as LuMamba.

Each module registers its encoders with ``@register_encoder`` and is declared under the
``lumamba_bench.encoders`` entry points in ``pyproject.toml``: a new baseline is one new module
and one line there.
"""
