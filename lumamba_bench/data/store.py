"""Where prepared data lives (``--data-root`` > ``$LUMAMBA_BENCH_DATA`` > ``~/.cache/lumamba-bench``),
where a recipe's source is, and preparing a dataset on first use."""

from __future__ import annotations

import os
from pathlib import Path

from lumamba_bench.data.recipe import Recipe
from lumamba_bench.errors import LumambaError


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


def ensure_prepared(recipe_name: str, root: Path | str | None = None) -> Path:
    """The dataset folder of a prepared recipe; the demo corpus is prepared on first use,
    any other unprepared recipe is an error naming the command that prepares it."""
    from lumamba_bench.data.prepare import prepare  # the orchestrator, only when there is work
    from lumamba_bench.data.recipe import get_recipe

    recipe = get_recipe(recipe_name)
    folder = data_root(root) / recipe.name
    if (folder / "manifest.json").exists():
        return folder
    source = recipe.default_source(data_root(root))
    if source is None:
        raise LumambaError(
            f"{recipe.name} is not prepared; run `lumamba-bench prepare {recipe.name} --source DIR`"
            f" (DIR holding {recipe.source_layout})"
        )
    prepare(recipe, source, folder)
    return folder


def resolve_source(recipe: Recipe, source: Path | None, root: Path) -> Path:
    """The folder ``prepare`` reads: the one given, or the corpus this package generates (the
    demo); an error naming the layout otherwise."""
    if source is not None:
        return Path(source)
    generated = recipe.default_source(root)
    if generated is None:
        raise LumambaError(f"`prepare {recipe.name}` needs --source: the folder holding {recipe.source_layout}")
    return generated
