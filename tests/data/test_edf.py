from pathlib import Path

import numpy as np
import pyedflib
import pytest
from corpora import tuh_signals, write_labelled_edf, write_tuh_edf

from lumamba_bench.data.edf import read_edf

SHIPPED = Path(pyedflib.__file__).parent / "tests" / "data"
REAL_EDF = Path(__file__).parent / "S001R02.edf"  # PhysioNet EEGMMIDB, see NOTICE


def test_real_eeg_with_bci2000_labels_equals_mne():
    """S001R02's labels are dot-padded (``Fp1.``, ``Cz..``): all 64 are electrodes, read as MNE reads
    them, and the old temporal names of the TCP montage find the new ones."""
    import mne

    recording = read_edf(REAL_EDF)
    reference = mne.io.read_raw_edf(REAL_EDF, preload=True, verbose="error")
    assert recording.sfreq == 160.0 and recording.ch_names == reference.ch_names
    np.testing.assert_allclose(recording.data, reference.get_data(units="uV"), atol=1e-4)
    tcp = read_edf(REAL_EDF, channels=["T3", "T4", "T5", "T6", "Fp1"])
    assert tcp.ch_names == ["Fp1.", "T7..", "T8..", "P7..", "P8.."]  # in file order


@pytest.mark.parametrize("name", ["test_generator.edf", "test_legacy.edf"])
def test_shipped_edf_matches_pyedflib(name):
    """Real EDF files that pyedflib ships, checked against pyedflib's own reader."""
    path = SHIPPED / name
    with pyedflib.EdfReader(str(path)) as reference:
        rate = reference.getSampleFrequency(0)
        same_rate = [i for i in range(reference.signals_in_file) if reference.getSampleFrequency(i) == rate]
        labels = [reference.getLabel(i) for i in same_rate]
        expected = np.stack([reference.readSignal(i) for i in same_rate])
    ours = read_edf(path, labels=labels)
    assert ours.sfreq == rate
    assert ours.data.dtype == np.float32 and ours.data.shape == expected.shape
    np.testing.assert_allclose(ours.data, expected, atol=1e-3)


def test_tuh_labels_are_picked_by_canonical_name(tmp_path):
    data = tuh_signals(10, 250, seed=0)
    path = write_tuh_edf(tmp_path / "a.edf", data, 250)
    rec = read_edf(path, channels=["Fp1", "T7", "Cz"])
    assert rec.ch_names == ["EEG FP1-REF", "EEG T3-REF", "EEG CZ-REF"]
    np.testing.assert_allclose(rec.data[1], data[12], atol=0.1)  # T3 is the 13th electrode
    everything = read_edf(path)
    assert len(everything.ch_names) == 21  # EKG, photic and IBI are not EEG


@pytest.mark.parametrize("physical", [(-5.0, 5.0), (0.0, 10.0), (-1.0, 9.0)])
def test_millivolt_files_are_converted_to_microvolts(tmp_path, physical):
    """Gain and offset both converted: an asymmetric physical range has a 4-5 mV offset, which
    must arrive as microvolts too. Checked against MNE's reader (units="uV")."""
    import mne

    path = tmp_path / "mv.edf"
    header = {
        "label": "EEG CZ-REF",
        "dimension": "mV",
        "sample_frequency": 100,
        "physical_min": physical[0],
        "physical_max": physical[1],
        "digital_min": -32768,
        "digital_max": 32767,
    }
    signal = 2.0 + 0.5 * np.sin(np.arange(500) / 7)  # millivolts, inside every range above
    with pyedflib.EdfWriter(str(path), 1) as writer:
        writer.setSignalHeaders([header])
        writer.writeSamples([signal])
    ours = read_edf(path).data[0]
    reference = mne.io.read_raw_edf(path, verbose="error").get_data(units="uV")[0]
    np.testing.assert_allclose(ours, reference, atol=0.2)
    np.testing.assert_allclose(ours, signal * 1000, atol=0.5)


@pytest.mark.parametrize(
    "dimension, scale", [("uV", 1.0), ("\xb5V", 1.0), ("V", 1e-6), ("nV", 1e3), ("mV", 1e-3)]
)  # fmt: skip
def test_every_unit_arrives_as_microvolts(tmp_path, dimension, scale):
    """A 40 uV signal written in each unit reads back as 40 uV; the micro sign is the byte 0xB5
    exporters write (EDF headers are single-byte text)."""
    import mne

    path = tmp_path / "u.edf"
    header = {
        "label": "EEG CZ-REF", "dimension": dimension, "sample_frequency": 100,
        "physical_min": -100.0 * scale, "physical_max": 200.0 * scale, "digital_min": -32768, "digital_max": 32767,
    }  # fmt: skip
    microvolts = 40.0 + 10 * np.sin(np.arange(500) / 5)
    with pyedflib.EdfWriter(str(path), 1) as writer:
        writer.setSignalHeaders([dict(header, dimension="uV" if dimension == "\xb5V" else dimension)])
        writer.writeSamples([microvolts * scale])
    if dimension == "\xb5V":
        raw = bytearray(path.read_bytes())
        at = 256 + 96 * int(raw[252:256])  # the first signal's dimension field
        raw[at : at + 8] = b"\xb5V      "
        path.write_bytes(bytes(raw))
    ours = read_edf(path).data[0]
    np.testing.assert_allclose(ours, microvolts, atol=0.01)
    if dimension in ("uV", "\xb5V", "V", "mV"):  # MNE reads a blank unit as volts and has no nV
        np.testing.assert_allclose(ours, mne.io.read_raw_edf(path, verbose="error").get_data(units="uV")[0], atol=0.01)


def test_an_ear_referenced_file_yields_its_electrodes(tmp_path):
    path = write_labelled_edf(tmp_path / "ears.edf", ["EEG Fp1-A1", "EEG Fp2-A2", "EEG C3-A1", "EEG C4-A2"])
    assert read_edf(path).ch_names == ["Fp1", "Fp2", "C3", "C4"]
