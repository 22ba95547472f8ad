"""Results files forged or broken in form, in their numbers, or against their task, model and
test split: each refused in one line, nothing stored."""

import copy
import json
import re

import numpy as np
import pytest
from submissions import SHA, demo_results, write_json

from lumamba_bench.harness.metrics import compute_metrics
from lumamba_bench.harness.results import summarise, write_predictions
from lumamba_bench.leaderboard import submission
from lumamba_bench.leaderboard.submission import SubmissionError, submit


def _broken(mutate):
    results, _ = demo_results()
    mutate(results)
    return results


BAD = {
    "wrong schema version": (lambda r: r.update(schema_version=2), "schema version 2"),
    "missing metric": (lambda r: [s["metrics"].pop("aupr") for s in r["seeds"]], "lacks the required metric 'aupr'"),
    "auroc above 1": (lambda r: r["seeds"][0]["metrics"].update(auroc=1.3), "seed 0 auroc = 1.3 is outside [0, 1]"),
    "auroc below 0": (lambda r: r["seeds"][0]["metrics"].update(auroc=-0.2), "auroc = -0.2 is outside [0, 1]"),
    "std not from seeds": (lambda r: r["summary"]["auroc"].update(std=0.5), "summary auroc std = 0.5 does not match"),
    "unknown task": (lambda r: r["task"].update(name="../../etc", recipe="../../etc"), "unknown task '../../etc'"),
    "path in model name": (lambda r: r["model"].update(name="../evil"), "schema violation at model/name"),
    "old recipe version": (lambda r: r["task"].update(recipe_version="0"), "recipe version '0'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_submissions_are_refused_with_one_line_and_nothing_written(board, tmp_path, case):
    mutate, message = BAD[case]
    with pytest.raises(SubmissionError, match=message.replace("(", r"\(").replace("[", r"\[")) as error:
        submit(write_json(tmp_path, _broken(mutate)), board)
    assert "\n" not in str(error.value)
    assert list((board / "submissions").rglob("*")) == []


def test_malformed_huge_duplicate_and_mismatched_predictions(board, tmp_path, demo_split):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"schema_version": 1,')
    with pytest.raises(SubmissionError, match="bad.json: not valid JSON"):
        submit(bad_json, board)
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    with pytest.raises(SubmissionError, match="50.0 MiB is too large"):
        submit(huge, board)
    results, rows = demo_results()
    first = submit(write_json(tmp_path, results), board)
    with pytest.raises(SubmissionError, match=f"already submitted as {first}"):
        submit(write_json(tmp_path, copy.deepcopy(results), "again.json"), board)
    other, other_rows = demo_results(seed_offset=7, split=demo_split)
    other_rows[0]["probs"] = [1.0, 0.0] if other_rows[0]["label"] == 1 else [0.0, 1.0]  # flip one prediction
    with pytest.raises(SubmissionError, match="recomputes to"):
        submit(
            write_json(tmp_path, other, "o.json"),
            board,
            write_predictions(other_rows, tmp_path / "o.parquet"),
            demo_split["dir"],
        )
    assert len(list((board / "submissions").rglob("*.json"))) == 1


@pytest.mark.parametrize("change", [+0.01, -0.01, "stated-undefined", "recomputed-undefined"])
def test_a_stated_metric_must_recompute_from_the_predictions(tmp_path, change):
    """Higher or lower than recomputed, or defined on one side only: refused."""
    from lumamba_bench.leaderboard.submission import check_predictions

    results, rows = demo_results()
    predictions = write_predictions(rows, tmp_path / "p.parquet")
    check_predictions(results, predictions)  # as written: accepted
    metrics = results["seeds"][1]["metrics"]
    if change == "stated-undefined":
        metrics["auroc"] = None
    elif change == "recomputed-undefined":
        metrics["made_up_metric"] = 0.5
    else:
        metrics["auroc"] += change
    with pytest.raises(SubmissionError, match="seed 1"):
        check_predictions(results, predictions)


def test_nan_summaries_and_a_resubmitted_run_are_refused(board, tmp_path):
    results, _ = demo_results()
    broken = copy.deepcopy(results)
    broken["summary"]["auroc"]["std"] = float("nan")
    with pytest.raises(SubmissionError, match="summary auroc std = nan is not a number"):
        submit(write_json(tmp_path, broken, "nan.json"), board)
    first = submit(write_json(tmp_path, results), board)
    again = copy.deepcopy(results) | {"created": "2026-12-01T00:00:00+00:00", "wall_time_s": 99.0}
    with pytest.raises(SubmissionError, match=re.escape(f"already submitted as {first} (the same run)")):
        submit(write_json(tmp_path, again, "again.json"), board)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r["task"].update(type="multiclass"), "task type 'multiclass'; demo is binary"),
        (lambda r: r["task"].update(label_names=["a", "b"]), "label names"),
        (lambda r: r["model"]["parameters"].update(encoder=9_900_000), "9,900,000 encoder parameters for lumamba"),
    ],
)
def test_results_must_agree_with_their_task_and_model(board, tmp_path, change, message):
    results, _ = demo_results()
    change(results)
    with pytest.raises(SubmissionError, match=message):
        submit(write_json(tmp_path, results), board)


