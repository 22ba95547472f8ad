"""Corpus recipes: raw recordings -> windowed Parquet shards. ``get_recipe(name)`` is the entry."""

from __future__ import annotations

from lumamba_bench.recipes.base import Recipe
from lumamba_bench.recipes.demo import Demo
from lumamba_bench.recipes.tuab import TUAB

from lumamba_bench.errors import LumambaError

_RECIPES: dict[str, type[Recipe]] = {cls.name: cls for cls in (Demo, TUAB)}


def list_recipes() -> list[str]:
    return sorted(_RECIPES)


def get_recipe(name: str) -> Recipe:
    try:
        return _RECIPES[name.lower()]()
    except KeyError:
        raise LumambaError(f"unknown recipe {name!r}; known recipes: {', '.join(list_recipes())}") from None
