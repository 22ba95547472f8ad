import json
from collections import defaultdict

import numpy as np
import pytest
from corpora import tuh_signals, write_tuh_edf

from lumamba_bench.data.channels import position
from lumamba_bench.data.loader import ShardDataset
from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.data.shards import read_windows
from lumamba_bench.errors import LumambaError


def _files(manifest):
    return {f["recording_id"]: f for f in manifest["files"]}


def test_tuab_fixture_counts_labels_and_splits(tuab_source, tmp_path):
    source, expected = tuab_source
    summary = prepare(get_recipe("tuab"), source, tmp_path / "out", allow_partial=True)
    files = _files(summary.manifest)
    assert {k: v["windows"] for k, v in files.items()} == expected  # every rate resampled, none lost
    assert all(f["status"] == "ok" for f in files.values())
    assert {f["source_sfreq"] for f in files.values()} == {250.0, 256.0, 400.0, 512.0}
    for rec_id, entry in files.items():
        assert entry["label"] == (1 if "/abnormal/" in rec_id else 0)
        assert (entry["split"] == "test") == rec_id.startswith("edf/eval/")
        assert entry["subject_id"] == rec_id.split("/")[-1].split("_")[0]
    # Subject-level split: no subject in two splits, and every subject's split is recorded.
    splits_of = defaultdict(set)
    for entry in files.values():
        splits_of[entry["subject_id"]].add(entry["split"])
    assert all(len(s) == 1 for s in splits_of.values())
    assert summary.manifest["subjects"] == {s: next(iter(v)) for s, v in splits_of.items()}
    assert {"train", "val"} >= {f["split"] for f in files.values() if "/train/" in f["recording_id"]}


def test_shards_hold_windows_labels_and_coordinates(tuab_source, tmp_path):
    source, expected = tuab_source
    out = tmp_path / "out"
    manifest = prepare(get_recipe("tuab"), source, out, allow_partial=True).manifest
    montage = manifest["montages"]["tcp22"]
    assert montage["channels"][:2] == ["FP1-F7", "F7-T3"] and len(montage["channels"]) == 22
    np.testing.assert_allclose(montage["coords"][1], position("F7-T7"), atol=1e-6)
    total = 0
    for shard in manifest["shards"]:
        windows = read_windows(out / "shards" / shard["file"])
        assert windows["signal"].shape[1:] == (22, 1280) and windows["signal"].dtype == np.float32
        assert set(windows["label"]) <= {0, 1}
        total += len(windows["signal"])
        assert shard["file"].startswith(f"{shard['split']}-tcp22-")
    assert total == sum(expected.values())
    test_set = ShardDataset(out, "test")
    assert len(test_set) == 12 and test_set[0]["signal"].shape == (22, 1280)


def test_bipolar_values_match_the_referential_difference(tmp_path):
    """FP1-F7 in a shard equals the filtered difference of the two referential channels."""
    import pyedflib

    from lumamba_bench.data.preprocess import Preprocessing, process

    path = tmp_path / "src/edf/eval/normal/01_tcp_ar/aaaaaaaz_s001_t000.edf"
    write_tuh_edf(path, tuh_signals(20, 256, seed=3), 256)
    prepare(get_recipe("tuab"), tmp_path / "src", tmp_path / "out", allow_partial=True)
    shard = read_windows(tmp_path / "out/shards/test-tcp22-00000.parquet")
    with pyedflib.EdfReader(str(path)) as reference:  # an independent reader
        labels = reference.getSignalLabels()
        fp1, f7 = (reference.readSignal(labels.index(n)) for n in ("EEG FP1-REF", "EEG F7-REF"))
    expected = process((fp1 - f7)[None], 256.0, Preprocessing()).signal[:, 0]
    np.testing.assert_allclose(shard["signal"][:, 0], expected, atol=1e-3)


