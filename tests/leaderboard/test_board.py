"""Leaderboard v2: model cards and the overlap flag, the default view, the overall ranking,
paired tests on the page, compute columns and the unseen-montage track."""

import copy
import json

import pytest
from submissions import SHA, demo_results, model_card, write_json

from lumamba_bench.harness.results import write_predictions
from lumamba_bench.leaderboard import cards
from lumamba_bench.leaderboard.build import build
from lumamba_bench.leaderboard.cards import CardError
from lumamba_bench.leaderboard.submission import SubmissionError, load_stored, submit
from lumamba_bench.leaderboard.tables import Row, overall, tables


@pytest.mark.parametrize(
    ("corpora", "excluded", "task", "flag"),
    [
        ((), (), "tuab", "none"),  # no pre-training
        (("tueg",), ("tuab", "tuar", "tusl"), "tuab", "same corpus"),  # LUNA's and FEMBA's statement
        (("tueg",), (), "tuab", "test subjects seen"),  # TUEG holds TUAB's recordings
        (("tueg",), ("tuab",), "tusl", "test subjects seen"),  # left out for one task, not another
        (("tueg",), (), "apava", "none"),  # another corpus
        (("demo",), ("demo",), "demo", "same corpus"),  # pre-trained on the demo's train split
        (("tuab",), (), "tuab", "test subjects seen"),
        (("tueg",), ("tuar",), "tuar-mcc", "same corpus"),  # every TUAR protocol is the TUAR corpus
        (("tueg",), ("tuab",), "tuar-mmc", "test subjects seen"),
    ],
)
def test_overlap_flag_follows_from_card_and_recipe(corpora, excluded, task, flag):
    assert cards.overlap(model_card("m", corpora=corpora, excluded=excluded), task) == flag


def test_pretraining_card_names_its_corpus_and_the_corpora_whose_subjects_it_left_out():
    store = {"model": "lumamba-mixed", "architecture": "lumamba", "objective": "mixed", "parameters": 4094776,
             "corpus": "tueg", "manifest_sha256": "c" * 64, "step": 100, "input_normalisation": "channelwise-zscore",
             "tool_version": "0.1.0"}  # fmt: skip
    manifest = {"excluded_files": [{"path": "a.edf", "reason": "subject aaaa is in tuab"},
                                   {"path": "b.edf", "reason": "subject bbbb is in tusl"}]}  # fmt: skip
    card = cards.card_from_pretraining(store, manifest, "d" * 64, "lumamba")
    cards.check_card(card, "made")
    assert card["pretraining"]["corpora"] == ["tueg"]
    assert card["pretraining"]["test_subjects_excluded_for"] == ["tuab", "tueg", "tusl"]
    assert cards.overlap(card, "tuab") == "same corpus" and cards.overlap(card, "tuar") == "test subjects seen"
    assert card["weights"] == {"licence": "not stated (trained here)", "source": "trained here", "sha256": "d" * 64}


def test_a_submission_needs_a_matching_card(board, tmp_path):
    results, _ = demo_results(name="unknown-model")
    with pytest.raises(CardError, match="no model card for 'unknown-model'.*leaderboard/models/unknown-model.json"):
        submit(write_json(tmp_path, results), board)
    wrong = model_card("unknown-model", sha256="e" * 64)
    (tmp_path / "card.json").write_text(json.dumps(wrong))
    with pytest.raises(CardError, match="names weights eeeeeeeeeeee"):
        submit(write_json(tmp_path, results), board, card=tmp_path / "card.json")
    (tmp_path / "card.json").write_text(json.dumps(model_card("unknown-model")))
    stored = submit(write_json(tmp_path, results), board, card=tmp_path / "card.json")
    assert (board / "models" / "unknown-model.json").is_file()  # the card joins the board with the submission
    assert load_stored(stored)["model"]["name"] == "unknown-model"
    (board / "models" / "unknown-model.json").unlink()
    with pytest.raises(SubmissionError, match="no model card"):
        load_stored(stored)


def test_a_different_card_under_a_taken_name_is_refused(board, tmp_path):
    results, _ = demo_results()
    other = model_card("lumamba-mixed-test") | {"code_revision": "something else"}
    (tmp_path / "card.json").write_text(json.dumps(other))
    with pytest.raises(CardError, match="already holds a different card"):
        submit(write_json(tmp_path, results), board, card=tmp_path / "card.json")


