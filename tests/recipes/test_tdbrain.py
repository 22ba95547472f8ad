"""TDBrain: participants table, ids over sorted participant IDs, the reference split."""

import pytest
from corpora import write_tdbrain_fixture
from helpers import assert_no_subject_leak, files_by_id, shard_rows

from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.errors import LumambaError
from lumamba_bench.recipes.tdbrain import TEST, TRAIN, VAL


@pytest.mark.parametrize("table_in_derivatives", [False, True])
def test_tdbrain_ids_labels_splits_and_exclusions(tmp_path, table_in_derivatives):
    source = tmp_path / "tdbrain"
    task = write_tdbrain_fixture(source, table_in_derivatives)
    out = tmp_path / "out"
    manifest = prepare(get_recipe("tdbrain"), source, out).manifest
    files = files_by_id(manifest)
    in_split = {p: t for p, t in task.items() if t["number"] in TRAIN | VAL | TEST}
    assert sorted(files) == sorted(in_split)
    for participant, info in in_split.items():
        entry = files[participant]
        assert entry["label"] == info["label"]
        number = info["number"]
        assert entry["split"] == ("val" if number in VAL else "test" if number in TEST else "train")
        if info["has_csv"]:
            assert entry["status"] == "ok" and entry["windows"] == 2
        else:
            assert entry["status"] == "skipped" and "file not found" in entry["reason"]
    excluded = {e["path"]: e["reason"] for e in manifest["excluded_files"]}
    out_of_split = sorted(t["number"] for t in task.values() if t["number"] not in TRAIN | VAL | TEST)
    assert out_of_split == [26, 26, 27, 28, 54]  # PD no. 26 (past 25), healthy 26-28 and 54
    assert sum("outside the reference split" in r for r in excluded.values()) == 5  # PD id 26 too
    assert any("duplicate row" in r for r in excluded.values())
    assert sum("row without a participant id" in r for r in excluded.values()) == 1
    assert not any("sub-4000000" in f for f in files)  # REPLICATION rows are not part of the task
    rows = shard_rows(out, manifest)
    ok = next(p for p, e in files.items() if e["status"] == "ok")
    assert rows[ok]["shape"] == {(26, 320)} and rows[ok]["start_s"] == [0.0, 1.25]
    assert manifest["montages"]["tdbrain26"]["channels"][:3] == ["Fp1", "Fp2", "F7"]
    assert_no_subject_leak(manifest)


def test_a_tdbrain_copy_without_the_table_names_both_places(tmp_path):
    (tmp_path / "derivatives").mkdir()
    with pytest.raises(LumambaError, match="at its root or in derivatives/"):
        get_recipe("tdbrain").discover(tmp_path)
