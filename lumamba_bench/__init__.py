"""lumamba-bench: datasets, encoders and a leaderboard harness for EEG foundation models.

One import holds the public API (README, "From Python"; docs/extending.md)::

    from lumamba_bench import run, check_model, compare, Encoder, register_encoder

Names are imported on first use, so ``import lumamba_bench`` stays light.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lumamba-bench")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_PUBLIC = {
    "prepare": "lumamba_bench.api",
    "pretrain": "lumamba_bench.api",
    "run": "lumamba_bench.api",
    "profile": "lumamba_bench.api",
    "check_model": "lumamba_bench.api",
    "compare": "lumamba_bench.api",
    "Encoder": "lumamba_bench.models.base",
    "register_encoder": "lumamba_bench.models.registry",
    "build_encoder": "lumamba_bench.models.registry",
    "list_encoders": "lumamba_bench.models.registry",
    "Recipe": "lumamba_bench.data.recipe",
    "Recording": "lumamba_bench.data.recipe",
    "Discovery": "lumamba_bench.data.recipe",
    "register_recipe": "lumamba_bench.data.recipe",
    "get_recipe": "lumamba_bench.data.recipe",
    "list_recipes": "lumamba_bench.data.recipe",
    "Metric": "lumamba_bench.harness.metrics",
    "register_metric": "lumamba_bench.harness.metrics",
    "RunConfig": "lumamba_bench.harness.run",
    "RunResult": "lumamba_bench.harness.results",
    "PretrainConfig": "lumamba_bench.harness.pretrain",
    "ModelCheck": "lumamba_bench.harness.model_check",
    "load_plugin": "lumamba_bench.plugins",
    "LumambaError": "lumamba_bench.errors",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'lumamba_bench' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name]), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
