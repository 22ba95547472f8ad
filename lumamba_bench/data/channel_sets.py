"""Channel subsets for the unseen-montage protocol: fine-tune on one set, test on another.

A channel set is ``all``, a named set, or a comma-separated list of channel names. Named sets
say which electrodes they keep in both kinds of montage, so one name works on a referential
corpus (APAVA, TDBrain) and on a bipolar one (the TUH TCP montage):

==============  ==============================================  ==========================================
name            referential montage                             bipolar montage
==============  ==============================================  ==========================================
``10-20-19ch``  the 19 electrodes of the 10-20 system           (none)
``10-20-16ch``  the 16 lateral ones (no Fz, Cz, Pz)             their 16 longitudinal derivations
                                                                ("double banana")
``left-8ch``    the 8 lateral 10-20 electrodes of the left       the 8 left-chain derivations
``right-8ch``   ... of the right hemisphere                      the 8 right-chain derivations
``tcp-22``      (none)                                          the 22 TCP derivations
==============  ==============================================  ==========================================

Names are compared after ``canonical_name`` (``T3`` is ``T7``, ``FP1-F7`` is ``Fp1-F7``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lumamba_bench.data.channels import UnknownChannelError, canonical_name
from lumamba_bench.data.montages import TCP_PAIRS
from lumamba_bench.errors import LumambaError

_LEFT = ("FP1", "F7", "F3", "T3", "C3", "T5", "P3", "O1")
_RIGHT = ("FP2", "F8", "F4", "T4", "C4", "T6", "P4", "O2")
# The longitudinal chains of the double banana: temporal (Fp-F7-T3-T5-O1) and parasagittal (Fp-F3-C3-P3-O1).
_LEFT_CHAINS = (
    ("FP1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1"), ("FP1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1"),
)  # fmt: skip
_RIGHT_CHAINS = (
    ("FP2", "F8"), ("F8", "T4"), ("T4", "T6"), ("T6", "O2"), ("FP2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2"),
)  # fmt: skip


@dataclass(frozen=True)
class NamedSet:
    description: str
    referential: tuple[str, ...] | None
    bipolar: tuple[tuple[str, str], ...] | None


NAMED_SETS: dict[str, NamedSet] = {
    "10-20-19ch": NamedSet("the 19 electrodes of the 10-20 system", _LEFT + _RIGHT + ("FZ", "CZ", "PZ"), None),
    "10-20-16ch": NamedSet(
        "16 lateral 10-20 electrodes; bipolar: their double-banana derivations",
        _LEFT + _RIGHT,
        _LEFT_CHAINS + _RIGHT_CHAINS,
    ),
    "left-8ch": NamedSet("left-hemisphere 10-20 electrodes / chains", _LEFT, _LEFT_CHAINS),
    "right-8ch": NamedSet("right-hemisphere 10-20 electrodes / chains", _RIGHT, _RIGHT_CHAINS),
    "tcp-22": NamedSet("the TUH TCP bipolar montage", None, TCP_PAIRS),
}


def _canonical(name: str, owner: str) -> str:
    try:
        return canonical_name(name)
    except UnknownChannelError as error:
        raise LumambaError(f"channel set {owner!r}: {error}") from None


def _wanted(spec: str, bipolar: bool) -> list[str]:
    """The canonical channel names a spec asks for, in the set's order."""
    if spec in NAMED_SETS:
        named = NAMED_SETS[spec]
        if bipolar:
            if named.bipolar is None:
                raise LumambaError(f"channel set {spec!r} ({named.description}) has no bipolar form")
            return [_canonical(f"{a}-{b}", spec) for a, b in named.bipolar]
        if named.referential is None:
            raise LumambaError(f"channel set {spec!r} ({named.description}) has no referential form")
        return [_canonical(e, spec) for e in named.referential]
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if len(names) < 2 and "," not in spec:
        raise LumambaError(
            f"unknown channel set {spec!r}: use all, a comma-separated channel list, or one of {', '.join(NAMED_SETS)}"
        )
    return [_canonical(n, spec) for n in names]


def select_channels(spec: str | None, channels: list[str]) -> list[int]:
    """Indices (in the montage's own order) of the channels ``spec`` keeps from ``channels``.

    Every channel the spec names must be in the montage; a set that keeps nothing is an error."""
    if spec is None or spec == "all":
        return list(range(len(channels)))
    canon = [canonical_name(c) for c in channels]
    bipolar = all("-" in c for c in canon)
    wanted = _wanted(spec, bipolar)
    missing = [w for w in wanted if w not in canon]
    if missing:
        raise LumambaError(
            f"channel set {spec!r} needs {', '.join(missing)}, which the montage lacks (it has {', '.join(channels)})"
        )
    keep = set(wanted)
    rows = [i for i, c in enumerate(canon) if c in keep]
    if not rows:  # e.g. --test-channels ",": refused when the split is opened, before any training
        raise LumambaError(f"channel set {spec!r} keeps no channel of the montage ({', '.join(channels)})")
    return rows
