"""Name -> encoder factory, timm-style. The harness only ever calls ``build_encoder(name)``.

Model names: ``<family>`` (architecture), ``<family>-<objective>`` (pre-trained with that
objective, e.g. ``lumamba-mixed``), ``<name>-scratch`` (random initialisation on purpose).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from lumamba_bench.errors import LumambaError
from lumamba_bench.models.base import Encoder


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    factory: Callable[..., nn.Module]
    objectives: tuple[str, ...]
    paper: str
    family: str
    pretrain_objective: str | None = None  # what `pretrain --model NAME` runs for a name without objective
    note: str = ""  # one line for the `models` table (what is and is not supported)
    weights: str = ""  # where published weights are (URL), if any
    licence: str = ""  # of those weights


_ENCODERS: dict[str, EncoderSpec] = {}


def register_encoder(
    name: str,
    objectives: tuple[str, ...] = (),
    paper: str = "",
    family: str | None = None,
    pretrain_objective: str | None = None,
    note: str = "",
    weights: str = "",
    licence: str = "",
):
    """Decorator: register an encoder factory (returning an ``Encoder``) under ``name``, with what
    a user needs to know about it (timm's pretrained config, in spirit)."""

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _ENCODERS[name] = EncoderSpec(
            name, factory, tuple(objectives), paper, family or name.split("-")[0], pretrain_objective, note,
            weights, licence,
        )  # fmt: skip
        return factory

    return decorate


@dataclass(frozen=True)
class ModelName:
    """A parsed model name: architecture, pre-training objective (or None), scratch or not."""

    architecture: str
    objective: str | None
    scratch: bool

    @property
    def pretrained_name(self) -> str:
        return self.architecture if self.objective is None else f"{self.architecture}-{self.objective}"


def _load_builtin() -> None:
    """Import every module of the baselines package and LuMamba's: each registers itself."""
    import importlib
    import pkgutil

    import lumamba_bench.baselines as baselines

    importlib.import_module("lumamba_bench.models.lumamba")
    for module in pkgutil.iter_modules(baselines.__path__):
        importlib.import_module(f"{baselines.__name__}.{module.name}")


def parse_model_name(name: str) -> ModelName:
    _load_builtin()
    base, scratch = (name[: -len("-scratch")], True) if name.endswith("-scratch") else (name, False)
    if base in _ENCODERS:
        return ModelName(base, None, scratch)
    architecture, _, objective = base.rpartition("-")
    if architecture in _ENCODERS and objective in _ENCODERS[architecture].objectives:
        return ModelName(architecture, objective, scratch)
    raise LumambaError(f"unknown model {name!r}; known models: {', '.join(list_model_names())}")


def encoder_spec(architecture: str) -> EncoderSpec:
    """The registered architecture; a model name (``lumamba-mixed``) or an unknown name is an
    error that says which names are architectures."""
    _load_builtin()
    if architecture not in _ENCODERS:
        raise LumambaError(
            f"unknown architecture {architecture!r}; architectures are {', '.join(sorted(_ENCODERS))} "
            "(model names such as lumamba-mixed add an objective to one of them)"
        )
    return _ENCODERS[architecture]


def list_encoders() -> list[str]:
    """Architecture names (``lumamba``, ``luna-base``, ...)."""
    _load_builtin()
    return sorted(_ENCODERS)


def list_model_names() -> list[str]:
    """Every name the CLI accepts: architectures with each objective, and their -scratch forms."""
    names = []
    for arch in list_encoders():
        pretrained = [f"{arch}-{o}" for o in _ENCODERS[arch].objectives] or [arch]
        names += pretrained + [f"{n}-scratch" for n in pretrained]
    return names


def build_encoder(name: str, **overrides) -> nn.Module:
    """The architecture behind a model name, randomly initialised (weights are loaded elsewhere)."""
    parsed = parse_model_name(name)
    encoder = _ENCODERS[parsed.architecture].factory(**overrides)
    if not isinstance(encoder, Encoder):
        raise TypeError(f"{parsed.architecture}'s factory returned a {type(encoder).__name__}, not an Encoder")
    return encoder


def build_for_input(name: str, channels: int, samples: int, **overrides) -> nn.Module:
    """``build_encoder`` for data of a given shape: encoders whose size depends on the montage
    (``fixed_topology``, e.g. FEMBA) are built for ``channels`` x ``samples``."""
    encoder = build_encoder(name, **overrides)
    if encoder.fixed_topology:
        encoder = build_encoder(name, num_channels=channels, num_samples=samples, **overrides)
    return encoder


def build_for_dataset(name: str, manifest: dict, **overrides) -> nn.Module:
    """``build_encoder`` for a prepared dataset: fixed-topology encoders get its montage's shape;
    the others are built once, whatever montages the dataset mixes."""
    encoder = build_encoder(name, **overrides)
    check_rate(encoder, manifest)
    if encoder.fixed_topology:
        shape = dict(zip(("num_channels", "num_samples"), input_shape(manifest), strict=True))
        encoder = build_encoder(name, **shape, **overrides)
    return encoder


def accepts_setting(name: str, setting: str) -> bool:
    """Whether an architecture's config has ``setting`` (e.g. ``drop_path``), read on the meta device."""
    import torch

    with torch.device("meta"):
        return hasattr(build_encoder(name).config, setting)


def check_rate(encoder: Encoder, manifest: dict) -> None:
    """A dataset at another sampling rate than the encoder takes is refused, naming both."""
    rate = float(manifest["preprocessing"]["sfreq"])
    if rate != encoder.sfreq:
        raise LumambaError(
            f"{manifest['recipe']['name']} is prepared at {rate:g} Hz; {type(encoder).__name__} takes "
            f"{encoder.sfreq:g} Hz input"
        )


def input_shape(manifest: dict) -> tuple[int, int]:
    """(channels, samples per window) of a prepared dataset; one channel count is required."""
    counts = sorted({len(m["channels"]) for m in manifest["montages"].values()})
    preprocessing = manifest["preprocessing"]
    samples = int(round(preprocessing["window_s"] * preprocessing["sfreq"]))
    if len(counts) != 1:
        raise LumambaError(
            f"{manifest['recipe']['name']} mixes montages of {counts} channels; "
            "a fixed-topology encoder needs one channel count"
        )
    return counts[0], samples


@dataclass(frozen=True)
class EncoderFacts:
    """What `models`, the leaderboard and model cards state about an architecture, counted on
    the meta device (nothing allocated; luna-huge is 303M parameters)."""

    name: str
    family: str
    parameters: int
    head_parameters: int  # the family's reference head for a two-class task (`run --head reference`)
    reference_head: str  # its name (models/heads.py)
    input_normalisation: str
    fixed_topology: bool
    modules: tuple[tuple[str, int], ...]  # parameters per top-level and second-level module


def encoder_facts(architecture: str) -> EncoderFacts:
    import torch

    from lumamba_bench.models.heads import REFERENCE_HEAD, build_head

    family = encoder_spec(architecture).family
    reference = REFERENCE_HEAD.get(family, "attention-pool")
    with torch.device("meta"):
        encoder = build_encoder(architecture)
        parameters = sum(p.numel() for p in encoder.parameters())
        modules = tuple(parameters_per_module(encoder))
        head = build_head(reference, encoder, 2)  # may take over the encoder's final norm (counted once)
        with_head = sum(p.numel() for p in encoder.parameters()) + sum(p.numel() for p in head.parameters())
    return EncoderFacts(
        architecture,
        family,
        parameters,
        with_head - parameters,
        reference,
        encoder.config.input_normalisation,
        encoder.fixed_topology,
        modules,
    )


def head_totals(architecture: str, outputs: int = 2) -> dict[str, int | None]:
    """Encoder + head parameters for every head (None where a head does not fit the encoder:
    mean-pool needs a final LayerNorm), counted on the meta device."""
    import torch

    from lumamba_bench.models.heads import HEADS, build_head

    totals: dict[str, int | None] = {}
    for name in HEADS:
        with torch.device("meta"):
            encoder = build_encoder(architecture)
            try:
                head = build_head(name, encoder, outputs)
            except LumambaError:
                totals[name] = None
                continue
            totals[name] = sum(p.numel() for p in encoder.parameters()) + sum(p.numel() for p in head.parameters())
    return totals


def parameters_per_module(encoder: nn.Module, depth: int = 2) -> list[tuple[str, int]]:
    """(module path cut at ``depth`` with layer indices folded into ``*``, parameters), in order:
    for comparing with the reference code's module sizes."""
    import re

    counts: dict[str, int] = {}
    for name, parameter in encoder.named_parameters():
        module = name.split(".")[:-1]
        parts = module[:depth] if len(module) >= depth else name.split(".")  # a shallow parameter stands alone
        path = re.sub(r"\.\d+(?=\.|$)", ".*", ".".join(parts))
        counts[path] = counts.get(path, 0) + parameter.numel()
    return list(counts.items())

