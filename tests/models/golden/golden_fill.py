"""Deterministic weights and inputs for the conformance fixtures, shared by the fixture generator
(which runs the authors' code) and the tests (which run ours): only a seed and a shape table
travel in the fixture, never the weights."""

from __future__ import annotations

import numpy as np

SEED = 20261125


def fill(shapes: dict[str, list[int]], seed: int = SEED) -> dict[str, np.ndarray]:
    """One float32 array per key, from ``(seed, position of the key)``.

    Matrices and kernels: N(0, 1/last_dim); vectors named ``*weight``: 1 + N(0, 0.1^2) (norm
    gains); other vectors: N(0, 0.1^2); scalars: 1."""
    out = {}
    for index, (key, shape) in enumerate(shapes.items()):
        rng = np.random.default_rng([seed, index])
        if len(shape) == 0:
            value = np.ones((), dtype=np.float64)
        elif len(shape) == 1:
            value = rng.standard_normal(shape) * 0.1 + (1.0 if key.endswith("weight") else 0.0)
        else:
            value = rng.standard_normal(shape) / np.sqrt(shape[-1])
        out[key] = value.astype(np.float32)
    return out


def signal(channels: int, samples: int, seed: int = SEED, batch: int = 2, sfreq: float = 256.0) -> np.ndarray:
    """(batch, channels, samples) float32 microvolts: 1/f-shaped noise band-limited below 70 Hz,
    tens of microvolts, with a per-channel offset (so normalisations that centre have work to do)."""
    rng = np.random.default_rng([seed, channels, samples])
    spectrum = rng.standard_normal((batch, channels, samples // 2 + 1)) + 1j * rng.standard_normal(
        (batch, channels, samples // 2 + 1)
    )
    freqs = np.fft.rfftfreq(samples, 1 / sfreq)
    spectrum *= np.where((freqs > 0) & (freqs < 70), 1 / np.sqrt(np.maximum(freqs, 0.5)), 0.0)
    x = np.fft.irfft(spectrum, n=samples)
    x *= 20.0 / x.std(axis=-1, keepdims=True)
    x += rng.uniform(-10, 10, (batch, channels, 1))
    return x.astype(np.float32)
