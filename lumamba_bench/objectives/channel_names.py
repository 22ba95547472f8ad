"""The channel-name table of BioFoundation's reconstruction decoder (``models/modules/
channel_embeddings.py``): the sorted union of SEED's 62 electrodes, TUEG's 22 TCP derivations
and Siena's 29 electrodes: 90 distinct names. The decoder adds a learned embedding per name to each
channel's query, so a published decoder's rows only mean something in this order."""

from __future__ import annotations

import warnings
from functools import cache

import torch

from lumamba_bench.data.channels import spelled_name

SEED = (
    "FP1 FPZ FP2 AF3 AF4 F7 F5 F3 F1 FZ F2 F4 F6 F8 FT7 FC5 FC3 FC1 FCZ FC2 FC4 FC6 FT8 T7 C5 C3 C1 CZ C2 C4 C6 "
    "T8 TP7 CP5 CP3 CP1 CPZ CP2 CP4 CP6 TP8 P7 P5 P3 P1 PZ P2 P4 P6 P8 PO7 PO5 PO3 POZ PO4 PO6 PO8 CB1 O1 OZ O2 CB2"
).split()
TUEG_TCP = (
    "FP1-F7 F7-T3 T3-T5 T5-O1 FP2-F8 F8-T4 T4-T6 T6-O2 T3-C3 C3-CZ CZ-C4 C4-T4 "
    "FP1-F3 F3-C3 C3-P3 P3-O1 FP2-F4 F4-C4 C4-P4 P4-O2 A1-T3 T4-A2"
).split()
SIENA = (
    "FP1 FP2 F3 C3 P3 O1 F7 T3 T5 FC1 FC5 CP1 CP5 F9 FZ CZ PZ F4 C4 P4 O2 F8 T4 T6 FC2 FC6 CP2 CP6 F10"
).split()
NAMES = tuple(sorted(set(SEED) | set(TUEG_TCP) | set(SIENA)))
INDEX = {name: i for i, name in enumerate(NAMES)}


def name_indices(channels: list[str], device=None) -> torch.Tensor:
    """(C,) rows of the decoder's name table, -1 for a name the table lacks (warned: that
    channel's query gets no name embedding; the reference would fail on it)."""
    return torch.tensor(_rows(tuple(channels)), device=device)


@cache
def _rows(channels: tuple[str, ...]) -> tuple[int, ...]:
    """Once per montage: the lookup, and the warning for unlisted names."""
    spelled = [spelled_name(c) for c in channels]
    unlisted = [c for c, s in zip(channels, spelled, strict=True) if s not in INDEX]
    if unlisted:
        warnings.warn(
            f"{', '.join(unlisted)} are not in the reference decoder's channel-name table; their decoder "
            "queries get no name embedding",
            stacklevel=4,
        )
    return tuple(INDEX.get(s, -1) for s in spelled)
