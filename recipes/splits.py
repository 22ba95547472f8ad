"""Deterministic subject-level splits.

A subject's split depends only on its id and a fixed salt (sha256), never on directory order
or on which other subjects exist, so adding files to a corpus never moves a subject between
splits, and no subject can appear in two splits.
"""

from __future__ import annotations

import hashlib


def hash_fraction(subject_id: str, salt: str) -> float:
    """A stable number in [0, 1) for a subject."""
    digest = hashlib.sha256(f"{salt}:{subject_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_split(subject_id: str, salt: str, fractions: dict[str, float]) -> str:
    """Pick a split by cumulative fractions, e.g. ``{"train": 0.8, "val": 0.2}``."""
    if abs(sum(fractions.values()) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    point, cumulative = hash_fraction(subject_id, salt), 0.0
    for split, fraction in fractions.items():
        cumulative += fraction
        if point < cumulative:
            return split
    return next(reversed(fractions))


def ranked_split(subjects: list[str], salt: str, sizes: dict[str, int]) -> dict[str, str]:
    """Subjects ranked by ``hash_fraction`` and cut into splits of exactly ``sizes`` (in order),
    e.g. TUSL's 30 / 4 / 4: every split has its declared size, on every machine."""
    if sum(sizes.values()) != len(subjects):
        raise ValueError(f"split sizes {sizes} do not add up to the {len(subjects)} subjects")
    ranked = sorted(set(subjects), key=lambda s: (hash_fraction(s, salt), s))
    out, start = {}, 0
    for split, size in sizes.items():
        out.update(dict.fromkeys(ranked[start : start + size], split))
        start += size
    return out
