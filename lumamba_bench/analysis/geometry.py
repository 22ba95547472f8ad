"""How isotropic a cloud of embeddings is: the figures LeJEPA's SIGReg pushes on.

- ``epps_pulley``: SIGReg's statistic (mean Epps-Pulley over random unit directions, the
  training loss's own code) on centred embeddings scaled to unit mean variance, so it measures
  shape, not scale: an isotropic Gaussian cloud scores near its null value, a cloud stretched
  along few directions scores high. ``sigreg_raw`` is the same on the raw embeddings (what
  LeJEPA minimises, scale included).
- ``effective_rank``: exp of the entropy of the normalised covariance spectrum (Roy & Vetterli
  2007): K for perfectly isotropic K-dimensional embeddings, 1 for a line.
- ``condition_number``: largest / smallest covariance eigenvalue over the rank the sample can
  support (min(N - 1, K) eigenvalues), with that rank stated.
"""

from __future__ import annotations

import numpy as np
import torch

from lumamba_bench.objectives.lejepa import sigreg


def covariance_spectrum(embeddings: np.ndarray) -> np.ndarray:
    """Eigenvalues of the sample covariance, largest first, negatives (round-off) clipped to 0."""
    centred = embeddings - embeddings.mean(0, keepdims=True)
    covariance = centred.T @ centred / max(1, len(embeddings) - 1)
    return np.linalg.eigvalsh(covariance.astype(np.float64))[::-1].clip(min=0.0)


def effective_rank(spectrum: np.ndarray) -> float:
    total = spectrum.sum()
    if total <= 0:
        return 0.0
    p = spectrum[spectrum > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def isotropy(embeddings: np.ndarray, num_slices: int = 300, seed: int = 0) -> dict:
    """The isotropy figures of (N, K) embeddings (see the module docstring)."""
    n, k = embeddings.shape
    spectrum = covariance_spectrum(embeddings)
    rank = min(n - 1, k)
    supported = spectrum[:rank]
    centred = embeddings - embeddings.mean(0, keepdims=True)
    scale = np.sqrt(max(spectrum.sum() / k, 1e-30))
    as_tensor = torch.from_numpy(np.ascontiguousarray(centred / scale, dtype=np.float64))
    raw = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float64))
    return {
        "windows": int(n),
        "dimensions": int(k),
        "epps_pulley": float(sigreg(as_tensor, num_slices, step=seed)),
        "sigreg_raw": float(sigreg(raw, num_slices, step=seed)),
        "effective_rank": effective_rank(spectrum),
        "effective_rank_fraction": effective_rank(spectrum) / k,
        "condition_number": float(supported[0] / supported[-1]) if supported[-1] > 0 else float("inf"),
        "condition_rank": int(rank),
        "top_eigenvalue_share": float(spectrum[0] / spectrum.sum()) if spectrum.sum() > 0 else 1.0,
        "mean_variance": float(spectrum.sum() / k),
    }