def test_a_scratch_model_gets_its_card_made(board, tmp_path):
    results, _ = demo_results(name="lumamba-lejepa-scratch")
    results["model"].update(scratch=True, checkpoint=None)
    submit(write_json(tmp_path, results), board)
    card = cards.read_card(board / "models" / "lumamba-lejepa-scratch.json")
    assert card["weights"]["source"] == cards.SCRATCH_SOURCE and card["pretraining"]["corpora"] == []
    assert card["parameters"] == 4094776 and card["input_normalisation"] == "channelwise-zscore"


def _row(task, model, score, overlap="none", source="reported", comparable=True):
    row = Row(task, model, source, 1_000_000, {"auroc": (score, None), "auroc_macro": (score, None)},
              comparable=comparable)  # fmt: skip
    row.overlap = overlap
    return row


def test_default_view_ranks_only_rows_without_seen_test_subjects_and_comparable_protocols():
    rows = [_row("tuab", "a", 0.80), _row("tuab", "b", 0.95, overlap="test subjects seen"),
            _row("tuab", "c", 0.85, overlap="same corpus"), _row("tuab", "d", 0.99, comparable=False)]  # fmt: skip
    (table,) = tables(rows)
    assert [(r.model, r.rank) for r in table.rows] == [("c", 1), ("a", 2), ("d", None), ("b", None)]


def test_overall_ranking_never_puts_a_model_missing_a_task_above_one_that_has_it():
    rows = [_row("tuab", "two-tasks", 0.80), _row("tusl", "two-tasks", 0.60),
            _row("tuab", "one-task", 0.90), _row("tusl", "other", 0.70)]  # fmt: skip
    standings = overall(tables(rows))
    assert [(s.model, s.tasks, s.mean_rank) for s in standings] == [
        ("two-tasks", 2, 2.0), ("one-task", 1, 1.0), ("other", 1, 1.0)
    ]  # fmt: skip
    assert overall(tables([_row("demo", "synthetic-only", 0.9)])) == []  # the demo never counts


def _submit(board, tmp_path, demo_split, name, offset, signal):
    results, rows = demo_results(seed_offset=offset, name=name, split=demo_split, signal=signal)
    file = write_json(tmp_path, results, f"{name}-{offset}.json")
    return submit(file, board, write_predictions(rows, tmp_path / f"{name}-{offset}.parquet"), demo_split["dir"])


def test_paired_tests_on_the_page_separate_noise_from_a_clear_gain(board, tmp_path, demo_split):
    _submit(board, tmp_path, demo_split, "lumamba-mixed-test", 1, 0.35)
    _submit(board, tmp_path, demo_split, "luna-base-test", 2, 0.35)  # same strength, other noise
    build(board)
    readme, page = (board / "README.md").read_text(), (board / "index.html").read_text()
    assert "not significantly different from" in readme and "not significantly different from" in page
    (board / "models" / "strong.json").write_text(json.dumps(model_card("strong")))
    _submit(board, tmp_path, demo_split, "strong", 3, 0.9)
    build(board)
    readme = (board / "README.md").read_text()
    notes = [line for line in readme.splitlines() if line.startswith("- ") and "from strong (p = " in line]
    assert len(notes) == 2 and all(": significantly different from strong" in n for n in notes)
    assert all(float(n.split("p = ")[1].rstrip(")")) < 0.05 for n in notes)
    demo = readme[readme.index("## demo") :].split("\n## ")[0]
    strong = next(line for line in demo.splitlines() if "| strong |" in line)
    assert strong.startswith("| 1 | strong | measured | none |") and "[" in strong  # ranked first, with intervals


def test_unseen_montage_results_have_their_own_table(board, tmp_path):
    results, _ = demo_results()
    shifted = copy.deepcopy(results)
    shifted["protocol"]["montage_shift"] = {"train_channels": "all", "test_channels": "10-20-16ch", "montages": {}}
    shifted["seeds"][0]["metrics"]["auroc"] = 0.5  # another run
    from lumamba_bench.harness.results import summarise

    shifted["summary"] = summarise([s["metrics"] for s in shifted["seeds"]])
    submit(write_json(tmp_path, results), board)
    submit(write_json(tmp_path, shifted, "shifted.json"), board)
    build(board)
    readme = (board / "README.md").read_text()
    assert "## demo, unseen montage: all -> 10-20-16ch" in readme
    section = readme[readme.index("## demo, unseen montage") :].split("\n## ")[0]
    assert section.count("| lumamba-mixed-test |") == 1
    broken = copy.deepcopy(shifted)
    broken["protocol"]["montage_shift"] = {"train_channels": "all"}
    with pytest.raises(SubmissionError, match="montage_shift"):
        submit(write_json(tmp_path, broken, "broken.json"), board)