def test_hostile_json_and_malformed_probabilities_are_one_line_refusals(board, tmp_path, demo_split):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 2000 + "]" * 2000)
    with pytest.raises(SubmissionError, match="nested too deeply"):
        submit(deep, board)
    results, rows = demo_results(split=demo_split)
    one_column = [r | {"probs": [r["probs"][1]]} for r in rows]
    ragged = [r | {"probs": list(r["probs"]) + ([0.0] if i == 0 else [])} for i, r in enumerate(rows)]
    for bad_rows, message in ((one_column, "the task needs 2 per window"), (ragged, "different lengths")):
        predictions = write_predictions(bad_rows, tmp_path / "bad.parquet")
        with pytest.raises(SubmissionError, match=message):
            submit(write_json(tmp_path, results), board, predictions, demo_split["dir"])


def _predictions_refused(tmp_path, board, demo_split, results, rows, message):
    with pytest.raises(SubmissionError, match=message) as error:
        submit(
            write_json(tmp_path, results), board, write_predictions(rows, tmp_path / "bad.parquet"), demo_split["dir"]
        )
    assert "\n" not in str(error.value)
    assert list((board / "submissions").rglob("*.json")) == []


def test_predictions_must_cover_exactly_the_test_windows_with_their_labels(board, tmp_path, demo_split):
    """Two windows predicted out of the split's 32, a window twice, one not in the split, a flipped
    label: each refused, whatever metrics the rows recompute to."""
    results, rows = demo_results(split=demo_split)
    n = len(demo_split["windows"])

    def restated(subset):  # metrics recomputed from the subset, so only the window check can refuse it
        changed = copy.deepcopy(results)
        for seed in changed["seeds"]:
            mine = [r for r in subset if r["seed"] == seed["seed"]]
            labels = np.array([r["label"] for r in mine])
            seed["metrics"] = compute_metrics("binary", labels, np.array([r["probs"] for r in mine]))["metrics"]
        changed["summary"] = summarise([s["metrics"] for s in changed["seeds"]])
        return changed

    by_seed = [[r for r in rows if r["seed"] == s] for s in range(3)]
    two = [r for part in by_seed for r in (part[0], part[-1])]
    _predictions_refused(tmp_path, board, demo_split, restated(two), two, f"predicts 2 windows; the test split has {n}")
    twice = [r for part in by_seed for r in part + part[:1]]
    _predictions_refused(tmp_path, board, demo_split, restated(twice), twice, "more than once")
    moved = [dict(r, window_index=r["window_index"] + 1000) if i == 0 else r for i, r in enumerate(rows)]
    _predictions_refused(
        tmp_path, board, demo_split, restated(moved), moved, "1 not in it; missing .*; not a test window"
    )
    flipped = [dict(r, label=1 - r["label"]) if i == 0 else r for i, r in enumerate(rows)]
    _predictions_refused(tmp_path, board, demo_split, restated(flipped), flipped, "the dataset says")
    elsewhere = copy.deepcopy(results)
    elsewhere["task"]["dataset_sha256"] = SHA
    _predictions_refused(tmp_path, board, demo_split, elsewhere, rows, "not the same prepared data")
    with pytest.raises(SubmissionError, match="give its dataset folder"):
        submit(write_json(tmp_path, results), board, write_predictions(rows, tmp_path / "p.parquet"))


