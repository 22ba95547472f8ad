"""``lumamba-bench run``: resolve the model and the task, fine-tune with every seed, write results.

The harness is model-agnostic: it builds encoders through the registry and loads weights by
name from ``--checkpoint`` or the local model store; it never substitutes random weights for a
pre-trained name (``<name>-scratch`` asks for random initialisation explicitly).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from torch import nn

from lumamba_bench.data.loader import ShardDataset
from lumamba_bench.data.lock import reading
from lumamba_bench.data.manifest import read_manifest
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.data.store import ensure_prepared
from lumamba_bench.errors import LumambaError, TrainingDiverged
from lumamba_bench.harness import distributed
from lumamba_bench.harness.compute import compute_settings
from lumamba_bench.harness.finetune import (
    Classifier,
    FinetuneLoss,
    FinetuneSettings,
    SeedOutcome,
    predict,
    task_type_of,
    train_one_seed,
)
from lumamba_bench.harness.finetune_loss import single_logit_outputs
from lumamba_bench.harness.finetune_recipes import build_settings, default_recipe, task_overrides
from lumamba_bench.harness.finetuned import load_classifier
from lumamba_bench.harness.metrics import BINARY
from lumamba_bench.harness.records import (
    prediction_rows,
    protocol_record,
    results_record,
    seed_entry,
    write_partial,
)
from lumamba_bench.harness.resolve import ResolvedModel, resolve_for_eval, resolve_model
from lumamba_bench.harness.results import RunResult, ensure_writable_folder, write_predictions, write_results
from lumamba_bench.models.heads import resolve_head
from lumamba_bench.models.registry import accepts_setting, built_facts, encoder_spec, input_shape


@dataclass
class RunConfig:
    model: str
    task: str = "demo"
    checkpoint: Path | str | None = None  # a file, or hf://ORG/REPO/FILE[@REVISION] (harness/hub.py)
    protocol: str = "full"  # full | linear | eval (score a fine-tuned --checkpoint as it is)
    recipe: str | None = None  # reference: each family as its authors fine-tuned it | common; None: reference
    # where the family has one (LuMamba and the baselines), else common (a plugin's encoder)
    head: str | None = None  # None: the recipe's (reference: the family's own head)
    seeds: int = 3
    epochs: int | None = None  # None: the recipe's, with the task's exceptions
    batch_size: int | None = None
    micro_batch: int | None = None  # gradient accumulation up to batch_size
    lr: float | None = None
    patience: int | None = None
    settings: dict = field(default_factory=dict)  # any other FinetuneSettings value, by name (--set)
    out: Path = Path("results")
    save_predictions: bool = True  # small; compare and the board's intervals need them
    data_root: Path | None = None
    device: str | None = None
    train_channels: str | None = None  # unseen-montage protocol: fine-tune (train + val) on this set
    test_channels: str | None = None  # ... and test on this one (None: all channels)
    workers: int = 0  # DataLoader worker processes decoding batches ahead
    precision: str = "fp32"  # fp32 (TF32 matmuls on CUDA) or bf16 autocast
    scan_backend: str = "auto"  # auto | mamba-ssm | chunked (models/scan.py)


def run_benchmark(config: RunConfig, on_epoch: Callable[[int, dict], None] | None = None) -> RunResult:
    """Fine-tune and score ``config.seeds`` seeds (or, ``eval``, score a fine-tuned checkpoint)
    with the config's device, precision and scan backend; write the results file (and predictions)."""
    started = time.perf_counter()
    if config.protocol not in ("full", "linear", "eval"):
        raise LumambaError(f"unknown protocol {config.protocol!r}; use full, linear or eval")
    ensure_writable_folder(Path(config.out), "--out")
    with compute_settings(config.device, config.precision, config.scan_backend), ExitStack() as held:
        held.callback(distributed.teardown)  # under torchrun: the process group ends with the run
        run = _open(config, held)
        built: dict = {}
        path = Path(config.out) / run.recipe.name / run.resolved.name / f"{_stamp()}.json"
        if config.protocol == "eval":
            seeds, predictions, resolved = _evaluate(config, run, built)
            settings = replace(run.settings, head=built["head"])  # the head the checkpoint holds
        else:
            seeds, predictions = _train_seeds(config, run, path, built, on_epoch)
            resolved, settings = run.resolved, run.settings
        protocol = protocol_record(settings, run.overrides, len(seeds), run.montage_shift)
        results = results_record(resolved, built, run.recipe, run.manifest, run.task_type, run.dataset_dir, protocol,
                                 seeds, run.ctx, time.perf_counter() - started)  # fmt: skip
        if run.ctx.is_main:  # under torchrun every rank holds the gathered results; one writes them
            write_results(results, path)
            if config.save_predictions:
                write_predictions(predictions, path.with_suffix(".predictions.parquet"))
    return RunResult(results, path, path.with_suffix(".predictions.parquet") if config.save_predictions else None)