def test_compute_columns_come_from_the_card(board, tmp_path):
    from lumamba_bench.leaderboard.compute import measure_into_card

    card = model_card("lumamba-mixed-test")
    (board / "models" / "lumamba-mixed-test.json").write_text(json.dumps(card))
    compute = measure_into_card(board / "models" / "lumamba-mixed-test.json")
    assert compute["gflops_forward_5s"] == pytest.approx(0.380, abs=0.005) and compute["train_step_memory_mib_5s"] > 0
    results, _ = demo_results()
    submit(write_json(tmp_path, results), board)
    build(board)
    demo = (board / "README.md").read_text().split("## demo")[1]
    row = next(line for line in demo.splitlines() if "| lumamba-mixed-test |" in line)
    assert f"| {compute['gflops_forward_5s']:.3f} | {compute['train_step_memory_mib_5s']:.0f} |" in row
    assert SHA[:12] in row


def test_a_recipe_can_rank_its_task_by_another_metric(monkeypatch):
    from lumamba_bench.recipes.tuab import TUAB

    monkeypatch.setattr(TUAB, "main_score", "aupr")
    rows = [Row("tuab", "a", "reported", None, {"auroc": (0.9, None), "aupr": (0.5, None)}),
            Row("tuab", "b", "reported", None, {"auroc": (0.8, None), "aupr": (0.7, None)})]  # fmt: skip
    for row in rows:
        row.overlap = "none"
    (table,) = tables(rows)
    assert table.metrics[0] == "aupr" and [r.model for r in table.rows] == ["b", "a"]


def test_reported_vs_measured_says_whether_the_published_value_lies_in_the_measured_interval():
    from lumamba_bench.leaderboard import uncertainty
    from lumamba_bench.leaderboard.render import markdown
    from lumamba_bench.leaderboard.tables import reported_vs_measured

    results, rows = demo_results(seed_offset=4, name="lumamba-mixed-test", signal=0.35)
    rows = [r for r in rows if r["seed"] == 0]  # made-up windows: each seed draws its own labels
    table = {k: [r[k] for r in rows] for k in rows[0]}
    mean = results["seeds"][0]["metrics"]["auroc"]
    measured = _row("demo", "lumamba-mixed-test", mean, source="measured")
    measured.predictions = uncertainty.from_table(table, "binary", by_recording=False)
    inside = _row("demo", "lumamba-mixed-test", mean + 0.001)
    outside = _row("demo", "lumamba-mixed-test", 0.999)
    other = _row("demo", "someone-else", 0.5)
    board = tables([measured, inside, outside, other])
    agreements = [a for a in reported_vs_measured(board) if a.metric == "auroc"]
    low, high = measured.ci["window", "auroc"]
    assert low < mean < high
    assert sorted((a.published, a.inside) for a in agreements) == [(mean + 0.001, True), (0.999, False)]
    text = markdown(board, [])
    assert "## reported vs measured" in text and "| demo | lumamba-mixed-test | auroc | 0.9990 |" in text
    assert "| no |" in text
    empty = markdown(tables([other]), [])
    assert "No model has both a published and a measured row" in empty


def test_the_board_stores_no_path_of_the_submitters_machine(board, tmp_path):
    results, _ = demo_results(seed_offset=7)
    results["model"]["checkpoint"]["path"] = "/home/someone/models/encoder.safetensors"
    (tmp_path / "card.json").write_text(json.dumps(model_card("lumamba-mixed-test")))
    stored = submit(write_json(tmp_path, results), board, card=tmp_path / "card.json")
    kept = json.loads(stored.read_text())
    assert kept["model"]["checkpoint"] == {"sha256": SHA} and "/home/someone" not in stored.read_text()
    assert load_stored(stored)["model"]["checkpoint"] == {"sha256": SHA}
