"""The board's statistics against known truth: the 95% bootstrap interval covers the true AUROC
93-97% of the time, and the paired p-value is uniform under the null (below 0.05 about 5% of the
time), at the window level (independent windows) and the recording level (windows clustered in
recordings, resampled by recording). A changed interval level or a one-sided p fails these."""

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from lumamba_bench.leaderboard import uncertainty

SIMULATIONS, REPLICATES = 300, 1000
SEPARATION = 1.0  # positives' latent score mean; negatives' is 0, both with unit variance
RECORDINGS, WINDOWS, WINDOW_NOISE = 30, 4, 1.0  # per class; windows per recording; their spread


def _dataset(rng, level: str, latent_noise: float = 0.0):
    """(labels, latent scores, recording ids) of one simulated test set: per class 60 independent
    windows, or 30 recordings of 4 windows sharing their recording's latent score."""
    if level == "window":
        labels = np.repeat([1, 0], 60)
        latent = rng.normal(SEPARATION * labels, 1.0)
        return labels, latent, np.array([f"w{i:04d}" for i in range(len(labels))])
    per_recording = np.repeat([1, 0], RECORDINGS)
    recording_latent = rng.normal(SEPARATION * per_recording, 1.0)
    labels = np.repeat(per_recording, WINDOWS)
    latent = np.repeat(recording_latent, WINDOWS) + rng.normal(0.0, WINDOW_NOISE, len(labels))
    return labels, latent, np.repeat([f"r{i:04d}" for i in range(2 * RECORDINGS)], WINDOWS)


def _predictions(labels, scores, recordings, level):
    p1 = norm.cdf(scores)
    table = {"seed": np.zeros(len(labels), int), "recording_id": recordings,
             "window_index": np.arange(len(labels)), "label": labels, "probs": np.stack([1 - p1, p1], 1)}  # fmt: skip
    return uncertainty.from_table(table, "binary", by_recording=level == "recording")


def _true_auroc(level: str) -> float:
    """Window level: Phi(d / sqrt(2 var)) exactly; recording level (AUROC of the mean window
    probability per recording): by simulation on 40,000 recordings."""
    if level == "window":
        return float(norm.cdf(SEPARATION / np.sqrt(2.0)))
    rng = np.random.default_rng(123)
    per_recording = np.repeat([1, 0], 20_000)
    windows = rng.normal(SEPARATION * per_recording, 1.0)[:, None] + rng.normal(0, WINDOW_NOISE, (40_000, WINDOWS))
    return float(roc_auc_score(per_recording, norm.cdf(windows).mean(axis=1)))


@pytest.mark.parametrize("level", ["window", "recording"])
def test_the_95_percent_interval_covers_the_truth_93_to_97_percent_of_the_time(level):
    truth, rng = _true_auroc(level), np.random.default_rng(7)
    covered = 0
    for _ in range(SIMULATIONS):
        labels, latent, recordings = _dataset(rng, level)
        predictions = _predictions(labels, latent, recordings, level)
        low, high = uncertainty.confidence_interval(predictions, "auroc", level, replicates=REPLICATES)
        covered += low <= truth <= high
    assert 0.93 <= covered / SIMULATIONS <= 0.97, covered / SIMULATIONS


@pytest.mark.parametrize("level", ["window", "recording"])
def test_the_paired_p_value_is_uniform_under_the_null(level):
    """Two models that are the same latent score plus independent noise of the same size: equal
    AUROC in expectation, so p < 0.05 about 5% of the time and p spread evenly over [0, 1]."""
    rng = np.random.default_rng(11)
    p_values = []
    for _ in range(SIMULATIONS):
        labels, latent, recordings = _dataset(rng, level)
        first = _predictions(labels, latent + rng.normal(0, 1, len(labels)), recordings, level)
        second = _predictions(labels, latent + rng.normal(0, 1, len(labels)), recordings, level)
        p_values.append(uncertainty.paired_p_value(first, second, "auroc", level, replicates=REPLICATES))
    p_values = np.array(p_values)
    assert 0.025 <= (p_values < 0.05).mean() <= 0.085, (p_values < 0.05).mean()
    assert 0.4 <= np.median(p_values) <= 0.6 and 0.15 <= np.quantile(p_values, 0.25) <= 0.35


def test_too_few_test_units_give_no_interval_and_no_test():
    from lumamba_bench.leaderboard.render import markdown
    from lumamba_bench.leaderboard.tables import Row, tables

    labels, latent, recordings = _dataset(np.random.default_rng(0), "recording")
    keep = np.isin(recordings, [f"r{i:04d}" for i in (0, 1, 2, 30, 31, 32, 33, 34)])  # 3 abnormal, 5 normal
    rows = []
    for name in ("a", "b"):
        row = Row("demo", name, "measured", 1, {"auroc": (0.7, 0.01)})
        row.overlap = "none"
        row.predictions = _predictions(labels[keep], latent[keep], recordings[keep], "recording")
        rows.append(row)
    assert uncertainty.too_few_units(rows[0].predictions) == "3 test units of class 1 (5 needed)"
    table = tables(rows)[0]
    assert all(r.ci_note == "too few test units" and r.p_value is None for r in table.rows)
    assert all(v is None for r in table.rows for v in r.ci.values())
    text = markdown([table], [])
    assert "[too few test units]" in text and "[n/a]" not in text
