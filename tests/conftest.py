from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from corpora import write_tuab_fixture

from lumamba_bench.recipes.demo_corpus import write_demo_corpus


@pytest.fixture(autouse=True)
def _isolated_data_root(tmp_path, monkeypatch):
    """Never touch the user's ~/.cache: every test gets its own data root."""
    monkeypatch.setenv("LUMAMBA_BENCH_DATA", str(tmp_path / "data-root"))


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory) -> Path:
    """A small demo corpus (4 + 2 subjects per class, 40 s each)."""
    root = tmp_path_factory.mktemp("demo-source")
    write_demo_corpus(root, duration_s=40.0, n_train_per_class=4, n_eval_per_class=2)
    return root


@pytest.fixture
def tuab_source(tmp_path) -> tuple[Path, dict[str, int]]:
    root = tmp_path / "tuab"
    return root, write_tuab_fixture(root)


@pytest.fixture(scope="session")
def board_source(tmp_path_factory) -> Path:
    """A demo corpus with 5 test recordings per class (the fewest the board gives an interval
    for), 20 s each."""
    root = tmp_path_factory.mktemp("board-source")
    write_demo_corpus(root, duration_s=20.0, n_train_per_class=2, n_eval_per_class=5)
    return root


@pytest.fixture(scope="session")
def demo_split(board_source, tmp_path_factory) -> dict:
    """A prepared demo dataset: its folder, manifest sha256 and test windows -> labels."""
    from lumamba_bench.data.manifest import dataset_sha256, read_manifest
    from lumamba_bench.data.prepare import prepare
    from lumamba_bench.data.recipe import get_recipe
    from lumamba_bench.files import sha256_of
    from lumamba_bench.leaderboard.submission import windows_of_test_split

    folder = tmp_path_factory.mktemp("prepared") / "demo"
    prepare(get_recipe("demo"), board_source, folder)
    sha = sha256_of(folder / "manifest.json")
    windows = windows_of_test_split({"task": {"recipe": "demo", "manifest_sha256": sha}}, folder)
    dataset = dataset_sha256(read_manifest(folder, "demo"))
    return {"dir": folder, "manifest_sha256": sha, "dataset_sha256": dataset, "windows": windows}


@pytest.fixture
def board(tmp_path):
    root = tmp_path / "leaderboard"
    from submissions import add_test_cards

    repo_board = Path(__file__).resolve().parents[1] / "leaderboard"
    shutil.copytree(repo_board / "reference", root / "reference")
    shutil.copytree(repo_board / "models", root / "models")
    add_test_cards(root)
    (root / "submissions").mkdir()
    return root


@pytest.fixture
def small_demo(demo_source) -> Path:
    """The small demo corpus prepared into this test's data root as `demo`."""
    from lumamba_bench.data.prepare import prepare
    from lumamba_bench.data.recipe import get_recipe
    from lumamba_bench.data.store import data_root

    prepare(get_recipe("demo"), demo_source, data_root() / "demo")
    return data_root() / "demo"
