"""Results files (schema version 1): the one definition ``run`` writes and the leaderboard reads.

A results file records the model (name, family, objective, parameters, checkpoint sha256), the
task (recipe, recipe version, manifest sha256), the protocol and hyper-parameters, per-seed and
mean/std metrics, the environment and the wall time. ``std`` is the sample standard deviation
over seeds (ddof=1; 0 for one seed).
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lumamba_bench import __version__
from lumamba_bench.errors import LumambaError
from lumamba_bench.files import atomic_path, write_json_atomic
from lumamba_bench.harness.metrics import METRIC_SET_VERSION, TASK_TYPES, metric_range

SCHEMA_VERSION = 1

# Every number has a range, so one accepted file cannot break the build for everyone (10**400
# parameters overflowed the table's formatting). Each metric's own range is the registry's
# (harness/metrics.py), checked by ``validate``; the schema only bounds the magnitude.
_METRIC = {"type": ["number", "null"], "minimum": -1e6, "maximum": 1e6}
_METRIC_MAP = {"type": "object", "additionalProperties": _METRIC}
_COUNT = {"type": "integer", "minimum": 1, "maximum": 10**12}
RESULTS_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "lumamba-bench results",
    "type": "object",
    "required": [
        "schema_version",
        "model",
        "task",
        "protocol",
        "seeds",
        "summary",
        "environment",
        "wall_time_s",
        "created",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "metric_set": {"type": "integer", "minimum": 1, "maximum": METRIC_SET_VERSION},  # absent: set 1
        "model": {
            "type": "object",
            "required": ["name", "architecture", "family", "objective", "scratch", "parameters", "checkpoint"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{0,63}$"},
                "architecture": {"type": "string"},
                "family": {"type": "string"},
                "objective": {"type": ["string", "null"]},
                "scratch": {"type": "boolean"},
                "input_normalisation": {"type": "string"},  # what the encoder applies to microvolts
                "parameters": {
                    "type": "object",
                    "required": ["encoder", "total"],
                    "properties": {
                        "encoder": _COUNT,
                        "total": _COUNT,
                    },
                },
                "checkpoint": {
                    "type": ["object", "null"],
                    "required": ["sha256"],
                    "properties": {
                        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                        "hub": {  # --checkpoint hf://...: what was loaded, by commit (harness/hub.py)
                            "type": "object",
                            "required": ["address", "repo", "file", "revision"],
                            "properties": {"revision": {"type": "string", "pattern": "^[0-9a-f]{40}$"}},
                        },
                    },
                },
            },
        },
        "task": {
            "type": "object",
            "required": ["name", "recipe", "recipe_version", "type", "label_names", "manifest_sha256"],
            "properties": {
                "type": {"enum": list(TASK_TYPES)},
                "manifest_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "dataset_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "partial": {"type": ["string", "null"], "maxLength": 300},
                "label_names": {"type": "array", "items": {"type": "string"}},
            },
        },
        "protocol": {
            "type": "object",
            "required": ["name", "selection", "hyperparameters"],
            "properties": {
                "name": {"enum": ["full", "linear", "eval"]},
                "montage_shift": {  # the unseen-montage protocol: fine-tuned on one channel set, tested on another
                    "type": "object",
                    "required": ["train_channels", "test_channels"],
                    "properties": {
                        "train_channels": {"type": "string", "minLength": 1, "maxLength": 200},
                        "test_channels": {"type": "string", "minLength": 1, "maxLength": 200},
                    },
                },
            },
        },
        "seeds": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["seed", "metrics", "best_epoch"],
                "properties": {
                    "seed": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                    "best_epoch": {"type": "integer", "minimum": 0, "maximum": 10**6},
                    "epochs_run": {"type": "integer", "minimum": 0, "maximum": 10**6},
                    "metrics": _METRIC_MAP,
                    "recording_metrics": _METRIC_MAP,
                    "logit_metrics": _METRIC_MAP,
                    "undefined": {"type": "object"},
                },
            },
        },
        "summary": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["mean", "std", "n"],
                "properties": {
                    "mean": _METRIC,
                    "std": {"type": ["number", "null"], "minimum": 0, "maximum": 1e6},
                    "n": {"type": "integer", "minimum": 0, "maximum": 10**6},
                },
            },
        },
        "environment": {"type": "object"},
        "wall_time_s": {"type": "number", "minimum": 0, "maximum": 10**9},
        "created": {"type": "string"},
    },
}


def summarise(per_seed: list[dict]) -> dict:
    """mean / sample std / n of every metric over the seeds where it is defined."""
    names = sorted({name for metrics in per_seed for name in metrics})
    summary = {}
    for name in names:
        values = [m[name] for m in per_seed if m.get(name) is not None]
        summary[name] = {
            "mean": float(np.mean(values)) if values else None,
            "std": float(np.std(values, ddof=1)) if len(values) > 1 else (0.0 if values else None),
            "n": len(values),
        }
    return summary


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment(device: str, world_size: int) -> dict:
    import torch

    from lumamba_bench.harness import precision
    from lumamba_bench.models.scan import scan_report

    return {
        "scan_backend": scan_report(device),
        "precision": precision.active(),
        "lumamba_bench": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the SIMD kernels torch picked
        "threads": torch.get_num_threads(),  # CPU reductions split by thread: part of bit-identity
        "world_size": world_size,
        "git_commit": git_commit(),
    }


@dataclass(frozen=True)
class RunResult:
    """What ``run`` returns: the results file's content and where it and the predictions are.
    Unpacks as ``results, path`` too."""

    results: dict
    path: Path
    predictions: Path | None  # None: run with save_predictions off

    @property
    def summary(self):
        """One pandas row per metric: mean and std over seeds, and how many seeds defined it."""
        import pandas as pd

        summary = self.results["summary"]
        rows = {name: {"mean": s["mean"], "std": s["std"], "seeds": s.get("n")} for name, s in summary.items()}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("metric")

    @property
    def seed_metrics(self):
        """One pandas row per seed, a column per metric (None where undefined)."""
        import pandas as pd

        return pd.DataFrame([{"seed": s["seed"], **s["metrics"]} for s in self.results["seeds"]]).set_index("seed")

    def __iter__(self):
        return iter((self.results, self.path))


def validate(results: dict) -> None:
    """Raise ``jsonschema.ValidationError`` when a results dict breaks the schema, or a metric
    lies outside its registered range."""
    import jsonschema

    jsonschema.validate(results, RESULTS_SCHEMA)
    values = [(k, v) for s in results["seeds"] for key in ("metrics", "recording_metrics", "logit_metrics")
              for k, v in s.get(key, {}).items()]  # fmt: skip
    values += [(k, s["mean"]) for key in ("summary", "summary_logit") for k, s in results.get(key, {}).items()]
    for name, value in values:
        low, high = metric_range(name)
        if value is not None and not low <= value <= high:
            raise jsonschema.ValidationError(f"{name} = {value} is outside its range [{low}, {high}]")
    for key in ("summary", "summary_logit"):
        for name, stats in results.get(key, {}).items():
            low, high = metric_range(name)
            if stats.get("std") is not None and stats["std"] > high - low:
                raise jsonschema.ValidationError(f"{name} std = {stats['std']} exceeds its range's width {high - low}")


def write_results(results: dict, path: Path) -> Path:
    validate(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, results)
    return path


def write_predictions(rows: list[dict], path: Path) -> Path:
    """Per-window test predictions of every seed: seed, recording_id, window_index, label, probs."""
    table = pa.table(
        {
            "seed": pa.array([r["seed"] for r in rows], pa.int32()),
            "recording_id": pa.array([r["recording_id"] for r in rows], pa.string()),
            "window_index": pa.array([r["window_index"] for r in rows], pa.int32()),
            "label": pa.array([r["label"] for r in rows]),
            "probs": pa.array([list(map(float, r["probs"])) for r in rows], pa.list_(pa.float64())),
        }
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def ensure_writable_folder(path: Path, option: str) -> Path:
    """Create ``path`` and prove it takes a file, before any work whose results would go there
    (a run's results are otherwise lost after hours of training)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise LumambaError(f"{option} {path} cannot hold results: {error.strerror or error}") from None
    return path