@dataclass
class _Task:
    """What a run works on, resolved before any training: model, recipe, data, settings."""

    resolved: ResolvedModel
    recipe: object
    ctx: distributed.Context
    dataset_dir: Path
    manifest: dict
    task_type: str
    outputs: int
    splits: dict
    montage_shift: dict | None
    settings: FinetuneSettings
    overrides: dict

    def build_encoder(self, weights: bool = True) -> nn.Module:
        """This seed's encoder for the task, its weights loaded (once, here)."""
        model = self.resolved if weights else replace(self.resolved, weights=None)
        encoder_settings = dict(self.settings.encoder_overrides)
        if self.montage_shift is not None and self.montage_shift["channels"]:
            samples = input_shape(self.manifest)[1]
            return model.build(self.manifest, self.montage_shift["channels"], samples, **encoder_settings)
        return model.build(self.manifest, **encoder_settings)


def _open(config: RunConfig, held: ExitStack) -> _Task:
    if config.protocol == "eval":
        resolved = resolve_for_eval(config.model, config.checkpoint)
    else:
        resolved = resolve_model(config.model, config.checkpoint, config.data_root)
    recipe = get_recipe(config.task)
    ctx = distributed.setup(config.device)
    dataset_dir = distributed.main_first(ctx, lambda: ensure_prepared(recipe.name, config.data_root))
    held.enter_context(reading(dataset_dir))  # to the end: the manifest recorded is the one whose data trained
    manifest = read_manifest(dataset_dir, recipe.name)
    if manifest["label_names"] != list(recipe.label_names):  # what the results file will call the classes
        raise LumambaError(f"{dataset_dir / 'manifest.json'} names the classes {manifest['label_names']}; "
                           f"{recipe.name} has {list(recipe.label_names)}: re-run prepare with --force")  # fmt: skip
    task_type, outputs = task_type_of(recipe)
    splits = _splits(dataset_dir, manifest, config)
    montage_shift = _montage_shift(config, splits, resolved.architecture)
    settings, overrides = resolved_settings(config, recipe, resolved.architecture)
    _check_encoder_settings(resolved.architecture, settings)
    return _Task(resolved, recipe, ctx, dataset_dir, manifest, task_type, outputs, splits, montage_shift, settings,
                 overrides)  # fmt: skip


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _classifier(encoder: nn.Module, head: str, outputs: int, built: dict) -> Classifier:
    """The encoder under its head; ``built`` records their sizes and the head for the results."""
    built["encoder"] = sum(p.numel() for p in encoder.parameters())  # before a head takes its final norm
    classifier = Classifier(encoder, outputs, head)
    built |= {"total": sum(p.numel() for p in classifier.parameters()), "head": head,
              "input_normalisation": encoder.config.input_normalisation}  # fmt: skip
    return classifier


def _train_seeds(config: RunConfig, run: _Task, path: Path, built: dict, on_epoch) -> tuple[list, list]:
    outputs = single_logit_outputs(run.settings, run.task_type) or run.outputs
    seeds, predictions = [], []
    for seed in range(config.seeds):
        try:
            outcome = train_one_seed(
                lambda: _classifier(run.build_encoder(), run.settings.head, outputs, built), run.splits,
                run.task_type, outputs, run.settings, seed, run.ctx.device,
                on_epoch=None if on_epoch is None else (lambda r, s=seed: on_epoch(s, r)),
            )  # fmt: skip
        except TrainingDiverged as error:
            if not run.ctx.is_main:
                raise
            partial = write_partial(path, error, run.resolved.name, run.recipe.name, seeds, seed)
            raise TrainingDiverged(f"{error}; the log so far is in {partial}", error.log) from None
        seeds.append(seed_entry(seed, outcome, run.task_type, run.recipe))
        if config.save_predictions:
            predictions += prediction_rows(seed, outcome.test)
    return seeds, predictions


