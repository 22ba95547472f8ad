"""Published reference numbers (``leaderboard/reference/*.json``): what each file must say.

Every reported row names where its numbers were published (``source``: the paper's table or the
documentation page, with a link that opens it), the task protocol it was measured under (e.g.
TUAR MCC), how its metrics are defined (the authors' binary AUROC is computed on logits), and
its standard deviations and number of seeds where the source gives them. A row whose protocol
the source does not state is marked ``"verified": false``.
"""

from __future__ import annotations

import json
from pathlib import Path

from lumamba_bench.errors import LumambaError

_TEXT = {"type": "string", "minLength": 1, "maxLength": 1000}
REFERENCE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["citation", "entries"],
    "properties": {
        "citation": _TEXT,
        "entries": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["task", "model", "metrics", "source", "source_url", "task_protocol", "metric_definition"],
                "properties": {
                    "task": _TEXT,
                    "model": _TEXT,
                    "parameters": {"type": ["integer", "null"], "minimum": 1},
                    "metrics": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "number"}},
                    "std": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
                    "seeds": {"type": ["integer", "null"], "minimum": 1},
                    "source": _TEXT,
                    "source_url": {"type": "string", "pattern": "^https://[^\\s\"'<>]+$", "maxLength": 500},
                    "task_protocol": _TEXT,
                    "metric_definition": _TEXT,
                    "comparable": {"type": "boolean"},
                    "not_comparable_because": _TEXT,
                    "verified": {"type": "boolean"},
                },
            },
        },
    },
}


def read_reference(path: Path) -> dict:
    """One reference file, checked; any problem is one line naming the file and the entry."""
    import jsonschema

    from lumamba_bench.data.recipe import get_recipe
    from lumamba_bench.harness.metrics import load_metrics, metric_range

    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LumambaError(f"{path}: not a reference file ({type(error).__name__}: {error})") from None
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(REFERENCE_SCHEMA).iter_errors(content))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise LumambaError(f"{path}: at {where}: {error.message}")
    for number, entry in enumerate(content["entries"]):
        where = f"{path}: entry {number} ({entry['model']} on {entry['task']})"
        try:
            task_type = get_recipe(entry["task"]).task_type
        except LumambaError as problem:
            raise LumambaError(f"{where}: {problem}") from None
        for name, value in entry["metrics"].items():
            metric = load_metrics().get(name)
            if metric is None or task_type not in metric.task_types:
                raise LumambaError(f"{where}: {name!r} is not a metric of a {task_type} task")
            low, high = metric_range(name)
            if not low <= value <= high:
                raise LumambaError(f"{where}: {name} = {value} is outside [{low}, {high}]")
        extra = set(entry.get("std", {})) - set(entry["metrics"])
        if extra:
            raise LumambaError(f"{where}: a standard deviation for {sorted(extra)} but no mean")
        if entry.get("comparable") is False and not entry.get("not_comparable_because"):
            raise LumambaError(f"{where}: not comparable, but no not_comparable_because says why")
    return content


def reference_files(reference: Path) -> list[Path]:
    return sorted(Path(reference).glob("*.json"))
