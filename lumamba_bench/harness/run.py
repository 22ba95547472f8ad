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

import numpy as np
import torch
from torch import nn

from lumamba_bench.data.loader import ShardDataset
from lumamba_bench.data.lock import reading
from lumamba_bench.data.manifest import dataset_sha256, partial_reason, read_manifest
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.data.store import ensure_prepared
from lumamba_bench.errors import LumambaError, TrainingDiverged
from lumamba_bench.files import sha256_of, write_json_atomic
from lumamba_bench.harness import distributed
from lumamba_bench.harness.checkpoints import find_pretrained, load_encoder_weights, pretraining_task, read_card
from lumamba_bench.harness.compute import compute_settings
from lumamba_bench.harness.finetune import (
    Classifier,
    FinetuneLoss,
    FinetuneSettings,
    SeedOutcome,
    predict,
    single_logit_outputs,
    task_type_of,
    train_one_seed,
)
from lumamba_bench.harness.finetune_recipes import build_settings, default_recipe, hyperparameters, task_overrides
from lumamba_bench.harness.finetuned import load_classifier
from lumamba_bench.harness.hub import HUB_FIELDS, local_checkpoint
from lumamba_bench.harness.metrics import (
    BINARY,
    METRIC_SET_VERSION,
    compute_metrics,
    logit_metrics,
    recording_level,
    required,
)
from lumamba_bench.harness.results import (
    SCHEMA_VERSION,
    RunResult,
    ensure_writable_folder,
    environment,
    summarise,
    write_predictions,
    write_results,
)
from lumamba_bench.models import build_encoder, parse_model_name
from lumamba_bench.models.heads import resolve_head
from lumamba_bench.models.registry import (
    accepts_setting,
    build_for_dataset,
    build_for_input,
    check_rate,
    encoder_spec,
    input_shape,
)


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
            load_encoder_weights(encoder, self.weights)
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
    encoder = build_encoder(resolved.architecture)
    sha = load_encoder_weights(encoder, weights)  # fails early, with the reason, on a bad file
    return replace(resolved, scratch=False, weights=weights, sha256=sha, card=read_card(weights), hub=hub_record)


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
    with torch.device("meta"):  # the attribute only: nothing allocated
        fixed = build_encoder(architecture).fixed_topology
    if fixed:
        if len(counts) != 1 or (test_counts and test_counts != counts):
            raise LumambaError(
                f"{architecture} has a fixed topology: it is built for one channel count and cannot be "
                f"trained on {sorted(counts)} and tested on {sorted(test_counts)} channels"
            )
        return {"record": record, "channels": counts.pop()}
    return {"record": record, "channels": None}


def _test_metrics(task_type: str, test: dict) -> tuple[dict, dict]:
    if len(test["labels"]) == 0:
        reason = "the test split is empty"
        return {m: None for m in required(task_type)}, {m: reason for m in required(task_type)}
    scored = compute_metrics(task_type, test["labels"], test["probs"])
    return scored["metrics"], scored["undefined"]


def run_benchmark(config: RunConfig, on_epoch: Callable[[int, dict], None] | None = None) -> RunResult:
    """Fine-tune and score ``config.seeds`` seeds (or, ``eval``, score a fine-tuned checkpoint)
    with the config's device, precision and scan backend; write the results file (and predictions)."""
    with compute_settings(config.device, config.precision, config.scan_backend), ExitStack() as held:
        held.callback(distributed.teardown)  # under torchrun: the process group ends with the run
        results, path = _run_benchmark(config, on_epoch, held)
    predictions = path.with_suffix(".predictions.parquet")
    return RunResult(results, path, predictions if config.save_predictions else None)


