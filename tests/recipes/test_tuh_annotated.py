"""TUAR and TUSL: per-window labels from TUH csv annotations, on fixture corpora."""

import hashlib

import numpy as np
import pytest
from corpora import (
    TUAR_BINARY,
    TUAR_EVENTS,
    TUAR_MULTI,
    TUAR_NO_EARS,
    TUSL_EVENTS,
    TUSL_LABELS,
    tuh_signals,
    write_tuar_fixture,
    write_tuh_csv,
    write_tuh_edf,
    write_tusl_fixture,
)
from helpers import assert_no_subject_leak, files_by_id, shard_rows

from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.errors import LumambaError, RecordingError
from lumamba_bench.recipes import tuh_csv
from lumamba_bench.recipes.splits import assign_split


@pytest.fixture(scope="module")
def tuar_source(tmp_path_factory):
    root = tmp_path_factory.mktemp("tuar")
    return root, write_tuar_fixture(root)


@pytest.mark.parametrize("recipe_name", ["tuar", "tuar-ours-multilabel"])
def test_tuar_labels_windows_and_splits(tuar_source, tmp_path, recipe_name):
    source, ids = tuar_source
    out = tmp_path / recipe_name
    manifest = prepare(get_recipe(recipe_name), source, out, allow_partial=True).manifest
    files = files_by_id(manifest)
    no_ears = f"edf/03_tcp_ar_a/{TUAR_NO_EARS}"
    assert sorted(files) == sorted([*ids, no_ears])
    assert all(files[i]["status"] == "ok" for i in ids)
    assert files[no_ears]["status"] == "skipped" and "missing required channels A1, A2" in files[no_ears]["reason"]
    # The seizure annotations beside some EDFs are not recordings, nor read as artifact annotations.
    seizure_files = sorted(str(p.relative_to(source)) for p in source.rglob("*_seiz.csv"))
    assert seizure_files and set(seizure_files) <= set(manifest["ignored_files"])
    rows = shard_rows(out, manifest)
    expected = TUAR_BINARY if recipe_name == "tuar" else TUAR_MULTI
    for rec_id in ids:
        assert rows[rec_id]["start_s"] == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
        assert rows[rec_id]["label"] == expected
        assert rows[rec_id]["montage"] == {"tcp22"} and rows[rec_id]["shape"] == {(22, 1280)}
    # Both montage folders (-REF and -LE electrodes) give the same 22 TCP channels.
    assert {files[i]["path"].split("/")[1] for i in ids} == {"01_tcp_ar", "02_tcp_le"}
    # Clipped, past-the-end and unknown events are counted, per file and in total.
    note = files[ids[0]]["notes"]
    assert (note["events_clipped"], note["events_past_end"], note["unknown_labels"]) == (1, 1, {"xyzz": 1})
    assert manifest["label_notes"]["unknown_labels"] == {"xyzz": len(ids)}
    assert manifest["label_notes"]["events_clipped"] == len(ids)
    files = {k: v for k, v in files.items() if k != no_ears}
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


def tusl_labels_from_rows() -> list[int]:
    """Each sample takes the code of the last row covering it (bckg 1, seiz 2, slow 3, else 0);
    a window takes its most frequent code, the lowest on a tie."""
    codes = {"bckg": 1, "seiz": 2, "slow": 3}
    samples = [0] * (30 * 256)
    for _, start, stop, label in TUSL_EVENTS:
        for t in range(round(start * 256), min(round(stop * 256), 30 * 256)):
            samples[t] = codes[label]
    labels = []
    for w in range(6):
        part = samples[w * 1280 : (w + 1) * 1280]
        counts = [part.count(code) for code in range(4)]
        labels.append(counts.index(max(counts)))
    return labels


