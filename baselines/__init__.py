"""Baseline encoders (LUNA, LaBraM, FEMBA), registered in `lumamba_bench.models`."""
