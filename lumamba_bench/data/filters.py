"""The reference's filters and resampler, computed for all channels at once.

The published LUNA, FEMBA and LuMamba inputs were made by MNE's ``Raw.filter(0.1, 75)``,
``Raw.notch_filter(60)`` and ``Raw.resample(256, npad="auto")`` with their defaults (BioFoundation,
``make_datasets/process_raw_eeg.py``). This module gives the same numbers to float rounding:

- the FIR kernels are MNE's own (``mne.filter.create_filter`` with the arguments those methods
  pass: firwin design, Hamming window, 'auto' lengths and transition bands; the notch is MNE's
  band-stop of width ``freq / 200`` with 1 Hz transitions);
- each kernel is applied zero-phase after MNE's ``reflect_limited`` edge padding of
  ``len(kernel) - 1`` samples, so the edges equal MNE's too;
- resampling is MNE's FFT method: ``reflect_limited`` padding to a power of two, a boxcar
  spectrum window, the Nyquist-bin rule, and the same lengths and trims.

Why not call MNE: it filters one channel at a time in overlap-add blocks and resamples in
float64; here one FFT convolution over all channels does each filter, and the resampling FFTs
run in float32 (see ``fft_resample``): about twice as fast, equal to ~1e-6 of the signal RMS
(``benchmarks/preprocess_vs_mne.py``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft, signal


@lru_cache(maxsize=32)
def bandpass_kernel(sfreq: float, l_freq: float, h_freq: float) -> np.ndarray:
    """MNE's default FIR band-pass kernel (``Raw.filter(l_freq, h_freq)``)."""
    from mne.filter import create_filter

    return create_filter(None, sfreq, l_freq, h_freq, verbose="error")


@lru_cache(maxsize=32)
def notch_kernel(sfreq: float, freq: float) -> np.ndarray:
    """MNE's default FIR notch kernel (``Raw.notch_filter(freq)``): a band-stop whose stop band
    is ``freq / 200`` wide, with 0.5 Hz transitions on both sides."""
    from mne.filter import create_filter

    half_stop, half_transition = freq / 400.0, 0.5
    edges = (freq - half_stop - half_transition, freq + half_stop + half_transition)
    return create_filter(
        None,
        sfreq,
        l_freq=edges[1],
        h_freq=edges[0],  # l_freq > h_freq: MNE designs a band-stop
        l_trans_bandwidth=half_transition,
        h_trans_bandwidth=half_transition,
        verbose="error",
    )


def reflect_limited(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """Pad the last axis by odd reflection about the end samples (``2 x[0] - x[k]``), as MNE's
    ``reflect_limited``: at most ``n - 1`` reflected samples per side, zeros beyond."""
    n = x.shape[-1]
    k_before, k_after = min(before, n - 1), min(after, n - 1)
    zeros = x.shape[:-1]
    return np.concatenate(
        [
            np.zeros(zeros + (before - k_before,)),
            2 * x[..., :1] - x[..., 1 : k_before + 1][..., ::-1],
            x,
            2 * x[..., -1:] - x[..., n - 1 - k_after : n - 1][..., ::-1],
            np.zeros(zeros + (after - k_after,)),
        ],
        axis=-1,
    )


def fir_zero_phase(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Apply a symmetric (linear-phase) kernel along the last axis with its delay removed, after
    ``len(kernel) - 1`` samples of ``reflect_limited`` padding per side (MNE's ``phase='zero'``)."""
    n, taps = x.shape[-1], len(kernel)
    edge = max(min(taps, n) - 1, 0)
    padded = reflect_limited(x, edge, edge)
    full = signal.fftconvolve(padded, kernel[None, :] if x.ndim == 2 else kernel, mode="full", axes=-1)
    start = (taps - 1) // 2 + edge
    return full[..., start : start + n]


def _fft_pads(n: int) -> tuple[int, int]:
    """MNE's ``npad='auto'``: pad to the next power of two, with at least min(n // 8, 100) samples
    per side; the odd sample goes at the end."""
    total = 2 ** int(np.ceil(np.log2(n + min(n // 8, 100) * 2))) - n
    return total // 2, total // 2 + total % 2


def resampled_length(n: int, from_sfreq: float, to_sfreq: float) -> int:
    return max(int(round(to_sfreq / from_sfreq * n)), 1)


def fft_resample(x: np.ndarray, from_sfreq: float, to_sfreq: float) -> np.ndarray:
    """Resample along the last axis as MNE's ``resample(method='fft', npad='auto')``.

    The transforms run in single precision: the output length MNE's padding fixes is rarely a
    fast FFT size (536871 = 3 x 67 x 2671 for 20 min at 250 Hz), and there float32 is ~3x faster.
    The input is already band-passed (no DC offset to swamp the mantissa), so the result differs
    from MNE's float64 by ~1e-6 of the signal's RMS, the order of the float32 shards' own rounding.
    """
    if from_sfreq == to_sfreq:
        return x
    ratio = to_sfreq / from_sfreq
    n = x.shape[-1]
    final_len = resampled_length(n, from_sfreq, to_sfreq)
    pads = _fft_pads(n)
    padded_len = n + sum(pads)
    new_len = max(int(round(ratio * padded_len)), 1)
    trim_start = int(round(ratio * pads[0]))
    spectrum = fft.rfft(reflect_limited(np.asarray(x, np.float64), *pads).astype(np.float32), axis=-1)
    kept = min(new_len, padded_len)
    if kept % 2 == 0:  # the Nyquist bin of the shorter length holds both signs' halves
        spectrum[..., kept // 2] *= 2.0 if new_len < padded_len else 0.5
    spectrum *= np.float32(new_len / padded_len)
    out = fft.irfft(spectrum, new_len, axis=-1)
    return out[..., trim_start : trim_start + final_len].astype(np.float64)
