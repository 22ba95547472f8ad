"""Electrode registry: any corpus channel name -> canonical 10-05 name and 3-D position.

Positions come from MNE's ``colin27_1005`` template (``standard_1005`` is its deprecated alias),
in metres in MNE's *head* frame (origin between the ears, x towards the right ear, y towards
the nasion): the frame ``Info.set_montage`` puts them in, and so the frame BioFoundation's
``get_channel_locations`` gave the published LUNA and LuMamba weights. The template's own MRI
frame differs by a rotation and a 3-4 cm shift. Names are matched case-insensitively after
removing what exports add around them: spacing and BCI2000's dot padding (``Cz..``), the
``EEG``/``POL`` prefixes, and the reference suffixes ``-REF``, ``-LE``, ``-AR``, ``-AVG``, ``-CAR``,
``-A1A2`` (``EEG FP1-REF`` -> ``Fp1``); the old 10-20 temporal names map to the new ones
(T3->T7, T4->T8, T5->P7, T6->P8). A bipolar derivation (``FP1-F7``) sits at the midpoint of its
two electrodes. An unknown name is an error that names it: never a silent zero.

Ear and mastoid references (``-A1``, ``-A2``, ``-M1``, ``-M2``) are electrodes, so ``Fp1-A1`` could
be a referential channel or a bipolar derivation. ``referential_labels`` decides per file: when
every two-electrode label of the file ends in an ear or mastoid electrode, the file is recorded
against the ears and ``Fp1-A1`` is electrode Fp1; otherwise (a bipolar montage such as TCP, whose
``T4-A2`` sits among ``F8-T4`` and the like) each label stays the pair it names.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from lumamba_bench.errors import LumambaError

TEMPLATE = "colin27_1005"

OLD_TO_NEW = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}

# Recording-system prefixes and reference suffixes seen in TUH, BIDS and vendor exports.
_PREFIX = re.compile(r"^(EEG|POL)[\s_]+", re.IGNORECASE)
# A recording-type prefix other than EEG: the signal is not EEG, whatever electrode it names.
_NON_EEG = re.compile(
    r"^(EOG|EMG|ECG|EKG|RESP|RES|SAO2|SPO2|PHOTIC|IBI|BURSTS|SUPPR|DC|PG|LOC|ROC)(?=[\s_-]|$)", re.IGNORECASE
)
_REF_SUFFIX = re.compile(r"[-_](REF|LE|AR|AVG|AV|CAR|A1A2)$", re.IGNORECASE)
EAR_REFERENCES = ("A1", "A2", "M1", "M2")


class UnknownChannelError(LumambaError):
    pass


@lru_cache(maxsize=1)
def _template() -> dict[str, np.ndarray]:
    """Canonical name -> position (metres, head frame), from MNE's template."""
    import mne

    montage = mne.channels.make_standard_montage(TEMPLATE)
    montage.apply_trans(mne.channels.compute_native_head_t(montage))  # MRI -> head, as set_montage does
    return {name: np.asarray(pos, dtype=np.float64) for name, pos in montage.get_positions()["ch_pos"].items()}


@lru_cache(maxsize=1)
def _by_upper() -> dict[str, str]:
    return {name.upper(): name for name in _template()}


def _electrode(token: str) -> str | None:
    """Canonical name of a single electrode token, or None when unknown."""
    upper = token.strip().upper()
    upper = OLD_TO_NEW.get(upper, upper)
    return _by_upper().get(upper)


def _tidy(label: str) -> str:
    """Spacing, dot padding (``'Cz..'``) and a recording-type prefix removed; suffixes kept."""
    text = re.sub(r"\s*-\s*", "-", label.strip().rstrip(".").strip())
    if _NON_EEG.match(text):
        return text
    return _PREFIX.sub("", text)


def _split_bipolar(name: str) -> tuple[str, str] | None:
    parts = name.split("-")
    if len(parts) != 2:
        return None
    first, second = _electrode(parts[0]), _electrode(parts[1])
    if first is None or second is None:
        return None
    return first, second


def spelled_name(name: str) -> str:
    """The label as the recording spells it, without prefix or reference suffix, upper case:
    ``'EEG T3-REF'`` -> ``'T3'`` (not T7), ``'Fp1-F7'`` -> ``'FP1-F7'``. For encoders whose
    reference looks electrodes up by name (LaBraM)."""
    return _REF_SUFFIX.sub("", _tidy(name)).upper()


def canonical_name(name: str) -> str:
    """``'EEG T3-REF'`` -> ``'T7'``; ``'FP1-F7'`` -> ``'Fp1-F7'``. Raises for unknown names and
    for signals typed as something other than EEG (``'EOG FP1'``, ``'EMG C3'``)."""
    stripped = _tidy(name)
    if _NON_EEG.match(stripped) or _NON_EEG.match(name.strip()):
        raise UnknownChannelError(f"{name!r} is not an EEG channel (its type prefix says otherwise)")
    single = _electrode(stripped)
    if single is not None:
        return single
    without_ref = _REF_SUFFIX.sub("", stripped)
    single = _electrode(without_ref)
    if single is not None:
        return single
    pair = _split_bipolar(without_ref)
    if pair is not None:
        return f"{pair[0]}-{pair[1]}"
    raise UnknownChannelError(f"unknown EEG channel {name!r}: not a 10-05 electrode or a bipolar pair of them")


def position(name: str) -> np.ndarray:
    """3-D position (metres) of a channel; a bipolar pair sits at the midpoint of its electrodes."""
    canon = canonical_name(name)
    table = _template()
    if "-" in canon:
        first, second = canon.split("-")
        return (table[first] + table[second]) / 2.0
    return table[canon].copy()


def positions(names: list[str]) -> np.ndarray:
    """(C, 3) float32 positions for a channel list, in order."""
    return np.stack([position(n) for n in names]).astype(np.float32)


def template_names() -> list[str]:
    """The template's electrode names, in its own order."""
    return list(_template())


def is_known(name: str) -> bool:
    try:
        canonical_name(name)
    except UnknownChannelError:
        return False
    return True


def referential_labels(labels: list[str]) -> list[str]:
    """The file's labels with ear/mastoid references removed when the file is ear-referenced
    (see the module docstring for the rule); other labels are returned unchanged."""
    pairs = {}
    for i, label in enumerate(labels):
        if not is_known(label):
            continue
        tidy = _REF_SUFFIX.sub("", _tidy(label))
        pair = _split_bipolar(tidy)
        if pair is not None:
            pairs[i] = (tidy.rsplit("-", 1)[0], pair[1])
    if not pairs or any(reference not in EAR_REFERENCES for _, reference in pairs.values()):
        return list(labels)
    return [pairs[i][0] if i in pairs else label for i, label in enumerate(labels)]
