"""Which pre-training settings a resume may change (where it writes, how often it checkpoints)
and which it may not (what it trains, on what data, computed how), and the model-store name."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from lumamba_bench.errors import LumambaError
from lumamba_bench.models.registry import list_model_names

if TYPE_CHECKING:
    from lumamba_bench.harness.pretrain import PretrainConfig

RESUMABLE = {"resume", "resume_with_changes", "out", "data_root", "device", "max_steps", "register",
             "checkpoint_every", "keep_checkpoints", "workers", "log_every", "name"}  # fmt: skip


COMPUTE = {"precision", "scan_backend"}  # how the steps are computed: the card records them apart (compute_record)
MAX_GRAD_NORM = 1e5  # a gradient norm (before clipping) above this is divergence, not learning


def changed_settings(
    card: dict, config: PretrainConfig, manifest_sha: str, compute: dict | None = None
) -> list[str]:
    """'name: checkpoint's -> now' for every training setting a resume would change, the data,
    and (``compute``: device type, precision, scan backend now) how the steps are computed; a
    checkpoint written before it recorded one of those is not held to it."""
    before = dict(card.get("hyperparameters", {}))
    if "corpus" in before:  # checkpoints written before the recipe was called `task` everywhere
        before.setdefault("task", before.pop("corpus"))
    now = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    changes = [
        f"{name}: {before.get(name, 'absent')} -> {now[name]}"
        for name in sorted(now)
        if name not in RESUMABLE | COMPUTE and before.get(name, "absent") != now[name]
    ]
    if card.get("manifest_sha256") not in (None, manifest_sha):
        changes.append(f"corpus manifest: {card['manifest_sha256'][:12]}... -> {manifest_sha[:12]}...")
    stated = compute_record(card)
    now = sorted((compute or {}).items())
    changes += [f"{k}: {stated[k]} -> {v}" for k, v in now if stated.get(k) not in (None, v)]
    return changes


def compute_record(card: dict) -> dict:
    """How a checkpoint's steps were computed, as ``changed_settings`` compares it."""
    return {"device": card.get("device"), "precision": card.get("precision"),
            "scan backend": (card.get("scan_backend") or {}).get("used")}  # fmt: skip


def check_store_name(name: str | None, model: str) -> None:
    """A model-store name is a folder and a leaderboard model name: a plain slug, and not a name
    that already means something else (a registered model, or a -scratch one)."""
    if name is None or name == model:
        return
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", name) or name.endswith("-scratch"):
        raise LumambaError(
            f"--name {name!r}: use lower-case letters, digits, '.', '_' and '-' (at most 64), not ending in -scratch"
        )
    if name in list_model_names():
        raise LumambaError(f"--name {name!r} is a registered model name; pick a name of its own")
