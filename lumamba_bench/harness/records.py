"""The results file's records, built from what a run did (the schema is ``results.py``): one
entry per seed, the model, task and protocol records, predictions, and a diverged run's log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from lumamba_bench.data.manifest import dataset_sha256, partial_reason
from lumamba_bench.errors import TrainingDiverged
from lumamba_bench.files import sha256_of, write_json_atomic
from lumamba_bench.harness.checkpoints import pretraining_task
from lumamba_bench.harness.finetune import FinetuneSettings
from lumamba_bench.harness.finetune_recipes import hyperparameters, selection_rule
from lumamba_bench.harness.hub import HUB_FIELDS
from lumamba_bench.harness.metrics import (
    BINARY,
    METRIC_SET_VERSION,
    compute_metrics,
    logit_metrics,
    recording_level,
    required,
)
from lumamba_bench.harness.resolve import ResolvedModel
from lumamba_bench.harness.results import SCHEMA_VERSION, environment, summarise
from lumamba_bench.models.registry import encoder_spec


def test_metrics(task_type: str, test: dict) -> tuple[dict, dict]:
    if len(test["labels"]) == 0:
        reason = "the test split is empty"
        return {m: None for m in required(task_type)}, {m: reason for m in required(task_type)}
    scored = compute_metrics(task_type, test["labels"], test["probs"])
    return scored["metrics"], scored["undefined"]


def seed_entry(seed: int, outcome, task_type: str, recipe) -> dict:
    test = outcome.test
    metrics, undefined = test_metrics(task_type, test)
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


def prediction_rows(seed: int, test: dict) -> list[dict]:
    return [
        {"seed": seed, "recording_id": r, "window_index": int(w),
         "label": int(y) if np.ndim(y) == 0 else list(map(int, y)), "probs": p}
        for r, w, y, p in zip(test["recording_id"], test["window_index"], test["labels"], test["probs"], strict=True)
    ]  # fmt: skip


def model_record(resolved: ResolvedModel, built: dict) -> dict:
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


def task_record(recipe, manifest: dict, task_type: str, dataset_dir: Path) -> dict:
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


def protocol_record(settings: FinetuneSettings, overrides: dict, seeds: int, montage_shift: dict | None) -> dict:
    if settings.protocol == "eval":
        return {
            "name": "eval",
            "recipe": None,
            "selection": "none: a fine-tuned checkpoint scored as it is",
            "hyperparameters": {"head": settings.head, "batch_size": settings.batch_size, "seeds": [0]},
        } | ({} if montage_shift is None else {"montage_shift": montage_shift["record"]})
    value, higher = selection_rule(settings.selection)
    return {
        "name": settings.protocol,
        "recipe": settings.recipe,
        "selection": f"{'highest' if higher else 'lowest'} {value}",
        "class_weighting": "inverse class frequency on train" if settings.loss == "weighted-cross-entropy" else "none",
        "hyperparameters": hyperparameters(settings) | {"seeds": list(range(seeds))},
        "overrides": {"task": overrides["task"], "command_line": overrides["command_line"]},
    } | ({} if montage_shift is None else {"montage_shift": montage_shift["record"]})


def write_partial(path: Path, error: TrainingDiverged, model: str, task: str, seeds: list, seed: int) -> Path:
    """What a diverged run leaves: the completed seeds and the failed seed's log."""
    partial = path.with_suffix(".partial.json")
    partial.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        partial,
        {"status": "diverged", "error": str(error), "model": model, "task": task, "completed_seeds": seeds,
         "failed_seed": {"seed": seed, "log": error.log}},
    )  # fmt: skip
    return partial


def results_record(resolved: ResolvedModel, built: dict, recipe, manifest: dict, task_type: str, dataset_dir: Path,
                   protocol: dict, seeds: list[dict], ctx, wall_time_s: float) -> dict:  # fmt: skip
    """The whole results file."""
    results = {
        "schema_version": SCHEMA_VERSION,
        "metric_set": METRIC_SET_VERSION,
        "model": model_record(resolved, built),
        "task": task_record(recipe, manifest, task_type, dataset_dir),
        "protocol": protocol,
        "seeds": seeds,
        "summary": summarise([s["metrics"] for s in seeds]),
        "environment": environment(str(ctx.device), ctx.world_size),
        "wall_time_s": round(wall_time_s, 3),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if task_type == BINARY:
        results["summary_logit"] = summarise([s["logit_metrics"] for s in seeds if "logit_metrics" in s])
    return results
