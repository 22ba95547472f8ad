"""Corpus recipes: raw recordings -> windowed Parquet shards. ``get_recipe(name)`` is the entry.

A recipe is a ``Recipe`` subclass in a module of this package, marked ``@register_recipe``
(``recipes/base.py``); every module here is imported on first use, so adding a corpus is adding
one module.
"""

from __future__ import annotations

import importlib
import pkgutil

from lumamba_bench.errors import LumambaError
from lumamba_bench.recipes.base import REGISTERED, Recipe


def _load_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def list_recipes() -> list[str]:
    _load_all()
    return sorted(REGISTERED)


def get_recipe(name: str) -> Recipe:
    _load_all()
    try:
        return REGISTERED[name.lower()]()
    except KeyError:
        raise LumambaError(f"unknown recipe {name!r}; known recipes: {', '.join(list_recipes())}") from None
