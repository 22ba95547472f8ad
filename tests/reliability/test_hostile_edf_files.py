"""EDF files that are broken, lie in their header, or cannot be read faithfully: each is one
clear error naming the file (the recipe then skips it with that reason and keeps the rest)."""

import numpy as np
import pyedflib
import pytest
from corpora import tuh_signals, write_labelled_edf, write_tuh_edf

from lumamba_bench.data.channels import UnknownChannelError, canonical_name, is_known
from lumamba_bench.data.edf import read_edf
from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.preprocess import Preprocessing, process
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.errors import LumambaError, RecordingError


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


def test_two_signals_naming_one_electrode_are_refused_naming_both(tmp_path):
    path = write_labelled_edf(tmp_path / "dup.edf", ["EEG FP1-REF", "EEG FP1-LE", "EEG C3-REF"])
    with pytest.raises(RecordingError, match="dup.edf: signals 'EEG FP1-REF' and 'EEG FP1-LE' are both electrode Fp1"):
        read_edf(path)
    assert read_edf(path, channels=["C3"]).ch_names == ["EEG C3-REF"]  # not asked for: no conflict


def test_the_same_label_twice_is_refused_when_asked_for_by_label(tmp_path):
    path = write_labelled_edf(tmp_path / "twice.edf", ["EEG C3-REF", "EEG C3-REF"])
    with pytest.raises(RecordingError, match="twice.edf: more than one signal labelled 'EEG C3-REF'"):
        read_edf(path, labels=["EEG C3-REF"])
    with pytest.raises(RecordingError, match="are both electrode C3"):
        read_edf(path)


def test_a_zero_record_duration_is_refused(tmp_path):
    path = write_labelled_edf(tmp_path / "zero.edf", ["EEG C3-REF"])
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


@pytest.mark.parametrize("label", ["EOG FP1", "EMG C3", "ECG", "eog_f7", "POL EKG", "RESP C3"])
def test_signals_typed_as_something_else_are_never_eeg_electrodes(label):
    assert not is_known(label)
    with pytest.raises(UnknownChannelError, match="not an EEG channel"):
        canonical_name(label)
    assert is_known("EEG C3") and is_known("C3")  # the electrode itself, typed as EEG or untyped


@pytest.mark.parametrize("rate", [1.0, 100.0, 149.0, 150.0])
def test_rates_that_cannot_hold_the_band_are_refused_with_the_rate(rate):
    from lumamba_bench.errors import RecordingError

    with pytest.raises(RecordingError, match=f"sampled at {rate:g} Hz, not above twice the band's upper edge"):
        process(np.random.default_rng(0).standard_normal((2, 10_000)).astype(np.float32), rate, Preprocessing())
    assert process(np.zeros((2, 3000), np.float32), 151.0, Preprocessing()) is not None


def test_the_same_recording_under_two_names_in_two_splits_is_reported(tuab_source, tmp_path):
    import shutil

    source, _ = tuab_source
    original = source / "edf/train/normal/01_tcp_ar/aaaaaaac_s001_t000.edf"
    shutil.copy(original, source / "edf/eval/normal/01_tcp_ar/zzzzzzzy_s001_t000.edf")
    manifest = prepare(get_recipe("tuab"), source, tmp_path / "out", allow_partial=True).manifest
    groups = manifest["same_content_across_splits"]
    assert len(groups) == 1
    assert {(f["path"].split("/")[-1], f["split"]) for f in groups[0]["files"]} >= {("zzzzzzzy_s001_t000.edf", "test")}
    assert len({f["split"] for f in groups[0]["files"]}) == 2


def test_a_data_root_from_another_pipeline_is_never_mixed_with_new_windows(tuab_source, tmp_path):
    """A data root whose journal records the old pipeline (resample, then Butterworth) is refused
    by a re-run, naming what changed; --force rebuilds it with the current one."""
    import json

    source, _ = tuab_source
    out = tmp_path / "out"
    prepare(get_recipe("tuab"), source, out, limit=2, allow_partial=True)
    journal = out / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    old = dict(records[0]["preprocessing"], pipeline="absent", filter_order=4, notch_q=30.0)
    del old["pipeline"]
    records[0] = dict(records[0], preprocessing=old, format_version=2)
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    changes = r"format_version: 2 -> 3.*preprocessing.pipeline: absent -> mne-fir.*--force"
    with pytest.raises(LumambaError, match=changes):
        prepare(get_recipe("tuab"), source, out, allow_partial=True)
    rebuilt = prepare(get_recipe("tuab"), source, out, force=True, allow_partial=True).manifest
    assert rebuilt["preprocessing"]["pipeline"].startswith("mne-fir")


