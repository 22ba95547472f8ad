"""Bootstrap intervals and paired tests: the vectorised weighted metrics against scikit-learn on
the expanded resamples (a direct loop), and the paired test's verdicts."""

import numpy as np
import pytest

from lumamba_bench.harness.metrics import compute_metrics, recording_level
from lumamba_bench.leaderboard import uncertainty as U


def _table(rng, task_type, recordings=12, windows=5, classes=2, signal=0.35, seeds=(0, 1), ties=False):
    rows = {"seed": [], "recording_id": [], "window_index": [], "label": [], "probs": []}
    record_labels = rng.integers(0, classes, recordings)
    record_labels[:classes] = np.arange(classes)  # every class present
    for seed in seeds:
        for r in range(recordings):
            for w in range(windows):
                if task_type == "multioutput":  # two channels, one class each
                    label = rng.integers(0, classes, 2)
                    logits = rng.normal(size=(2, classes))
                    logits[[0, 1], label] += 4 * signal
                    p = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).ravel()
                elif task_type == "multilabel":
                    label = rng.integers(0, 2, classes)
                    p = np.clip(signal * label + rng.uniform(0, 1 - signal, classes), 0, 1)
                else:
                    label = int(record_labels[r])
                    logits = rng.normal(size=classes)
                    logits[label] += 4 * signal
                    p = np.exp(logits) / np.exp(logits).sum()
                if ties:
                    p = np.round(p, 1)
                rows["seed"].append(seed)
                rows["recording_id"].append(f"rec{r:02d}")
                rows["window_index"].append(w)
                rows["label"].append(label)
                rows["probs"].append(p)
    return rows


def _direct(predictions, metric, counts, level):
    """The seed mean of compute_metrics on each replicate's expanded resample (scikit-learn)."""
    out = []
    for draw in counts:
        per_seed = []
        for seed in predictions.seeds:
            if level == "recording":  # recordings keep their windows; a recording drawn twice counts twice
                labels, probs = _recording_resample(seed, draw)
            else:
                pick = np.concatenate([np.flatnonzero(seed["units"] == u).repeat(c) for u, c in enumerate(draw) if c])
                labels, probs = seed["labels"][pick], seed["probs"][pick]
            value = compute_metrics(predictions.task_type, labels, probs)["metrics"][metric]
            per_seed.append(np.nan if value is None else value)
        out.append(np.mean(per_seed))
    return np.array(out)


def _recording_resample(seed, draw):
    ids, labels, probs = recording_level(seed["recordings"], seed["labels"], seed["probs"])
    unit_of = {rec: unit for rec, unit in zip(seed["recordings"], seed["units"], strict=True)}
    repeat = np.array([draw[unit_of[i]] for i in ids])
    return labels.repeat(repeat), probs.repeat(repeat, axis=0)