def _evaluate(config: RunConfig, run: _Task, built: dict):
    """Score the test split with a fine-tuned checkpoint's encoder and head, as they are: one "seed"."""
    if run.splits.get("test") is None:
        raise LumambaError(f"{run.recipe.name} has no test windows to score")
    head = None if config.head in (None, "reference") else config.head
    classifier, head, count, sha = load_classifier(
        run.resolved.weights, run.build_encoder(weights=False), head,
        lambda encoder, name, outputs: _classifier(encoder, name, outputs, built),
    )  # fmt: skip
    task_type, outputs = run.task_type, run.outputs
    if count not in (outputs, 1 if task_type == BINARY else outputs):
        raise LumambaError(f"the checkpoint's head has {count} outputs; {run.recipe.name} needs {outputs}")
    single = count == 1 and task_type == BINARY
    loss = FinetuneLoss(task_type, single_logit=single, channels=run.recipe.output_channels or 1)
    device, settings = run.ctx.device, run.settings
    test = predict(classifier.to(device), run.splits["test"], loss, settings.batch_size, device, settings.workers)
    entry = seed_entry(0, SeedOutcome(0, 0, [], test), task_type, run.recipe)
    predictions = prediction_rows(0, test) if config.save_predictions else []
    return [entry], predictions, replace(run.resolved, sha256=sha)


def _check_encoder_settings(architecture: str, settings: FinetuneSettings) -> None:
    """The recipe's encoder config values (drop path, LaBraM's q/v biases); one the encoder's
    config does not have is an error naming it."""
    for name, value in settings.encoder_overrides.items():
        if not accepts_setting(architecture, name):
            raise LumambaError(f"{architecture} has no {name} setting (the {settings.recipe} recipe sets {value})")


def _splits(dataset_dir: Path, manifest: dict, config: RunConfig) -> dict[str, ShardDataset | None]:
    """Train and val read the training channel set, test the test set: model selection never
    sees the test montage."""
    out = {}
    for split in ("train", "val", "test"):
        has_windows = any(s["split"] == split for s in manifest["shards"])
        channels = config.test_channels if split == "test" else config.train_channels
        out[split] = ShardDataset(dataset_dir, split, channels=channels) if has_windows else None
    for split in ("train", "val"):
        if out[split] is None:
            raise LumambaError(
                f"{manifest['recipe']['name']} has no {split} windows: fine-tuning needs train and val splits"
            )
    return out


def _montage_shift(config: RunConfig, splits: dict, architecture: str) -> dict | None:
    """What the unseen-montage protocol trained and tested on (None for the standard protocol).

    Fixed-topology encoders (FEMBA) are built for the training channel count and cannot take
    another one at test time: that is refused here, before any training."""
    if config.train_channels is None and config.test_channels is None:
        return None
    train, test = splits["train"], splits["test"]
    record = {
        "train_channels": config.train_channels or "all",
        "test_channels": config.test_channels or "all",
        "montages": {
            m: {"train": train.channel_names[m], "test": None if test is None else test.channel_names.get(m)}
            for m in train.channel_names
        },
    }
    counts = {len(n) for n in train.channel_names.values()}
    test_counts = set() if test is None else {len(n) for n in test.channel_names.values()}
    if built_facts(architecture).fixed_topology:
        if len(counts) != 1 or (test_counts and test_counts != counts):
            raise LumambaError(
                f"{architecture} has a fixed topology: it is built for one channel count and cannot be "
                f"trained on {sorted(counts)} and tested on {sorted(test_counts)} channels"
            )
        return {"record": record, "channels": counts.pop()}
    return {"record": record, "channels": None}


def resolved_settings(config: RunConfig, recipe, architecture: str) -> tuple[FinetuneSettings, dict]:
    """The settings a run of ``config`` trains with, its head resolved by name ("reference"
    resolves per family), and the record of where they came from; nothing is built."""
    family = encoder_spec(architecture).family
    settings, overrides = _settings(config, recipe, family)
    return replace(settings, head=resolve_head(settings.head, family)), overrides


def _settings(config: RunConfig, recipe, family: str) -> tuple[FinetuneSettings, dict]:
    """The recipe's settings for this family, then the task's exceptions, then the command line
    (each recorded apart in the results file)."""
    chosen = {
        k: v
        for k, v in {"epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr,
                     "patience": config.patience, "micro_batch": config.micro_batch, "head": config.head}.items()
        if v is not None
    } | dict(config.settings)  # fmt: skip
    name = config.recipe or default_recipe(family)
    settings, record = build_settings(name, family, task_overrides(recipe, name), chosen)
    return replace(settings, protocol=config.protocol, workers=config.workers), record
