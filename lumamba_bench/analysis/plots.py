"""Figures of the profile and the embedding analysis (matplotlib, written as PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lumamba_bench.data.preprocess import SFREQ

_PROFILE_PANELS = {
    "flops": ("gflops", "forward GFLOPs per window", True),
    "memory": ("memory_mib", "training-step peak memory (MiB, one window)", True),
    "throughput": ("windows_per_s", "inference throughput (windows/s)", True),
}


def profile_plots(report: dict, out: Path) -> dict[str, Path]:
    """One log-log figure per quantity against window length, one line per model."""
    written = {}
    models = [m["model"] for m in report["models"]]
    for name, (key, label, loglog) in _PROFILE_PANELS.items():
        series = {
            m: [(p["seconds"], p[key]) for p in report["points"] if p["model"] == m and p[key] is not None]
            for m in models
        }
        if not any(series.values()):
            continue
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for model, values in series.items():
            if values:
                x, y = zip(*values, strict=True)
                ax.plot(x, y, marker="o", label=model)
        if loglog:
            ax.set_xscale("log")
            ax.set_yscale("log")
            lengths = sorted({x for values in series.values() for x, _ in values})
            ax.set_xticks(lengths, [f"{x:g}" for x in lengths])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("window length (s)")
        ax.set_ylabel(label)
        ax.set_title(f"{label.split(' (')[0]} vs length, {report['config']['channels']} channels, {report['device']}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        written[f"{name}_png"] = out / f"{name}.png"
        fig.savefig(written[f"{name}_png"], dpi=120)
        plt.close(fig)
    return written


def tsne_plot(points: np.ndarray, labels: np.ndarray, label_names: list[str], title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for value in np.unique(labels):
        chosen = labels == value
        name = label_names[int(value)] if int(value) < len(label_names) else str(value)
        ax.scatter(points[chosen, 0], points[chosen, 1], s=10, alpha=0.8, label=f"{name} ({chosen.sum()})")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(markerscale=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def query_topomaps(attention: np.ndarray, channels: list[str], coords: np.ndarray, title: str, path: Path) -> Path:
    """One scalp map per learned query of its attention over the channels (MNE topomaps)."""
    import mne

    info = mne.create_info(channels, sfreq=SFREQ, ch_types="eeg")
    montage = mne.channels.make_dig_montage(ch_pos=dict(zip(channels, coords, strict=True)), coord_frame="head")
    info.set_montage(montage)
    queries = attention.shape[0]
    fig, axes = plt.subplots(1, queries, figsize=(2.2 * queries, 2.6))
    axes = np.atleast_1d(axes)
    vmax = float(attention.max())
    for q, ax in enumerate(axes):
        image, _ = mne.viz.plot_topomap(
            attention[q], info, axes=ax, show=False, cmap="viridis", vlim=(0.0, vmax), contours=0, sensors=True
        )
        ax.set_title(f"query {q}")
    fig.colorbar(image, ax=list(axes), shrink=0.7, label="attention")
    fig.suptitle(title)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def dial_plot(rows: list[dict], path: Path) -> Path:
    """Isotropy and downstream AUROC against the LeJEPA weight of the mixed objective."""
    weights = [r["lejepa_weight"] for r in rows]
    finite = [w for w in weights if np.isfinite(w)]
    positive = [w for w in finite if w > 0]
    linthresh = min(positive) if positive else 1.0
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = (
        ("epps_pulley", "Epps-Pulley statistic (lower: more Gaussian-isotropic)"),
        ("effective_rank", "effective rank of the covariance"),
        ("auroc", "downstream AUROC"),
    )
    x = np.array([w if np.isfinite(w) else (max(finite, default=1.0) * 10 or 10.0) for w in weights])
    for ax, (key, label) in zip(axes, panels, strict=True):
        y = [r.get(key) for r in rows]
        ax.plot(x, [np.nan if v is None else v for v in y], marker="o")
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_xticks(x)
        ax.set_xticklabels(["LeJEPA only" if not np.isfinite(w) else f"{w:g}" for w in weights], rotation=30)
        ax.set_xlabel("LeJEPA weight in the mixed objective")
        ax.set_title(label, fontsize=9)
        ax.grid(True, alpha=0.3)
    fig.suptitle("the objective dial: reconstruction (0) -> LeJEPA")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
