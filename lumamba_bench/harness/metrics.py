"""The metric registry: each metric is one entry (``Metric``) saying how it is computed per task
type, its weighted form for intervals, its range and direction, and where the board shows it.
Every reader iterates the registry: ``compute_metrics``, the results schema, the board's intervals,
tables and chart, and epoch selection (a recipe's ``selection`` may name any entry).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from lumamba_bench.data.recipe import BINARY, MULTICLASS, MULTILABEL, MULTIOUTPUT
from lumamba_bench.harness import metric_functions as fn
from lumamba_bench.harness import metric_weighted as weighted

TASK_TYPES = (BINARY, MULTICLASS, MULTILABEL, MULTIOUTPUT)


@dataclass(frozen=True)
class Metric:
    """What the rest of the package knows about a metric: the results schema, the submission
    checks, the board's columns and ranking, the page and epoch selection all read this registry.

    ``compute``: ``(labels, probabilities) -> float`` (or a ``metric_functions.Breakdown`` whose
    parts the results keep too), one function for all its task types or a mapping task type ->
    function; a ``ValueError`` it raises means "undefined here", its message the reason.
    ``required_from``: the metric-set version from which every results file of those task types
    must report it (None: optional); raising the set's version keeps older files valid. A metric
    from outside this package must be optional: files written without it stay valid.
    ``columns``: task type -> position among the board's columns (0 ranks the table).
    ``replicates``: its weighted form over bootstrap replicates, ``(task_type, labels, probs,
    weights (R, n)) -> (R,)`` (``harness/metric_weighted.py``), from which the board computes
    intervals and paired tests; None: the board shows the metric without them.
    ``low``/``high``/``higher_is_better``: its range (checked in results files, the chart's axis)
    and direction (the board's order, and the best epoch when a recipe selects by it).
    ``provider``: the module that registered it (filled in by ``register_metric``)."""

    name: str
    task_types: tuple[str, ...]
    compute: Callable | Mapping[str, Callable] | None = field(default=None, compare=False)
    low: float = 0.0
    high: float = 1.0
    higher_is_better: bool = True
    required_from: int | None = 1
    columns: dict = field(default_factory=dict)
    replicates: Callable[..., np.ndarray] | None = field(default=None, compare=False)
    provider: str = field(default="", compare=False)

    def function(self, task_type: str) -> Callable:
        """The compute function for ``task_type``."""
        return self.compute[task_type] if isinstance(self.compute, Mapping) else self.compute


METRIC_SET_VERSION = 1  # the set of required metrics results files are written with now
METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric, *, provider: str | None = None) -> Metric:
    """Add a metric; a name another module registered is refused, naming both. A metric from
    outside this package is not required by the current metric set (files written without it
    stay valid). ``provider`` defaults to the module its compute function is defined in."""
    from lumamba_bench.plugins import PluginError, refuse_taken

    if provider is None:
        functions = list(metric.compute.values()) if isinstance(metric.compute, Mapping) else [metric.compute]
        provider = getattr(functions[0], "__module__", None) or sys._getframe(1).f_globals.get("__name__", "?")
    per_task = isinstance(metric.compute, Mapping)
    if metric.compute is None or (per_task and set(metric.compute) != set(metric.task_types)):
        raise PluginError(f"metric {metric.name!r} from {provider} needs compute=(labels, probabilities) -> float"
                          " for each of its task types")  # fmt: skip
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


def _builtin(metric: Metric) -> None:
    register_metric(metric, provider=__name__)


_builtin(Metric("balanced_accuracy", (BINARY, MULTICLASS), fn.balanced_accuracy,
                columns={BINARY: 2, MULTICLASS: 2}, replicates=weighted.balanced_accuracy_replicates))
_builtin(Metric("auroc", (BINARY,), fn.binary("auroc"), columns={BINARY: 0}, replicates=weighted.auroc_replicates))
_builtin(Metric("aupr", (BINARY,), fn.binary("aupr"), columns={BINARY: 1}, replicates=weighted.aupr_replicates))
_builtin(Metric("auroc_macro", (MULTICLASS, MULTILABEL, MULTIOUTPUT),
                {MULTICLASS: fn.one_vs_rest("auroc", "macro"), MULTILABEL: fn.per_class("auroc"),
                 MULTIOUTPUT: fn.per_channel("auroc")},
                columns={MULTICLASS: 0, MULTILABEL: 0, MULTIOUTPUT: 0}, replicates=weighted.auroc_macro_replicates))
_builtin(Metric("auroc_weighted", (MULTICLASS,), fn.one_vs_rest("auroc", "weighted")))
_builtin(Metric("aupr_macro", TASK_TYPES,
                {BINARY: fn.binary_aupr_macro, MULTICLASS: fn.one_vs_rest("aupr", "macro"),
                 MULTILABEL: fn.per_class("aupr"), MULTIOUTPUT: fn.per_channel("aupr")},
                columns={MULTICLASS: 1, MULTILABEL: 1, MULTIOUTPUT: 1}, replicates=weighted.aupr_macro_replicates))
_builtin(Metric("aupr_weighted", (MULTICLASS,), fn.one_vs_rest("aupr", "weighted")))
_builtin(Metric("cohen_kappa", (MULTICLASS,), fn.cohen_kappa, low=-1.0))
# TUAR MMC as BioFoundation scores it: every (window, channel) one sample of one 6-class problem.
_builtin(Metric("auroc_pooled", (MULTIOUTPUT,), fn.pooled("auroc"), required_from=None))
_builtin(Metric("aupr_pooled", (MULTIOUTPUT,), fn.pooled("aupr"), required_from=None))  # fmt: skip


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


def compute_metrics(task_type: str, y_true: np.ndarray, probs: np.ndarray) -> dict:
    """Every registered metric of ``task_type`` from class probabilities ``probs`` (N, K) and labels
    ``y_true`` ((N,) or (N, K) multi-hot, (N, channels) for multi-output); a metric's parts (per
    class, per channel) are reported beside it."""
    y_true, probs = np.asarray(y_true), np.asarray(probs, dtype=np.float64)
    scored = fn.Breakdown()  # every metric and part, and why those undefined are
    for metric in load_metrics().values():
        if task_type in metric.task_types:
            fn.part(metric.name, partial(_value, metric.function(task_type), y_true, probs, scored), scored)
    out, undefined = scored.parts, scored.undefined
    if task_type == MULTICLASS and (reason := fn.absent_classes(y_true, probs)):
        undefined["absent_classes"] = reason
    return {"metrics": out, "undefined": undefined}


def _value(compute, y_true: np.ndarray, probs: np.ndarray, scored: fn.Breakdown) -> float:
    """A metric's value; a breakdown's parts go into ``scored`` first, then their mean is returned."""
    result = compute(y_true, probs)
    if isinstance(result, fn.Breakdown):
        scored.parts.update(result.parts)
        scored.undefined.update(result.undefined)
        return result.value
    return result


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
    if logits.shape[1] > 2:
        raise ValueError("logit metrics are binary: one or two logits per window")
    as_columns = np.stack([np.zeros(len(logits)), logits[:, -1]], axis=1)  # binary() reads column 1
    scored = fn.Breakdown()
    for score in ("auroc", "aupr"):
        fn.part(f"{score}_logit", lambda s=score: fn.binary(s)(y_true, as_columns), scored)
    return scored.parts