@pytest.mark.parametrize("extra", [5000, 2 * 21 * 256 * 2 + 2 * 4 * 256 * 2])
def test_a_file_longer_than_its_header_declares_has_its_own_reason(tmp_path, extra):
    """A partial or whole extra records: not "truncated", which is what the reader would say."""
    path = write_tuh_edf(tmp_path / "long.edf", tuh_signals(10, 256, seed=0), 256)
    with open(path, "ab") as handle:
        handle.write(b"\0" * extra)
    with pytest.raises(RecordingError, match=f"long.edf: {extra} bytes longer than its header declares"):
        read_edf(path)


def test_folders_links_and_loops_named_like_recordings_are_listed_as_skipped(tuab_source, tmp_path):
    source, expected = tuab_source
    folder = source / "edf/train/normal/01_tcp_ar"
    (folder / "aaaaaazz_s001_t000.edf").mkdir()
    (folder / "aaaaaazy_s001_t000.edf").symlink_to(folder / "nowhere.edf")
    (folder / "aaaaaazx_s001_t000.edf").symlink_to(folder / "aaaaaazx_s001_t000.edf")
    manifest = prepare(get_recipe("tuab"), source, tmp_path / "out", allow_partial=True).manifest
    reasons = {e["path"].rsplit("/", 1)[1]: e["reason"] for e in manifest["unreadable_files"]}
    assert reasons == {
        "aaaaaazx_s001_t000.edf": "aaaaaazx_s001_t000.edf: a symbolic link loop",
        "aaaaaazy_s001_t000.edf": f"aaaaaazy_s001_t000.edf: a broken symbolic link (to {folder / 'nowhere.edf'})",
        "aaaaaazz_s001_t000.edf": "aaaaaazz_s001_t000.edf: a folder, not a recording file",
    }
    assert manifest["skipped_files"] >= 3
    assert len([f for f in manifest["files"] if f["status"] == "ok"]) == len(expected)


def test_a_file_name_that_is_not_utf8_is_skipped_with_its_reason_and_the_rest_kept(tmp_path):
    """Such a name reaches Python as lone surrogates, which Parquet and JSON cannot hold: it used
    to crash prepare after every file was read."""
    import json
    import os

    from lumamba_bench.recipes.demo_corpus import write_demo_corpus

    source = tmp_path / "source"
    write_demo_corpus(source, duration_s=10.0, n_train_per_class=2, n_eval_per_class=2)
    first = sorted(source.rglob("*.edf"))[0]
    os.rename(os.fsencode(first), os.path.join(os.fsencode(first.parent), b"dm\xff0000_s001_t000.edf"))
    summary = prepare(get_recipe("demo"), source, tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert sum(s["recordings"] for s in manifest["splits"].values()) == 7  # the other 7 kept
    [entry] = manifest["unreadable_files"]
    assert entry["path"].endswith("dm\\xff0000_s001_t000.edf") and "not valid UTF-8" in entry["reason"]
    assert summary.manifest["skipped_files"] == 1


def test_a_class_folder_that_is_a_link_to_another_disk_is_followed_and_a_looping_one_is_not(tuab_source, tmp_path):
    """Big corpora often keep a folder elsewhere behind a link: its recordings are part of the
    corpus (before, they were silently left out and training saw one class)."""
    import shutil

    source, expected = tuab_source
    elsewhere = tmp_path / "other-disk" / "abnormal"
    shutil.move(source / "edf/train/abnormal", elsewhere)
    (source / "edf/train/abnormal").symlink_to(elsewhere, target_is_directory=True)
    (source / "edf/train/normal/back-up").symlink_to(source / "edf", target_is_directory=True)  # a loop
    manifest = prepare(get_recipe("tuab"), source, tmp_path / "out", allow_partial=True).manifest
    prepared = {f["recording_id"] for f in manifest["files"] if f["status"] == "ok"}
    assert prepared == set(expected)
    assert any(r.startswith("edf/train/abnormal/") for r in prepared)


def test_a_channel_with_an_empty_physical_range_is_skipped_not_read_as_a_constant(tmp_path):
    """physical min = max: every sample would scale to one value; the header is broken."""
    path = write_tuh_edf(tmp_path / "edf/eval/normal/01_tcp_ar/aaaaaaaa_s001_t000.edf", tuh_signals(10, 256, 3), 256)
    raw = bytearray(path.read_bytes())
    signals = int(raw[252:256].decode())
    physical_min = 256 + signals * (16 + 80 + 8)  # the header's fields, in the EDF specification's order
    physical_max = physical_min + signals * 8
    raw[physical_min : physical_min + 8] = raw[physical_max : physical_max + 8] = b"7       "  # the first channel
    path.write_bytes(bytes(raw))
    manifest = prepare(get_recipe("tuab"), tmp_path, tmp_path / "out", allow_partial=True).manifest
    (entry,) = manifest["files"]
    assert entry["status"] == "skipped" and "empty physical range (min = max = 7)" in entry["reason"]
