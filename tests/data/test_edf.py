from pathlib import Path

import numpy as np
import pyedflib
import pytest
from corpora import tuh_signals, write_tuh_edf

from lumamba_bench.data.edf import read_edf
from lumamba_bench.errors import RecordingError

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


def test_a_file_without_any_wanted_electrode_is_an_error_naming_its_labels(tmp_path):
    path = tmp_path / "none.edf"
    header = {"label": "", "dimension": "uV", "sample_frequency": 256, "physical_min": -500.0,
              "physical_max": 500.0, "digital_min": -32768, "digital_max": 32767}  # fmt: skip
    with pyedflib.EdfWriter(str(path), 2) as writer:
        writer.setSignalHeaders([dict(header, label="Chan 1"), dict(header, label="EOG FP1")])
        writer.writeSamples([np.zeros(2560), np.zeros(2560)])
    expected = r"none.edf: no EEG electrode among its 2 signal labels \('Chan 1', 'EOG FP1'\)"
    with pytest.raises(RecordingError, match=expected):
        read_edf(path)
    with pytest.raises(RecordingError, match="none of Cz among"):
        read_edf(path, channels=["Cz"])


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


def test_truncated_file_is_a_recording_error(tmp_path):
    path = write_tuh_edf(tmp_path / "t.edf", tuh_signals(20, 250, seed=1), 250)
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    with pytest.raises(RecordingError, match="t.edf: truncated"):
        read_edf(path)


def test_corrupt_header_is_a_recording_error(tmp_path):
    path = write_tuh_edf(tmp_path / "c.edf", tuh_signals(5, 250, seed=1), 250)
    raw = bytearray(path.read_bytes())
    raw[252:256] = b"XXXX"  # number of signals
    path.write_bytes(bytes(raw))
    with pytest.raises(RecordingError, match="c.edf"):
        read_edf(path)


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


@pytest.mark.parametrize("dimension", ["", "K", "uT"])
def test_a_blank_or_unknown_unit_is_an_error_naming_the_channel(tmp_path, dimension):
    """A blank dimension is uV to some exporters and V to MNE: a factor 1e6 is never guessed."""
    path = tmp_path / "b.edf"
    header = {
        "label": "EEG CZ-REF", "dimension": dimension, "sample_frequency": 100,
        "physical_min": -100.0, "physical_max": 200.0, "digital_min": -32768, "digital_max": 32767,
    }  # fmt: skip
    with pyedflib.EdfWriter(str(path), 1) as writer:
        writer.setSignalHeaders([header])
        writer.writeSamples([np.zeros(500)])
    expected = "has no physical dimension" if not dimension else "has unsupported unit"
    with pytest.raises(RecordingError, match=f"b.edf: channel 'EEG CZ-REF' {expected}"):
        read_edf(path)


def _one_second_edf(path, labels):
    headers = [
        {"label": label, "dimension": "uV", "sample_frequency": 256, "physical_min": -500.0, "physical_max": 500.0,
         "digital_min": -32768, "digital_max": 32767}
        for label in labels
    ]  # fmt: skip
    with pyedflib.EdfWriter(str(path), len(labels)) as writer:
        writer.setSignalHeaders(headers)
        writer.writeSamples([np.zeros(2560) for _ in labels])
    return path


def test_two_signals_naming_one_electrode_are_refused_naming_both(tmp_path):
    path = _one_second_edf(tmp_path / "dup.edf", ["EEG FP1-REF", "EEG FP1-LE", "EEG C3-REF"])
    with pytest.raises(RecordingError, match="dup.edf: signals 'EEG FP1-REF' and 'EEG FP1-LE' are both electrode Fp1"):
        read_edf(path)
    assert read_edf(path, channels=["C3"]).ch_names == ["EEG C3-REF"]  # not asked for: no conflict


def test_the_same_label_twice_is_refused_when_asked_for_by_label(tmp_path):
    path = _one_second_edf(tmp_path / "twice.edf", ["EEG C3-REF", "EEG C3-REF"])
    with pytest.raises(RecordingError, match="twice.edf: more than one signal labelled 'EEG C3-REF'"):
        read_edf(path, labels=["EEG C3-REF"])
    with pytest.raises(RecordingError, match="are both electrode C3"):
        read_edf(path)


def test_an_ear_referenced_file_yields_its_electrodes(tmp_path):
    path = _one_second_edf(tmp_path / "ears.edf", ["EEG Fp1-A1", "EEG Fp2-A2", "EEG C3-A1", "EEG C4-A2"])
    assert read_edf(path).ch_names == ["Fp1", "Fp2", "C3", "C4"]


def test_a_zero_record_duration_is_refused(tmp_path):
    path = _one_second_edf(tmp_path / "zero.edf", ["EEG C3-REF"])
    raw = bytearray(path.read_bytes())
    raw[244:252] = b"0       "  # the header's data-record duration field
    path.write_bytes(bytes(raw))
    with pytest.raises(RecordingError, match="zero.edf"):
        read_edf(path)


def test_a_discontinuous_edf_plus_file_is_refused(tmp_path):
    path = tmp_path / "d.edf"
    header = {"label": "EEG C3-REF", "dimension": "uV", "sample_frequency": 256, "physical_min": -500.0,
              "physical_max": 500.0, "digital_min": -32768, "digital_max": 32767}  # fmt: skip
    with pyedflib.EdfWriter(str(path), 1, file_type=pyedflib.FILETYPE_EDFPLUS) as writer:
        writer.setSignalHeaders([header])
        writer.writeSamples([np.zeros(2560)])
    assert read_edf(path).data.shape == (1, 2560)  # EDF+C: continuous, read
    raw = bytearray(path.read_bytes())
    assert raw[192:197] == b"EDF+C"
    raw[192:197] = b"EDF+D"
    path.write_bytes(bytes(raw))
    with pytest.raises(RecordingError, match="d.edf: EDF\\+D \\(discontinuous\\)"):
        read_edf(path)
