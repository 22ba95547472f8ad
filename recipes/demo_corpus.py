"""A small synthetic EEG corpus in the TUAB v3.0.1 layout, written as real EDF files.

Why synthetic: the real corpora are licensed. The demo makes every command run on a fresh
machine, and it is learnable: "abnormal" recordings carry the two signs a clinical reader of TUAB
looks for first, a slowed posterior dominant rhythm and intermittent focal polymorphic delta
over one temporal region; "normal" ones have a 9.5-11 Hz posterior alpha. Both share a
spatially correlated 1/f background, eye blinks, 60 Hz mains pickup and electrode offsets,
so the preprocessing has real work to do. Everything derives from one seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lumamba_bench.data.channels import position
from lumamba_bench.files import atomic_path

SOURCE_SFREQ = 250  # Hz, TUH's most common rate: preparation has to resample to 256 Hz.

# TUH 01_tcp_ar channel labels, including the non-EEG channels the real files carry.
EEG_LABELS = [
    "FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8",
    "T3", "T4", "T5", "T6", "A1", "A2", "FZ", "CZ", "PZ",
]  # fmt: skip
EXTRA_LABELS = ["EEG T1-REF", "EEG T2-REF", "EEG EKG1-REF", "PHOTIC-REF"]


def _pink_noise(rng: np.random.Generator, n_channels: int, n_samples: int, exponent: float = 1.0):
    """Gaussian noise with a 1/f^exponent power spectrum, unit variance per channel."""
    spectrum = rng.standard_normal((n_channels, n_samples // 2 + 1)) + 1j * rng.standard_normal(
        (n_channels, n_samples // 2 + 1)
    )
    freqs = np.fft.rfftfreq(n_samples, d=1.0 / SOURCE_SFREQ)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2.0), n=n_samples, axis=1)
    return noise / noise.std(axis=1, keepdims=True)


def _band_noise(rng: np.random.Generator, n_samples: int, low: float, high: float) -> np.ndarray:
    """Unit-variance Gaussian noise band-limited to [low, high] Hz (polymorphic rhythm)."""
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    freqs = np.fft.rfftfreq(n_samples, d=1.0 / SOURCE_SFREQ)
    spectrum[(freqs < low) | (freqs > high)] = 0
    signal = np.fft.irfft(spectrum, n=n_samples)
    return signal / signal.std()


def _slow_envelope(rng: np.random.Generator, n_samples: int, rate_hz: float) -> np.ndarray:
    """A smooth positive envelope in [0, 1] that waxes and wanes at about ``rate_hz``."""
    envelope = _band_noise(rng, n_samples, 0.02, rate_hz)
    return 1.0 / (1.0 + np.exp(-2.0 * envelope))


def synthesize_recording(rng: np.random.Generator, abnormal: bool, duration_s: float) -> np.ndarray:
    """(21, N) referential EEG in microvolts for the labels in ``EEG_LABELS``."""
    n = int(round(duration_s * SOURCE_SFREQ))
    t = np.arange(n) / SOURCE_SFREQ
    pos = np.stack([position(label) for label in EEG_LABELS])
    n_ch = len(EEG_LABELS)

    # Spatially correlated 1/f background (~12 uV): nearby electrodes share activity.
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    mixing = np.linalg.cholesky(np.exp(-dist / 0.06) + 1e-6 * np.eye(n_ch))
    data = 12.0 * (mixing @ _pink_noise(rng, n_ch, n, exponent=rng.uniform(1.1, 1.6)))
    data /= np.sqrt((mixing**2).sum(axis=1))[:, None]

    # Posterior dominant rhythm: strongest at O1/O2, fading frontally (y is posterior-negative).
    posterior = np.clip((-pos[:, 1] + 0.02) / 0.12, 0.0, 1.0) ** 1.5
    pdr_freq = rng.uniform(6.5, 8.0) if abnormal else rng.uniform(9.5, 11.0)
    pdr_amp = rng.uniform(8.0, 15.0) if abnormal else rng.uniform(20.0, 35.0)
    jitter = np.cumsum(rng.normal(0.0, 0.02, n))  # slow phase drift: not a pure sine
    alpha = np.sin(2 * np.pi * pdr_freq * t + jitter) * _slow_envelope(rng, n, 0.3)
    data += pdr_amp * posterior[:, None] * alpha[None]

    if abnormal:
        # Intermittent polymorphic delta (1-3.5 Hz) focused over one temporal region.
        focus = position("T7" if rng.random() < 0.5 else "T8")
        weight = np.exp(-(np.linalg.norm(pos - focus, axis=1) ** 2) / (2 * 0.035**2))
        bursts = _slow_envelope(rng, n, 0.15) ** 2
        delta = rng.uniform(35.0, 55.0) * _band_noise(rng, n, 1.0, 3.5) * bursts
        data += weight[:, None] * delta[None]

    # Eye blinks: ~200 uV, 300 ms, frontopolar, every few seconds.
    frontal = np.clip((pos[:, 1] - 0.05) / 0.04, 0.0, 1.0)
    blink = np.zeros(n)
    for onset in np.cumsum(rng.exponential(4.0, size=int(duration_s / 2) + 2)):
        if onset < duration_s:
            blink += 200.0 * np.exp(-0.5 * ((t - onset) / 0.08) ** 2)
    data += frontal[:, None] * blink[None]

    data += rng.uniform(1.0, 4.0) * np.sin(2 * np.pi * 60.0 * t)[None]  # mains pickup
    data += rng.uniform(-50.0, 50.0, size=(n_ch, 1))  # electrode offsets
    return data


def _write_edf(path: Path, data_uv: np.ndarray, extra: np.ndarray, subject: str) -> None:
    from edfio import Edf, EdfSignal

    signals = [
        EdfSignal(row, SOURCE_SFREQ, label=f"EEG {label}-REF", physical_dimension="uV",
                  physical_range=(-5000.0, 5000.0))
        for label, row in zip(EEG_LABELS, data_uv, strict=False)
    ] + [
        EdfSignal(row, SOURCE_SFREQ, label=label, physical_dimension="uV",
                  physical_range=(-5000.0, 5000.0))
        for label, row in zip(EXTRA_LABELS, extra, strict=False)
    ]  # fmt: skip
    edf = Edf(signals)
    edf.patient = edf.patient.__class__(code=subject)
    with atomic_path(path) as tmp:
        edf.write(tmp)


def subjects(n_train_per_class: int = 12, n_eval_per_class: int = 5):
    """Fixed (split, label, subject id) list of the demo corpus."""
    rows = []
    for split, count in (("train", n_train_per_class), ("eval", n_eval_per_class)):
        for label in ("normal", "abnormal"):
            for _ in range(count):
                rows.append((split, label, f"dm{len(rows):06d}"))
    return rows


def write_demo_corpus(
    root: Path,
    seed: int = 0,
    duration_s: float = 60.0,
    n_train_per_class: int = 12,
    n_eval_per_class: int = 5,
) -> list[Path]:
    """Write the demo corpus under ``root/edf/{train,eval}/{normal,abnormal}/01_tcp_ar/``.

    Existing files are kept (each subject's file is a pure function of the seed and its
    index), so an interrupted write resumes.
    """
    root = Path(root)
    paths = []
    for index, (split, label, subject) in enumerate(subjects(n_train_per_class, n_eval_per_class)):
        folder = root / "edf" / split / label / "01_tcp_ar"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{subject}_s001_t000.edf"
        paths.append(path)
        if path.exists():
            continue
        rng = np.random.default_rng([seed, index])
        data = synthesize_recording(rng, abnormal=label == "abnormal", duration_s=duration_s)
        n = data.shape[1]
        ekg = 400.0 * np.sin(2 * np.pi * 1.1 * np.arange(n) / SOURCE_SFREQ) ** 31  # QRS-like spikes
        extra = np.stack([data[12] * 0.9, data[13] * 0.9, ekg, np.zeros(n)])
        _write_edf(path, data, extra, subject)
    return paths