def test_absurd_numbers_are_refused_at_the_door(board, tmp_path):
    """10**400 parameters passed the old schema and then crashed `build` for everyone."""
    for change, where in [
        (lambda r: r["model"]["parameters"].update(encoder=10**400), "model/parameters/encoder"),
        (lambda r: r.update(wall_time_s=1e300), "wall_time_s"),
        (lambda r: r["seeds"][0].update(seed=-5), "seeds/0/seed"),
        (lambda r: r["summary"]["auroc"].update(std=1e300), "summary/auroc/std"),
    ]:
        results, _ = demo_results()
        change(results)
        with pytest.raises(SubmissionError, match=f"schema violation at {where}"):
            submit(write_json(tmp_path, results), board)


def test_a_stored_file_edited_or_broken_after_acceptance_is_one_line_for_validate_and_build(board, tmp_path):
    from lumamba_bench.errors import LumambaError
    from lumamba_bench.leaderboard.build import build
    from lumamba_bench.leaderboard.submission import load_stored

    results, _ = demo_results()
    stored = submit(write_json(tmp_path, results), board)
    edited = json.loads(stored.read_text())
    edited["model"]["name"] = "lumamba-better"  # consistent: schema, ranges and summary still hold
    stored.write_text(json.dumps(edited))
    with pytest.raises(SubmissionError, match="content hashes to .*edited after it was accepted"):
        load_stored(stored)
    with pytest.raises(LumambaError, match="edited after it was accepted"):
        build(board)
    stored.write_text('{"schema_version": 1, "model": ')
    with pytest.raises(LumambaError, match=f"{stored.name}: not valid JSON"):
        build(board)


def test_prediction_rows_are_exactly_the_reported_seeds_and_real_probabilities(board, tmp_path, demo_split):
    """An extra seed, a NaN, a probability outside [0, 1] and scores that are no softmax: each
    refused with its row, whatever metrics the rows recompute to."""
    results, rows = demo_results(split=demo_split)

    def restated(changed_rows):
        changed = copy.deepcopy(results)
        for seed in changed["seeds"]:
            mine = [r for r in changed_rows if r["seed"] == seed["seed"]]
            probs = np.nan_to_num(np.array([r["probs"] for r in mine]))
            labels = np.array([r["label"] for r in mine])
            seed["metrics"] = compute_metrics("binary", labels, probs)["metrics"]
        changed["summary"] = summarise([s["metrics"] for s in changed["seeds"]])
        return changed

    extra = rows + [dict(r, seed=3) for r in rows if r["seed"] == 0]
    _predictions_refused(tmp_path, board, demo_split, results, extra, r"seed\(s\) \[3\], which the results do not")
    for bad, message in (
        ([np.nan, 1.0], "not a finite number"),
        ([-0.5, 1.5], r"outside \[0, 1\]"),
        ([0.2, 0.2], "sum to"),
    ):
        changed = [dict(r, probs=np.array(bad)) if i == 5 else r for i, r in enumerate(rows)]
        _predictions_refused(tmp_path, board, demo_split, restated(changed), changed, f"seed 0 row 5.*{message}")


def test_multi_output_predictions_are_checked_per_channel():
    """tuar-mmc: 22 channels x 6 classes per window; each channel's softmax must sum to 1."""
    from lumamba_bench.data.recipe import get_recipe
    from lumamba_bench.leaderboard.submission import check_prediction_table

    recipe = get_recipe("tuar-mmc")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, (40, 22))
    logits = rng.normal(size=(40, 22, 6)) + 2.0 * np.eye(6)[labels]
    probs = (np.exp(logits) / np.exp(logits).sum(2, keepdims=True)).reshape(40, -1)
    metrics = compute_metrics("multioutput", labels, probs)["metrics"]
    results = {"task": {"recipe": "tuar-mmc", "type": "multioutput", "label_names": list(recipe.label_names)},
               "seeds": [{"seed": 0, "metrics": metrics}]}  # fmt: skip
    table = {"seed": np.zeros(40, dtype=int), "label": labels, "probs": probs}
    check_prediction_table(results, table, "mmc.parquet")  # 132 probabilities a window: accepted
    skewed = probs.copy()
    skewed[3, :6] *= 0.5
    with pytest.raises(SubmissionError, match="row 3: probabilities sum to"):
        check_prediction_table(results, dict(table, probs=skewed), "mmc.parquet")


