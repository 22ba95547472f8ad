"""Recipes on a real recording: PhysioNet EEGMMIDB S001R02 (eyes-closed rest, 64 channels at
160 Hz, BCI2000 labels; see tests/data/NOTICE), placed in the corpora's layouts."""

import shutil
from pathlib import Path

import numpy as np
from helpers import files_by_id

from lumamba_bench.data.montages import TCP_NAMES
from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.data.shards import read_windows

REAL_EDF = Path(__file__).parent.parent / "data" / "S001R02.edf"


def test_tueg_keeps_20_derivations_and_12_windows_with_an_occipital_alpha_peak(tmp_path):
    """No A1/A2 in a 64-channel 10-10 cap: the two ear derivations go, 20 remain (TUEG keeps >= 20);
    61 s at 160 Hz is 15616 samples at 256 Hz, 12 whole 5 s windows; at rest with eyes closed the
    occipital derivations' spectra peak in the alpha band (8-12 Hz)."""
    target = tmp_path / "src/edf/000/aaaaaaaa/s001_2009/01_tcp_ar/aaaaaaaa_s001_t000.edf"
    target.parent.mkdir(parents=True)
    shutil.copy(REAL_EDF, target)
    manifest = prepare(get_recipe("tueg"), tmp_path / "src", tmp_path / "out").manifest
    entry = files_by_id(manifest)["edf/000/aaaaaaaa/s001_2009/01_tcp_ar/aaaaaaaa_s001_t000"]
    assert entry["status"] == "ok" and entry["windows"] == 12 and entry["source_sfreq"] == 160.0
    (montage,) = manifest["montages"]
    channels = manifest["montages"][montage]["channels"]
    assert channels == [n for n in TCP_NAMES if "A1" not in n and "A2" not in n] and len(channels) == 20
    windows = read_windows(tmp_path / "out/shards" / manifest["shards"][0]["file"])["signal"]
    assert windows.shape == (12, 20, 1280)
    occipital = [channels.index(n) for n in ("T5-O1", "T6-O2", "P3-O1", "P4-O2")]
    spectrum = np.abs(np.fft.rfft(windows[:, occipital], axis=-1)) ** 2
    freqs = np.fft.rfftfreq(1280, 1 / 256)
    band = (freqs >= 2) & (freqs <= 30)
    peak = freqs[band][np.argmax(spectrum.mean(axis=(0, 1))[band])]
    assert 8.0 <= peak <= 12.0


def test_tuab_refuses_it_for_its_missing_ear_electrodes(tmp_path):
    target = tmp_path / "src/edf/train/normal/01_tcp_ar/aaaaaaaa_s001_t000.edf"
    target.parent.mkdir(parents=True)
    shutil.copy(REAL_EDF, target)
    target_2 = tmp_path / "src/edf/eval/normal/01_tcp_ar/aaaaaaab_s001_t000.edf"
    target_2.parent.mkdir(parents=True)
    shutil.copy(REAL_EDF, target_2)
    manifest = prepare(get_recipe("tuab"), tmp_path / "src", tmp_path / "out", allow_partial=True).manifest
    for entry in manifest["files"]:
        assert entry["status"] == "skipped"
        assert "missing required channels A1, A2: 20 of 22 bipolar derivations possible, 22 needed" in entry["reason"]
