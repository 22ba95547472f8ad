"""Results files for leaderboard tests: real metrics of random predictions, on a prepared split
or on made-up windows."""

import json
from pathlib import Path

import numpy as np

from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.harness.metrics import compute_metrics
from lumamba_bench.harness.results import summarise

SHA = "ab" * 32


def demo_results(
    seed_offset: int = 0, name: str = "lumamba-mixed-test", split=None, signal: float = 0.35
) -> tuple[dict, list[dict]]:
    """A binary demo results file whose metrics come from real (random) predictions; with
    ``split`` (the ``demo_split`` fixture) on the windows and labels of a prepared test split."""
    rng = np.random.default_rng(seed_offset)
    seeds, rows = [], []
    for seed in range(3):
        if split is None:
            keys, labels = [(f"r{i}", 0) for i in range(60)], rng.integers(0, 2, 60)
        else:
            keys, labels = list(split["windows"]), np.array(list(split["windows"].values()))
        p1 = np.clip(signal * labels + rng.uniform(0, 1 - signal, len(labels)), 0, 1)
        probs = np.stack([1 - p1, p1], axis=1)
        metrics = compute_metrics("binary", labels, probs)["metrics"]
        seeds.append({"seed": seed, "metrics": metrics, "best_epoch": 2})
        rows += [
            {"seed": seed, "recording_id": rec, "window_index": win, "label": int(y), "probs": p}
            for (rec, win), y, p in zip(keys, labels, probs, strict=True)
        ]
    results = {
        "schema_version": 1,
        "model": {"name": name, "architecture": "lumamba", "family": "lumamba", "objective": "mixed", "scratch": False,
                  "parameters": {"encoder": 4094776, "total": 4687290}, "checkpoint": {"sha256": SHA}},
        "task": {"name": "demo", "recipe": "demo", "recipe_version": get_recipe("demo").version, "type": "binary",
                 "label_names": ["normal", "abnormal"],
                 "manifest_sha256": SHA if split is None else split["manifest_sha256"],
                 "dataset_sha256": SHA if split is None else split["dataset_sha256"]},
        "protocol": {"name": "full", "recipe": "reference", "selection": "lowest val loss",
                     "hyperparameters": {"seeds": [0, 1, 2]}, "overrides": {"task": {}, "command_line": {}}},
        "seeds": seeds,
        "summary": summarise([s["metrics"] for s in seeds]),
        "environment": {}, "wall_time_s": 12.5, "created": "2026-11-24T00:00:00+00:00",
    }  # fmt: skip
    return results, rows


def write_json(tmp_path, results, name="r.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(results))
    return path


def model_card(name: str, sha256: str | None = SHA, corpora=("tueg",), excluded=("demo",)) -> dict:
    """A model card matching ``demo_results`` (a lumamba encoder with the test checkpoint)."""
    return {
        "name": name, "family": "lumamba", "architecture": "lumamba", "parameters": 4094776,
        "weights": {"licence": "test", "source": "trained here", "sha256": sha256},
        "pretraining": {"corpora": list(corpora), "test_subjects_excluded_for": list(excluded), "notes": "test"},
        "input_normalisation": "channelwise-zscore", "code_revision": "test",
    }  # fmt: skip


def add_test_cards(root: Path) -> None:
    """The cards of the model names the tests submit under."""
    models = Path(root) / "models"
    models.mkdir(parents=True, exist_ok=True)
    for name in ("lumamba-mixed-test", "luna-base-test"):
        (models / f"{name}.json").write_text(json.dumps(model_card(name)))