def _add_bad_recordings(source):
    folder = source / "edf/train/normal/01_tcp_ar"
    good = tuh_signals(30, 250, seed=9)
    truncated = write_tuh_edf(folder / "bbbbbbba_s001_t000.edf", good, 250)
    with open(truncated, "r+b") as handle:
        handle.truncate(truncated.stat().st_size - 3000)
    corrupt = write_tuh_edf(folder / "bbbbbbbb_s001_t000.edf", good, 250)
    raw = bytearray(corrupt.read_bytes())
    raw[236:244] = b"garbage!"  # number of data records
    corrupt.write_bytes(bytes(raw))
    labels = [
        f"EEG {e}-REF"
        for e in (
            "FP1",
            "FP2",
            "F3",
            "F4",
            "C3",
            "C4",
            "P3",
            "P4",
            "O1",
            "O2",
            "F7",
            "F8",
            "T3",
            "T4",
            "T5",
            "T6",
            "FZ",
            "CZ",
            "PZ",
        )
    ]  # no A1, A2
    write_tuh_edf(folder / "bbbbbbbc_s001_t000.edf", np.delete(good, [16, 17], axis=0), 250, labels=labels)
    bridged = good.copy()
    bridged[19] = bridged[4]  # CZ bridged to C3: C3-CZ is flat everywhere
    write_tuh_edf(folder / "bbbbbbbd_s001_t000.edf", bridged, 250)
    (folder / "notes.txt").write_text("not a recording")
    (source / "edf/train/README").write_text("unrelated")


def test_bad_recordings_are_skipped_with_reasons_and_good_ones_kept(tuab_source, tmp_path):
    source, expected = tuab_source
    _add_bad_recordings(source)
    summary = prepare(get_recipe("tuab"), source, tmp_path / "out", allow_partial=True)
    files = _files(summary.manifest)
    reasons = {k.split("/")[-1]: v["reason"] for k, v in files.items() if v["status"] == "skipped"}
    assert set(reasons) == {"bbbbbbba_s001_t000", "bbbbbbbb_s001_t000", "bbbbbbbc_s001_t000", "bbbbbbbd_s001_t000"}
    assert "truncated" in reasons["bbbbbbba_s001_t000"]
    assert "bbbbbbbb_s001_t000.edf" in reasons["bbbbbbbb_s001_t000"]
    assert "missing required channels A1, A2" in reasons["bbbbbbbc_s001_t000"]
    assert "6 flat" in reasons["bbbbbbbd_s001_t000"]
    assert {k: v["windows"] for k, v in files.items() if v["status"] == "ok"} == expected
    assert sorted(summary.manifest["ignored_files"]) == ["edf/train/README", "edf/train/normal/01_tcp_ar/notes.txt"]
    assert summary.manifest["skipped_files"] == 4


def test_nan_segments_drop_windows_not_recordings(tmp_path):
    """Recipes reading other formats can deliver NaN: only the touched windows go."""
    recipe = get_recipe("tuab")
    original = recipe.read

    def read_with_gap(recording):
        data, sfreq, names = original(recording)
        data[5, int(7 * sfreq) : int(8 * sfreq)] = np.nan
        return data, sfreq, names

    recipe.read = read_with_gap
    write_tuh_edf(tmp_path / "src/edf/eval/normal/01_tcp_ar/aaaaaaaz_s001_t000.edf", tuh_signals(30, 250, 1), 250)
    entry = prepare(recipe, tmp_path / "src", tmp_path / "out", allow_partial=True).manifest["files"][0]
    assert (entry["status"], entry["windows"], entry["dropped_nonfinite"]) == ("ok", 5, 1)


def test_empty_missing_and_unrelated_sources_are_clear_errors(tmp_path):
    recipe = get_recipe("tuab")
    with pytest.raises(LumambaError, match="does not exist"):
        prepare(recipe, tmp_path / "nowhere", tmp_path / "out", allow_partial=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LumambaError, match="no edf/ folder"):
        prepare(recipe, tmp_path / "empty", tmp_path / "out", allow_partial=True)
    unrelated = tmp_path / "unrelated" / "edf"
    unrelated.mkdir(parents=True)
    (unrelated / "a.csv").write_text("x")
    with pytest.raises(LumambaError, match=r"no recordings found .*1 unrelated files"):
        prepare(recipe, tmp_path / "unrelated", tmp_path / "out", allow_partial=True)