def _run_benchmark(config: RunConfig, on_epoch, held: ExitStack) -> tuple[dict, Path]:
    started = time.perf_counter()
    if config.protocol not in ("full", "linear", "eval"):
        raise LumambaError(f"unknown protocol {config.protocol!r}; use full, linear or eval")
    ensure_writable_folder(Path(config.out), "--out")
    if config.protocol == "eval":
        if config.checkpoint is None:
            raise LumambaError("--protocol eval scores a fine-tuned checkpoint: pass --checkpoint FILE")
        weights, hub_record = local_checkpoint(config.checkpoint)
        resolved = ResolvedModel(config.model, parse_model_name(config.model).architecture, None, False,
                                 weights, None, None, hub=hub_record)  # fmt: skip
    else:
        resolved = resolve_model(config.model, config.checkpoint, config.data_root)
    recipe = get_recipe(config.task)
    ctx = distributed.setup(config.device)
    dataset_dir = distributed.main_first(ctx, lambda: ensure_prepared(recipe.name, config.data_root))
    held.enter_context(reading(dataset_dir))  # to the end: the manifest recorded is the one whose data trained
    manifest = read_manifest(dataset_dir, recipe.name)
    task_type, outputs = task_type_of(recipe)
    splits = _splits(dataset_dir, manifest, config)
    montage_shift = _montage_shift(config, splits, resolved.architecture)
    settings, overrides = resolved_settings(config, recipe, resolved.architecture)
    head = settings.head
    outputs_model = single_logit_outputs(settings, task_type) or outputs
    built: dict = {}
    encoder_settings = _encoder_settings(resolved.architecture, settings)

    def build_encoder_for_task(weights: bool = True) -> nn.Module:
        model = resolved if weights else replace(resolved, weights=None)
        if montage_shift is not None and montage_shift["channels"]:
            return model.build(manifest, montage_shift["channels"], input_shape(manifest)[1], **encoder_settings)
        return model.build(manifest, **encoder_settings)

    def classifier_of(encoder: nn.Module, head_name: str, count: int) -> Classifier:
        built["encoder"] = sum(p.numel() for p in encoder.parameters())  # before a head takes its final norm
        classifier = Classifier(encoder, count, head_name)
        built["total"] = sum(p.numel() for p in classifier.parameters())
        built["input_normalisation"] = encoder.config.input_normalisation
        built["head"] = head_name
        return classifier

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = Path(config.out) / recipe.name / resolved.name / f"{stamp}.json"
    if config.protocol == "eval":
        seeds, predictions, resolved = _evaluate(config, resolved, splits, task_type, outputs, settings,
                                                 build_encoder_for_task, classifier_of, ctx, recipe)  # fmt: skip
        settings = replace(settings, head=built["head"])  # the head the checkpoint holds
    else:
        seeds, predictions = _train_seeds(config, path, resolved, splits, task_type, outputs_model, settings,
                                          lambda: classifier_of(build_encoder_for_task(), head, outputs_model),
                                          ctx, recipe, on_epoch)  # fmt: skip
    results = {
        "schema_version": SCHEMA_VERSION,
        "metric_set": METRIC_SET_VERSION,
        "model": _model_record(resolved, built),
        "task": _task_record(recipe, manifest, task_type, dataset_dir),
        "protocol": _protocol_record(settings, overrides, config.seeds if config.protocol != "eval" else 1,
                                     montage_shift),  # fmt: skip
        "seeds": seeds,
        "summary": summarise([s["metrics"] for s in seeds]),
        "environment": environment(str(ctx.device), ctx.world_size),
        "wall_time_s": round(time.perf_counter() - started, 3),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if task_type == BINARY:
        results["summary_logit"] = summarise([s["logit_metrics"] for s in seeds if "logit_metrics" in s])
    if ctx.is_main:  # under torchrun every rank holds the gathered results; one writes them
        write_results(results, path)
        if config.save_predictions:
            write_predictions(predictions, path.with_suffix(".predictions.parquet"))
    return results, path


def _train_seeds(config, path, resolved, splits, task_type, outputs, settings, build, ctx, recipe, on_epoch):
    seeds, predictions = [], []
    for seed in range(config.seeds):
        try:
            outcome = train_one_seed(
                build, splits, task_type, outputs, settings, seed, ctx.device,
                on_epoch=None if on_epoch is None else (lambda r, s=seed: on_epoch(s, r)),
            )  # fmt: skip
        except TrainingDiverged as error:
            if not ctx.is_main:
                raise
            partial = _write_partial(path, error, resolved.name, recipe.name, seeds, seed)
            raise TrainingDiverged(f"{error}; the log so far is in {partial}", error.log) from None
        seeds.append(_seed_entry(seed, outcome, task_type, recipe))
        if config.save_predictions:
            predictions += _prediction_rows(seed, outcome.test)
    return seeds, predictions


def _evaluate(config, resolved, splits, task_type, outputs, settings, build_encoder_for_task, classifier_of, ctx,
              recipe):  # fmt: skip
    """Score the test split with a fine-tuned checkpoint's encoder and head, as they are: one "seed"."""
    if splits.get("test") is None:
        raise LumambaError(f"{recipe.name} has no test windows to score")
    head = None if config.head in (None, "reference") else config.head
    classifier, head, count, sha = load_classifier(
        resolved.weights, build_encoder_for_task(weights=False), head, classifier_of
    )
    if count not in (outputs, 1 if task_type == BINARY else outputs):
        raise LumambaError(f"the checkpoint's head has {count} outputs; {recipe.name} needs {outputs}")
    single = count == 1 and task_type == BINARY
    loss = FinetuneLoss(task_type, single_logit=single, channels=recipe.output_channels or 1)
    test = predict(classifier.to(ctx.device), splits["test"], loss, settings.batch_size, ctx.device, settings.workers)
    outcome = SeedOutcome(0, 0, [], test)
    entry = _seed_entry(0, outcome, task_type, recipe)
    predictions = _prediction_rows(0, test) if config.save_predictions else []
    return [entry], predictions, replace(resolved, sha256=sha)


def _encoder_settings(architecture: str, settings: FinetuneSettings) -> dict:
    """The recipe's encoder config values (drop path, LaBraM's q/v biases); one the encoder's
    config does not have is an error naming it."""
    for name, value in settings.encoder_overrides.items():
        if not accepts_setting(architecture, name):
            raise LumambaError(f"{architecture} has no {name} setting (the {settings.recipe} recipe sets {value})")
    return dict(settings.encoder_overrides)


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


def _write_partial(path: Path, error: TrainingDiverged, model: str, task: str, seeds: list, seed: int) -> Path:
    """What a diverged run leaves: the completed seeds and the failed seed's log."""
    partial = path.with_suffix(".partial.json")
    partial.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        partial,
        {"status": "diverged", "error": str(error), "model": model, "task": task, "completed_seeds": seeds,
         "failed_seed": {"seed": seed, "log": error.log}},
    )  # fmt: skip
    return partial


