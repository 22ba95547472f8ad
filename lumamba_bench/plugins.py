"""Where encoders, recipes and metrics come from: entry points, plugin modules and files.

Discovery is one place. The built-in encoders, recipes and metrics are declared as entry points
in this package's ``pyproject.toml``, exactly as a third-party package declares its own:

    [project.entry-points."lumamba_bench.encoders"]
    toy = "toy_eeg.model"            # a module: importing it registers (@register_encoder)
    toy-small = "toy_eeg.model:build" # an object: registered under the entry point's name

An entry point names a module (its import registers what it defines) or one object: an encoder
factory, a ``Recipe`` subclass or a ``Metric``. ``--plugin MODULE_OR_FILE`` (any command) and
``LUMAMBA_BENCH_PLUGINS`` (separated by the path separator) import a module or a ``.py`` file
the same way, without installing anything. A name two providers claim is refused, naming both.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from importlib.metadata import entry_points
from pathlib import Path

from lumamba_bench.errors import LumambaError

GROUPS = {
    "encoders": "lumamba_bench.encoders",
    "recipes": "lumamba_bench.recipes",
    "metrics": "lumamba_bench.metrics",
}
PLUGINS_VARIABLE = "LUMAMBA_BENCH_PLUGINS"
_loaded_groups: set[str] = set()
_loaded_plugins: dict[str, types.ModuleType] = {}  # spec -> module, so a plugin is imported once


class PluginError(LumambaError):
    """A plugin that cannot be imported, or that provides something of the wrong kind."""


def load_group(kind: str, register) -> None:
    """Import every entry point of one group (``encoders``, ``recipes``, ``metrics``), once per
    process; ``register(name, obj, where)`` registers an entry point that names an object. The
    package's own entry points are among them, so finding none means it is not installed."""
    if kind in _loaded_groups:
        return
    _loaded_groups.add(kind)  # first: a plugin module that lists the registry must not recurse
    group = GROUPS[kind]
    found = sorted(entry_points(group=group), key=lambda ep: (_distribution(ep) != "lumamba-bench", ep.name))
    if not any(_distribution(ep) == "lumamba-bench" for ep in found):
        _loaded_groups.discard(kind)
        raise PluginError(
            f"no {group} entry points of lumamba-bench are installed: install the package "
            "(`pip install -e .` in a checkout) so that its encoders, recipes and metrics can be found"
        )
    for ep in found:
        where = f"entry point {ep.name} = {ep.value} ({group}, from {_distribution(ep)})"
        try:
            provided = ep.load()
        except Exception as error:  # a broken plugin is one line naming it, not a traceback
            raise PluginError(f"{where} failed to import: {type(error).__name__}: {error}") from error
        if not isinstance(provided, types.ModuleType):
            register(ep.name, provided, where)


def _distribution(ep) -> str:
    return ep.dist.name if ep.dist is not None else "an unknown package"


def load_plugin(spec: str) -> types.ModuleType:
    """Import a plugin: a ``.py`` file or an importable module name. Its import registers its
    encoders, recipes and metrics (the decorators); importing the same spec again does nothing."""
    if spec in _loaded_plugins:
        return _loaded_plugins[spec]
    path = Path(spec)
    try:
        if spec.endswith(".py"):
            module = _import_file(path)
        else:
            module = importlib.import_module(spec)
    except PluginError:
        raise
    except Exception as error:
        raise PluginError(f"plugin {spec} failed to import: {type(error).__name__}: {error}") from error
    _loaded_plugins[spec] = module
    return module


def load_plugins(specs: list[str] | tuple[str, ...] = ()) -> None:
    """The plugins named in ``LUMAMBA_BENCH_PLUGINS``, then ``specs`` (``--plugin``), in order."""
    from_environment = [s for s in os.environ.get(PLUGINS_VARIABLE, "").split(os.pathsep) if s.strip()]
    for spec in [*from_environment, *specs]:
        load_plugin(spec.strip())


def _import_file(path: Path) -> types.ModuleType:
    if not path.is_file():
        raise PluginError(f"plugin {path}: no such file")
    name = f"lumamba_bench_plugin_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        module_spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


def load_factory(spec: str):
    """``package.module:factory`` -> the factory (imported, not called)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise PluginError(f"--model {spec}: a factory is named package.module:function")
    module = load_plugin(module_name)
    try:
        factory = getattr(module, attribute)
    except AttributeError:
        raise PluginError(f"--model {spec}: {module_name} has no {attribute!r}") from None
    if not callable(factory):
        raise PluginError(f"--model {spec}: {attribute} is a {type(factory).__name__}, not a factory")
    return factory


def provider_of(obj) -> str:
    """Who provides a registered object: its module and name (``toy_eeg.model.build``)."""
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def refuse_taken(kind: str, name: str, taken: str | None, new: str) -> None:
    """A name another provider registered is an error naming both; the same provider
    registering again (a module imported twice) is not."""
    if taken is not None and taken != new:
        raise PluginError(f"{kind} name {name!r} is taken: {taken} and {new} both register it")
