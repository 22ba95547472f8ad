"""Signal pipeline: filter, resample, window and validate one recording.

The order and the filters are the reference's (BioFoundation ``process_raw_eeg.py``): MNE's FIR
band-pass 0.1-75 Hz and 60 Hz notch at the recording's own rate, then MNE's FFT resampling to
256 Hz (``lumamba_bench.data.filters`` computes them, equal to MNE to float rounding, edges
included). Then non-overlapping windows from the start, as the reference cuts them.

What the reference does not do, and we add: non-finite samples are found first and zeroed (a NaN
would otherwise spread over the whole recording through the filters) and the windows that touched
them are dropped; a window where a channel is flat (standard deviation below ``flat_uv`` in the
unfiltered signal, where a dead channel is constant) is dropped. Both are counted in the manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from lumamba_bench.data.filters import bandpass_kernel, fft_resample, fir_zero_phase, notch_kernel, resampled_length
from lumamba_bench.errors import RecordingError

SFREQ = 256.0  # Hz: the rate of every prepared window, and the one every encoder here takes
# Bump PIPELINE when the numbers a given recording produces change; recorded in the manifest, and
# a data root prepared by another pipeline is refused rather than mixed.
PIPELINE = "mne-fir-then-fft-resample/2"


@dataclass(frozen=True)
class Preprocessing:
    """Everything that decides the numbers in a shard; recorded in the manifest."""

    sfreq: float = SFREQ
    l_freq: float = 0.1
    h_freq: float = 75.0
    notch_freq: float | None = 60.0
    window_s: float = 5.0
    stride_s: float | None = None  # None: windows do not overlap
    flat_uv: float = 0.5  # a channel whose standard deviation in a window is below this is flat
    units: str = "uV"
    pipeline: str = PIPELINE

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


def filter_and_resample(data: np.ndarray, sfreq: float, p: Preprocessing) -> np.ndarray:
    """(C, N) at ``sfreq`` -> (C, M) float64 at ``p.sfreq``: band-pass, notch, resample (MNE's)."""
    out = fir_zero_phase(np.asarray(data, np.float64), bandpass_kernel(float(sfreq), p.l_freq, p.h_freq))
    if p.notch_freq is not None:
        out = fir_zero_phase(out, notch_kernel(float(sfreq), p.notch_freq))
    return fft_resample(out, float(sfreq), p.sfreq)


def _window_view(data: np.ndarray, size: int, stride: int) -> np.ndarray:
    """(C, N) -> (n, C, size) strided view, no copy."""
    view = np.lib.stride_tricks.sliding_window_view(data, size, axis=-1)[:, ::stride]
    return view.transpose(1, 0, 2)


def _native_spans(
    starts: np.ndarray, size: int, sfreq: float, p: Preprocessing, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last input sample (at ``sfreq``) that each output window covers."""
    ratio = sfreq / p.sfreq
    begin = np.floor(starts * ratio).astype(np.int64)
    end = np.minimum(np.ceil((starts + size) * ratio).astype(np.int64), n)
    return begin, end


def process(data: np.ndarray, sfreq: float, p: Preprocessing) -> Windows:
    """(C, N) microvolts at ``sfreq`` -> validated (n, C, W) windows at ``p.sfreq``."""
    if sfreq <= 2 * p.h_freq:
        raise RecordingError(
            f"sampled at {sfreq:g} Hz, not above twice the band's upper edge ({p.h_freq:g} Hz): it cannot hold the band"
        )
    data = np.asarray(data, dtype=np.float32)
    finite = np.isfinite(data).all(axis=0)
    if not finite.all():
        data = np.where(finite[None], data, np.float32(0.0))
    size, stride = p.window_samples, p.stride_samples
    n_out = resampled_length(data.shape[-1], sfreq, p.sfreq) if sfreq != p.sfreq else data.shape[-1]
    n_windows = (n_out - size) // stride + 1 if n_out >= size else 0
    if n_windows == 0:
        return Windows(np.zeros((0, data.shape[0], size), np.float32), np.zeros(0, np.float32))
    starts = np.arange(n_windows) * stride

    begin, end = _native_spans(starts, size, sfreq, p, data.shape[-1])
    flat = np.array([(data[:, b:e].std(axis=-1) < p.flat_uv).any() for b, e in zip(begin, end, strict=True)])
    bad_time = np.zeros(n_windows, dtype=bool)
    if not finite.all():  # a window is bad if its input stretch holds a non-finite sample
        count = np.concatenate([[0], np.cumsum(~finite)])
        bad_time = count[end] > count[begin]
    keep = ~(flat | bad_time)

    filtered = filter_and_resample(data, sfreq, p)
    windows = _window_view(filtered, size, stride)[:n_windows][keep]
    return Windows(
        signal=np.ascontiguousarray(windows, dtype=np.float32),
        start_s=(starts[keep] / p.sfreq).astype(np.float32),
        dropped_nonfinite=int((bad_time & ~flat).sum()),
        dropped_flat=int(flat.sum()),
    )
