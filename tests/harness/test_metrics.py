import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from lumamba_bench.harness.metrics import compute_metrics, recording_level


def test_binary_by_hand():
    y = np.array([0, 0, 1, 1])
    p1 = np.array([0.1, 0.6, 0.4, 0.9])  # one positive ranked below one negative
    probs = np.stack([1 - p1, p1], axis=1)
    m = compute_metrics("binary", y, probs)["metrics"]
    assert m["auroc"] == pytest.approx(0.75)  # 3 of 4 positive-negative pairs in order
    assert m["balanced_accuracy"] == pytest.approx(0.5)  # predictions 0,1,0,1: recall 0.5 each
    assert m["aupr"] == pytest.approx((1 / 1 + 2 / 3) / 2)  # precision at each positive: 1, 2/3
    negative_ap = skm.average_precision_score(1 - y, probs[:, 0])
    assert m["aupr_macro"] == pytest.approx((m["aupr"] + negative_ap) / 2)


def test_binary_matches_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p1 = np.clip(0.3 * y + 0.7 * rng.random(500), 0, 1)
    m = compute_metrics("binary", y, np.stack([1 - p1, p1], 1))["metrics"]
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, p1))
    assert m["aupr"] == pytest.approx(skm.average_precision_score(y, p1))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, (p1 > 0.5).astype(int)))