CASES = [
    ("binary", 2, "auroc"), ("binary", 2, "aupr"), ("binary", 2, "aupr_macro"), ("binary", 2, "balanced_accuracy"),
    ("multiclass", 4, "auroc_macro"), ("multiclass", 4, "aupr_macro"), ("multiclass", 4, "balanced_accuracy"),
    ("multilabel", 3, "auroc_macro"), ("multilabel", 3, "aupr_macro"),
    ("multioutput", 3, "auroc_macro"), ("multioutput", 3, "aupr_macro"),
]  # fmt: skip


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(("task_type", "classes", "metric"), CASES)
def test_vectorised_replicates_equal_scikit_learn_on_each_resample(task_type, classes, metric, ties):
    rng = np.random.default_rng(7)
    table = _table(rng, task_type, classes=classes, ties=ties)
    predictions = U.from_table(table, task_type, by_recording=task_type not in ("multilabel", "multioutput"))
    counts = U.draw_counts(len(predictions.units), replicates=40, seed=3)
    fast = U.seed_mean_replicates(predictions, metric, counts)
    np.testing.assert_allclose(fast, _direct(predictions, metric, counts, "window"), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("metric", ["auroc", "aupr", "balanced_accuracy"])
def test_recording_level_replicates_equal_scikit_learn(metric):
    table = _table(np.random.default_rng(1), "binary", recordings=15)
    predictions = U.from_table(table, "binary", by_recording=True)
    counts = U.draw_counts(len(predictions.units), replicates=30, seed=5)
    fast = U.seed_mean_replicates(predictions, metric, counts, level="recording")
    np.testing.assert_allclose(fast, _direct(predictions, metric, counts, "recording"), rtol=1e-10)


def test_point_estimate_is_the_seed_mean_of_the_stated_metrics():
    table = _table(np.random.default_rng(2), "binary")
    predictions = U.from_table(table, "binary", by_recording=True)
    stated = [compute_metrics("binary", s["labels"], s["probs"])["metrics"]["auroc"] for s in predictions.seeds]
    assert U.point_estimate(predictions, "auroc") == pytest.approx(np.mean(stated), abs=1e-12)


def test_interval_is_deterministic_covers_the_estimate_and_narrows_with_more_data():
    small = U.from_table(_table(np.random.default_rng(3), "binary", recordings=20), "binary", by_recording=True)
    large = U.from_table(_table(np.random.default_rng(3), "binary", recordings=200), "binary", by_recording=True)
    low, high = U.confidence_interval(small, "auroc")
    assert (low, high) == U.confidence_interval(small, "auroc")
    assert low <= U.point_estimate(small, "auroc") <= high
    big_low, big_high = U.confidence_interval(large, "auroc")
    assert big_high - big_low < 0.6 * (high - low)


def test_recording_resampling_is_wider_than_treating_windows_as_independent():
    """Windows of one recording share its label and much of its signal: resampling windows as if
    independent understates the uncertainty."""
    rng = np.random.default_rng(4)
    table = _table(rng, "binary", recordings=16, windows=20, signal=0.2)
    offsets = {f"rec{r:02d}": rng.normal(0, 1.5) for r in range(16)}  # a per-recording shift
    for i, rec in enumerate(table["recording_id"]):
        logit = np.log(table["probs"][i][1] / table["probs"][i][0]) + offsets[rec]
        table["probs"][i] = np.array([1 / (1 + np.exp(logit)), 1 / (1 + np.exp(-logit))])
    by_recording = U.confidence_interval(U.from_table(table, "binary", by_recording=True), "auroc")
    by_window = U.confidence_interval(U.from_table(table, "binary", by_recording=False), "auroc")
    assert by_recording[1] - by_recording[0] > 1.5 * (by_window[1] - by_window[0])


def test_paired_test_separates_a_clear_gain_from_noise():
    rng = np.random.default_rng(5)
    base = _table(rng, "binary", recordings=60, windows=2, signal=0.3)
    twin = _table(np.random.default_rng(6), "binary", recordings=60, windows=2, signal=0.3)
    twin["label"] = base["label"]  # same test set, same labels, independent noise of equal strength
    twin["probs"] = [np.clip(p + rng.normal(0, 0.02, 2), 0, 1) for p in base["probs"]]
    better = dict(base, probs=[np.array([1 - y, y]) * 0.8 + 0.1 for y in base["label"]])
    better["probs"] = [p + rng.normal(0, 0.05, 2) for p in better["probs"]]
    first = U.from_table(base, "binary", by_recording=True)
    assert U.paired_p_value(first, U.from_table(twin, "binary", by_recording=True), "auroc") > 0.05
    assert U.paired_p_value(U.from_table(better, "binary", by_recording=True), first, "auroc") < 0.05


def test_paired_test_refuses_different_test_sets():
    one = U.from_table(_table(np.random.default_rng(0), "binary", recordings=10), "binary", by_recording=True)
    other = U.from_table(_table(np.random.default_rng(0), "binary", recordings=11), "binary", by_recording=True)
    with pytest.raises(ValueError, match="same test units"):
        U.paired_p_value(one, other, "auroc")


def test_stratified_draws_keep_each_class_count():
    strata = np.array([0, 0, 0, 1, 1, 2, 0, 1])
    counts = U.draw_counts(len(strata), replicates=50, seed=1, strata=strata)
    for stratum in (0, 1, 2):
        assert (counts[:, strata == stratum].sum(1) == (strata == stratum).sum()).all()
    assert counts[:, strata == 0].std(0).max() > 0  # units within a class still vary
    assert (U.draw_counts(len(strata), 50, 1, strata) == counts).all()  # deterministic


def test_a_small_unbalanced_test_set_still_has_an_interval():
    """Ten recordings, two abnormal: an unstratified resample lacks a class 1 time in 9."""
    table = _table(np.random.default_rng(8), "binary", recordings=10, windows=12)
    table["label"] = [1 if rec in ("rec00", "rec01") else 0 for rec in table["recording_id"]]
    predictions = U.from_table(table, "binary", by_recording=True)
    assert predictions.strata.tolist() == [1, 1] + [0] * 8
    low, high = U.confidence_interval(predictions, "auroc")
    assert 0 <= low <= U.point_estimate(predictions, "auroc") <= high <= 1


def test_unit_pair_auroc_equals_the_direct_weighted_auroc():
    table = _table(np.random.default_rng(9), "binary", recordings=14, ties=True)
    predictions = U.from_table(table, "binary", by_recording=True)
    counts = U.draw_counts(len(predictions.units), 25, 2, predictions.strata)
    seed = predictions.seeds[0]
    weights = counts[:, seed["units"]].astype(float)
    direct = U.weighted_auroc(seed["probs"][:, 1], seed["labels"] == 1, weights)
    pairs = U._auroc_by_unit_pairs("binary", "auroc", seed["units"], seed["labels"], seed["probs"], counts)
    np.testing.assert_allclose(pairs, direct, rtol=1e-12)
