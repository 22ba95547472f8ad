"""Where prepared data lives: ``--data-root`` > ``$LUMAMBA_BENCH_DATA`` > ``~/.cache/lumamba-bench``."""

from __future__ import annotations

import os
from pathlib import Path


def data_root(override: Path | str | None = None) -> Path:
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("LUMAMBA_BENCH_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "lumamba-bench"


def dataset_dir(recipe: str, root: Path | str | None = None) -> Path:
    """The prepared dataset folder of a recipe: ``<data_root>/<recipe>/``."""
    return data_root(root) / recipe
