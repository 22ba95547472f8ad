"""Bootstrap confidence intervals and paired bootstrap tests from stored predictions.

The resampling unit is the recording for file-level tasks (TUAB: every window carries its
recording's label, so windows of one recording are not independent evidence) and the window
otherwise. A replicate draws units with replacement within each class (a stratified bootstrap,
as pROC does for AUROC intervals: every resample keeps the test set's class counts, so AUROC is
defined in every one, even on a small test set); it is written as an integer weight per unit
(multinomial counts), so each metric is computed for a whole block of replicates at once
with weighted formulas that equal scikit-learn's on the expanded resample (the tests hold them
to a direct loop). The seeds of one submission share each replicate's draw and the metric is
averaged over seeds inside a replicate, as the board's mean is. Fixed seed: same inputs, same
interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lumamba_bench.harness.metric_weighted import (  # noqa: F401 (the forms, as the tests use them)
    divide,
    macro_mean,
    weighted_auroc,
    weighted_average_precision,
    weighted_balanced_accuracy,
)
from lumamba_bench.harness.metrics import BINARY, MULTICLASS, load_metrics, recording_level

REPLICATES = 2000
SEED = 20_261_202
LEVEL = 0.95
BLOCK_CELLS = 4_000_000  # replicates x windows per block: bounds memory on large test sets
MIN_UNITS_PER_CLASS = 5  # below this, a resample of a class is a handful of units: no interval, no test


class NoBootstrap(ValueError):
    """A metric without a weighted form here: the board shows it without an interval."""


@dataclass
class Predictions:
    """One submission's test predictions: per seed, unit index, label and probabilities."""

    task_type: str
    seeds: list[dict]  # {"units": (n,) int, "labels": (n,) or (n, K), "probs": (n, K), "recordings": (n,) str}
    units: np.ndarray  # the unit keys (sorted, unique) that "units" indexes
    strata: np.ndarray | None = None  # each unit's class (single-label tasks), for stratified draws


def from_table(table: dict, task_type: str, by_recording: bool, units: np.ndarray | None = None) -> Predictions:
    """Group a predictions table (columns seed, recording_id, window_index, label, probs) by seed,
    with units keyed by recording (``by_recording``) or by (recording, window)."""
    recordings = np.asarray(table["recording_id"], dtype=str)
    windows = np.asarray(table["window_index"], dtype=np.int64)
    keys = recordings if by_recording else np.char.add(np.char.add(recordings, "#"), windows.astype(str))
    if units is None:
        units = np.unique(keys)
    index = np.searchsorted(units, keys)
    if (index >= len(units)).any() or (units[np.minimum(index, len(units) - 1)] != keys).any():
        raise ValueError("predictions hold a unit outside the shared unit set")
    labels, probs = np.asarray(table["label"]), np.asarray(table["probs"], dtype=np.float64)
    seed_column = np.asarray(table["seed"])
    seeds = []
    for seed in np.unique(seed_column):
        rows = seed_column == seed
        seeds.append(
            {"units": index[rows], "labels": labels[rows], "probs": probs[rows], "recordings": recordings[rows]}
        )
    strata = None
    if labels.ndim == 1:  # single-label: a unit's class (a file-level task's recordings carry one label)
        strata = np.full(len(units), -1, dtype=np.int64)
        strata[index] = labels
        if (strata[index] != labels).any():
            raise ValueError("windows of one recording carry different labels: not a file-level task")
    return Predictions(task_type, seeds, units, strata)


def too_few_units(predictions: Predictions) -> str | None:
    """Why the test set is too small for an interval or a paired test (None when it is not):
    fewer than ``MIN_UNITS_PER_CLASS`` resampling units (recordings for file-level tasks) in a
    class present, or fewer than twice that in all for tasks without one class per unit."""
    if predictions.strata is None:
        n = len(predictions.units)
        return None if n >= 2 * MIN_UNITS_PER_CLASS else f"{n} test units ({2 * MIN_UNITS_PER_CLASS} needed)"
    classes, counts = np.unique(predictions.strata[predictions.strata >= 0], return_counts=True)
    if len(counts) and counts.min() < MIN_UNITS_PER_CLASS:
        k = int(np.argmin(counts))
        return f"{counts[k]} test units of class {classes[k]} ({MIN_UNITS_PER_CLASS} needed)"
    return None


def draw_counts(
    n_units: int, replicates: int = REPLICATES, seed: int = SEED, strata: np.ndarray | None = None
) -> np.ndarray:
    """(replicates, n_units) bootstrap counts: how often each unit is drawn in each replicate;
    with ``strata``, units are drawn within each stratum, whose size stays fixed."""
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=replicates)
    counts = np.zeros((replicates, n_units), dtype=np.int64)
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        counts[:, members] = rng.multinomial(len(members), np.full(len(members), 1.0 / len(members)), size=replicates)
    return counts


def metric_replicates(task_type: str, labels, probs, weights: np.ndarray, metric: str) -> np.ndarray:
    """``metric`` (a board column) of every replicate whose per-item weights are ``weights``: the
    weighted form its registry entry names (``harness/metric_weighted.py``)."""
    entry = load_metrics().get(metric)
    if entry is None or entry.replicates is None or task_type not in entry.task_types:
        raise NoBootstrap(f"no bootstrap for {metric!r} on a {task_type} task")
    return entry.replicates(task_type, np.asarray(labels), np.asarray(probs, dtype=np.float64), weights)


PAIR_CELLS = 4_000_000  # positive units x negative units: above this, the direct weighted AUROC


