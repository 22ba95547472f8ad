"""Corpus recipes: raw recordings -> windowed Parquet shards. ``get_recipe(name)`` is the entry."""

from __future__ import annotations

from lumamba_bench.recipes.apava import APAVA
from lumamba_bench.recipes.base import Recipe
from lumamba_bench.recipes.demo import Demo
from lumamba_bench.recipes.tdbrain import TDBrain
from lumamba_bench.recipes.tuab import TUAB
from lumamba_bench.recipes.tuar import TUAR, TUARMultilabel
from lumamba_bench.recipes.tueg import TUEG
from lumamba_bench.recipes.tusl import TUSL

from lumamba_bench.errors import LumambaError

_ALL = (Demo, TUAB, TUAR, TUARMultilabel, TUSL, TUEG, APAVA, TDBrain)
_RECIPES: dict[str, type[Recipe]] = {cls.name: cls for cls in _ALL}


def list_recipes() -> list[str]:
    return sorted(_RECIPES)


def get_recipe(name: str) -> Recipe:
    try:
        return _RECIPES[name.lower()]()
    except KeyError:
        raise LumambaError(f"unknown recipe {name!r}; known recipes: {', '.join(list_recipes())}") from None
