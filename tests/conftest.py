from __future__ import annotations

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
