"""Corpus recipes: raw recordings -> windowed Parquet shards. ``get_recipe(name)`` is the entry.

A recipe is a ``Recipe`` subclass marked ``@register_recipe`` (``recipes/base.py``), in a module
declared under the ``lumamba_bench.recipes`` entry points (``pyproject.toml``; ``plugins.py``):
this package's corpora and any installed package's alike, or a ``--plugin`` module.
"""

from __future__ import annotations

from lumamba_bench import plugins
from lumamba_bench.errors import LumambaError
from lumamba_bench.recipes.base import REGISTERED, Recipe, register_recipe


def _register_entry_point(name: str, provided, where: str) -> None:
    if not (isinstance(provided, type) and issubclass(provided, Recipe)):
        raise plugins.PluginError(f"{where} is not a Recipe subclass")
    register_recipe(provided)


def _load_all() -> None:
    plugins.load_group("recipes", _register_entry_point)


def list_recipes() -> list[str]:
    _load_all()
    return sorted(REGISTERED)


def get_recipe(name: str) -> Recipe:
    _load_all()
    try:
        return REGISTERED[name.lower()]()
    except KeyError:
        raise LumambaError(f"unknown recipe {name!r}; known recipes: {', '.join(list_recipes())}") from None
