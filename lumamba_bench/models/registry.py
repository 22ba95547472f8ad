"""Name -> encoder factory, timm-style. The harness only ever calls ``build_encoder(name)``.

Encoders are found through the ``lumamba_bench.encoders`` entry points (``plugins.py``): this
module imports no encoder; LuMamba, the baselines and any installed package declare theirs alike.

Model names: ``<family>`` (architecture), ``<family>-<objective>`` (pre-trained with that
objective, e.g. ``lumamba-mixed``), ``<name>-scratch`` (random initialisation on purpose).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from lumamba_bench import plugins
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
    as_built: str = ""  # a factory or instance given directly (--model pkg.mod:factory, run(obj)): runs as it builds


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
    as_built: str = "",
):
    """Decorator: register an encoder factory (returning an ``Encoder``) under ``name``, with what
    a user needs to know about it (timm's pretrained config, in spirit). A name another factory
    holds is refused, naming both."""

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if not name or name.endswith("-scratch"):
            raise plugins.PluginError(f"encoder name {name!r} from {plugins.provider_of(factory)} is empty or ends "
                                      "in -scratch (which the harness adds)")  # fmt: skip
        taken = _ENCODERS.get(name)
        plugins.refuse_taken("encoder", name, None if taken is None else plugins.provider_of(taken.factory),
                             plugins.provider_of(factory))  # fmt: skip
        _ENCODERS[name] = EncoderSpec(
            name, factory, tuple(objectives), paper, family or name.split("-")[0], pretrain_objective, note,
            weights, licence, as_built,
        )  # fmt: skip
        return factory

    return decorate


@dataclass(frozen=True)
class ModelName:
    """A parsed model name: architecture, pre-training objective (or None), scratch or not."""

    architecture: str
    objective: str | None
    scratch: bool
    factory: str | None = None  # what builds it as it is: package.module:factory, or a Python object given to run

    @property
    def pretrained_name(self) -> str:
        return self.architecture if self.objective is None else f"{self.architecture}-{self.objective}"


def _load_builtin() -> None:
    """Every encoder the installed entry points declare (the package's own among them)."""
    plugins.load_group("encoders", _register_entry_point)


def _register_entry_point(name: str, factory, where: str) -> None:
    if not callable(factory):
        raise plugins.PluginError(f"{where} is a {type(factory).__name__}, not an encoder factory")
    register_encoder(name)(factory)


def register_factory(spec: str) -> str:
    """``--model package.module:factory``: the factory imported and registered under a name made
    from ``spec`` (``toy_eeg.model:build`` -> ``toy-eeg.model.build``); returns the name."""
    _load_builtin()
    factory = plugins.load_factory(spec)
    name = factory_model_name(spec)
    register_encoder(name, family=name, as_built=spec)(factory)
    return name


def factory_model_name(spec: str) -> str:
    """The model name results files give ``package.module:factory`` (lower case, ``-`` and ``.``)."""
    return re.sub(r"[^a-z0-9.-]", "-", spec.lower().replace(":", "."))[:64]


def register_object(model, name: str | None = None) -> str:
    """Python API: an ``Encoder`` instance (each build is a fresh copy of it as given) or a
    factory (called with no arguments, or with config overrides) registered under ``name``
    (default: the class's or the function's name); returns the name."""
    import copy

    _load_builtin()
    if isinstance(model, Encoder):
        name = name or type(model).__name__.lower()

        def copy_of(**overrides):
            if overrides:
                raise LumambaError(f"{name} is an instance: it cannot be rebuilt with {', '.join(overrides)}")
            return copy.deepcopy(model)

        copy_of.__module__, copy_of.__qualname__ = type(model).__module__, f"{type(model).__qualname__}(instance)"
        register_encoder(name, family=name, as_built=f"an instance of {plugins.provider_of(type(model))}")(copy_of)
        return name
    if callable(model):
        name = name or getattr(model, "__name__", "").lower().replace("_", "-")
        register_encoder(name, family=name, as_built=f"the factory {plugins.provider_of(model)}")(model)
        return name
    raise LumambaError(f"a model is a registered name, an Encoder or a factory, not a {type(model).__name__}")


def parse_model_name(name: str) -> ModelName:
    _load_builtin()
    base, scratch = (name[: -len("-scratch")], True) if name.endswith("-scratch") else (name, False)
    if ":" in base:  # package.module:factory (--model): what the factory builds; weights only by --checkpoint
        return ModelName(register_factory(base), None, scratch, factory=base)
    if base in _ENCODERS and _ENCODERS[base].as_built:  # run(instance or factory) from Python
        return ModelName(base, None, scratch, factory=_ENCODERS[base].as_built)
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
    spec = _ENCODERS[parsed.architecture]
    try:
        encoder = spec.factory(**overrides)
    except TypeError as error:
        if not overrides:
            raise
        raise LumambaError(f"{parsed.architecture} ({plugins.provider_of(spec.factory)}) does not take "
                           f"{', '.join(overrides)}: {error}") from None  # fmt: skip
    if not isinstance(encoder, Encoder):
        raise plugins.PluginError(
            f"{parsed.architecture}'s factory ({plugins.provider_of(spec.factory)}) returned a "
            f"{type(encoder).__name__}, not an Encoder (lumamba_bench.Encoder)"
        )
    _remember(parsed.architecture, encoder)
    return encoder


@dataclass(frozen=True)
class BuiltFacts:
    """What an architecture's encoders declare that decides how to build one (learnt from its
    first build in this process, on the meta device if need be: nothing allocated)."""

    fixed_topology: bool
    settings: frozenset[str]  # its config's fields


_FACTS: dict[tuple[str, int], BuiltFacts] = {}  # (architecture, id of its factory) -> facts


def built_facts(name: str) -> BuiltFacts:
    """``BuiltFacts`` of the architecture behind a model name, without building a second encoder
    per call: once known (from any build), read from the cache."""
    architecture = parse_model_name(name).architecture
    key = (architecture, id(_ENCODERS[architecture].factory))
    if key not in _FACTS:
        import torch

        with torch.device("meta"):
            build_encoder(architecture)  # records them
    return _FACTS[key]


def _remember(architecture: str, encoder: Encoder) -> None:
    key = (architecture, id(_ENCODERS[architecture].factory))
    settings = frozenset(getattr(encoder.config, "__dataclass_fields__", None) or vars(encoder.config))
    _FACTS.setdefault(key, BuiltFacts(bool(encoder.fixed_topology), settings))


def build_for_input(name: str, channels: int, samples: int, **overrides) -> nn.Module:
    """``build_encoder`` for data of a given shape: encoders whose size depends on the montage
    (``fixed_topology``, e.g. FEMBA) are built for ``channels`` x ``samples``; one build."""
    if built_facts(name).fixed_topology:
        return build_encoder(name, num_channels=channels, num_samples=samples, **overrides)
    return build_encoder(name, **overrides)


def build_for_dataset(name: str, manifest: dict, **overrides) -> nn.Module:
    """``build_encoder`` for a prepared dataset: fixed-topology encoders get its montage's shape;
    the others are built once, whatever montages the dataset mixes."""
    if built_facts(name).fixed_topology:
        shape = dict(zip(("num_channels", "num_samples"), input_shape(manifest), strict=True))
        encoder = build_encoder(name, **shape, **overrides)
    else:
        encoder = build_encoder(name, **overrides)
    check_rate(encoder, manifest)
    return encoder


def accepts_setting(name: str, setting: str) -> bool:
    """Whether an architecture's config has ``setting`` (e.g. ``drop_path``)."""
    return setting in built_facts(name).settings


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