def test_tusl_labels_as_the_reference_and_splits_30_4_4(tmp_path):
    source = tmp_path / "tusl"
    ids = write_tusl_fixture(source, subjects=38)
    out = tmp_path / "out"
    manifest = prepare(get_recipe("tusl"), source, out).manifest
    rows = shard_rows(out, manifest)
    assert manifest["label_names"] == ["unannotated", "bckg", "seiz", "slow"]
    assert tusl_labels_from_rows() == TUSL_LABELS
    for rec_id in ids:
        assert rows[rec_id]["label"] == TUSL_LABELS
    assert_no_subject_leak(manifest)
    assert [manifest["splits"][s]["subjects"] for s in ("train", "val", "test")] == [30, 4, 4]
    # The ranking is a salted sha256 of the subject id: the same on every machine.
    rank = sorted(manifest["subjects"], key=lambda s: hashlib.sha256(f"lumamba-bench/tusl/v2:{s}".encode()).digest())
    assert [manifest["subjects"][s] for s in rank] == ["train"] * 30 + ["val"] * 4 + ["test"] * 4
    assert manifest["splits"]["train"]["windows_per_label"] == {
        str(k): TUSL_LABELS.count(k) * manifest["splits"]["train"]["recordings"] for k in sorted(set(TUSL_LABELS))
    }


def test_tusl_split_sizes_for_other_subject_counts():
    from lumamba_bench.recipes.tusl import split_sizes

    assert split_sizes(38) == {"train": 30, "val": 4, "test": 4}
    assert split_sizes(10) == {"train": 8, "val": 1, "test": 1}
    with pytest.raises(LumambaError, match="at least 3 subjects"):
        split_sizes(2)


def test_tuar_labels_at_the_30_percent_boundary(tmp_path):
    """An artifact covering exactly 30% of a window labels it; 29.6% does not (events at 250 Hz:
    1.5 s = 375 of 1250 samples, 1.48 s = 370)."""
    source = tmp_path / "src"
    path = write_tuh_edf(source / "edf/01_tcp_ar" / "aaaaaaaa_s001_t000.edf", tuh_signals(15, 250, 1), 250)
    events = [("FP1-F7", 0.0, 1.5, "musc"), ("FP1-F7", 5.0, 6.48, "musc")]  # w0: 30%, w1: 29.6%, w2: none
    write_tuh_csv(path.with_suffix(".csv"), events, 15)
    for name, expected in [("tuar", [1, 0, 0]), ("tuar-ours-multilabel", [[0, 0, 0, 1, 0], [0] * 5, [0] * 5])]:
        manifest = prepare(get_recipe(name), source, tmp_path / name, allow_partial=True).manifest
        rows = shard_rows(tmp_path / name, manifest)
        assert rows["edf/01_tcp_ar/aaaaaaaa_s001_t000"]["label"] == expected


# ---- the published TUAR protocols, against labels computed here from the annotation rows ----

TCP = [
    "FP1-F7", "F7-T3", "T3-T5", "T5-O1", "FP2-F8", "F8-T4", "T4-T6", "T6-O2", "A1-T3", "T3-C3", "C3-CZ",
    "CZ-C4", "C4-T4", "T4-A2", "FP1-F3", "F3-C3", "C3-P3", "P3-O1", "FP2-F4", "F4-C4", "C4-P4", "P4-O2",
]  # fmt: skip
ARTIFACT = {"chew", "chew_elec", "chew_musc", "elec", "elpp", "eyem", "eyem_chew", "eyem_elec", "eyem_musc",
            "eyem_shiv", "musc", "musc_elec", "shiv", "shiv_elec", "cpsz", "fnsz", "gnsz", "tcsz"}  # fmt: skip
FAMILIES = ["chew", "elec", "eyem", "musc", "shiv"]


def family(code: str) -> int:
    """1..5 for an artifact code's first family, 0 for elpp, seizures, bckg and the unknown."""
    first = code.split("_")[0]
    return FAMILIES.index(first) + 1 if code in ARTIFACT and first in FAMILIES else 0


def per_channel_samples(overwrite: bool, value) -> list[list[int]]:
    """Each TCP channel's 30 s at 256 Hz, written row by row in file order."""
    grid = [[0] * (30 * 256) for _ in TCP]
    for channel, start, stop, code in TUAR_EVENTS:
        if channel not in TCP:
            continue
        v = value(code)
        if v or overwrite:
            for t in range(round(start * 256), min(round(stop * 256), 30 * 256)):
                grid[TCP.index(channel)][t] = v
    return grid


