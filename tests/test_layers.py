"""The layer contracts of pyproject.toml ([tool.importlinter]) hold, and catch an upward import.

recipes/ and baselines/ are installed as lumamba_bench.recipes/.baselines (package-dir), which a
tool walking the source folder would miss, so the package is laid out as installed
(benchmarks/gpu_install_tree.py) in a temporary folder and lint-imports runs on that copy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


@pytest.fixture
def installed(tmp_path) -> Path:
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, str(REPOSITORY / "benchmarks" / "gpu_install_tree.py"), str(site)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return site


def _lint(site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([str(LINT), "--no-cache", str(REPOSITORY / "pyproject.toml")], capture_output=True,
                          text=True, env=env, cwd=site.parent, timeout=300)  # fmt: skip


def test_every_layer_imports_only_downwards(installed):
    done = _lint(installed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Layers import only downwards KEPT" in done.stdout and "import no model code KEPT" in done.stdout


def test_an_upward_import_breaks_the_contract_naming_it(installed):
    manifest = installed / "lumamba_bench" / "data" / "manifest.py"
    manifest.write_text(manifest.read_text() + "\nfrom lumamba_bench.harness import run  # upward\n")
    done = _lint(installed)
    assert done.returncode == 1
    assert "Layers import only downwards BROKEN" in done.stdout
    assert "lumamba_bench.data.manifest -> lumamba_bench.harness.run" in done.stdout


def test_a_recipe_importing_model_code_breaks_the_data_contract(installed):
    recipe = installed / "lumamba_bench" / "recipes" / "tuab.py"
    recipe.write_text(recipe.read_text() + "\nimport lumamba_bench.models.lumamba  # model code in a recipe\n")
    done = _lint(installed)
    assert done.returncode == 1 and "Data and recipes import no model code BROKEN" in done.stdout
