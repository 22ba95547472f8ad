"""``lumamba-bench analyze``: the geometry of an encoder's embeddings on a task's split.

Writes ``analysis.json`` (isotropy figures, see ``geometry``), ``tsne.png`` (t-SNE of the
mean-pooled embeddings coloured by label) and, for encoders with a LUNA front end,
``topomaps.png`` (one scalp map per learned query: its cross-attention over the channels,
averaged over the split) per montage.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from lumamba_bench.analysis.embed import Embedded, embed_split
from lumamba_bench.analysis.geometry import isotropy
from lumamba_bench.data.loader import ShardDataset
from lumamba_bench.data.manifest import read_manifest
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.data.store import ensure_prepared
from lumamba_bench.errors import LumambaError


@dataclass
class AnalyzeConfig:
    model: str
    task: str = "demo"
    checkpoint: Path | None = None
    split: str = "test"
    batch_size: int = 32
    max_windows: int | None = None
    num_slices: int = 300
    seed: int = 0
    out: Path = Path("results/analysis")
    data_root: Path | None = None
    device: str = "cpu"
    workers: int = 0


def tsne_coordinates(embeddings: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE (scikit-learn) after PCA to at most 50 dimensions."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    n = len(embeddings)
    if n < 5:
        raise LumambaError(f"t-SNE needs at least 5 windows; the split has {n}")
    reduced = PCA(n_components=min(50, n - 1, embeddings.shape[1]), random_state=seed).fit_transform(embeddings)
    perplexity = float(min(30.0, (n - 1) / 3))
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)


def _colour_labels(labels: np.ndarray, label_names: list[str]) -> tuple[np.ndarray, list[str]]:
    if labels.ndim == 2:  # multi-label: colour by whether any label is on
        return labels.any(1).astype(int), ["none", "any of " + ", ".join(label_names)]
    return labels.astype(int), list(label_names)


def write_figures(embedded: Embedded, label_names: list[str], title: str, out: Path, seed: int = 0) -> dict:
    from lumamba_bench.analysis.plots import query_topomaps, tsne_plot

    labels, names = _colour_labels(embedded.labels, label_names)
    paths = {"tsne": tsne_plot(tsne_coordinates(embedded.embeddings, seed), labels, names, title, out / "tsne.png")}
    for i, (montage, attention) in enumerate(sorted(embedded.attention.items())):
        name = "topomaps.png" if i == 0 else f"topomaps-{montage}.png"
        paths[f"topomaps:{montage}"] = query_topomaps(
            attention, embedded.channels[montage], embedded.coords[montage], f"{title}: query attention", out / name
        )
    return paths


def load_encoder(model: str, checkpoint: Path | None, manifest: dict, data_root: Path | None) -> torch.nn.Module:
    """The encoder behind a model name with its weights (``-scratch``: random, on purpose)."""
    from lumamba_bench.harness.resolve import resolve_model

    resolved = resolve_model(model, checkpoint, data_root)
    torch.manual_seed(0)
    return resolved.build(manifest)


def analyze_encoder(
    encoder: torch.nn.Module, dataset_dir: Path, config: AnalyzeConfig, figures: bool = True, title: str = ""
) -> dict:
    manifest = read_manifest(dataset_dir)
    if manifest["splits"].get(config.split, {}).get("windows", 0) == 0:
        raise LumambaError(f"{manifest['recipe']['name']} has no windows in the {config.split} split")
    dataset = ShardDataset(dataset_dir, config.split)
    embedded = embed_split(encoder, dataset, config.batch_size, config.device, config.max_windows, config.workers)
    report = {
        "model": config.model,
        "task": manifest["recipe"]["name"],
        "split": config.split,
        "isotropy": isotropy(embedded.embeddings, config.num_slices, config.seed),
        "query_attention": {m: a.round(5).tolist() for m, a in embedded.attention.items()},
        "channels": embedded.channels,
    }
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    if figures:
        paths = write_figures(embedded, manifest["label_names"], title or config.model, out, config.seed)
        report["figures"] = {k: str(v) for k, v in paths.items()}
    (out / "analysis.json").write_text(json.dumps(report | {"config": _jsonable(asdict(config))}, indent=2) + "\n")
    return report


def _jsonable(values: dict) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


def analyze(config: AnalyzeConfig) -> dict:
    recipe = get_recipe(config.task)
    dataset_dir = ensure_prepared(recipe.name, config.data_root)
    encoder = load_encoder(config.model, config.checkpoint, read_manifest(dataset_dir), config.data_root)
    config.out = Path(config.out) / recipe.name / config.model
    return analyze_encoder(encoder, dataset_dir, config, title=f"{config.model} on {recipe.name} ({config.split})")
