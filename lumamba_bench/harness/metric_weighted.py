"""Each board metric's weighted form, vectorised over bootstrap replicates: ``weights`` is
(R, n) integer counts per item (a resample written as multinomial weights), and every formula
equals scikit-learn's on the expanded resample (tests/leaderboard/test_uncertainty.py holds them
to a direct loop). NaN where a replicate leaves the metric undefined. A metric's entry in the
registry (``harness/metrics.py``) names its form here: ``(task_type, labels, probs, weights)``.
"""

from __future__ import annotations

import numpy as np

from lumamba_bench.data.recipe import BINARY, MULTICLASS, MULTILABEL


def _grouped(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray):
    """Positive and negative weight per group of tied scores, groups in descending score order."""
    order = np.argsort(-scores, kind="mergesort")
    ranked = scores[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    w = weights[:, order]
    pos = w * positive[order].astype(bool)
    neg = w - pos  # exact: w - w or w - 0
    if len(starts) < len(ranked):  # tied scores: one threshold per group
        pos, neg = np.add.reduceat(pos, starts, axis=1), np.add.reduceat(neg, starts, axis=1)
    return pos, neg


def divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b where b > 0, NaN elsewhere."""
    out = np.full(np.broadcast(a, b).shape, np.nan)
    np.divide(a, b, out=out, where=b > 0)
    return out


def weighted_auroc(scores, positive, weights) -> np.ndarray:
    """Mann-Whitney AUROC with ties counted half (scikit-learn's roc_auc_score)."""
    pos, neg = _grouped(scores, positive, weights)
    p_total, n_total = pos.sum(1), neg.sum(1)
    below = n_total[:, None] - np.cumsum(neg, axis=1)  # negatives scored strictly lower
    return divide((pos * (below + 0.5 * neg)).sum(1), p_total * n_total)


def weighted_average_precision(scores, positive, weights) -> np.ndarray:
    """Step-wise average precision over distinct thresholds (scikit-learn's average_precision_score)."""
    pos, neg = _grouped(scores, positive, weights)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    precision = np.nan_to_num(divide(tp, tp + fp))
    value = divide((pos * precision).sum(1), pos.sum(1))
    return np.where(neg.sum(1) > 0, value, np.nan)  # one class only: undefined, as the board reports it


def weighted_balanced_accuracy(labels, predicted, n_classes: int, weights) -> np.ndarray:
    """Mean recall over the classes present in the resample (scikit-learn's balanced_accuracy_score)."""
    classes = np.arange(n_classes)
    truth = (labels[:, None] == classes).astype(np.float64)
    hit = truth * (predicted[:, None] == classes)
    support, correct = weights @ truth, weights @ hit
    recall = divide(correct, support)
    present = support > 0
    return divide(np.where(present, recall, 0.0).sum(1), present.sum(1).astype(np.float64))


def macro_mean(values: list[np.ndarray]) -> np.ndarray:
    """The mean over the defined (not NaN) values of each replicate."""
    stacked = np.stack(values, axis=1)
    defined = ~np.isnan(stacked)
    return divide(np.where(defined, stacked, 0.0).sum(1), defined.sum(1).astype(np.float64))


def _per_class(score, task_type: str, labels, probs, weights) -> np.ndarray:
    """The macro mean of ``score`` over classes (multi-class; classes absent from a resample have
    no value and drop out, as compute_metrics keeps only the classes present), label columns
    (multi-label), or classes per channel then channels (multi-output)."""
    if task_type == MULTICLASS:
        return macro_mean([score(probs[:, k], labels == k, weights) for k in range(probs.shape[1])])
    if task_type == MULTILABEL:
        return macro_mean([score(probs[:, k], labels[:, k] == 1, weights) for k in range(probs.shape[1])])
    per_channel = probs.reshape(len(probs), labels.shape[1], -1)
    return macro_mean([
        macro_mean([score(per_channel[:, c, k], labels[:, c] == k, weights) for k in range(per_channel.shape[2])])
        for c in range(labels.shape[1])
    ])  # fmt: skip


def balanced_accuracy_replicates(task_type: str, labels, probs, weights) -> np.ndarray:
    return weighted_balanced_accuracy(labels, probs.argmax(1), 2 if task_type == BINARY else probs.shape[1], weights)


def auroc_replicates(task_type: str, labels, probs, weights) -> np.ndarray:
    return weighted_auroc(probs[:, 1], labels == 1, weights)


def aupr_replicates(task_type: str, labels, probs, weights) -> np.ndarray:
    return weighted_average_precision(probs[:, 1], labels == 1, weights)


def auroc_macro_replicates(task_type: str, labels, probs, weights) -> np.ndarray:
    return _per_class(weighted_auroc, task_type, labels, probs, weights)


def aupr_macro_replicates(task_type: str, labels, probs, weights) -> np.ndarray:
    if task_type == BINARY:  # both classes' AUPR, averaged (Medformer's convention)
        positive = labels == 1
        negative = weighted_average_precision(probs[:, 0], ~positive, weights)
        return (weighted_average_precision(probs[:, 1], positive, weights) + negative) / 2
    return _per_class(weighted_average_precision, task_type, labels, probs, weights)

