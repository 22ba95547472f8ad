"""The built-in metrics' compute functions, one per (metric, task type), by scikit-learn: each
takes labels and class probabilities and returns a float, or a ``Breakdown`` whose value is the
mean of its parts (per class, per channel) over those defined. The registry (``harness/metrics.py``)
names the function of each entry; ``compute_metrics`` calls them and records why one is undefined.

A raised ``ValueError`` means "undefined on this data" (one class only in the labels); its message
is the reason the results file keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn import metrics as skm

SCORES = {"auroc": skm.roc_auc_score, "aupr": skm.average_precision_score}


@dataclass
class Breakdown:
    """A macro metric with its parts: ``parts`` name -> value (None: undefined, reason in ``undefined``)."""

    parts: dict = field(default_factory=dict)
    undefined: dict = field(default_factory=dict)
    empty_reason: str = "no part is defined"

    @property
    def value(self) -> float:
        defined = [v for v in self.parts.values() if v is not None]
        if not defined:
            raise ValueError(self.empty_reason)
        return float(np.mean(defined))


def two_classes(y: np.ndarray) -> None:
    """Raise the clear reason sklearn would give less clearly (AUROC needs both classes)."""
    if len(np.unique(y)) < 2:
        raise ValueError(f"only one class present in y_true ({len(y)} samples): the metric is undefined")


def part(name: str, compute, breakdown: Breakdown) -> None:
    """One value into ``breakdown.parts``; when it is undefined (a ``ValueError``, or not finite),
    None, with the reason in ``breakdown.undefined``."""
    try:
        value = float(compute())
        if not np.isfinite(value):
            raise ValueError("not finite on this data")
    except ValueError as error:
        breakdown.parts[name], breakdown.undefined[name] = None, str(error)
        return
    breakdown.parts[name] = value


def balanced_accuracy(labels, probs) -> float:
    """Balanced accuracy of the argmax."""
    return skm.balanced_accuracy_score(labels, probs.argmax(axis=1))


def cohen_kappa(labels, probs) -> float:
    return skm.cohen_kappa_score(labels, probs.argmax(axis=1))


def binary(score: str):
    """AUROC or AUPR of the positive class's probability."""

    def compute(labels, probs) -> float:
        two_classes(labels)
        return SCORES[score](labels, probs[:, 1])

    return compute


def binary_aupr_macro(labels, probs) -> float:
    """AUPR averaged over both classes (Medformer's convention)."""
    two_classes(labels)
    positive = skm.average_precision_score(labels, probs[:, 1])
    negative = skm.average_precision_score(1 - labels, probs[:, 0])
    return (positive + negative) / 2


def present_classes(labels, probs) -> tuple[np.ndarray, np.ndarray]:
    """One-hot labels and the mask of classes with at least one window."""
    onehot = (labels[:, None] == np.arange(probs.shape[1])[None]).astype(int)
    return onehot, onehot.sum(0) > 0


def one_vs_rest(score: str, average: str):
    """One-vs-rest over the classes present in the labels: a class with no test window (TUSL's
    rare "unannotated") has no AUROC, and would otherwise make the macro average undefined."""

    def compute(labels, probs) -> float:
        two_classes(labels)
        onehot, present = present_classes(labels, probs)
        return SCORES[score](onehot[:, present], probs[:, present], average=average)

    return compute


def absent_classes(labels, probs) -> str | None:
    """Why a multi-class macro metric leaves classes out, or None when every class is present."""
    _, present = present_classes(labels, probs)
    if present.all():
        return None
    return f"classes {np.flatnonzero(~present).tolist()} have no window; macro metrics omit them"


def per_class(score: str):
    """Multi-label: the score of each class's column (threshold-free), their mean over the classes
    where it is defined (TUAR MC: a class per channel)."""

    def compute(labels, probs) -> Breakdown:
        breakdown = Breakdown()
        for k in range(labels.shape[1]):
            column, scores = labels[:, k], probs[:, k]
            part(f"{score}_class{k}", lambda c=column, p=scores: two_classes(c) or SCORES[score](c, p), breakdown)
        return breakdown

    return compute


def per_channel(score: str):
    """Multi-output (``probs`` is (N, channels x classes), channel-major): per channel, one-vs-rest
    macro over the classes present on it; their mean over channels (TUAR MMC)."""

    def compute(labels, probs) -> Breakdown:
        channels = labels.shape[1]
        per_channel_probs = probs.reshape(len(probs), channels, -1)
        breakdown = Breakdown(empty_reason="no channel holds two classes")
        for c in range(channels):
            onehot, present = present_classes(labels[:, c], per_channel_probs[:, c])
            part(
                f"{score}_channel{c}",
                lambda y=labels[:, c], o=onehot, p=per_channel_probs[:, c], k=present: (
                    two_classes(y) or SCORES[score](o[:, k], p[:, k], average="macro")
                ),
                breakdown,
            )
        return breakdown

    return compute


def pooled(score: str):
    """Multi-output as BioFoundation scores it: every (window, channel) pair one sample of one
    multi-class problem, one-vs-rest macro over the classes present."""
    flat = one_vs_rest(score, "macro")

    def compute(labels, probs) -> float:
        classes = probs.shape[1] // labels.shape[1]
        return flat(labels.reshape(-1), probs.reshape(-1, classes))

    return compute
