"""Fixed channel layouts that recipes derive from referential recordings."""

from __future__ import annotations

import numpy as np

from lumamba_bench.data.channels import canonical_name
from lumamba_bench.errors import RecordingError

# The TUH "temporal central parasagittal" (TCP) montage: 22 bipolar derivations, in the order
# the TUH corpora (TUAB, TUAR, TUSL, TUEG) and their published benchmarks use.
TCP_PAIRS: tuple[tuple[str, str], ...] = (
    ("FP1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1"),
    ("FP2", "F8"), ("F8", "T4"), ("T4", "T6"), ("T6", "O2"),
    ("A1", "T3"), ("T3", "C3"), ("C3", "CZ"), ("CZ", "C4"), ("C4", "T4"), ("T4", "A2"),
    ("FP1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1"),
    ("FP2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2"),
)  # fmt: skip

TCP_NAMES: tuple[str, ...] = tuple(f"{a}-{b}" for a, b in TCP_PAIRS)


def tcp_electrodes() -> list[str]:
    """Canonical names of the referential electrodes the TCP montage needs (sorted)."""
    return sorted({canonical_name(e) for pair in TCP_PAIRS for e in pair})


def derive_bipolar(
    data: np.ndarray,
    ch_names: list[str],
    pairs: tuple[tuple[str, str], ...] = TCP_PAIRS,
    min_channels: int | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Referential (C, N) signals -> bipolar (P, N) differences, by canonical electrode names.

    With ``min_channels`` set, pairs whose electrodes are missing are dropped as long as at
    least that many remain (TUEG keeps files with >= 20 derivable channels); otherwise every
    pair is required and a missing electrode is a ``RecordingError`` naming it.
    """
    index = {canonical_name(n): i for i, n in enumerate(ch_names)}
    rows_a, rows_b, names, missing = [], [], [], set()
    for a, b in pairs:
        ca, cb = canonical_name(a), canonical_name(b)
        if ca in index and cb in index:
            rows_a.append(index[ca])
            rows_b.append(index[cb])
            names.append(f"{a}-{b}")
        else:
            missing.update(e for e, c in ((a, ca), (b, cb)) if c not in index)
    needed = len(pairs) if min_channels is None else min_channels
    if len(names) < needed:
        raise RecordingError(
            f"missing required channels {', '.join(sorted(missing))}: "
            f"{len(names)} of {len(pairs)} bipolar derivations possible, {needed} needed"
        )
    return data[rows_a] - data[rows_b], names
