"""``check-model``: the input contract of an encoder, checked in seconds on synthetic microvolts.

Before hours of training, a model is fed what runs will feed it: every registered recipe's
montages and window length, and the unseen-montage channel sets cut from them (random signals of
about 20 uV, electrode positions from the template). What is checked, each a row of the report:

- every input gives a finite (B, S, embed_dim) output (a fixed-topology encoder is built per
  montage, and must refuse another channel count with an error that says so);
- gradients reach every parameter (except those the encoder declares pre-training-only);
- the declared input normalisation is applied: ``channelwise-zscore`` gives the same output for
  the same signal in microvolts and in volts, a fixed scaling must not; ``none`` takes
  microvolts as they are;
- a topology-invariant encoder uses channel names and positions: permuting channels with
  their positions leaves its pooled output unchanged, moving the signals to other electrodes
  changes it;
- the same input gives the same output twice, in eval mode and (same seed) in train mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from lumamba_bench.data.channel_sets import NAMED_SETS, select_channels
from lumamba_bench.data.channels import positions
from lumamba_bench.data.recipe import get_recipe, list_recipes
from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.resolve import model_name_of
from lumamba_bench.models.normalisation import INVARIANT_TO_SCALE, NORMALISATIONS
from lumamba_bench.models.registry import build_for_input
from lumamba_bench.plugins import PluginError

BATCH = 2
MICROVOLTS = 20.0  # the synthetic signal's standard deviation, a typical scalp EEG amplitude
SAME = 1e-4  # relative difference below which two pooled outputs are the same (float32 round-off)
CHANGED = 1e-5  # relative difference above which an output has changed


@dataclass(frozen=True)
class Input:
    """One input a run can feed: where it comes from, the channel names, samples per window."""

    label: str
    channels: tuple[str, ...]
    samples: int
    sfreq: float


@dataclass(frozen=True)
class Check:
    """One row: ``passed``, or not; ``refused`` when the encoder declined an input with a clear
    error (LaBraM and 1.25 s windows): not a fault, but a task it cannot run."""

    name: str
    passed: bool
    detail: str
    refused: bool = False

    @property
    def status(self) -> str:
        return "fail" if not self.passed else ("refuses" if self.refused else "pass")


@dataclass
class ModelCheck:
    """The report: one row per check; ``ok`` when every row passed."""

    model: str
    architecture: str
    parameters: int
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def refusals(self) -> list[Check]:
        return [c for c in self.checks if c.refused]

    def frame(self):
        """The checks as a pandas DataFrame (check, status, detail)."""
        import pandas as pd

        return pd.DataFrame([{"check": c.name, "status": c.status, "detail": c.detail} for c in self.checks])


def task_inputs(tasks: list[str] | None = None, channel_sets: list[str] | None = None) -> list[Input]:
    """The distinct inputs of ``tasks`` (default: every registered recipe): each montage the
    recipe declares at its window length, and the channel sets (default: every named set) that
    can be cut from it."""
    found: dict[tuple, tuple[list[str], float]] = {}  # (channels, samples) -> (where from, rate)
    for name in tasks or list_recipes():
        recipe = get_recipe(name)
        samples, sfreq = recipe.preprocessing.window_samples, recipe.preprocessing.sfreq
        for channels, montage in recipe.montage_names.items():
            found.setdefault((tuple(channels), samples), ([], sfreq))[0].append(f"{recipe.name} {montage}")
            for spec in NAMED_SETS if channel_sets is None else channel_sets:
                try:
                    kept = tuple(channels[i] for i in select_channels(spec, list(channels)))
                except LumambaError:
                    continue  # the set cannot be cut from this montage
                if kept != tuple(channels):
                    found.setdefault((kept, samples), ([], sfreq))[0].append(f"{recipe.name} {montage} -> {spec}")
    shared_first = sorted(found.items(), key=lambda item: -len(item[1][0]))  # the input most tasks feed leads
    return [Input(_label(where), channels, samples, sfreq) for (channels, samples), (where, sfreq) in shared_first]


def _label(where: list[str]) -> str:
    """``demo tcp22`` or ``demo, tuab, tuar, ... tcp22`` for one input many tasks share."""
    montages = {w.partition(" ")[2] for w in where}
    if len(montages) == 1:
        names = [w.partition(" ")[0] for w in where]
        shown = ", ".join(names[:4]) + (f" +{len(names) - 4}" if len(names) > 4 else "")
        return f"{shown} {montages.pop()}"
    return "; ".join(where)


def check_model(
    model: str,
    tasks: list[str] | None = None,
    channel_sets: list[str] | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    root: Path | None = None,
) -> ModelCheck:
    """Check a model name (registered, an architecture, or one ``pretrain --name`` gave an encoder
    in the model store under ``root``) against the inputs of ``tasks`` (default: every registered
    recipe and channel set); random weights: the contract, not the training."""
    architecture = model_name_of(model, root).architecture
    inputs = task_inputs(tasks, channel_sets)
    device = torch.device(device)
    encoders: dict[tuple[int, int], torch.nn.Module] = {}

    def encoder_for(item: Input) -> torch.nn.Module:
        key = (len(item.channels), item.samples)
        if key not in encoders:
            torch.manual_seed(seed)
            encoders[key] = build_for_input(architecture, *key).to(device).eval()
        return encoders[key]

    rows = [(item, _output_check(encoder_for, item, device, seed)) for item in inputs]
    taken = [item for item, row in rows if row.passed and not row.refused]
    if not taken:
        return ModelCheck(model, architecture, 0, [row for _, row in rows] + [
            Check("an input it takes", False, "the encoder takes none of these inputs")])  # fmt: skip
    shown = taken[0]  # the further checks run on the input most tasks feed
    main = encoder_for(shown)
    declared = main.config.input_normalisation
    parameters = sum(p.numel() for p in main.parameters())
    checks = [Check("parameters", parameters > 0, f"{parameters:,} in the encoder"), *(row for _, row in rows)]
    if main.fixed_topology:
        checks.append(_refuses_other_montage(main, shown, device, seed))
    checks.append(_gradients(main, shown, device, seed))
    if declared not in NORMALISATIONS:
        checks.append(Check("normalisation declared", False, f"{declared!r} is not one of {', '.join(NORMALISATIONS)}"))
    else:
        checks.append(_normalisation(main, shown, declared, device, seed))
    if not main.fixed_topology:
        checks += _topology(main, shown, device, seed)
    checks += _determinism(main, shown, device, seed)
    return ModelCheck(model, architecture, parameters, checks)


def _inputs(item: Input, device, seed: int, channels: tuple[str, ...] | None = None):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, len(item.channels), item.samples, generator=generator) * MICROVOLTS
    coords = torch.from_numpy(positions(list(channels or item.channels))).expand(BATCH, -1, -1)
    return x.to(device), coords.to(device)


def _forward(encoder, x, coords, channels) -> torch.Tensor:
    with torch.no_grad():
        return encoder(x, coords, None, list(channels)).float()


def _pooled(encoder, x, coords, channels) -> torch.Tensor:
    return _forward(encoder, x, coords, channels).mean(dim=1)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / a.norm().clamp_min(1e-12))


def _output_check(encoder_for, item: Input, device, seed: int) -> Check:
    name = f"input {item.label} ({len(item.channels)} x {item.samples})"
    try:
        encoder = encoder_for(item)
        if item.sfreq != encoder.sfreq:
            raise LumambaError(f"prepared at {item.sfreq:g} Hz; the encoder takes {encoder.sfreq:g} Hz")
        x, coords = _inputs(item, device, seed)
        out = _forward(encoder, x, coords, item.channels)
    except PluginError:  # no encoder at all (a factory returning something else): nothing to check
        raise
    except LumambaError as error:  # a clear refusal: a task this encoder cannot run, said by it
        return Check(name, True, str(error), refused=True)
    except Exception as error:  # what fails here would fail the run: reported, not raised
        return Check(name, False, f"{type(error).__name__}: {error}")
    if out.ndim != 3 or out.shape[0] != BATCH or out.shape[2] != encoder.embed_dim:
        return Check(name, False, f"output {tuple(out.shape)}, not (batch {BATCH}, tokens, embed_dim "
                                  f"{encoder.embed_dim})")  # fmt: skip
    if not torch.isfinite(out).all():
        return Check(name, False, f"{int((~torch.isfinite(out)).sum())} of {out.numel()} outputs are not finite")
    return Check(name, True, f"output {tuple(out.shape)}, finite")


def _refuses_other_montage(encoder, item: Input, device, seed: int) -> Check:
    fewer = item.channels[:-1]
    x, coords = _inputs(Input(item.label, fewer, item.samples, item.sfreq), device, seed)
    try:
        _forward(encoder, x, coords, fewer)
    except LumambaError as error:
        return Check("fixed topology refuses another montage", True, str(error))
    except Exception as error:
        return Check("fixed topology refuses another montage", False,
                     f"{len(fewer)} channels fail with no clear reason: {type(error).__name__}: {error}")  # fmt: skip
    return Check("fixed topology refuses another montage", False,
                 f"built for {len(item.channels)} channels, it took {len(fewer)} without a word")  # fmt: skip


def _gradients(encoder, item: Input, device, seed: int) -> Check:
    x, coords = _inputs(item, device, seed)
    encoder.zero_grad(set_to_none=True)
    encoder.train()
    try:
        out = encoder(x, coords, None, list(item.channels)).float()
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed)).to(device)
        (out * weights).sum().backward()  # random weights: no symmetry hides a parameter's gradient
    finally:
        encoder.eval()
    exempt = set(getattr(encoder, "pretraining_only", ()))
    missing, not_finite = [], []
    for name, parameter in encoder.named_parameters():
        if not parameter.requires_grad or name in exempt:
            continue
        if parameter.grad is None or not parameter.grad.abs().sum():
            missing.append(name)
        elif not torch.isfinite(parameter.grad).all():
            not_finite.append(name)
    encoder.zero_grad(set_to_none=True)
    if missing or not_finite:
        parts = ([f"no gradient reaches {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")] if missing
                 else []) + ([f"gradient not finite in {', '.join(not_finite[:5])}"] if not_finite else [])  # fmt: skip
        return Check("gradients reach every parameter", False, "; ".join(parts))
    note = f" (pre-training only: {', '.join(sorted(exempt))})" if exempt else ""
    return Check("gradients reach every parameter", True, f"all finite and non-zero{note}")


def _normalisation(encoder, item: Input, declared: str, device, seed: int) -> Check:
    name = f"normalisation applied ({declared})"
    if declared == "none":
        return Check(name, True, "takes microvolts as they are")
    x, coords = _inputs(item, device, seed)
    microvolts = _pooled(encoder, x, coords, item.channels)
    volts = _pooled(encoder, x * 1e-6, coords, item.channels)
    difference = _relative(microvolts, volts)
    if declared in INVARIANT_TO_SCALE:
        passed = difference < 1e-2  # the 1e-8 added to the std moves volts by ~5e-4
        detail = f"microvolts vs volts differ by {difference:.1e} (relative)"
        return Check(name, passed, detail + ("" if passed else ": the declared z-score is not applied"))
    passed = difference > CHANGED
    detail = f"microvolts vs volts differ by {difference:.1e} (relative)"
    return Check(name, passed, detail + ("" if passed else ": a fixed scaling cannot make volts look like microvolts; "
                                                         "is the input normalised again inside?"))  # fmt: skip


def _topology(encoder, item: Input, device, seed: int) -> list[Check]:
    x, coords = _inputs(item, device, seed)
    pooled = _pooled(encoder, x, coords, item.channels)
    order = torch.randperm(len(item.channels), generator=torch.Generator().manual_seed(seed))
    permuted = _pooled(encoder, x[:, order], coords[:, order], [item.channels[i] for i in order])
    moved_order = torch.roll(torch.arange(len(item.channels)), 1)  # each signal now claims its neighbour's electrode
    moved = _pooled(encoder, x, coords[:, moved_order], [item.channels[i] for i in moved_order])
    same, changed = _relative(pooled, permuted), _relative(pooled, moved)
    return [
        Check("channel permutation (with positions) leaves the pooled output", same < SAME,
              f"relative change {same:.1e}" + ("" if same < SAME else ": a topology-invariant model should not "
                                                                      "depend on channel order")),
        Check("channel names and positions are used", changed > CHANGED,
              f"moving the signals to other electrodes changes the output by {changed:.1e}"
              + ("" if changed > CHANGED else ": the model ignores where each channel is")),
    ]  # fmt: skip


def _determinism(encoder, item: Input, device, seed: int) -> list[Check]:
    x, coords = _inputs(item, device, seed)
    tolerance = 0.0 if device.type == "cpu" else 1e-5
    first, second = _forward(encoder, x, coords, item.channels), _forward(encoder, x, coords, item.channels)
    eval_difference = _relative(first, second)
    encoder.train()
    try:
        torch.manual_seed(seed)
        first = _forward(encoder, x, coords, item.channels)
        torch.manual_seed(seed)
        second = _forward(encoder, x, coords, item.channels)
    finally:
        encoder.eval()
    train_difference = _relative(first, second)
    return [
        Check("eval mode is deterministic", eval_difference <= tolerance,
              f"two passes differ by {eval_difference:.1e}"),
        Check("train mode is deterministic for a seed", train_difference <= tolerance,
              f"two passes with the same seed differ by {train_difference:.1e}"),
    ]  # fmt: skip