def _pair_kernel(scores, positive, units, n_units: int) -> np.ndarray:
    """K[u, v]: pairs (positive item of unit u, negative item of unit v) with the positive scored
    higher, ties counted half. Units must be single-class (stratified draws)."""
    kernel = np.zeros((n_units, n_units))
    pos_scores, pos_units = scores[positive], units[positive]
    for v in np.unique(units[~positive]):
        ranked = np.sort(scores[~positive & (units == v)])
        below = np.searchsorted(ranked, pos_scores, "left")
        ties = np.searchsorted(ranked, pos_scores, "right") - below
        kernel[:, v] = np.bincount(pos_units, weights=below + 0.5 * ties, minlength=n_units)
    return kernel


def _auroc_by_unit_pairs(task_type, metric, units, labels, probs, counts) -> np.ndarray | None:
    """AUROC when every unit holds one class (file-level tasks): with c the draw counts, the
    Mann-Whitney sum is c_pos K c_neg over unit pairs, so a replicate costs (units x units), not
    (windows). The same number as ``weighted_auroc`` (tested); None where it does not apply."""
    if labels.ndim != 1 or (task_type, metric) not in ((BINARY, "auroc"), (MULTICLASS, "auroc_macro")):
        return None
    n_units = counts.shape[1]
    if len(np.unique(np.stack([units, labels]), axis=1).T) != len(np.unique(units)):
        return None  # a unit with two classes
    classes = [1] if task_type == BINARY else range(probs.shape[1])
    per_class = []
    for k in classes:
        positive = labels == k
        pos_units, neg_units = np.unique(units[positive]), np.unique(units[~positive])
        if len(pos_units) * len(neg_units) > PAIR_CELLS:
            return None
        kernel = _pair_kernel(probs[:, k], positive, units, n_units)
        sizes_pos = np.bincount(units[positive], minlength=n_units).astype(float)
        sizes_neg = np.bincount(units[~positive], minlength=n_units).astype(float)
        c = counts.astype(float)
        pairs = ((c[:, pos_units] @ kernel[np.ix_(pos_units, neg_units)]) * c[:, neg_units]).sum(1)
        per_class.append(divide(pairs, (c @ sizes_pos) * (c @ sizes_neg)))
    return per_class[0] if task_type == BINARY else macro_mean(per_class)


def _seed_items(seed: dict, level: str):
    """(unit of each item, labels, probs) at window level or, for file-level tasks, per recording
    (mean window probability, as the harness's recording-level metrics)."""
    if level == "window":
        return seed["units"], seed["labels"], seed["probs"]
    ids, labels, probs = recording_level(seed["recordings"], seed["labels"], seed["probs"])
    first = {rec: unit for rec, unit in zip(seed["recordings"], seed["units"], strict=True)}
    return np.array([first[i] for i in ids]), labels, probs


def seed_mean_replicates(
    predictions: Predictions, metric: str, counts: np.ndarray, level: str = "window"
) -> np.ndarray:
    """The seed-averaged metric in every replicate of ``counts`` (R, n_units), block by block."""
    total = np.zeros(len(counts))
    for seed in predictions.seeds:
        units, labels, probs = _seed_items(seed, level)
        fast = _auroc_by_unit_pairs(predictions.task_type, metric, units, labels, probs, counts)
        if fast is not None:
            total += fast
            continue
        block = max(1, BLOCK_CELLS // max(1, len(units)))
        values = [
            metric_replicates(predictions.task_type, labels, probs, counts[i : i + block, units].astype(float), metric)
            for i in range(0, len(counts), block)
        ]
        total += np.concatenate(values)
    return total / len(predictions.seeds)


def point_estimate(predictions: Predictions, metric: str, level: str = "window") -> float:
    """The seed-averaged metric on the test set itself (every unit drawn once)."""
    ones = np.ones((1, len(predictions.units)), dtype=np.int64)
    return float(seed_mean_replicates(predictions, metric, ones, level)[0])


def confidence_interval(
    predictions: Predictions, metric: str, level: str = "window", replicates: int = REPLICATES
) -> tuple[float, float] | None:
    """Percentile bootstrap interval (95%) of the seed-averaged metric; None when undefined in
    more than 1% of the replicates (a resample missing a class)."""
    counts = draw_counts(len(predictions.units), replicates, strata=predictions.strata)
    values = seed_mean_replicates(predictions, metric, counts, level)
    if np.isnan(values).mean() > 0.01:
        return None
    low, high = np.nanpercentile(values, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    return float(low), float(high)


def paired_p_value(
    first: Predictions, second: Predictions, metric: str, level: str = "window", replicates: int = REPLICATES
) -> float | None:
    """Two-sided paired bootstrap p-value for "the two have the same metric" on one test set:
    both are scored on the same resampled units in every replicate; p is twice the smaller tail
    of the difference's distribution around 0 (add-one smoothed)."""
    if len(first.units) != len(second.units) or (first.units != second.units).any():
        raise ValueError("a paired test needs the same test units in both submissions")
    counts = draw_counts(len(first.units), replicates, strata=first.strata)
    difference = seed_mean_replicates(first, metric, counts, level) - seed_mean_replicates(
        second, metric, counts, level
    )
    difference = difference[~np.isnan(difference)]
    if len(difference) < 0.99 * replicates:
        return None
    tail = min((difference <= 0).sum(), (difference >= 0).sum())
    return float(min(1.0, 2 * (tail + 1) / (len(difference) + 1)))
