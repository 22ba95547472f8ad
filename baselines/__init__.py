"""Baseline encoders, written from their papers and plugged into the same registry as LuMamba."""

from lumamba_bench.baselines import femba, labram, luna  # noqa: F401 - each registers itself
