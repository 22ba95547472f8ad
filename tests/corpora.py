"""Fixture corpora in the real on-disk layouts, written with pyedflib (TUH channel names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyedflib

TUH_ELECTRODES = [
    "FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8",
    "T3", "T4", "T5", "T6", "A1", "A2", "FZ", "CZ", "PZ",
]  # fmt: skip
TUH_EXTRA = ["EEG EKG1-REF", "PHOTIC-REF", "IBI"]


def tuh_signals(duration_s: float, sfreq: float, seed: int) -> np.ndarray:
    """(21, N) plausible referential EEG in microvolts: 1/f-ish noise plus a 10 Hz rhythm."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sfreq))
    t = np.arange(n) / sfreq
    noise = np.cumsum(rng.standard_normal((len(TUH_ELECTRODES), n)), axis=1)
    noise -= noise.mean(axis=1, keepdims=True)
    noise *= 15.0 / noise.std(axis=1, keepdims=True)
    alpha = 20.0 * np.sin(2 * np.pi * 10.0 * t + rng.uniform(0, 6.28, (len(TUH_ELECTRODES), 1)))
    return noise + alpha + 5.0 * rng.standard_normal((len(TUH_ELECTRODES), n))


def write_tuh_edf(
    path: Path, data: np.ndarray, sfreq: float, labels: list[str] | None = None, extra: bool = True
) -> Path:
    """Write referential EEG as a TUH-style EDF (``EEG FP1-REF`` ...), 1 s data records."""
    labels = labels or [f"EEG {e}-REF" for e in TUH_ELECTRODES]
    signals = list(data)
    if extra:
        labels = labels + TUH_EXTRA
        signals += [np.zeros(data.shape[1]) for _ in TUH_EXTRA]
    headers = [
        {
            "label": label,
            "dimension": "uV",
            "sample_frequency": sfreq,
            "physical_min": -3000.0,
            "physical_max": 3000.0,
            "digital_min": -32768,
            "digital_max": 32767,
            "transducer": "",
            "prefilter": "",
        }
        for label in labels
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with pyedflib.EdfWriter(str(path), len(labels), file_type=pyedflib.FILETYPE_EDF) as writer:
        writer.setSignalHeaders(headers)
        writer.writeSamples([np.clip(s, -3000, 3000) for s in signals])
    return path


# (folder split, label folder, file stem, seconds, sampling rate): the TUAB fixture.
TUAB_FILES = [
    ("train", "normal", "aaaaaaaa_s001_t000", 30, 250),
    ("train", "normal", "aaaaaaaa_s002_t000", 37, 250),  # second session of one subject
    ("train", "normal", "aaaaaaab_s001_t000", 30, 256),
    ("train", "normal", "aaaaaaac_s001_t000", 30, 250),
    ("train", "abnormal", "aaaaaaad_s001_t000", 30, 400),
    ("train", "abnormal", "aaaaaaae_s001_t000", 30, 250),
    ("train", "abnormal", "aaaaaaaf_s003_t001", 30, 512),
    ("eval", "normal", "aaaaaaag_s001_t000", 30, 250),
    ("eval", "abnormal", "aaaaaaah_s001_t000", 30, 250),
]


def write_tuab_fixture(root: Path) -> dict[str, int]:
    """Write the TUAB fixture under ``root``; returns recording id -> expected window count."""
    expected = {}
    for i, (split, label, stem, seconds, sfreq) in enumerate(TUAB_FILES):
        path = root / "edf" / split / label / "01_tcp_ar" / f"{stem}.edf"
        write_tuh_edf(path, tuh_signals(seconds, sfreq, seed=i), sfreq)
        expected[f"edf/{split}/{label}/01_tcp_ar/{stem}"] = seconds // 5
    return expected
