"""APAVA: .mat structs, participant numbers by natural file order, the reference split."""

import numpy as np
import pytest
import scipy.io
from corpora import APAVA_CHANNELS, write_apava_fixture, write_apava_mat
from helpers import assert_no_subject_leak, files_by_id, shard_rows

from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.recipes.apava import ALZHEIMER, TEST, VAL


def test_apava_participants_labels_splits_and_windows(tmp_path):
    source = tmp_path / "apava"
    trials = write_apava_fixture(source)
    (source / "README.txt").write_text("not a recording")
    out = tmp_path / "out"
    manifest = prepare(get_recipe("apava"), source, out).manifest
    files = files_by_id(manifest)
    assert sorted(files, key=int) == [str(p) for p in range(1, 24)]  # "10" is participant 10, not 2
    for stem, entry in files.items():
        participant = int(stem)
        assert entry["subject_id"] == f"{participant:02d}"
        assert entry["label"] == int(participant in ALZHEIMER)
        assert entry["split"] == ("val" if participant in VAL else "test" if participant in TEST else "train")
        assert entry["windows"] == trials[stem]
    rows = shard_rows(out, manifest)
    assert rows["2"]["start_s"] == [0.0, 5.0, 10.0] and rows["2"]["shape"] == {(16, 1280)}
    assert manifest["montages"]["apava16"]["channels"] == APAVA_CHANNELS
    assert manifest["preprocessing"]["notch_freq"] == 50.0
    assert manifest["ignored_files"] == ["README.txt"]
    assert_no_subject_leak(manifest)
    assert {k: v["recordings"] for k, v in manifest["splits"].items()} == {"train": 15, "val": 4, "test": 4}


def test_apava_third_field_is_used_when_no_trial_field(tmp_path):
    write_apava_mat(tmp_path / "src/1.mat", 2, seed=1, trial_field="X")
    write_apava_mat(tmp_path / "src/2.mat", 2, seed=1)
    files = files_by_id(prepare(get_recipe("apava"), tmp_path / "src", tmp_path / "out", allow_partial=True).manifest)
    assert files["1"]["windows"] == files["2"]["windows"] == 2


def test_apava_other_struct_layouts_are_skipped_with_the_reason(tmp_path):
    source = tmp_path / "src"
    write_apava_mat(source / "1.mat", 2, seed=1)
    scipy.io.savemat(source / "2.mat", {"eeg": np.zeros((16, 1280))})
    scipy.io.savemat(source / "3.mat", {"data": {"label": np.array(APAVA_CHANNELS[:3], dtype=object), "x": 1}})
    (source / "4.mat").write_bytes(b"MATLAB 5.0 MAT-file truncated")
    files = files_by_id(prepare(get_recipe("apava"), source, tmp_path / "out", allow_partial=True).manifest)
    assert files["1"]["status"] == "ok"
    assert "2.mat: expected a struct `data`" in files["2"]["reason"] and "['eeg']" in files["2"]["reason"]
    assert "3.mat: expected a struct `data`" in files["3"]["reason"]
    assert "4.mat: not a readable MATLAB file" in files["4"]["reason"]


def test_an_incomplete_apava_copy_is_refused_because_participants_are_numbered_by_file_order(tmp_path):
    from lumamba_bench.errors import LumambaError

    source = tmp_path / "src"
    write_apava_fixture(source)
    sorted(source.glob("*.mat"))[0].unlink()  # 22 files: every later participant would shift by one
    with pytest.raises(LumambaError, match="22 of 23 recording files"):
        prepare(get_recipe("apava"), source, tmp_path / "out")


@pytest.mark.parametrize(("factor", "unit"), [(1e-6, "volts"), (1e-3, "millivolts")])
def test_an_apava_copy_in_volts_or_millivolts_is_refused_naming_the_file_and_scale(tmp_path, factor, unit):
    source = tmp_path / "src"
    write_apava_mat(source / "1.mat", 2, seed=1)
    path = write_apava_mat(source / "2.mat", 2, seed=2)
    content = scipy.io.loadmat(path, simplify_cells=True)
    content["data"]["trial"] = [np.asarray(t) * factor for t in content["data"]["trial"]]
    scipy.io.savemat(path, {"data": content["data"]})
    files = files_by_id(prepare(get_recipe("apava"), source, tmp_path / "out", allow_partial=True).manifest)
    assert files["1"]["status"] == "ok"
    reason = files["2"]["reason"]
    assert files["2"]["status"] == "skipped" and reason.startswith(f"2.mat: amplitudes look like {unit}")
    assert "median channel standard deviation" in reason and "microvolts" in reason


def test_apava_points_at_the_osf_release():
    recipe = get_recipe("apava")
    assert recipe.url == "https://osf.io/jbysn/" and "osf.io/jbysn" in recipe.source_layout
