"""Baseline encoders, written from their papers and plugged into the same registry as LuMamba.

Each module registers its encoders with ``@register_encoder``; the registry imports every module
of this package on first use, so a new baseline is one new module.
"""