def _seed_entry(seed: int, outcome, task_type: str, recipe) -> dict:
    test = outcome.test
    metrics, undefined = _test_metrics(task_type, test)
    entry = {
        "seed": seed,
        "best_epoch": outcome.best_epoch,
        "epochs_run": len(outcome.log),
        "metrics": metrics,
        "undefined": undefined,
        "log": outcome.log,
    }
    if task_type == BINARY and len(test["labels"]):
        entry["logit_metrics"] = logit_metrics(test["labels"], test["logits"])
    if task_type == BINARY and recipe.file_level_labels and len(test["labels"]):
        _, labels, probs = recording_level(test["recording_id"], test["labels"], test["probs"])
        entry["recording_metrics"] = compute_metrics(task_type, labels, probs)["metrics"]
    return entry


def _prediction_rows(seed: int, test: dict) -> list[dict]:
    return [
        {"seed": seed, "recording_id": r, "window_index": int(w),
         "label": int(y) if np.ndim(y) == 0 else list(map(int, y)), "probs": p}
        for r, w, y, p in zip(test["recording_id"], test["window_index"], test["labels"], test["probs"], strict=True)
    ]  # fmt: skip


def _model_record(resolved: ResolvedModel, built: dict) -> dict:
    card = resolved.card
    return {
        "name": resolved.name,
        "architecture": resolved.architecture,
        "family": encoder_spec(resolved.architecture).family,
        "objective": resolved.objective,
        "scratch": resolved.scratch,
        **({} if resolved.factory is None else {"factory": resolved.factory}),
        "input_normalisation": built["input_normalisation"],
        "parameters": {"encoder": built["encoder"], "total": built["total"]},
        "head": built["head"],
        "checkpoint": None
        if resolved.weights is None
        else {
            "path": str(resolved.weights),
            "sha256": resolved.sha256,
            "pretraining": None
            if card is None
            else {"task": pretraining_task(card)} | {k: card.get(k) for k in ("manifest_sha256", "step", "objective")},
        }
        | ({} if resolved.hub is None else {"hub": {k: resolved.hub[k] for k in HUB_FIELDS}}),
    }


def _task_record(recipe, manifest: dict, task_type: str, dataset_dir: Path) -> dict:
    return {
        "name": recipe.name,
        "recipe": recipe.name,
        "recipe_version": manifest["recipe"]["version"],
        "type": task_type,
        "label_names": manifest["label_names"],
        "manifest_sha256": sha256_of(dataset_dir / "manifest.json"),
        "dataset_sha256": dataset_sha256(manifest),  # the same on every machine that prepares it alike
        "partial": partial_reason(manifest),  # None: the whole corpus release
        "windows": {s: manifest["splits"][s]["windows"] for s in ("train", "val", "test")},
    }


def _protocol_record(settings: FinetuneSettings, overrides: dict, seeds: int, montage_shift: dict | None) -> dict:
    if settings.protocol == "eval":
        return {
            "name": "eval",
            "recipe": None,
            "selection": "none: a fine-tuned checkpoint scored as it is",
            "hyperparameters": {"head": settings.head, "batch_size": settings.batch_size, "seeds": [0]},
        } | ({} if montage_shift is None else {"montage_shift": montage_shift["record"]})
    selection = {"val_loss": "lowest validation loss", "val_accuracy": "highest validation accuracy"}
    return {
        "name": settings.protocol,
        "recipe": settings.recipe,
        "selection": selection[settings.selection],
        "class_weighting": "inverse class frequency on train" if settings.loss == "weighted-cross-entropy" else "none",
        "hyperparameters": hyperparameters(settings) | {"seeds": list(range(seeds))},
        "overrides": {"task": overrides["task"], "command_line": overrides["command_line"]},
    } | ({} if montage_shift is None else {"montage_shift": montage_shift["record"]})
