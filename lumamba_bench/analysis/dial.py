"""The objective dial as a figure: short pre-trainings of the mixed objective at several LeJEPA
weights (0 is reconstruction only, ``inf`` LeJEPA only), each analysed for isotropy on the
task's split and fine-tuned for downstream AUROC.

Every point pre-trains the same architecture from the same seed on the same data for the same
steps, so the weight is the only difference. Pre-trained encoders are not put in the model
store (they are short runs, not the ``lumamba-mixed`` model); their checkpoints stay in
``OUT/pretrain/weight-W``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from lumamba_bench.analysis.analyze import AnalyzeConfig, analyze_encoder
from lumamba_bench.data.loader import ShardDataset
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.data.store import ensure_prepared
from lumamba_bench.harness.finetune import Classifier, task_type_of, train_one_seed
from lumamba_bench.harness.finetune_recipes import build_settings, task_overrides
from lumamba_bench.harness.metrics import compute_metrics
from lumamba_bench.harness.pretrain import PretrainConfig, pretrain
from lumamba_bench.models import parse_model_name
from lumamba_bench.models.registry import encoder_spec


@dataclass
class DialConfig:
    architecture: str = "lumamba"
    task: str = "demo"
    pretrain_task: str | None = None  # the recipe pre-trained on; default: the task's own training split
    weights: tuple[float, ...] = (0.0, 0.05, 0.5, math.inf)
    pretrain_epochs: int = 2
    pretrain_batch_size: int = 16
    protocol: str = "linear"
    finetune_epochs: int | None = None
    seed: int = 0
    out: Path = Path("results/analysis")
    data_root: Path | None = None
    max_windows: int | None = None
    device: str = "cpu"


def _pretrained_encoder(config: DialConfig, weight: float, out: Path) -> tuple[torch.nn.Module, dict]:
    objective = "lejepa" if math.isinf(weight) else "mixed"
    result = pretrain(
        PretrainConfig(
            model=f"{config.architecture}-{objective}",
            task=config.pretrain_task or config.task,
            epochs=config.pretrain_epochs,
            batch_size=config.pretrain_batch_size,
            lejepa_weight=0.05 if math.isinf(weight) else weight,  # LeJEPA alone: the reference's 0.05 scale
            seed=config.seed,
            out=out,
            data_root=config.data_root,
            register=False,
            device=config.device,
        )
    )
    last = result.history[-1]
    terms = sorted(k for k in last if k not in ("step", "epoch", "lr", "grad_norm", "seconds", "loss"))
    return result.objective.encoder, {"steps": result.step, "final_loss": last["loss"], "loss_terms": terms}


def _downstream_auroc(encoder: torch.nn.Module, dataset_dir: Path, splits: dict, config: DialConfig) -> float | None:
    recipe = get_recipe(config.task)
    task_type, outputs = task_type_of(recipe)
    family = encoder_spec(config.architecture).family
    settings, _ = build_settings("common", family, task_overrides(recipe, "common"), {})
    settings = replace(settings, protocol=config.protocol)
    if config.finetune_epochs is not None:
        settings = replace(settings, epochs=config.finetune_epochs)
    outcome = train_one_seed(
        lambda: Classifier(copy.deepcopy(encoder), outputs, settings.head),
        splits,
        task_type,
        outputs,
        settings,
        config.seed,
        torch.device(config.device),
    )
    metrics = compute_metrics(task_type, outcome.test["labels"], outcome.test["probs"])["metrics"]
    return metrics.get("auroc", metrics.get("auroc_macro"))


def sweep(config: DialConfig, on_point: Callable[[dict], None] | None = None) -> dict:
    architecture = parse_model_name(config.architecture).architecture
    config = replace(config, architecture=architecture)
    dataset_dir = ensure_prepared(get_recipe(config.task).name, config.data_root)
    out = Path(config.out) / get_recipe(config.task).name / f"dial-{architecture}"
    splits = {s: ShardDataset(dataset_dir, s) for s in ("train", "val", "test")}  # indexed once for all points
    rows = []
    for weight in config.weights:
        tag = "lejepa-only" if math.isinf(weight) else f"weight-{weight:g}"
        encoder, pretraining = _pretrained_encoder(config, weight, out / "pretrain" / tag)
        analysis = analyze_encoder(
            encoder,
            dataset_dir,
            AnalyzeConfig(
                model=f"{architecture}-{tag}",
                task=config.task,
                out=out / tag,
                seed=config.seed,
                max_windows=config.max_windows,
            ),
            title=f"{architecture}, LeJEPA {tag}",
        )
        row = {
            "lejepa_weight": weight,
            **pretraining,
            **{k: analysis["isotropy"][k] for k in ("epps_pulley", "effective_rank", "condition_number")},
            "auroc": _downstream_auroc(encoder, dataset_dir, splits, config),
        }
        rows.append(row)
        if on_point is not None:
            on_point(row)
    from lumamba_bench.analysis.plots import dial_plot

    report = {"task": config.task, "architecture": architecture, "protocol": config.protocol, "rows": rows}
    report["figure"] = str(dial_plot(rows, out / "dial.png"))
    safe = [r | {"lejepa_weight": "inf" if math.isinf(r["lejepa_weight"]) else r["lejepa_weight"]} for r in rows]
    (out / "dial.json").write_text(json.dumps(report | {"rows": safe}, indent=2) + "\n")
    return report