def test_multiclass_matches_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    logits = rng.standard_normal((300, 4)) + 1.5 * np.eye(4)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    m = compute_metrics("multiclass", y, probs)["metrics"]
    assert m["auroc_macro"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    assert m["auroc_weighted"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr", average="weighted"))
    assert m["aupr_macro"] == pytest.approx(skm.average_precision_score(np.eye(4)[y], probs, average="macro"))
    assert m["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(y, probs.argmax(1)))


def test_multilabel_per_class_and_macro():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    probs = np.array([[0.9, 0.2], [0.1, 0.8], [0.7, 0.3], [0.2, 0.4]])
    m = compute_metrics("multilabel", y, probs)["metrics"]
    assert m["auroc_class0"] == 1.0
    assert m["auroc_class1"] == pytest.approx(skm.roc_auc_score(y[:, 1], probs[:, 1]))
    assert m["auroc_macro"] == pytest.approx((m["auroc_class0"] + m["auroc_class1"]) / 2)


def test_single_class_is_undefined_with_a_reason_not_a_crash():
    out = compute_metrics("binary", np.zeros(5, int), np.full((5, 2), 0.5))
    assert out["metrics"]["auroc"] is None and out["metrics"]["aupr"] is None
    assert "only one class" in out["undefined"]["auroc"]
    assert out["metrics"]["balanced_accuracy"] == 1.0


def test_recording_level_means_window_probabilities():
    ids = np.array(["a", "a", "b", "b", "b"])
    probs = np.array([[0.2, 0.8], [0.4, 0.6], [0.9, 0.1], [0.7, 0.3], [0.8, 0.2]])
    names, labels, means = recording_level(ids, np.array([1, 1, 0, 0, 0]), probs)
    assert list(names) == ["a", "b"] and list(labels) == [1, 0]
    np.testing.assert_allclose(means, [[0.3, 0.7], [0.8, 0.2]])


def test_multiclass_macro_averages_over_the_classes_present():
    """A class with no test window (TUSL's 'unannotated') leaves the macro AUROC defined."""
    rng = np.random.default_rng(3)
    y = rng.integers(1, 4, 300)
    probs = rng.dirichlet(np.ones(4), 300)
    result = compute_metrics("multiclass", y, probs)
    per_class = [skm.roc_auc_score(y == k, probs[:, k]) for k in (1, 2, 3)]
    assert result["metrics"]["auroc_macro"] == pytest.approx(np.mean(per_class))
    assert "[0]" in result["undefined"]["absent_classes"]


def test_a_class_with_a_single_test_window_counts_as_present():
    rng = np.random.default_rng(4)
    y = np.concatenate([rng.integers(0, 2, 99), [2]])  # class 2: exactly one window
    probs = rng.dirichlet(np.ones(3), 100)
    result = compute_metrics("multiclass", y, probs)
    per_class = [skm.roc_auc_score(y == k, probs[:, k]) for k in (0, 1, 2)]
    assert result["metrics"]["auroc_macro"] == pytest.approx(np.mean(per_class))


def test_the_metric_registry_drives_requirements_columns_ranges_and_ranking():
    from lumamba_bench.harness import metrics as registry
    from lumamba_bench.leaderboard.tables import Row, tables

    assert registry.required("binary") == ("balanced_accuracy", "auroc", "aupr", "aupr_macro")
    assert registry.board_columns("multiclass") == ("auroc_macro", "aupr_macro", "balanced_accuracy")
    assert registry.metric_range("cohen_kappa") == (-1.0, 1.0) and registry.metric_range("auroc_class3") == (0.0, 1.0)
    def toy_error(labels, probs):
        return 10 * float(np.mean(labels != probs.argmax(1)))

    toy = registry.Metric("toy_error", ("binary",), low=0.0, high=10.0, higher_is_better=False, required_from=2,
                          columns={}, compute=toy_error)  # fmt: skip
    registry.register_metric(toy)
    try:
        scored = registry.compute_metrics("binary", np.array([0, 1, 1, 0]), np.array([[0.9, 0.1]] * 4))
        assert scored["metrics"]["toy_error"] == 5.0  # half the windows wrong
        assert "toy_error" not in registry.required("binary")  # files of metric set 1 stay valid
        assert registry.required("binary", version=2)[-1] == "toy_error"
        assert registry.metric_range("toy_error") == (0.0, 10.0)
        rows = [Row("tuab", name, "reported", None, {"toy_error": (v, None)}) for name, v in (("a", 3.0), ("b", 1.0))]
        for row in rows:
            row.overlap = "none"
        registry.METRICS["toy_error"] = registry.Metric(**{**toy.__dict__, "columns": {"binary": -1}})
        (table,) = tables(rows)
        assert table.metrics[0] == "toy_error" and [r.model for r in table.rows] == ["b", "a"]  # lower is better
    finally:
        registry.METRICS.pop("toy_error")


def test_multioutput_averages_each_channels_one_vs_rest_auroc_over_channels():
    """TUAR MMC: per channel, the mean over its present classes of scikit-learn's one-class
    AUROC; a channel with one class only is undefined and left out of the mean."""
    rng = np.random.default_rng(4)
    n, channels, classes = 300, 3, 4
    labels = rng.integers(0, classes, (n, channels))
    labels[:, 2] = 0  # one class only on the last channel
    labels[:5, 1] = 3
    labels[5:, 1] = rng.integers(0, 3, n - 5)
    logits = rng.normal(size=(n, channels, classes))
    logits[np.arange(n)[:, None], np.arange(channels), labels] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    out = compute_metrics("multioutput", labels, probs.reshape(n, -1))
    for c in range(2):
        present = np.unique(labels[:, c])
        expected = np.mean([skm.roc_auc_score(labels[:, c] == k, probs[:, c, k]) for k in present])
        assert out["metrics"][f"auroc_channel{c}"] == pytest.approx(expected)
        expected_pr = np.mean([skm.average_precision_score(labels[:, c] == k, probs[:, c, k]) for k in present])
        assert out["metrics"][f"aupr_channel{c}"] == pytest.approx(expected_pr)
    assert out["metrics"]["auroc_channel2"] is None and "auroc_channel2" in out["undefined"]
    assert out["metrics"]["auroc_macro"] == pytest.approx(
        (out["metrics"]["auroc_channel0"] + out["metrics"]["auroc_channel1"]) / 2
    )
    # The reference's pooled score: every (window, channel) one sample of one 4-class problem.
    flat_labels, flat_probs = labels.ravel(), probs.reshape(-1, classes)
    pooled = np.mean([skm.roc_auc_score(flat_labels == k, flat_probs[:, k]) for k in range(classes)])
    assert out["metrics"]["auroc_pooled"] == pytest.approx(pooled)


def test_a_new_metric_is_one_registry_entry_validated_computed_bootstrapped_and_on_the_board():
    """A [0, 10] lower-is-better metric, added by one entry: results files are checked against its
    range, runs compute it, the board gets its interval from its weighted form and shows it."""
    import jsonschema

    from lumamba_bench.harness import metrics as registry
    from lumamba_bench.harness.results import validate
    from lumamba_bench.leaderboard import uncertainty

    def errors_per_ten(labels, probs):
        return 10 * float(np.mean(labels != probs.argmax(1)))

    def errors_per_ten_replicates(task_type, labels, probs, weights):
        wrong = (labels != probs.argmax(1)).astype(float)
        return 10 * (weights @ wrong) / weights.sum(1)

    entry = registry.Metric("errors_per_ten", ("binary",), low=0.0, high=10.0, higher_is_better=False,
                            required_from=None, columns={"binary": 3}, compute=errors_per_ten,
                            replicates=errors_per_ten_replicates)  # fmt: skip
    registry.register_metric(entry)
    try:
        labels = np.array([0, 1, 1, 0, 1])
        probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6], [0.1, 0.9]])
        assert registry.compute_metrics("binary", labels, probs)["metrics"]["errors_per_ten"] == 4.0
        assert "errors_per_ten" in registry.board_columns("binary")
        weights = np.array([[1, 1, 1, 1, 1], [2, 0, 1, 0, 2], [0, 3, 0, 1, 1]], dtype=float)
        direct = [errors_per_ten(np.repeat(labels, w.astype(int)), np.repeat(probs, w.astype(int), axis=0))
                  for w in weights]  # fmt: skip
        bootstrapped = uncertainty.metric_replicates("binary", labels, probs, weights, "errors_per_ten")
        np.testing.assert_allclose(bootstrapped, direct)
        stored = Path(__file__).resolve().parents[2] / "leaderboard" / "submissions" / "demo"
        results = json.loads(min(stored.glob("*.json")).read_text())  # a real results file, as runs write
        for seed, value in zip(results["seeds"], (7.5, 2.5, 5.0), strict=False):
            seed["metrics"]["errors_per_ten"] = value
        results["summary"]["errors_per_ten"] = {"mean": 5.0, "std": 2.5, "n": 3}
        validate(results)  # 7.5 and a std of 2.5 are fine on [0, 10]
        results["seeds"][0]["metrics"]["errors_per_ten"] = 11.0
        with pytest.raises(jsonschema.ValidationError, match="errors_per_ten = 11.0 is outside its range"):
            validate(results)
    finally:
        registry.METRICS.pop("errors_per_ten")
