"""docs/architecture.md's examples run as they are written: the recipe registers and discovers a
corpus in its layout, the encoder passes ``check-model``, the metric is computed for a run."""

from __future__ import annotations

import re
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from lumamba_bench.data import recipe as recipes
from lumamba_bench.harness import metrics
from lumamba_bench.models import registry

ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _example(section: str) -> str:
    text = ARCHITECTURE.read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    return code


def _run(section: str, module: str, monkeypatch) -> dict:
    """Execute an example as a module of its own (its registrations name that module)."""
    script = types.ModuleType(module)
    monkeypatch.setitem(sys.modules, module, script)
    exec(compile(_example(section), f"docs/architecture.md ({section})", "exec", dont_inherit=True), script.__dict__)
    return script.__dict__


def test_the_recipe_example_registers_and_discovers_its_layout(demo_source, tmp_path, monkeypatch):
    try:
        _run("Adding a recipe", "lumamba_bench.recipes.mycorpus", monkeypatch)
        edf = next(demo_source.rglob("*.edf"))
        for subject in ("p01", "c01", "c02"):
            (tmp_path / subject).mkdir()
            shutil.copy(edf, tmp_path / subject / "rec1.edf")
        recipe = recipes.get_recipe("mycorpus")
        found = recipe.discover(tmp_path)
        assert [(r.recording_id, r.subject_id, r.label) for r in found.recordings] == [
            ("c01/rec1", "c01", 0), ("c02/rec1", "c02", 0), ("p01/rec1", "p01", 1),
        ]  # fmt: skip
        assert {r.split for r in found.recordings} <= {"train", "val", "test"} and recipe.task_type == "binary"
    finally:
        recipes.REGISTERED.pop("mycorpus", None)


def test_the_encoder_example_passes_check_model(monkeypatch):
    from lumamba_bench.harness.model_check import check_model

    try:
        _run("Adding an encoder", "lumamba_bench.baselines.mymodel", monkeypatch)
        report = check_model("mymodel")
        assert report.ok and not report.refusals and len(report.checks) > 10, report.frame()
    finally:
        registry._ENCODERS.pop("mymodel", None)


def test_the_metric_example_is_computed_for_a_run(monkeypatch):
    try:
        _run("Adding a metric", "mymetric", monkeypatch)
        labels = np.array([0, 1, 1, 0, 1])
        probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6], [0.1, 0.9]])
        assert metrics.compute_metrics("binary", labels, probs)["metrics"]["errors_per_ten"] == pytest.approx(4.0)
        assert "errors_per_ten" in metrics.board_columns("binary")
    finally:
        metrics.METRICS.pop("errors_per_ten", None)
