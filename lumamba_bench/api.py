"""The Python API: what the command line does, as functions (``from lumamba_bench import run``).

Each function takes what its command takes, as keyword arguments named like the options
(``run(model, task, seeds=3, precision="bf16")``), and returns an object instead of printing.
A model is a registered name, an ``Encoder`` instance or a factory returning one; device,
precision, scan backend and workers are arguments of the call, never settings left behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

from lumamba_bench.errors import LumambaError


def prepare(task: str, source: Path | str | None = None, *, data_root: Path | str | None = None, **options):
    """Prepare a recipe's corpus into shards (the demo is generated when ``source`` is None);
    ``options``: workers, force, limit, allow_partial, split_file. Returns the ``PrepareSummary``
    (its ``manifest``, counts and skipped recordings)."""
    from lumamba_bench.data.prepare import prepare as prepare_shards
    from lumamba_bench.data.recipe import get_recipe
    from lumamba_bench.data.store import data_root as resolve_root
    from lumamba_bench.data.store import resolve_source

    recipe = get_recipe(task)
    root = resolve_root(data_root)
    found = resolve_source(recipe, None if source is None else Path(source), root)
    return prepare_shards(recipe, found, root / recipe.name, **options)


def model_name(model, name: str | None = None) -> str:
    """A registered name as it is; an ``Encoder`` instance or a factory registered (under
    ``name``, default its class's or function's name) for this session."""
    from lumamba_bench.models.registry import register_object

    return model if isinstance(model, str) else register_object(model, name)


def run(model, task: str = "demo", *, name: str | None = None, check: bool = True, on_epoch: Callable | None = None,
        **settings):  # fmt: skip
    """Fine-tune ``model`` on ``task`` with several seeds and write the results file; returns a
    ``RunResult`` (``results``, ``path``, ``predictions``, ``summary`` and ``seed_metrics`` as
    pandas tables). ``settings``: any ``RunConfig`` field (seeds, epochs, recipe, head, device,
    precision, scan_backend, workers, out, ...). ``check``: run ``check_model`` on the task's
    inputs first, and stop on a failure."""
    from lumamba_bench.harness.run import RunConfig, run_benchmark

    config = _config(RunConfig, {"model": model_name(model, name), "task": task} | settings)
    if check and config.protocol != "eval":
        require_checked(config.model, [config.task], [c for c in (config.train_channels, config.test_channels) if c],
                        config.device, config.data_root)  # fmt: skip
    return run_benchmark(config, on_epoch=on_epoch)


def pretrain(model="lumamba-mixed", task: str = "demo-pretrain", *, name: str | None = None, check: bool = True,
             on_step: Callable | None = None, **settings):  # fmt: skip
    """Pre-train an encoder, register it in the model store under ``name`` (default: the model
    name) and write its model card beside the weights; returns the ``PretrainResult`` (``card``:
    the card's path). ``settings``: any ``PretrainConfig`` field."""
    from lumamba_bench.harness.pretrain import PretrainConfig
    from lumamba_bench.harness.pretrain import pretrain as pretrain_encoder
    from lumamba_bench.leaderboard.cards import write_pretraining_card

    config = _config(PretrainConfig, {"model": model_name(model), "name": name, "task": task} | settings)
    if check:
        require_checked(config.model, [config.task], [], config.device)
    result = pretrain_encoder(config, on_step=on_step)
    if result.registered is not None:
        result = replace(result, card=write_pretraining_card(result.registered, config.data_root))
    return result


def check_model(model, tasks: list[str] | None = None, *, channel_sets: list[str] | None = None,
                device: str = "cpu", name: str | None = None):  # fmt: skip
    """The input contract of ``model`` on synthetic microvolts (``harness/model_check.py``):
    every registered recipe's inputs (or ``tasks``'), in seconds. Returns a ``ModelCheck``
    (``ok``, ``checks``, ``frame()``)."""
    from lumamba_bench.harness.model_check import check_model as check

    return check(model_name(model, name), tasks, channel_sets, device)


def require_checked(model: str, tasks: list[str], channel_sets: list[str], device: str | None = None,
                    root: Path | None = None) -> None:  # fmt: skip
    """``check_model`` on what a run will feed (``root``: the data root whose model store holds a
    ``pretrain --name`` encoder); a failure or a refused input stops it, naming each."""
    from lumamba_bench.harness.distributed import parse_device
    from lumamba_bench.harness.model_check import check_model as check

    report = check(model, tasks, channel_sets or [], parse_device(device), root=root)
    bad = report.failures + report.refusals
    if bad:
        reasons = "; ".join(f"{c.name}: {c.detail}" for c in bad)
        raise LumambaError(f"{model} fails its input check ({reasons}); `lumamba-bench check-model {model}` shows "
                           "every check, --no-check skips it")  # fmt: skip


def profile(models: tuple[str, ...] = ("lumamba", "luna-base"), **settings) -> dict:
    """FLOPs, memory and throughput against window length (``ProfileConfig`` fields); returns the
    report ``profile`` writes as profile.json."""
    from lumamba_bench.analysis.profile import ProfileConfig, run_profile

    return run_profile(_config(ProfileConfig, {"models": tuple(models)} | settings))


def compare(paths: list[Path | str], baseline: Path | str | None = None):
    """Results files (or folders of them) side by side with the board's intervals and paired
    tests, as a pandas DataFrame (one row per run)."""
    from lumamba_bench.leaderboard.compare import compare as compare_runs

    return compare_runs(paths, baseline).frame()


def _config(cls, values: dict):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise LumambaError(f"unknown {cls.__name__} settings: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return cls(**values)
