"""The signal pipeline against MNE doing the same steps, in one process, on one core.

The reference (BioFoundation ``process_raw_eeg.py``) runs MNE's ``Raw.filter(0.1, 75)``,
``Raw.notch_filter(60)`` and ``Raw.resample(256, npad="auto")``. ``lumamba_bench.data.filters``
computes the same numbers for all channels at once. This script:

1. checks the equality on real EEG (tests/data/S001R02.edf, 64 channels at 160 Hz): max |diff|,
   per-channel correlation, RMS difference relative to the signal RMS;
2. times both on 22-channel recordings at 250 Hz (TUAB's usual rate: filter + resample) and
   256 Hz (filter only), interleaved and repeated, and prints the median ratio MNE / ours.

    python benchmarks/preprocess_vs_mne.py [--minutes 20] [--repeats 5]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REAL_EDF = Path(__file__).resolve().parent.parent / "tests" / "data" / "S001R02.edf"


def mne_steps(data: np.ndarray, sfreq: float) -> np.ndarray:
    """The reference's calls, on a RawArray of the same microvolts."""
    import mne

    raw = mne.io.RawArray(data * 1e-6, mne.create_info(len(data), sfreq, "eeg"), verbose="error")
    raw.filter(l_freq=0.1, h_freq=75.0, verbose="error")
    raw.notch_filter(60, verbose="error")
    if int(sfreq) != 256:
        raw.resample(256, npad="auto", verbose="error")
    return raw.get_data() * 1e6


def our_steps(data: np.ndarray, sfreq: float) -> np.ndarray:
    from lumamba_bench.data.preprocess import Preprocessing, filter_and_resample

    return filter_and_resample(data, sfreq, Preprocessing())


def agreement() -> None:
    from lumamba_bench.data.edf import read_edf

    recording = read_edf(REAL_EDF)
    data = recording.data.astype(np.float64)
    ours, reference = our_steps(data, recording.sfreq), mne_steps(data, recording.sfreq)
    rms = np.sqrt(np.mean(reference**2))
    correlation = [np.corrcoef(a, b)[0, 1] for a, b in zip(ours, reference, strict=True)]
    edges = np.concatenate([ours[:, :1280] - reference[:, :1280], ours[:, -1280:] - reference[:, -1280:]], axis=1)
    print(f"real EEG ({REAL_EDF.name}, {len(data)} channels, {recording.sfreq:g} Hz -> 256 Hz):")
    print(f"  max |ours - MNE|          {np.abs(ours - reference).max():.2e} uV (signal RMS {rms:.1f} uV)")
    print(f"  RMS difference / RMS      {np.sqrt(np.mean((ours - reference) ** 2)) / rms:.2e}")
    print(f"  first and last window     max |diff| {np.abs(edges).max():.2e} uV")
    print(f"  per-channel correlation   median {np.median(correlation):.12f}, min {np.min(correlation):.12f}")


def timing(minutes: float, repeats: int) -> None:
    rng = np.random.default_rng(0)
    print(f"time for one {minutes:g}-min recording of 22 channels (median of {repeats}, interleaved, one core):")
    for sfreq in (250.0, 256.0):
        data = np.cumsum(rng.standard_normal((22, int(minutes * 60 * sfreq))), axis=1)
        our_steps(data[:, :10_000], sfreq)  # kernel design and imports out of the timing
        mne_steps(data[:, :10_000], sfreq)
        times: dict[str, list[float]] = {"MNE": [], "ours": []}
        for _ in range(repeats):
            for name, fn in (("MNE", mne_steps), ("ours", our_steps)):
                start = time.perf_counter()
                fn(data, sfreq)
                times[name].append(time.perf_counter() - start)
        mne_s, ours_s = np.median(times["MNE"]), np.median(times["ours"])
        ratios = np.array(times["MNE"]) / np.array(times["ours"])
        steps = "filter, notch, resample" if sfreq != 256 else "filter, notch"
        print(
            f"  {sfreq:g} Hz ({steps}): MNE {mne_s:.3f} s, ours {ours_s:.3f} s, "
            f"ratio {np.median(ratios):.2f}x (range {ratios.min():.2f}-{ratios.max():.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    agreement()
    timing(args.minutes, args.repeats)


if __name__ == "__main__":
    main()
