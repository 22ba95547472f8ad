"""TUEG: recursive discovery, >= 20 bipolar channels, evaluation subjects excluded."""

import pytest
from corpora import write_tueg_fixture
from helpers import files_by_id, shard_rows

from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.errors import LumambaError


def test_tueg_keeps_files_with_20_channels_and_skips_fewer(tmp_path):
    source = tmp_path / "tueg"
    expected = write_tueg_fixture(source)
    out = tmp_path / "out"
    manifest = prepare(get_recipe("tueg"), source, out, workers=2).manifest
    files = files_by_id(manifest)
    assert sorted(files) == sorted(expected)
    rows = shard_rows(out, manifest)
    for rec_id, montage in expected.items():
        if montage:
            assert files[rec_id]["status"] == "ok" and files[rec_id]["split"] == "train"
            assert next(iter(rows[rec_id]["montage"])).startswith(montage)
            assert rows[rec_id]["label"] == [-1] * 4
        else:
            assert files[rec_id]["status"] == "skipped"
            assert "17 of 22 bipolar derivations possible, 20 needed" in files[rec_id]["reason"]
    reduced = [m for m in manifest["montages"] if m.startswith("c20-")]
    assert len(reduced) == 1 and not any("A1" in c or "A2" in c for c in manifest["montages"][reduced[0]]["channels"])


def test_tueg_excludes_the_subjects_of_a_prepared_evaluation_corpus(tmp_path, tuab_source):
    from lumamba_bench.data.store import data_root

    source = tmp_path / "tueg"
    write_tueg_fixture(source)
    recipe = get_recipe("tueg")
    with pytest.raises(LumambaError, match="tuab is not prepared"):
        recipe.exclude_subjects_of(["tuab"], data_root())
    prepare(get_recipe("tuab"), tuab_source[0], data_root() / "tuab", allow_partial=True)
    recipe.exclude_subjects_of(["tuab"], data_root())
    manifest = prepare(recipe, source, tmp_path / "out", allow_partial=True).manifest
    assert {f["subject_id"] for f in manifest["files"]}.isdisjoint({"aaaaaaaa", "aaaaaaag"})
    excluded = {e["path"]: e["reason"] for e in manifest["excluded_files"]}
    assert len(excluded) == 2 and all(r.endswith("is in tuab") for r in excluded.values())


def test_tueg_resume_after_an_interruption_gives_the_same_shards(tmp_path):
    source = tmp_path / "tueg"
    write_tueg_fixture(source)
    full = prepare(get_recipe("tueg"), source, tmp_path / "full", rows_per_shard=4).manifest
    calls = {"n": 0}

    def stop_after_three(result):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare(get_recipe("tueg"), source, tmp_path / "resumed", rows_per_shard=4, on_result=stop_after_three)
    resumed = prepare(get_recipe("tueg"), source, tmp_path / "resumed", rows_per_shard=4)
    assert resumed.processed < len(full["files"])
    assert [s["sha256"] for s in resumed.manifest["shards"]] == [s["sha256"] for s in full["shards"]]
