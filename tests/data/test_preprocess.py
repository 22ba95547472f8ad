"""The signal pipeline against MNE, the reference's own tools (BioFoundation prepares the
published models' inputs with ``Raw.filter(0.1, 75)``, ``Raw.notch_filter(60)`` and
``Raw.resample(256, npad="auto")``), on real EEG and on signals with known spectra."""

from pathlib import Path

import mne
import numpy as np
import pytest

from lumamba_bench.data.edf import read_edf
from lumamba_bench.data.filters import fft_resample, reflect_limited
from lumamba_bench.data.preprocess import Preprocessing, filter_and_resample, process

P = Preprocessing()
REAL_EDF = Path(__file__).parent / "S001R02.edf"  # PhysioNet EEGMMIDB, see NOTICE


def _mne_reference(data: np.ndarray, sfreq: float, notch: float | None = 60.0) -> np.ndarray:
    """What the reference's preprocessing does to (C, N) microvolts: MNE Raw methods, defaults."""
    raw = mne.io.RawArray(data.astype(np.float64) * 1e-6, mne.create_info(len(data), sfreq, "eeg"), verbose="error")
    raw.filter(l_freq=0.1, h_freq=75.0, verbose="error")
    if notch is not None:
        raw.notch_filter(notch, verbose="error")
    if int(sfreq) != 256:
        raw.resample(256, npad="auto", verbose="error")
    return raw.get_data() * 1e6


def test_real_eeg_equals_the_reference_preprocessing_edges_included():
    """S001R02 (64 channels, 160 Hz, 61 s): every sample, the first and last ones included, to the
    float32 rounding of the resampling FFTs (~1e-6 of the signal RMS; the shards are float32)."""
    recording = read_edf(REAL_EDF)
    ours = filter_and_resample(recording.data, recording.sfreq, P)
    expected = _mne_reference(recording.data, recording.sfreq)
    assert ours.shape == expected.shape == (64, 15616)
    scale = np.sqrt(np.mean(expected**2))
    assert np.abs(ours - expected).max() < 1e-5 * scale
    correlation = [np.corrcoef(a, b)[0, 1] for a, b in zip(ours, expected, strict=True)]
    assert np.median(correlation) > 0.999999


@pytest.mark.parametrize("rate, seconds", [(250.0, 47.3), (256.0, 40.0), (512.0, 31.0), (200.0, 12.0), (400.0, 7.0)])
def test_every_rate_equals_mne(rate, seconds):
    """Up- and down-sampling, no resampling at 256 Hz, and recordings shorter than the 33 s band-pass
    kernel (MNE pads them with zeros beyond one reflection; so must we)."""
    rng = np.random.default_rng(int(rate))
    data = np.cumsum(rng.standard_normal((3, int(seconds * rate))), axis=1) + 40 * rng.standard_normal((3, 1))
    ours = filter_and_resample(data, rate, P)
    expected = _mne_reference(data, rate)
    np.testing.assert_allclose(ours, expected, atol=(1e-12 if rate == 256 else 1e-5) * np.abs(expected).max())


def test_no_notch_and_a_50_hz_notch_equal_mne():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((2, 250 * 30))
    np.testing.assert_allclose(
        filter_and_resample(data, 250.0, Preprocessing(notch_freq=None)), _mne_reference(data, 250.0, None), atol=1e-5
    )
    np.testing.assert_allclose(
        filter_and_resample(data, 250.0, Preprocessing(notch_freq=50.0)), _mne_reference(data, 250.0, 50.0), atol=1e-5
    )


@pytest.mark.parametrize("n, before, after", [(1, 3, 2), (2, 5, 0), (6, 2, 9), (30, 29, 31)])
def test_edge_padding_equals_mnes(n, before, after):
    from mne.cuda import _smart_pad

    x = np.random.default_rng(n).standard_normal((2, n))
    np.testing.assert_array_equal(reflect_limited(x, before, after), _smart_pad(x, np.array([before, after])))


def test_windows_are_the_references_windows():
    """The reference cuts n // 1280 windows from the start of the preprocessed signal."""
    recording = read_edf(REAL_EDF)
    windows = process(recording.data, recording.sfreq, P)
    expected = _mne_reference(recording.data, recording.sfreq)
    assert windows.signal.shape == (12, 64, 1280)
    for i, start in enumerate((windows.start_s * 256).astype(int)):
        np.testing.assert_allclose(windows.signal[i], expected[:, start : start + 1280], atol=2e-4)


def _gain(freq: float, rate: float = 256.0, p: Preprocessing = P) -> float:
    """Measured steady-state amplitude ratio at one frequency."""
    t = np.arange(int(200 * rate)) / rate
    y = filter_and_resample(np.sin(2 * np.pi * freq * t)[None], rate, p)[0]
    middle = slice(len(y) // 4, 3 * len(y) // 4)
    return float(y[middle].std() / np.sqrt(0.5))


@pytest.mark.parametrize("freq", [0.3, 1.0, 10.0, 30.0, 50.0, 59.0, 61.0, 70.0, 75.0])
@pytest.mark.parametrize("rate", [250.0, 256.0])
def test_passband_is_flat_up_to_the_band_edges(freq, rate):
    assert _gain(freq, rate) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("freq, max_gain", [(60.0, 0.01), (0.01, 0.03), (110.0, 0.01)])
def test_stopbands_attenuate(freq, max_gain):
    assert _gain(freq) < max_gain


def test_notch_follows_the_mains_setting():
    european = Preprocessing(notch_freq=50.0)
    assert _gain(50.0, p=european) < 0.01 and _gain(60.0, p=european) > 0.99


@pytest.mark.parametrize("rate, n", [(250.0, 2500), (512.0, 5120), (200.0, 2001), (160.0, 9760), (500.0, 999)])
def test_resample_length_is_mnes(rate, n):
    out = fft_resample(np.zeros((3, n)), rate, 256.0)
    assert out.shape == (3, int(round(n * 256.0 / rate)))


def _eeg(seconds: float, channels: int = 4, rate: float = 256.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (20 * rng.standard_normal((channels, int(seconds * rate)))).astype(np.float32)


def test_windowing_counts_and_starts():
    windows = process(_eeg(23.0), 256.0, P)  # 4 whole 5 s windows, the tail dropped
    assert windows.signal.shape == (4, 4, 1280)
    np.testing.assert_array_equal(windows.start_s, [0, 5, 10, 15])
    overlapping = process(_eeg(23.0), 256.0, Preprocessing(stride_s=2.5))
    np.testing.assert_array_equal(overlapping.start_s, [0, 2.5, 5, 7.5, 10, 12.5, 15, 17.5])


def test_windows_with_nan_or_inf_are_dropped_and_counted():
    data = _eeg(30.0)
    data[1, int(6 * 256) : int(7 * 256)] = np.nan  # inside window 1
    data[2, int(21 * 256)] = np.inf  # inside window 4
    windows = process(data, 256.0, P)
    np.testing.assert_array_equal(windows.start_s, [0, 10, 15, 25])
    assert windows.dropped_nonfinite == 2 and windows.dropped_flat == 0
    assert np.isfinite(windows.signal).all()


def test_flat_windows_are_dropped_and_counted():
    data = _eeg(30.0)
    data[3, int(10 * 256) :] = 7.0  # a dead electrode from 10 s on: windows 2..5
    windows = process(data, 256.0, P)
    np.testing.assert_array_equal(windows.start_s, [0, 5])
    assert windows.dropped_flat == 4


def test_short_recording_gives_no_windows():
    assert len(process(_eeg(3.0), 256.0, P).signal) == 0