def test_killed_run_resumes_to_identical_shards(tuab_source, tmp_path, monkeypatch):
    source, _ = tuab_source
    recipe = get_recipe("tuab")
    reference = prepare(recipe, source, tmp_path / "whole", rows_per_shard=10, allow_partial=True).manifest

    import lumamba_bench.data.prepare as prepare_module

    real_write, calls = prepare_module.write_table_atomic, []

    def dying_write(table, path):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed while writing the third shard
        return real_write(table, path)

    monkeypatch.setattr(prepare_module, "write_table_atomic", dying_write)
    with pytest.raises(KeyboardInterrupt):
        prepare(recipe, source, tmp_path / "resumed", rows_per_shard=10, allow_partial=True)
    monkeypatch.setattr(prepare_module, "write_table_atomic", real_write)
    assert not (tmp_path / "resumed/manifest.json").exists()
    resumed = prepare(recipe, source, tmp_path / "resumed", rows_per_shard=10, allow_partial=True)
    assert resumed.processed < len(reference["files"])  # the committed part was not redone
    assert resumed.manifest["shards"] == reference["shards"]  # same names, rows and sha256
    assert len(reference["shards"]) > 3


def test_rerun_is_a_no_op_and_force_rebuilds(tuab_source, tmp_path):
    source, _ = tuab_source
    recipe = get_recipe("tuab")
    first = prepare(recipe, source, tmp_path / "out", allow_partial=True)
    again = prepare(recipe, source, tmp_path / "out", allow_partial=True)
    assert again.processed == 0 and again.manifest["shards"] == first.manifest["shards"]
    forced = prepare(recipe, source, tmp_path / "out", force=True, allow_partial=True)
    assert forced.processed == len(first.manifest["files"])
    assert forced.manifest["shards"] == first.manifest["shards"]


def test_changed_preprocessing_refuses_to_resume(tuab_source, tmp_path):
    from dataclasses import replace

    source, _ = tuab_source
    recipe = get_recipe("tuab")
    prepare(recipe, source, tmp_path / "out", limit=2, allow_partial=True)
    recipe.preprocessing = replace(recipe.preprocessing, window_s=2.0)
    with pytest.raises(LumambaError, match="--force"):
        prepare(recipe, source, tmp_path / "out", allow_partial=True)


def test_limit_takes_every_split(tuab_source, tmp_path):
    source, _ = tuab_source
    manifest = prepare(get_recipe("tuab"), source, tmp_path / "out", limit=4, allow_partial=True).manifest
    assert len(manifest["files"]) == 4
    assert {f["split"] for f in manifest["files"]} >= {"train", "test"}
    assert json.loads((tmp_path / "out/manifest.json").read_text())["limit"] == 4


def test_parallel_workers_write_the_same_shards(tuab_source, tmp_path):
    source, _ = tuab_source
    serial = prepare(get_recipe("tuab"), source, tmp_path / "one", allow_partial=True).manifest
    parallel = prepare(get_recipe("tuab"), source, tmp_path / "two", workers=2, allow_partial=True).manifest
    assert parallel["shards"] == serial["shards"]


def test_a_partial_copy_is_refused_with_its_counts_unless_allowed(tuab_source, tmp_path):
    source, _ = tuab_source
    with pytest.raises(LumambaError) as refused:
        prepare(get_recipe("tuab"), source, tmp_path / "out")
    message = str(refused.value)
    assert "not a complete TUAB v3.0.1: 9 of 2,993 recording files" in message
    assert "train/normal 4 of 1,371" in message and "eval/abnormal 1 of 126" in message and "--allow-partial" in message
    assert not (tmp_path / "out").exists()  # refused before anything is written
    manifest = prepare(get_recipe("tuab"), source, tmp_path / "out", allow_partial=True).manifest
    completeness = manifest["recipe"]["completeness"]
    assert completeness["complete"] is False and completeness["allow_partial"] is True
    assert completeness["found"] == {"eval/abnormal": 1, "eval/normal": 1, "train/abnormal": 3, "train/normal": 4}
    assert sum(completeness["expected"].values()) == 2993


def test_a_complete_copy_needs_no_flag(tuab_source, tmp_path):
    source, _ = tuab_source
    recipe = get_recipe("tuab")
    recipe.expected_files = {"train/normal": 4, "train/abnormal": 3, "eval/normal": 1, "eval/abnormal": 1}
    completeness = prepare(recipe, source, tmp_path / "out").manifest["recipe"]["completeness"]
    assert completeness["complete"] is True and completeness["allow_partial"] is False
    recipe.expected_files = dict(recipe.expected_files, **{"eval/normal": 2})
    with pytest.raises(LumambaError, match="9 of 10 recording files"):
        prepare(recipe, source, tmp_path / "other")
