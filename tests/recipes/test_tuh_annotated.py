"""TUAR and TUSL: per-window labels from TUH csv annotations, on fixture corpora."""

import numpy as np
import pytest
from corpora import (
    TUAR_BINARY,
    TUAR_MULTI,
    TUSL_LABELS,
    tuh_signals,
    write_tuar_fixture,
    write_tuh_csv,
    write_tuh_edf,
    write_tusl_fixture,
)
from helpers import assert_no_subject_leak, files_by_id, shard_rows

from lumamba_bench.data.prepare import prepare
from lumamba_bench.errors import RecordingError
from lumamba_bench.recipes import get_recipe, tuh_csv
from lumamba_bench.recipes.splits import assign_split


@pytest.fixture(scope="module")
def tuar_source(tmp_path_factory):
    root = tmp_path_factory.mktemp("tuar")
    return root, write_tuar_fixture(root)


@pytest.mark.parametrize("recipe_name", ["tuar", "tuar-multilabel"])
def test_tuar_labels_windows_and_splits(tuar_source, tmp_path, recipe_name):
    source, ids = tuar_source
    out = tmp_path / recipe_name
    manifest = prepare(get_recipe(recipe_name), source, out, allow_partial=True).manifest
    files = files_by_id(manifest)
    assert sorted(files) == sorted(ids) and all(f["status"] == "ok" for f in files.values())
    rows = shard_rows(out, manifest)
    expected = TUAR_BINARY if recipe_name == "tuar" else TUAR_MULTI
    for rec_id in ids:
        assert rows[rec_id]["start_s"] == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
        assert rows[rec_id]["label"] == expected
        assert rows[rec_id]["montage"] == {"tcp22"} and rows[rec_id]["shape"] == {(22, 1280)}
    # Both montage folders (-REF and -LE electrodes) give the same 22 TCP channels.
    assert {f["path"].split("/")[1] for f in files.values()} == {"01_tcp_ar", "02_tcp_le"}
    # Clipped, past-the-end and unknown events are counted, per file and in total.
    note = files[ids[0]]["notes"]
    assert (note["events_clipped"], note["events_past_end"], note["unknown_labels"]) == (1, 1, {"xyzz": 1})
    assert manifest["label_notes"]["unknown_labels"] == {"xyzz": len(ids)}
    assert manifest["label_notes"]["events_clipped"] == len(ids)
    # Subject-level 80/10/10 split, identical for both label modes.
    assert_no_subject_leak(manifest)
    for entry in files.values():
        fractions = {"train": 0.8, "val": 0.1, "test": 0.1}
        assert entry["split"] == assign_split(entry["subject_id"], "lumamba-bench/tuar/v1", fractions)
    assert {f["split"] for f in files.values()} == {"train", "val", "test"}


def test_tuar_bad_annotations_skip_the_recording_with_the_reason(tmp_path):
    source = tmp_path / "src"
    for stem, events in [("aaaaaaaa_s001_t000", None), ("aaaaaaab_s001_t000", "bad"), ("aaaaaaac_s001_t000", "ok")]:
        path = write_tuh_edf(source / "edf/01_tcp_ar" / f"{stem}.edf", tuh_signals(15, 250, 1), 250)
        if events == "ok":
            write_tuh_csv(path.with_suffix(".csv"), [("FP1-F7", 0, 15, "musc")], 15)
        elif events == "bad":
            write_tuh_csv(path.with_suffix(".csv"), [("FP1-F7", 0, 15, "musc")], 15)
            path.with_suffix(".csv").write_text(path.with_suffix(".csv").read_text() + "FP1-F7,abc,3.0,musc,1.0\n")
    manifest = prepare(get_recipe("tuar"), source, tmp_path / "out", allow_partial=True).manifest
    files = files_by_id(manifest)
    reasons = {k.split("/")[-1]: v["reason"] for k, v in files.items()}
    assert "aaaaaaaa_s001_t000.csv: annotation file missing" in reasons["aaaaaaaa_s001_t000"]
    assert "aaaaaaab_s001_t000.csv:9: malformed event line" in reasons["aaaaaaab_s001_t000"]
    assert files["edf/01_tcp_ar/aaaaaaac_s001_t000"]["label_counts"] == {"1": 3}
    assert manifest["skipped_files"] == 2


def test_csv_parser_rejects_a_wrong_header_and_reversed_times(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("# version = csv_v1.0.0\nchan,start,stop,label\n")
    with pytest.raises(RecordingError, match="a.csv:2: expected header"):
        tuh_csv.read_events(path)
    write_tuh_csv(path, [("FP1-F7", 5.0, 3.0, "eyem")], 10)
    with pytest.raises(RecordingError, match="invalid times"):
        tuh_csv.read_events(path)


def test_window_fraction_against_a_direct_count():
    rng = np.random.default_rng(0)
    mask = rng.random(5000) < 0.3
    starts = np.array([0.0, 1.25, 7.5])
    got = tuh_csv.window_fractions(mask, starts, 640, 256.0)
    direct = [mask[int(s * 256) : int(s * 256) + 640].mean() for s in starts]
    np.testing.assert_allclose(got, direct)


def test_tusl_majority_labels_and_splits(tmp_path):
    source = tmp_path / "tusl"
    ids = write_tusl_fixture(source)
    out = tmp_path / "out"
    manifest = prepare(get_recipe("tusl"), source, out).manifest
    rows = shard_rows(out, manifest)
    assert manifest["label_names"] == ["unannotated", "bckg", "seiz", "slow"]
    for rec_id in ids:
        assert rows[rec_id]["label"] == TUSL_LABELS
    assert_no_subject_leak(manifest)
    assert manifest["splits"]["train"]["windows_per_label"] == {
        str(k): TUSL_LABELS.count(k) * manifest["splits"]["train"]["recordings"] for k in sorted(set(TUSL_LABELS))
    }


def test_tuar_labels_at_the_30_percent_boundary(tmp_path):
    """An artifact covering exactly 30% of a window labels it; 29.6% does not (events at 250 Hz:
    1.5 s = 375 of 1250 samples, 1.48 s = 370)."""
    source = tmp_path / "src"
    path = write_tuh_edf(source / "edf/01_tcp_ar" / "aaaaaaaa_s001_t000.edf", tuh_signals(15, 250, 1), 250)
    events = [("FP1-F7", 0.0, 1.5, "musc"), ("FP1-F7", 5.0, 6.48, "musc")]  # w0: 30%, w1: 29.6%, w2: none
    write_tuh_csv(path.with_suffix(".csv"), events, 15)
    for name, expected in [("tuar", [1, 0, 0]), ("tuar-multilabel", [[0, 0, 0, 1, 0], [0] * 5, [0] * 5])]:
        manifest = prepare(get_recipe(name), source, tmp_path / name, allow_partial=True).manifest
        rows = shard_rows(tmp_path / name, manifest)
        assert rows["edf/01_tcp_ar/aaaaaaaa_s001_t000"]["label"] == expected
