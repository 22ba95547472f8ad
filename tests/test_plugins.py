"""An encoder, a recipe and a metric from outside the repository run through the real console
script: the toy package (tests/toy_plugin) installed into a temporary folder with its entry
points, and the same code loaded as a --plugin file; the repository is not touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
TOY = Path(__file__).resolve().parent / "toy_plugin"
CLI = Path(sys.executable).with_name("lumamba-bench")


def _cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
                          cwd=cwd, timeout=600)  # fmt: skip


def _repository_state() -> str:
    done = subprocess.run(["git", "status", "--porcelain"], cwd=REPOSITORY, capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else ""


@pytest.fixture(scope="module")
def installed_toy(tmp_path_factory) -> Path:
    """The toy package installed (pip, no index) into a site folder of its own: a PYTHONPATH
    entry away from the harness, as an installed third-party package is."""
    work = tmp_path_factory.mktemp("toy")
    shutil.copytree(TOY, work / "source")  # pip builds in place: never in the repository
    site = work / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(work / "source")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (next(site.glob("toy_eeg-*.dist-info")) / "entry_points.txt").is_file()
    return site


@pytest.mark.slow
def test_an_installed_entry_point_package_runs_with_no_other_step(installed_toy, small_demo, tmp_path):
    before = _repository_state()
    env = {"PYTHONPATH": str(installed_toy)}
    listed = _cli("models", env=env)
    assert listed.returncode == 0 and "toy" in listed.stdout, listed.stderr
    recipes = _cli("recipes", env=env)
    assert recipes.returncode == 0 and "toy-demo" in recipes.stdout, recipes.stderr
    checked = _cli("check-model", "toy", "--task", "demo", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    done = _cli("run", "--model", "toy-scratch", "--task", "demo", "--seeds", "1", "--epochs", "1",
                "--out", str(tmp_path / "results"), env=env)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = (tmp_path / "results" / "demo" / "toy-scratch").glob("*.json")
    results = json.loads(path.read_text())
    assert results["model"]["architecture"] == "toy" and results["model"]["family"] == "toy"
    assert results["protocol"]["recipe"] == "common"  # no reference recipe for a family the authors did not tune
    assert "toy_sensitivity" in results["seeds"][0]["metrics"]  # the plugin's metric, computed by it
    compared = _cli("compare", str(tmp_path / "results"), env=env)  # the board's tables take it as any row
    assert compared.returncode == 0 and "toy-scratch" in compared.stdout, compared.stderr
    assert _repository_state() == before


@pytest.mark.slow
def test_a_plugin_file_registers_an_encoder_recipe_and_metric(small_demo, tmp_path):
    plugin = tmp_path / "toy_plugin.py"
    shutil.copy(TOY / "toy_eeg" / "__init__.py", plugin)
    listed = _cli("recipes", "--plugin", str(plugin))
    assert listed.returncode == 0 and "toy-demo" in listed.stdout, listed.stderr
    done = _cli("run", "--plugin", str(plugin), "--model", "toy-scratch", "--task", "demo", "--seeds", "1",
                "--epochs", "1", "--out", str(tmp_path / "results"))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = (tmp_path / "results" / "demo" / "toy-scratch").glob("*.json")
    assert "toy_sensitivity" in json.loads(path.read_text())["summary"]
    from_environment = _cli("models", env={"LUMAMBA_BENCH_PLUGINS": str(plugin)})
    assert from_environment.returncode == 0 and "toy" in from_environment.stdout


@pytest.mark.slow
def test_a_factory_runs_as_built_and_is_named_after_it(small_demo, tmp_path):
    shutil.copy(TOY / "toy_eeg" / "__init__.py", tmp_path / "toy_factory.py")
    env = {"PYTHONPATH": str(tmp_path)}
    checked = _cli("check-model", "toy_factory:toy", "--task", "demo", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    done = _cli("run", "--model", "toy_factory:toy-scratch", "--task", "demo", "--seeds", "1", "--epochs", "1",
                "--out", str(tmp_path / "results"), env=env)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = (tmp_path / "results" / "demo" / "toy-factory.toy-scratch").glob("*.json")
    model = json.loads(path.read_text())["model"]
    assert model["architecture"] == "toy-factory.toy" and model["factory"] == "toy_factory:toy"
    assert model["scratch"] is True and model["checkpoint"] is None


def test_a_taken_name_is_refused_naming_both_providers(tmp_path):
    plugin = tmp_path / "clash.py"
    plugin.write_text(
        "from lumamba_bench import Encoder, register_encoder\n\n"
        "@register_encoder('lumamba')\n"
        "def mine(**overrides):\n"
        "    raise NotImplementedError\n"
    )
    done = _cli("models", "--plugin", str(plugin))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()  # one line, no traceback
    assert "'lumamba' is taken" in line and "lumamba_bench.models.lumamba" in line and "clash.mine" in line


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import not_a_module_anywhere\n", "failed to import: ModuleNotFoundError"),
        ("raise RuntimeError('broken on purpose')\n", "failed to import: RuntimeError: broken on purpose"),
    ],
)
def test_a_broken_plugin_is_one_line_naming_it(tmp_path, source, expected):
    plugin = tmp_path / "broken.py"
    plugin.write_text(source)
    done = _cli("models", "--plugin", str(plugin))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert str(plugin) in line and expected in line


def test_a_factory_that_returns_no_encoder_or_does_not_exist_is_one_line(tmp_path):
    (tmp_path / "not_encoders.py").write_text("import torch\n\ndef linear():\n    return torch.nn.Linear(2, 2)\n")
    env = {"PYTHONPATH": str(tmp_path)}
    wrong = _cli("check-model", "not_encoders:linear", env=env)
    assert wrong.returncode == 1 and "returned a Linear, not an Encoder" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
    missing = _cli("check-model", "not_encoders:absent", env=env)
    assert missing.returncode == 1 and "not_encoders has no 'absent'" in missing.stderr
