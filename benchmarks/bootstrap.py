"""Bootstrap intervals at TUAB scale: the board's vectorised weighted metrics against the direct
loop (scikit-learn on each expanded resample), per replicate, in one process.

A synthetic file-level test set the size of TUAB's evaluation split (276 recordings x 240
windows of 5 s, 3 seeds). The direct loop runs a few replicates (it is the slow baseline); the
vectorised path runs the board's 2,000. Reported: seconds per replicate and the speed-up.

    python benchmarks/bootstrap.py [--recordings 276] [--windows 240] [--direct-replicates 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lumamba_bench.harness.metrics import compute_metrics
from lumamba_bench.leaderboard import uncertainty


def synthetic(recordings: int, windows: int, seeds: int = 3) -> dict:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, recordings)
    rows = {"seed": [], "recording_id": [], "window_index": [], "label": [], "probs": []}
    for seed in range(seeds):
        for r in range(recordings):
            p1 = np.clip(0.3 * labels[r] + rng.uniform(0, 0.7, windows), 0, 1)
            rows["seed"] += [seed] * windows
            rows["recording_id"] += [f"rec{r:04d}"] * windows
            rows["window_index"] += list(range(windows))
            rows["label"] += [int(labels[r])] * windows
            rows["probs"] += list(np.stack([1 - p1, p1], axis=1))
    return rows


def direct(predictions: uncertainty.Predictions, metric: str, counts: np.ndarray) -> np.ndarray:
    out = []
    for draw in counts:
        values = []
        for seed in predictions.seeds:
            pick = np.repeat(np.arange(len(seed["units"])), draw[seed["units"]])
            values.append(compute_metrics("binary", seed["labels"][pick], seed["probs"][pick])["metrics"][metric])
        out.append(np.mean(values))
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", type=int, default=276)
    parser.add_argument("--windows", type=int, default=240)
    parser.add_argument("--direct-replicates", type=int, default=10)
    args = parser.parse_args()
    predictions = uncertainty.from_table(synthetic(args.recordings, args.windows), "binary", by_recording=True)
    counts = uncertainty.draw_counts(len(predictions.units), uncertainty.REPLICATES, strata=predictions.strata)
    print(f"{args.recordings} recordings x {args.windows} windows x 3 seeds, {len(counts)} replicates")
    print(f"{'metric':18s} {'vectorised s/rep':>17s} {'direct s/rep':>13s} {'speed-up':>9s} {'max |diff|':>11s}")
    for metric in ("auroc", "aupr", "balanced_accuracy"):
        start = time.perf_counter()
        fast = uncertainty.seed_mean_replicates(predictions, metric, counts)
        fast_s = (time.perf_counter() - start) / len(counts)
        few = counts[: args.direct_replicates]
        start = time.perf_counter()
        slow = direct(predictions, metric, few)
        slow_s = (time.perf_counter() - start) / len(few)
        diff = np.abs(fast[: len(few)] - slow).max()
        print(f"{metric:18s} {fast_s:17.5f} {slow_s:13.4f} {slow_s / fast_s:8.1f}x {diff:11.1e}")


if __name__ == "__main__":
    main()
