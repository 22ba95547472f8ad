"""The synthetic demo corpora, written as real EDF files in the TUH layouts.

Why synthetic: the real corpora are licensed. The demo makes every command run on a fresh
machine, and it is built so that what the benchmark measures can show on it:

- The label is subtle and spatially localised. "Abnormal" recordings carry intermittent focal
  theta (4.5-7 Hz) over a few neighbouring electrodes around a focus that differs from subject
  to subject, at 14-22 uV peak, waxing and waning (a 5 s window may hold little of it): at the
  focus, its power is below or about the background's in 0.5-40 Hz (median ratio 0.6) but
  several times the background's theta (median 8). Everything else is shared
  by both classes and varies across subjects far more than the label does: a spatially
  correlated 1/f background, a posterior alpha rhythm, diffuse frontal theta (so theta power
  alone does not give the label away), muscle bursts, eye blinks, 60 Hz mains pickup and
  electrode offsets, so the preprocessing has real work to do.
- There is a large unlabelled part (``write_demo_pretrain_corpus``, TUEG layout, ~half of its
  subjects with a focus, labels not written) and a small labelled part (``write_demo_corpus``,
  TUAB layout). Their subjects are disjoint.

Everything derives from one seed; each file is a pure function of the seed and its index.
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
# Where a focus may sit: the lateral electrodes (every one is seen by both test montages).
FOCUS_SITES = ("F7", "F8", "T3", "T4", "T5", "T6", "F3", "F4", "C3", "C4", "P3", "P4")
# Peak amplitude range of the focal rhythm at its focus. Chosen by measurement (README, "The demo's
# numbers"): 6-10 uV left scratch LuMamba near chance (0.62 AUROC), 10-16 uV at 0.755, 14-22 uV
# at 0.84: learnable in the Quick start's budget, not solved at once.
FOCAL_THETA_UV = (14.0, 22.0)
GENERATOR_VERSION = 3  # in the generated corpora's folder names: files of another version are not reused
FOCAL_SPREAD_M = 0.03  # Gaussian radius of the focus: ~2-3 electrodes
UNLABELLED_FOCUS_SHARE = 0.5  # share of pre-training subjects with a focus
BACKGROUND_SOURCES = 6  # broad cortical sources behind the background
SENSOR_NOISE_UV = 2.0  # independent noise per electrode


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
    """Unit-variance Gaussian noise band-limited to [low, high] Hz (a polymorphic rhythm)."""
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    freqs = np.fft.rfftfreq(n_samples, d=1.0 / SOURCE_SFREQ)
    spectrum[(freqs < low) | (freqs > high)] = 0
    signal = np.fft.irfft(spectrum, n=n_samples)
    return signal / signal.std()


def _slow_envelope(rng: np.random.Generator, n_samples: int, rate_hz: float) -> np.ndarray:
    """A smooth positive envelope in [0, 1] that waxes and wanes at about ``rate_hz``."""
    envelope = _band_noise(rng, n_samples, 0.02, rate_hz)
    return 1.0 / (1.0 + np.exp(-2.0 * envelope))


def _rhythm(rng: np.random.Generator, t: np.ndarray, freq: float) -> np.ndarray:
    """A rhythm near ``freq`` with a slowly drifting phase (not a pure sine)."""
    return np.sin(2 * np.pi * freq * t + np.cumsum(rng.normal(0.0, 0.03, len(t))))


def synthesize_recording(rng: np.random.Generator, abnormal: bool, duration_s: float) -> np.ndarray:
    """(21, N) referential EEG in microvolts for the labels in ``EEG_LABELS``."""
    n = int(round(duration_s * SOURCE_SFREQ))
    t = np.arange(n) / SOURCE_SFREQ
    pos = np.stack([position(label) for label in EEG_LABELS])
    n_ch = len(EEG_LABELS)
    focal_rng = np.random.default_rng(rng.integers(2**63))  # its own stream: the rest is the same either way

    # Background: a few broad cortical sources with 1/f time courses, mixed into the electrodes
    # by volume conduction (a smooth lead field), plus a little independent sensor noise. Real
    # scalp EEG is such a low-rank mixture, which is what lets a masked channel be predicted
    # from the others.
    sources = pos[rng.choice(n_ch, BACKGROUND_SOURCES, replace=False)] + rng.normal(0.0, 0.01, (BACKGROUND_SOURCES, 3))
    lead = np.exp(-(np.linalg.norm(pos[:, None] - sources[None], axis=-1) ** 2) / (2 * 0.05**2))
    background = lead @ _pink_noise(rng, BACKGROUND_SOURCES, n, exponent=rng.uniform(1.1, 1.6))
    background /= background.std(axis=1, keepdims=True)
    data = rng.uniform(10.0, 16.0) * background + SENSOR_NOISE_UV * _pink_noise(rng, n_ch, n, exponent=0.5)

    # Posterior alpha (both classes): strongest at O1/O2, fading frontally (y is posterior-negative).
    posterior = np.clip((-pos[:, 1] + 0.02) / 0.12, 0.0, 1.0) ** 1.5
    alpha = _rhythm(rng, t, rng.uniform(8.0, 12.0)) * _slow_envelope(rng, n, 0.3)
    data += rng.uniform(8.0, 35.0) * posterior[:, None] * alpha[None]

    # Diffuse frontal theta (both classes, drowsiness): theta power alone does not tell the label.
    frontal_midline = np.exp(-(np.linalg.norm(pos - position("FZ"), axis=1) ** 2) / (2 * 0.06**2))
    theta = _band_noise(rng, n, 4.5, 7.0) * _slow_envelope(rng, n, 0.1)
    data += rng.uniform(0.0, 8.0) * frontal_midline[:, None] * theta[None]

    # Muscle bursts (20-70 Hz) over the temporal electrodes, a few per minute.
    temporal_sites = ("T3", "T4", "T5", "T6", "F7", "F8", "A1", "A2")
    temporal = np.array([1.0 if label in temporal_sites else 0.1 for label in EEG_LABELS])
    muscle = _band_noise(rng, n, 20.0, 70.0) * _slow_envelope(rng, n, 0.5) ** 6
    data += rng.uniform(5.0, 30.0) * temporal[:, None] * muscle[None]

    # Eye blinks: ~200 uV, 300 ms, frontopolar, every few seconds.
    frontal = np.clip((pos[:, 1] - 0.05) / 0.04, 0.0, 1.0)
    blink = np.zeros(n)
    for onset in np.cumsum(rng.exponential(4.0, size=int(duration_s / 2) + 2)):
        if onset < duration_s:
            blink += 200.0 * np.exp(-0.5 * ((t - onset) / 0.08) ** 2)
    data += frontal[:, None] * blink[None]

    data += rng.uniform(1.0, 4.0) * np.sin(2 * np.pi * 60.0 * t)[None]  # mains pickup
    data += rng.uniform(-50.0, 50.0, size=(n_ch, 1))  # electrode offsets
    if abnormal:
        data += focal_theta(focal_rng, pos, t)
    return data


def focal_theta(rng: np.random.Generator, pos: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The label: intermittent theta around one lateral electrode, about the background's
    broadband level, (21, N) microvolts at electrode positions ``pos`` and times ``t``."""
    focus = position(FOCUS_SITES[rng.integers(len(FOCUS_SITES))])
    weight = np.exp(-(np.linalg.norm(pos - focus, axis=1) ** 2) / (2 * FOCAL_SPREAD_M**2))
    bursts = _slow_envelope(rng, len(t), 0.2)
    focal = rng.uniform(*FOCAL_THETA_UV) * _rhythm(rng, t, rng.uniform(4.5, 7.0)) * bursts
    return weight[:, None] * focal[None]


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