def test_results_on_part_of_a_corpus_are_refused(board, tmp_path, demo_source):
    """A results file that says it was made on part of a corpus, and predictions checked against
    a dataset prepared with --limit: both refused, naming why."""
    from lumamba_bench.data.manifest import dataset_sha256, read_manifest
    from lumamba_bench.data.prepare import prepare
    from lumamba_bench.data.recipe import get_recipe

    results, _ = demo_results()
    results["task"]["partial"] = "prepared with --limit 4"
    with pytest.raises(SubmissionError, match=r"made on part of demo \(prepared with --limit 4\)"):
        submit(write_json(tmp_path, results), board)

    folder = tmp_path / "limited" / "demo"
    prepare(get_recipe("demo"), demo_source, folder, limit=4)
    results, _ = demo_results()
    results["task"]["dataset_sha256"] = dataset_sha256(read_manifest(folder, "demo"))  # made on it, saying nothing
    with pytest.raises(SubmissionError, match="was prepared with --limit 4: the board takes results on the whole"):
        submission.windows_of_test_split(results, folder)


def test_markdown_cells_cannot_become_links_images_or_tags():
    from lumamba_bench.leaderboard.render import markdown_cell

    cell = markdown_cell("![x](https://evil.example/t.png) [click](javascript:alert(1)) <b>*bold*</b> `code` a|b\nc")
    assert "](" not in cell.replace("\\](", "") and "<b>" not in cell and "\n" not in cell
    assert cell.startswith("![x\\](") and "\\*bold\\*" in cell and "a\\|b" in cell and "\\`code\\`" in cell


def test_a_card_nested_too_deeply_or_too_large_is_one_line(tmp_path):
    from lumamba_bench.leaderboard.cards import CardError, read_card

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CardError, match="nested too deeply"):
        read_card(deep)
    large = tmp_path / "large.json"
    large.write_text(json.dumps({"name": "x" * 300_000}))
    with pytest.raises(CardError, match="too large for a model card"):
        read_card(large)


def test_a_card_must_agree_with_the_pre_training_the_results_record(board, tmp_path):
    from submissions import model_card

    from lumamba_bench.leaderboard.cards import CardError

    results, _ = demo_results(seed_offset=21, name="fresh-model")
    results["model"]["checkpoint"]["pretraining"] = {"task": "tueg"}
    (tmp_path / "none.json").write_text(json.dumps(model_card("fresh-model", corpora=(), excluded=())))
    with pytest.raises(CardError, match="record pre-training on tueg; the card of fresh-model lists no"):
        submit(write_json(tmp_path, results), board, card=tmp_path / "none.json")
    (tmp_path / "tueg.json").write_text(json.dumps(model_card("fresh-model", corpora=("tueg",))))
    assert submit(write_json(tmp_path, results), board, card=tmp_path / "tueg.json").is_file()


def test_an_encoder_outside_the_package_needs_its_size_on_its_card_and_is_flagged(board, tmp_path):
    from submissions import model_card

    from lumamba_bench.leaderboard.build import build
    from lumamba_bench.leaderboard.cards import CardError

    results, _ = demo_results(seed_offset=22, name="toy-net")
    results["model"]["architecture"] = results["model"]["family"] = "toy"
    card = model_card("toy-net") | {"architecture": "toy", "family": "toy", "parameters": None}
    (tmp_path / "toy.json").write_text(json.dumps(card))
    with pytest.raises(CardError, match="toy is not an encoder this package knows; its card must state"):
        submit(write_json(tmp_path, results), board, card=tmp_path / "toy.json")
    (tmp_path / "toy.json").write_text(json.dumps(card | {"parameters": 4094776}))
    submit(write_json(tmp_path, results), board, card=tmp_path / "toy.json")
    build(board)
    row = next(line for line in (board / "README.md").read_text().splitlines() if "| toy-net |" in line)
    assert "encoder outside this package: its size is its card" in row
