"""Leaderboard rows: measured submissions and reported reference numbers, ranked per task."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lumamba_bench.errors import LumambaError
from lumamba_bench.leaderboard.submission import content_hash, load_stored

COLUMNS = {  # task type -> displayed metrics, primary (ranking) metric first
    "binary": ("auroc", "aupr", "balanced_accuracy"),
    "multiclass": ("auroc_macro", "aupr_macro", "balanced_accuracy"),
    "multilabel": ("auroc_macro", "aupr_macro"),
}


def task_type(recipe_name: str) -> str:
    from lumamba_bench.recipes import get_recipe

    recipe = get_recipe(recipe_name)
    if recipe.n_classes_multilabel:
        return "multilabel"
    return "binary" if len(recipe.label_names) == 2 else "multiclass"


@dataclass
class Row:
    task: str
    model: str
    source: str  # "measured" | "reported"
    parameters: int | None
    metrics: dict[str, tuple[float | None, float | None]]  # name -> (mean, std)
    seeds: int | None = None
    checkpoint: str = ""  # short sha256, "scratch", or "" for reported rows
    citation: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)

    def score(self, metric: str) -> float | None:
        return self.metrics.get(metric, (None, None))[0]


def measured_rows(submissions: Path) -> list[Row]:
    rows = []
    for path in sorted(Path(submissions).glob("*/*.json")):
        results = load_stored(path)
        model = results["model"]
        checkpoint = "scratch" if model["checkpoint"] is None else model["checkpoint"]["sha256"][:12]
        rows.append(
            Row(
                task=results["task"]["recipe"],
                model=model["name"],
                source="measured",
                parameters=model["parameters"]["encoder"],
                metrics={k: (v["mean"], v["std"]) for k, v in results["summary"].items()},
                seeds=len(results["seeds"]),
                checkpoint=checkpoint,
                note=f"protocol {results['protocol']['name']}",
                extra={"file": path.name, "sha256": content_hash(results)},
            )
        )
    return rows


def reported_rows(reference: Path) -> list[Row]:
    """Published numbers: each file holds one paper's citation and its rows."""
    rows = []
    for path in sorted(Path(reference).glob("*.json")):
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
            entries = content["entries"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
            raise LumambaError(f"{path}: not a reference file ({type(error).__name__}: {error})") from None
        for entry in entries:
            rows.append(
                Row(
                    task=entry["task"],
                    model=entry["model"],
                    source="reported",
                    parameters=entry.get("parameters"),
                    metrics={k: (float(v), None) for k, v in entry["metrics"].items()},
                    citation=content["citation"],
                    note=entry.get("note", ""),
                )
            )
    return rows


def ranked(rows: list[Row]) -> dict[str, list[Row]]:
    """Rows per task, best first by the task's primary metric (rows without it last)."""
    tasks: dict[str, list[Row]] = {}
    for row in rows:
        tasks.setdefault(row.task, []).append(row)
    out = {}
    for task in sorted(tasks):
        primary = COLUMNS[task_type(task)][0]

        def key(row: Row, primary=primary) -> tuple:
            score = row.score(primary)
            return (score is None, -(score or 0.0), row.source, row.model, row.extra.get("sha256", ""))

        out[task] = sorted(tasks[task], key=key)
    return out


def fmt(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"


def fmt_params(parameters: int | None) -> str:
    return "-" if parameters is None else f"{parameters / 1e6:.1f}M"