def _write_recording(path: Path, rng: np.random.Generator, abnormal: bool, duration_s: float, subject: str) -> None:
    data = synthesize_recording(rng, abnormal=abnormal, duration_s=duration_s)
    n = data.shape[1]
    ekg = 400.0 * np.sin(2 * np.pi * 1.1 * np.arange(n) / SOURCE_SFREQ) ** 31  # QRS-like spikes
    extra = np.stack([data[12] * 0.9, data[13] * 0.9, ekg, np.zeros(n)])
    _write_edf(path, data, extra, subject)


def subjects(n_train_per_class: int = 8, n_eval_per_class: int = 6):
    """Fixed (split, label, subject id) list of the labelled demo corpus."""
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
    n_train_per_class: int = 8,
    n_eval_per_class: int = 6,
) -> list[Path]:
    """The small labelled part, under ``root/edf/{train,eval}/{normal,abnormal}/01_tcp_ar/``.

    Existing files are kept, so an interrupted write resumes."""
    root = Path(root)
    paths = []
    for index, (split, label, subject) in enumerate(subjects(n_train_per_class, n_eval_per_class)):
        folder = root / "edf" / split / label / "01_tcp_ar"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{subject}_s001_t000.edf"
        paths.append(path)
        if not path.exists():
            _write_recording(path, np.random.default_rng([seed, index]), label == "abnormal", duration_s, subject)
    return paths


def write_demo_pretrain_corpus(root: Path, seed: int = 0, duration_s: float = 60.0, n_subjects: int = 96) -> list[Path]:
    """The large unlabelled part, in the TUEG layout
    (``root/edf/000/dp000000/s001_2026/01_tcp_ar/dp000000_s001_t000.edf``); whether a subject
    has a focus is drawn from the seed and written nowhere. Existing files are kept."""
    root = Path(root)
    paths = []
    for index in range(n_subjects):
        subject = f"dp{index:06d}"
        folder = root / "edf" / f"{index // 100:03d}" / subject / "s001_2026" / "01_tcp_ar"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{subject}_s001_t000.edf"
        paths.append(path)
        if not path.exists():
            rng = np.random.default_rng([seed, 1_000_000 + index])  # streams disjoint from the labelled part's
            abnormal = bool(rng.random() < UNLABELLED_FOCUS_SHARE)
            _write_recording(path, rng, abnormal, duration_s, subject)
    return paths