def expected_protocol_labels(protocol: str) -> list:
    size = 5 * 256
    if protocol == "tuar-mc":
        grid = per_channel_samples(False, lambda code: int(code in ARTIFACT))
        return [[int(sum(ch[w * size : (w + 1) * size]) / size >= 0.3) for ch in grid] for w in range(6)]
    grid = per_channel_samples(True, family)
    if protocol == "tuar-mmc":
        labels = []
        for w in range(6):
            row = []
            for ch in grid:
                part = ch[w * size : (w + 1) * size]
                best, best_count = 0, 0
                for value in range(6):  # ascending: a tie keeps the lower code
                    count = part.count(value)
                    if count / size >= 0.3 and count > best_count:
                        best, best_count = value, count
                row.append(best)
            labels.append(row)
        return labels
    labels = []  # tuar-mcc: the one class seen anywhere in the window, or the window is dropped
    for w in range(6):
        seen = {v for ch in grid for v in ch[w * size : (w + 1) * size] if v}
        labels.append(seen.pop() - 1 if len(seen) == 1 else None)
    return labels


def test_the_published_tuar_protocols_label_as_the_rows_say(tuar_source, tmp_path):
    source, ids = tuar_source
    # Read off the fixture's rows by hand: MC marks FP1-F7 (w0), T3-T5 (w2), T4-T6 (w3), F8-T4 (w5);
    # MMC keeps only eyem on FP1-F7 in w0 (80% once elpp overwrote 3-4 s) and the chew/musc tie
    # on T4-T6 in w3 (chew, the lower code); MCC keeps w0, w1 (eyem) and w2 (musc), drops w3, w4
    # (two classes) and w5 (elpp only: no class).
    by_hand_mc = [[int(c == k) for c in range(22)] for k in (0, None, 2, 6, None, 5)]
    by_hand_mmc = [[0] * 22 for _ in range(6)]
    by_hand_mmc[0][0], by_hand_mmc[3][6] = 3, 1
    by_hand_mcc = [2, 2, 3]
    computed = {name: expected_protocol_labels(name) for name in ("tuar-mc", "tuar-mmc", "tuar-mcc")}
    assert computed["tuar-mc"] == by_hand_mc and computed["tuar-mmc"] == by_hand_mmc
    assert [x for x in computed["tuar-mcc"] if x is not None] == by_hand_mcc
    for name, outputs in (("tuar-mc", 22), ("tuar-mmc", 22 * 6), ("tuar-mcc", 5)):
        recipe = get_recipe(name)
        assert recipe.outputs == outputs
        out = tmp_path / name
        manifest = prepare(recipe, source, out, allow_partial=True).manifest
        rows = shard_rows(out, manifest)
        expected = computed[name]
        starts = [5.0 * w for w in range(6) if expected[w] is not None]
        for rec_id in ids:
            assert rows[rec_id]["start_s"] == starts
            assert rows[rec_id]["label"] == [x for x in expected if x is not None]
        if name == "tuar-mcc":
            assert manifest["label_notes"]["dropped_windows"] == {
                "no artifact": len(ids), "several artifact classes": 2 * len(ids)
            }
            assert manifest["splits"]["train"]["windows"] == 3 * manifest["splits"]["train"]["recordings"]
        if name == "tuar-mmc":  # channel-windows per class, over every channel
            counts = files_by_id(manifest)[ids[0]]["label_counts"]
            assert counts == {"0": 6 * 22 - 2, "1": 1, "3": 1}


def test_a_recording_with_no_window_of_the_mcc_task_is_skipped_with_the_reason(tmp_path):
    source = tmp_path / "src"
    path = write_tuh_edf(source / "edf/01_tcp_ar" / "aaaaaaaa_s001_t000.edf", tuh_signals(10, 250, 1), 250)
    write_tuh_csv(path.with_suffix(".csv"), [("FP1-F7", 0.0, 10.0, "bckg")], 10)
    manifest = prepare(get_recipe("tuar-mcc"), source, tmp_path / "out", allow_partial=True).manifest
    entry = files_by_id(manifest)["edf/01_tcp_ar/aaaaaaaa_s001_t000"]
    assert entry["status"] == "skipped"
    assert entry["reason"] == "aaaaaaaa_s001_t000.edf: no window belongs to the task (2 no artifact)"
