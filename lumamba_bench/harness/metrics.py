"""Task metrics, computed by scikit-learn.

binary      balanced accuracy (argmax), AUROC and AUPR of the positive class's probability, and
            ``aupr_macro`` (AUPR averaged over both classes, Medformer's convention)
multiclass  balanced accuracy, one-vs-rest macro and weighted AUROC / AUPR, Cohen's kappa
multilabel  per-class AUROC / AUPR (threshold-free) and their macro means (TUAR MC: per channel)
multioutput per channel, one-vs-rest macro AUROC / AUPR over the classes present on it; the
            macro means are their averages over channels (TUAR MMC); ``*_pooled``: every (window,
            channel) pair as one sample of one multi-class problem, as BioFoundation scores MMC
A metric that is undefined on the data (one class only in y_true) is reported as None, with the
reason in ``undefined``; it never crashes a run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn import metrics as skm

from lumamba_bench.data.recipe import BINARY, MULTICLASS, MULTILABEL, MULTIOUTPUT
from lumamba_bench.harness import metric_weighted as weighted

TASK_TYPES = (BINARY, MULTICLASS, MULTILABEL, MULTIOUTPUT)


@dataclass(frozen=True)
class Metric:
    """What the rest of the package knows about a metric: the results schema, the submission
    checks, the board's columns and ranking and the page all read this registry.

    ``required_from``: the metric-set version from which every results file of those task types
    must report it (None: optional); raising the set's version keeps older files valid.
    ``columns``: task type -> position among the board's columns (0 ranks the table).
    ``compute``: ``(labels, probabilities) -> float`` for a metric from outside this module (a
    plugin's); it must be optional (``required_from=None``): files written without it stay valid.
    ``replicates``: its weighted form over bootstrap replicates, ``(task_type, labels, probs,
    weights (R, n)) -> (R,)`` (``harness/metric_weighted.py``), from which the board computes
    intervals and paired tests; None: the board shows the metric without them.
    ``provider``: the module that registered it (filled in by ``register_metric``)."""

    name: str
    task_types: tuple[str, ...]
    low: float = 0.0
    high: float = 1.0
    higher_is_better: bool = True
    required_from: int | None = 1
    columns: dict = field(default_factory=dict)
    compute: Callable[[np.ndarray, np.ndarray], float] | None = field(default=None, compare=False)
    replicates: Callable[..., np.ndarray] | None = field(default=None, compare=False)
    provider: str = field(default="", compare=False)


METRIC_SET_VERSION = 1  # the set of required metrics results files are written with now
METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Add a metric; a name another module registered is refused, naming both. A metric from
    outside this module computes itself (``compute``) and is not required by the current
    metric set (files written without it stay valid)."""
    from lumamba_bench.plugins import PluginError, refuse_taken

    caller = sys._getframe(1).f_globals.get("__name__", "?")
    provider = caller if metric.compute is None else metric.compute.__module__  # where it is defined
    if provider != __name__ and metric.compute is None:
        raise PluginError(f"metric {metric.name!r} from {provider} needs compute=(labels, probabilities) -> float")
    if metric.required_from is not None and metric.required_from <= METRIC_SET_VERSION and provider != __name__:
        raise PluginError(
            f"metric {metric.name!r} from {provider} cannot be required from metric set {metric.required_from}: "
            f"every results file written under set {METRIC_SET_VERSION} would lack it (use required_from=None)"
        )
    if not metric.low < metric.high:
        raise PluginError(f"metric {metric.name!r} from {provider}: its range [{metric.low}, {metric.high}] is empty")
    if not set(metric.task_types) <= set(TASK_TYPES):
        raise PluginError(f"metric {metric.name!r} from {provider}: task types are {', '.join(TASK_TYPES)}")
    taken = METRICS.get(metric.name)
    refuse_taken("metric", metric.name, None if taken is None else taken.provider, provider)
    metric = replace(metric, provider=provider)
    METRICS[metric.name] = metric
    return metric


def load_metrics() -> dict[str, Metric]:
    """Every metric, the installed ``lumamba_bench.metrics`` entry points' among them."""
    from lumamba_bench.plugins import PluginError, load_group

    def register(name: str, provided, where: str) -> None:
        if not isinstance(provided, Metric):
            raise PluginError(f"{where} is a {type(provided).__name__}, not a Metric")
        register_metric(provided)

    load_group("metrics", register)
    return METRICS


register_metric(Metric("balanced_accuracy", (BINARY, MULTICLASS), columns={BINARY: 2, MULTICLASS: 2},
                       replicates=weighted.balanced_accuracy_replicates))  # fmt: skip
register_metric(Metric("auroc", (BINARY,), columns={BINARY: 0}, replicates=weighted.auroc_replicates))
register_metric(Metric("aupr", (BINARY,), columns={BINARY: 1}, replicates=weighted.aupr_replicates))
register_metric(Metric("auroc_macro", (MULTICLASS, MULTILABEL, MULTIOUTPUT),
                       columns={MULTICLASS: 0, MULTILABEL: 0, MULTIOUTPUT: 0},
                       replicates=weighted.auroc_macro_replicates))  # fmt: skip
register_metric(Metric("auroc_weighted", (MULTICLASS,)))
register_metric(Metric("aupr_macro", TASK_TYPES, columns={MULTICLASS: 1, MULTILABEL: 1, MULTIOUTPUT: 1},
                       replicates=weighted.aupr_macro_replicates))  # fmt: skip
register_metric(Metric("aupr_weighted", (MULTICLASS,)))
register_metric(Metric("cohen_kappa", (MULTICLASS,), low=-1.0))
# TUAR MMC as BioFoundation scores it: every (window, channel) one sample of one 6-class problem.
register_metric(Metric("auroc_pooled", (MULTIOUTPUT,), required_from=None))
register_metric(Metric("aupr_pooled", (MULTIOUTPUT,), required_from=None))


def required(task_type: str, version: int = METRIC_SET_VERSION) -> tuple[str, ...]:
    """The metrics a results file of ``task_type`` written under metric-set ``version`` must report."""
    return tuple(
        m.name
        for m in load_metrics().values()
        if task_type in m.task_types and m.required_from is not None and m.required_from <= version
    )


def board_columns(task_type: str) -> tuple[str, ...]:
    """The board's metric columns for a task type, the ranking metric first."""
    shown = [m for m in load_metrics().values() if task_type in m.columns]
    return tuple(m.name for m in sorted(shown, key=lambda m: m.columns[task_type]))


def metric_range(name: str) -> tuple[float, float]:
    """Valid values of a metric; unregistered per-class metrics (``auroc_class3``) are in [0, 1]."""
    metric = load_metrics().get(name)
    return (0.0, 1.0) if metric is None else (metric.low, metric.high)


def higher_is_better(name: str) -> bool:
    metric = load_metrics().get(name)
    return True if metric is None else metric.higher_is_better



def _guarded(name: str, fn, undefined: dict) -> float | None:
    try:
        value = float(fn())
    except ValueError as error:
        undefined[name] = str(error)
        return None
    if not np.isfinite(value):
        undefined[name] = "not finite on this data"
        return None
    return value


def compute_metrics(task_type: str, y_true: np.ndarray, probs: np.ndarray) -> dict:
    """Metrics of class probabilities ``probs`` (N, K) against labels ``y_true`` ((N,) or (N, K) multi-hot)."""
    y_true, probs = np.asarray(y_true), np.asarray(probs, dtype=np.float64)
    undefined: dict[str, str] = {}
    if task_type == MULTILABEL:
        out = _multilabel(y_true, probs, undefined)
    elif task_type == MULTIOUTPUT:
        out = _multioutput(y_true, probs, undefined)
    elif task_type == BINARY:
        out = _binary(y_true, probs, undefined)
    else:
        out = _multiclass(y_true, probs, undefined)
    for metric in load_metrics().values():  # a plugin's metrics compute themselves
        if metric.compute is not None and task_type in metric.task_types:
            out[metric.name] = _guarded(metric.name, lambda m=metric: m.compute(y_true, probs), undefined)
    return {"metrics": out, "undefined": undefined}


def _multilabel(y_true: np.ndarray, probs: np.ndarray, undefined: dict) -> dict:
    """Per-class AUROC / AUPR (threshold-free) and their means over the classes where defined."""
    out: dict[str, float | None] = {}
    for k in range(y_true.shape[1]):
        column, scores = y_true[:, k], probs[:, k]
        out[f"auroc_class{k}"] = _guarded(
            f"auroc_class{k}", lambda c=column, p=scores: _single_class_check(c) or skm.roc_auc_score(c, p), undefined
        )
        out[f"aupr_class{k}"] = _guarded(
            f"aupr_class{k}",
            lambda c=column, p=scores: _single_class_check(c) or skm.average_precision_score(c, p),
            undefined,
        )
    for name in ("auroc", "aupr"):
        defined = [out[f"{name}_class{k}"] for k in range(y_true.shape[1]) if out[f"{name}_class{k}"] is not None]
        out[f"{name}_macro"] = float(np.mean(defined)) if defined else None
    return out


def _multioutput(y_true: np.ndarray, probs: np.ndarray, undefined: dict) -> dict:
    """Per channel: one-vs-rest macro AUROC / AUPR over the classes present on that channel
    (``probs`` is (N, channels x classes), channel-major); then their means over channels."""
    channels = y_true.shape[1]
    per_channel = probs.reshape(len(probs), channels, -1)
    classes = np.arange(per_channel.shape[2])
    out: dict[str, float | None] = {}
    for c in range(channels):
        onehot = (y_true[:, c, None] == classes[None]).astype(int)
        present = onehot.sum(0) > 0
        for name, score in (("auroc", skm.roc_auc_score), ("aupr", skm.average_precision_score)):
            out[f"{name}_channel{c}"] = _guarded(
                f"{name}_channel{c}",
                lambda y=y_true[:, c], o=onehot, p=per_channel[:, c], k=present, f=score: (
                    _single_class_check(y) or f(o[:, k], p[:, k], average="macro")
                ),
                undefined,
            )
    for name in ("auroc", "aupr"):
        defined = [out[f"{name}_channel{c}"] for c in range(channels) if out[f"{name}_channel{c}"] is not None]
        out[f"{name}_macro"] = float(np.mean(defined)) if defined else None
        if not defined:
            undefined[f"{name}_macro"] = "no channel holds two classes"
    pooled = _multiclass(y_true.reshape(-1), per_channel.reshape(-1, len(classes)), {})
    out["auroc_pooled"], out["aupr_pooled"] = pooled["auroc_macro"], pooled["aupr_macro"]
    return out


def _binary(y_true: np.ndarray, probs: np.ndarray, undefined: dict) -> dict:
    out: dict[str, float | None] = {}
    predicted = probs.argmax(axis=1)
    out["balanced_accuracy"] = _guarded(
        "balanced_accuracy", lambda: skm.balanced_accuracy_score(y_true, predicted), undefined
    )
    out["auroc"] = _guarded(
        "auroc", lambda: _single_class_check(y_true) or skm.roc_auc_score(y_true, probs[:, 1]), undefined
    )
    out["aupr"] = _guarded(
        "aupr", lambda: _single_class_check(y_true) or skm.average_precision_score(y_true, probs[:, 1]), undefined
    )
    negative = _guarded(
        "aupr_negative",
        lambda: _single_class_check(y_true) or skm.average_precision_score(1 - y_true, probs[:, 0]),
        undefined,
    )
    out["aupr_macro"] = None if out["aupr"] is None or negative is None else (out["aupr"] + negative) / 2
    if out["aupr_macro"] is None:
        undefined.setdefault("aupr_macro", undefined.get("aupr", "undefined"))
    return out


def _multiclass(y_true: np.ndarray, probs: np.ndarray, undefined: dict) -> dict:
    """One-vs-rest over the classes present in y_true: a class with no test window (TUSL's rare
    "unannotated") has no AUROC, and would otherwise make the macro average undefined."""
    out: dict[str, float | None] = {}
    predicted = probs.argmax(axis=1)
    out["balanced_accuracy"] = _guarded(
        "balanced_accuracy", lambda: skm.balanced_accuracy_score(y_true, predicted), undefined
    )
    classes = np.arange(probs.shape[1])
    onehot = (y_true[:, None] == classes[None]).astype(int)
    present = onehot.sum(0) > 0
    for average in ("macro", "weighted"):
        for name, score in (("auroc", skm.roc_auc_score), ("aupr", skm.average_precision_score)):
            out[f"{name}_{average}"] = _guarded(
                f"{name}_{average}",
                lambda a=average, f=score: (
                    _single_class_check(y_true) or f(onehot[:, present], probs[:, present], average=a)
                ),
                undefined,
            )
    if not present.all():
        undefined["absent_classes"] = f"classes {classes[~present].tolist()} have no window; macro metrics omit them"
    out["cohen_kappa"] = _guarded("cohen_kappa", lambda: skm.cohen_kappa_score(y_true, predicted), undefined)
    return out


def _single_class_check(y: np.ndarray) -> None:
    """Raise the clear reason sklearn would give less clearly (AUROC needs both classes)."""
    if len(np.unique(y)) < 2:
        raise ValueError(f"only one class present in y_true ({len(y)} samples): the metric is undefined")
    return None


def recording_level(recording_ids: np.ndarray, y_true: np.ndarray, probs: np.ndarray):
    """Mean window probability per recording (and its label), for file-level tasks such as TUAB."""
    ids, inverse = np.unique(np.asarray(recording_ids, dtype=str), return_inverse=True)
    sums = np.zeros((len(ids), probs.shape[1]))
    np.add.at(sums, inverse, probs)
    counts = np.bincount(inverse, minlength=len(ids))[:, None]
    labels = np.zeros(len(ids), dtype=np.asarray(y_true).dtype)
    labels[inverse] = y_true
    return ids, labels, sums / counts


def logit_metrics(y_true: np.ndarray, logits: np.ndarray) -> dict:
    """Binary AUROC and AUPR as the authors' code computes them: from the positive class's logit
    (BioFoundation hands ``logits[:, 1]`` to torchmetrics), not from its probability; a
    single-logit head (LaBraM) scores its one logit. Equal to ``auroc``/``aupr`` only when the
    two logits' difference orders windows as the positive logit does."""
    y_true, logits = np.asarray(y_true), np.asarray(logits, dtype=np.float64)
    score = logits[:, -1] if logits.shape[1] <= 2 else None
    if score is None:
        raise ValueError("logit metrics are binary: one or two logits per window")
    undefined: dict[str, str] = {}
    return {
        "auroc_logit": _guarded("auroc_logit", lambda: _single_class_check(y_true) or skm.roc_auc_score(y_true, score),
                                undefined),
        "aupr_logit": _guarded("aupr_logit",
                               lambda: _single_class_check(y_true) or skm.average_precision_score(y_true, score),
                               undefined),
    }  # fmt: skip
