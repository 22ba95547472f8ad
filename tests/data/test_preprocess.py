import numpy as np
import pytest
from scipy import signal as sps

from lumamba_bench.data.preprocess import Preprocessing, bandpass_notch, filter_sos, process, resample

P = Preprocessing()


def _gain(freq: float, p: Preprocessing = P) -> float:
    """Measured steady-state amplitude ratio of the zero-phase filter at one frequency."""
    t = np.arange(int(120 * p.sfreq)) / p.sfreq
    x = np.sin(2 * np.pi * freq * t).astype(np.float32)[None]
    y = bandpass_notch(x, p)[0]
    middle = slice(len(t) // 4, 3 * len(t) // 4)
    return float(y[middle].std() / x[0, middle].std())


@pytest.mark.parametrize("freq", [1.0, 10.0, 30.0, 50.0])
def test_passband_is_flat(freq):
    assert _gain(freq) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("freq, max_gain", [(60.0, 0.01), (0.01, 0.02), (110.0, 0.02)])
def test_stopbands_attenuate(freq, max_gain):
    assert _gain(freq) < max_gain


def test_filter_is_zero_phase():
    t = np.arange(int(60 * P.sfreq)) / P.sfreq
    x = np.sin(2 * np.pi * 7.0 * t).astype(np.float32)[None]
    y = bandpass_notch(x, P)[0]
    middle = slice(len(t) // 4, 3 * len(t) // 4)
    lag = np.argmax(sps.correlate(y[middle], x[0, middle], mode="same")) - len(t[middle]) // 2
    assert lag == 0


def test_notch_follows_the_mains_setting():
    european = Preprocessing(notch_freq=50.0)
    # 60 Hz is near the 75 Hz low-pass edge: only the band-pass shapes it there.
    assert _gain(50.0, european) < 0.01 and _gain(60.0, european) > 0.9
    assert len(filter_sos(Preprocessing(notch_freq=None))) == len(filter_sos(P)) - 1


@pytest.mark.parametrize("rate, n", [(250.0, 2500), (512.0, 5120), (200.0, 2001), (256.0, 1000), (500.0, 999)])
def test_resample_length(rate, n):
    out = resample(np.zeros((3, n), np.float32), rate, 256.0)
    assert out.shape == (3, int(np.ceil(n * 256.0 / rate)))
    assert out.dtype == np.float32


def test_resample_keeps_a_sine():
    t = np.arange(5000) / 250.0
    out = resample(np.sin(2 * np.pi * 5 * t)[None], 250.0, 256.0)[0]
    expected = np.sin(2 * np.pi * 5 * np.arange(len(out)) / 256.0)
    np.testing.assert_allclose(out[200:-200], expected[200:-200], atol=1e-3)


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


def test_a_recording_exactly_as_long_as_the_filter_padding_is_refused_clearly():
    """The zero-phase filter pads 3 x (2 x sections + 1) samples; a recording that short cannot be
    filtered and is a RecordingError naming its length, one sample longer is filtered."""
    import re

    from lumamba_bench.errors import RecordingError

    p = Preprocessing()
    padding = 3 * (2 * len(filter_sos(p)) + 1)
    with pytest.raises(RecordingError, match=re.escape(f"too short to filter ({padding} samples)")):
        bandpass_notch(np.zeros((2, padding), np.float32), p)
    assert bandpass_notch(np.zeros((2, padding + 1), np.float32), p).shape == (2, padding + 1)


@pytest.mark.parametrize("rate", [1.0, 100.0, 149.0])
def test_rates_that_cannot_hold_the_band_are_refused_with_the_rate(rate):
    from lumamba_bench.errors import RecordingError

    with pytest.raises(RecordingError, match=f"sampled at {rate:g} Hz, below twice the band's upper edge"):
        process(np.random.default_rng(0).standard_normal((2, 10_000)).astype(np.float32), rate, Preprocessing())
    assert process(np.zeros((2, 3000), np.float32), 150.0, Preprocessing()) is not None
