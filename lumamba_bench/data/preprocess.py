"""Signal pipeline: resample, filter, window and validate one recording.

Order matters for correctness: non-finite samples are found first and zeroed (a NaN would
otherwise spread over the whole recording through the filters); the windows that touched them
are dropped at the end. Flat windows are judged on the resampled but unfiltered signal, where
a dead channel is constant (standard deviation, not peak-to-peak, so that the resampler's
ringing at the edge of a dead stretch does not rescue it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy import signal as sps

from lumamba_bench.errors import RecordingError


@dataclass(frozen=True)
class Preprocessing:
    """Everything that decides the numbers in a shard; recorded in the manifest."""

    sfreq: float = 256.0
    l_freq: float = 0.1
    h_freq: float = 75.0
    notch_freq: float | None = 60.0
    notch_q: float = 30.0
    filter_order: int = 4  # Butterworth; applied forward and backward (zero-phase, order 8)
    window_s: float = 5.0
    stride_s: float | None = None  # None: windows do not overlap
    flat_uv: float = 0.5  # a channel whose standard deviation in a window is below this is flat
    units: str = "uV"

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.sfreq))

    @property
    def stride_samples(self) -> int:
        return int(round((self.stride_s or self.window_s) * self.sfreq))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Windows:
    """The kept windows of one recording and how many were dropped, by reason."""

    signal: np.ndarray  # (n, C, W) float32 microvolts
    start_s: np.ndarray  # (n,) float32 seconds from the start of the recording
    dropped_nonfinite: int = 0
    dropped_flat: int = 0


@lru_cache(maxsize=16)
def filter_sos(p: Preprocessing) -> np.ndarray:
    """Second-order sections of band-pass (+ notch) at the output rate."""
    sections = [sps.butter(p.filter_order, [p.l_freq, p.h_freq], btype="bandpass", fs=p.sfreq, output="sos")]
    if p.notch_freq is not None:
        b, a = sps.iirnotch(p.notch_freq, p.notch_q, fs=p.sfreq)
        sections.append(sps.tf2sos(b, a))
    return np.vstack(sections)


def resample(data: np.ndarray, from_sfreq: float, to_sfreq: float) -> np.ndarray:
    """Polyphase resampling along the last axis (anti-aliased by ``resample_poly``'s FIR)."""
    if from_sfreq == to_sfreq:
        return data
    ratio = Fraction(to_sfreq / from_sfreq).limit_denominator(1000)
    if abs(float(ratio) - to_sfreq / from_sfreq) > 1e-6:
        raise RecordingError(f"cannot resample {from_sfreq} Hz to {to_sfreq} Hz with a rational ratio")
    out = sps.resample_poly(data, ratio.numerator, ratio.denominator, axis=-1)
    return out.astype(np.float32, copy=False)


def bandpass_notch(data: np.ndarray, p: Preprocessing) -> np.ndarray:
    """Zero-phase band-pass and notch (one cascade of sections, forward and backward).

    Runs in float64: the 0.1 Hz high-pass has poles within 0.3% of the unit circle, and a
    float32 recursion there drifts by ~0.03 uV (measured), float64 by ~1e-10.
    """
    if data.shape[-1] <= 3 * (2 * len(filter_sos(p)) + 1):
        raise RecordingError(f"recording too short to filter ({data.shape[-1]} samples)")
    return sps.sosfiltfilt(filter_sos(p), data.astype(np.float64), axis=-1).astype(np.float32)


def _window_view(data: np.ndarray, size: int, stride: int) -> np.ndarray:
    """(C, N) -> (n, C, size) strided view, no copy."""
    view = np.lib.stride_tricks.sliding_window_view(data, size, axis=-1)[:, ::stride]
    return view.transpose(1, 0, 2)


def process(data: np.ndarray, sfreq: float, p: Preprocessing) -> Windows:
    """(C, N) microvolts at ``sfreq`` -> validated (n, C, W) windows at ``p.sfreq``."""
    if sfreq < 2 * p.h_freq:
        raise RecordingError(
            f"sampled at {sfreq:g} Hz, below twice the band's upper edge ({p.h_freq:g} Hz): it cannot hold the band"
        )
    data = np.asarray(data, dtype=np.float32)
    finite = np.isfinite(data).all(axis=0)
    if not finite.all():
        data = np.where(finite[None], data, np.float32(0.0))
    data = resample(data, sfreq, p.sfreq)
    size, stride = p.window_samples, p.stride_samples
    n_windows = (data.shape[-1] - size) // stride + 1 if data.shape[-1] >= size else 0
    if n_windows == 0:
        return Windows(np.zeros((0, data.shape[0], size), np.float32), np.zeros(0, np.float32))
    starts = np.arange(n_windows) * stride

    raw_windows = _window_view(data, size, stride)[:n_windows]
    flat = (raw_windows.std(axis=-1) < p.flat_uv).any(axis=-1)
    bad_time = np.zeros(n_windows, dtype=bool)
    if not finite.all():
        # A window is bad if it overlaps any non-finite input sample (mapped to output time).
        bad = np.zeros(data.shape[-1], dtype=np.int64)
        bad[np.minimum((np.flatnonzero(~finite) * (p.sfreq / sfreq)).astype(int), len(bad) - 1)] = 1
        count = np.concatenate([[0], np.cumsum(bad)])
        bad_time = count[starts + size] - count[starts] > 0
    keep = ~(flat | bad_time)

    filtered = bandpass_notch(data, p)
    windows = _window_view(filtered, size, stride)[:n_windows][keep]
    return Windows(
        signal=np.ascontiguousarray(windows, dtype=np.float32),
        start_s=(starts[keep] / p.sfreq).astype(np.float32),
        dropped_nonfinite=int((bad_time & ~flat).sum()),
        dropped_flat=int(flat.sum()),
    )
