"""Which model a run means: a registered name, a name ``pretrain --name`` gave, a factory or an
object given from Python, and its weights (``--checkpoint``, a hub address, or the model store).
Resolving reads no weights into a model: each seed's encoder loads them once, when it is built.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

from torch import nn

from lumamba_bench.errors import LumambaError
from lumamba_bench.files import sha256_of
from lumamba_bench.harness.checkpoints import find_pretrained, load_encoder_weights, read_card
from lumamba_bench.harness.hub import local_checkpoint
from lumamba_bench.models import parse_model_name
from lumamba_bench.models.registry import build_for_dataset, build_for_input, check_rate, encoder_spec


@dataclass
class ResolvedModel:
    name: str
    architecture: str
    objective: str | None
    scratch: bool
    weights: Path | None
    sha256: str | None
    card: dict | None
    factory: str | None = None  # package.module:factory that builds it (--model)
    hub: dict | None = None  # where the weights came from, when --checkpoint was hf://... (harness/hub.py)

    def build(self, manifest: dict, channels: list | None = None, samples: int | None = None, **overrides) -> nn.Module:
        """The encoder for this dataset (or for ``channels`` x ``samples``), with the weights loaded
        (``-scratch``: randomly initialised, on purpose): the one way run and analyze get one.
        ``overrides``: config values that change training, not weights (drop path)."""
        if channels is not None:
            encoder = build_for_input(self.architecture, channels, samples, **overrides)
            check_rate(encoder, manifest)
        else:
            encoder = build_for_dataset(self.architecture, manifest, **overrides)
        if self.weights is not None:
            load_encoder_weights(encoder, self.weights, hash_file=False)  # resolving hashed it once
        return encoder


def _parse(name: str, root: Path | None):
    """A registered model name, or a name ``pretrain --name`` gave an encoder in the model store
    (its card says which model it is); and the weights the store holds under it (or None)."""
    try:
        parsed = parse_model_name(name)
    except LumambaError:
        weights = find_pretrained(name, root)
        card = read_card(weights) if weights is not None else None
        if card is None or card.get("name") != name:
            raise
        return parse_model_name(card["model"]), weights
    return parsed, None if parsed.scratch else find_pretrained(parsed.pretrained_name, root)


def model_name_of(name: str, root: Path | None = None):
    """What a model name means (``ModelName``), a name ``pretrain --name`` gave an encoder in the
    model store included; its weights are not loaded."""
    return _parse(name, root)[0]


def resolve_model(name: str, checkpoint: Path | str | None, root: Path | None) -> ResolvedModel:
    """The model a name means, with its weights: ``checkpoint`` (a file or a hub address), or
    the model store's; a ``-scratch`` name has none, on purpose."""
    parsed, stored = _parse(name, root)
    if parsed.scratch and checkpoint is not None:
        raise LumambaError(f"{name} means random initialisation; drop -scratch to load {checkpoint}")
    given, hub_record = local_checkpoint(checkpoint)
    if parsed.factory is not None:  # as the factory or instance builds it; --checkpoint loads weights onto it
        shown = parsed.architecture + ("-scratch" if parsed.scratch else "")
        resolved = ResolvedModel(shown, parsed.architecture, None, parsed.scratch, None, None, None,
                                 factory=parsed.factory)  # fmt: skip
        return resolved if given is None else _with_weights(resolved, given, hub_record)
    if parsed.scratch:
        return ResolvedModel(name, parsed.architecture, parsed.objective, True, None, None, None)
    weights = given if given is not None else stored
    if weights is None:
        spec = encoder_spec(parsed.architecture)
        can_pretrain = parsed.objective or spec.pretrain_objective
        how = f"run `lumamba-bench pretrain --model {parsed.pretrained_name}`, " if can_pretrain else ""
        raise LumambaError(
            f"no pre-trained weights for {name}: {how}pass --checkpoint PATH, or use {name}-scratch "
            "to fine-tune from random initialisation"
        )
    resolved = ResolvedModel(name, parsed.architecture, parsed.objective, False, None, None, None)
    return _with_weights(resolved, weights, hub_record)


def _with_weights(resolved: ResolvedModel, weights: Path, hub_record: dict | None = None) -> ResolvedModel:
    """The file's sha256 and card; its tensors are checked when each seed's encoder loads them."""
    if not Path(weights).is_file():
        raise LumambaError(f"{weights}: no such checkpoint file")
    stat = Path(weights).stat()
    sha256 = _file_sha256(str(Path(weights).resolve()), stat.st_size, stat.st_mtime_ns)
    return replace(resolved, scratch=False, weights=Path(weights), sha256=sha256, card=read_card(weights),
                   hub=hub_record)  # fmt: skip


@functools.lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """A checkpoint's sha256, once per file version: the command line resolves the model to fail
    early, then the run resolves it again (a 1 GB checkpoint is not read twice)."""
    return sha256_of(path)


def resolve_for_eval(model: str, checkpoint: Path | str | None) -> ResolvedModel:
    """``--protocol eval``: a fine-tuned checkpoint (encoder and head), scored as it is."""
    if checkpoint is None:
        raise LumambaError("--protocol eval scores a fine-tuned checkpoint: pass --checkpoint FILE")
    weights, hub_record = local_checkpoint(checkpoint)
    return ResolvedModel(model, parse_model_name(model).architecture, None, False, weights, None, None, hub=hub_record)
