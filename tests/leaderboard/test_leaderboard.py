"""Leaderboard: submission rules, deterministic build, and the page in a real browser."""

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lumamba_bench.harness.metrics import compute_metrics
from lumamba_bench.harness.results import RESULTS_SCHEMA, summarise, write_predictions
from lumamba_bench.leaderboard.build import build, generate, stale
from lumamba_bench.leaderboard.submission import SubmissionError, submit

REPO = Path(__file__).resolve().parents[2]
SHA = "ab" * 32


def _results(seed_offset: int = 0, name: str = "lumamba-mixed", split=None) -> tuple[dict, list[dict]]:
    """A binary demo results file whose metrics come from real (random) predictions; with
    ``split`` (the ``demo_split`` fixture) on the windows and labels of a prepared test split."""
    rng = np.random.default_rng(seed_offset)
    seeds, rows = [], []
    for seed in range(3):
        if split is None:
            keys, labels = [(f"r{i}", 0) for i in range(60)], rng.integers(0, 2, 60)
        else:
            keys, labels = list(split["windows"]), np.array(list(split["windows"].values()))
        p1 = np.clip(0.35 * labels + rng.uniform(0, 0.65, len(labels)), 0, 1)
        probs = np.stack([1 - p1, p1], axis=1)
        metrics = compute_metrics("binary", labels, probs)["metrics"]
        seeds.append({"seed": seed, "metrics": metrics, "best_epoch": 2})
        rows += [
            {"seed": seed, "recording_id": rec, "window_index": win, "label": int(y), "probs": p}
            for (rec, win), y, p in zip(keys, labels, probs, strict=True)
        ]
    results = {
        "schema_version": 1,
        "model": {"name": name, "architecture": "lumamba", "family": "lumamba", "objective": "mixed", "scratch": False,
                  "parameters": {"encoder": 4094776, "total": 4687290}, "checkpoint": {"sha256": SHA}},
        "task": {"name": "demo", "recipe": "demo", "recipe_version": "1", "type": "binary",
                 "label_names": ["normal", "abnormal"],
                 "manifest_sha256": SHA if split is None else split["manifest_sha256"]},
        "protocol": {"name": "full", "selection": "lowest val loss", "hyperparameters": {}},
        "seeds": seeds,
        "summary": summarise([s["metrics"] for s in seeds]),
        "environment": {}, "wall_time_s": 12.5, "created": "2026-11-24T00:00:00+00:00",
    }  # fmt: skip
    return results, rows


@pytest.fixture(scope="module")
def demo_split(demo_source, tmp_path_factory) -> dict:
    """A prepared demo dataset: its folder, manifest sha256 and test windows -> labels."""
    from lumamba_bench.recipes import get_recipe

    from lumamba_bench.data.prepare import prepare
    from lumamba_bench.harness.checkpoints import sha256_of
    from lumamba_bench.leaderboard.submission import test_windows

    folder = tmp_path_factory.mktemp("prepared") / "demo"
    prepare(get_recipe("demo"), demo_source, folder)
    sha = sha256_of(folder / "manifest.json")
    windows = test_windows({"task": {"recipe": "demo", "manifest_sha256": sha}}, folder)
    return {"dir": folder, "manifest_sha256": sha, "windows": windows}


@pytest.fixture
def board(tmp_path):
    root = tmp_path / "leaderboard"
    shutil.copytree(REPO / "leaderboard" / "reference", root / "reference")
    (root / "submissions").mkdir()
    return root


def _write(tmp_path, results, name="r.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(results))
    return path


def test_schema_file_is_the_code_schema():
    assert json.loads((REPO / "leaderboard" / "schema.json").read_text()) == RESULTS_SCHEMA


def test_committed_leaderboard_files_are_up_to_date():
    assert stale(REPO / "leaderboard") == []


def test_submit_with_predictions_then_build(board, tmp_path, demo_split):
    results, rows = _results(split=demo_split)
    predictions = write_predictions(rows, tmp_path / "p.parquet")
    stored = submit(_write(tmp_path, results), board, predictions, demo_split["dir"])
    assert stored.parent == board / "submissions" / "demo" and len(stored.stem) == 16
    written = {p.name for p in build(board)}
    assert written == {"README.md", "leaderboard.csv", "index.html", "schema.json"}
    readme = (board / "README.md").read_text()
    mean, std = results["summary"]["auroc"]["mean"], results["summary"]["auroc"]["std"]
    assert f"| 1 | lumamba-mixed | measured | {mean:.4f} ± {std:.4f}" in readme
    assert "| labram-base | reported |" in readme and "## tuab" in readme
    assert generate(board) == generate(board)  # deterministic: same inputs, same bytes
    assert stale(board) == []


def _broken(mutate):
    results, _ = _results()
    mutate(results)
    return results


BAD = {
    "wrong schema version": (lambda r: r.update(schema_version=2), "schema version 2"),
    "missing metric": (lambda r: [s["metrics"].pop("aupr") for s in r["seeds"]], "lacks the required metric 'aupr'"),
    "auroc above 1": (lambda r: r["seeds"][0]["metrics"].update(auroc=1.3), "auroc = 1.3 is outside [0, 1]"),
    "std not from seeds": (lambda r: r["summary"]["auroc"].update(std=0.5), "summary auroc std = 0.5 does not match"),
    "unknown task": (lambda r: r["task"].update(name="../../etc", recipe="../../etc"), "unknown task '../../etc'"),
    "path in model name": (lambda r: r["model"].update(name="../evil"), "schema violation at model/name"),
    "old recipe version": (lambda r: r["task"].update(recipe_version="0"), "recipe version '0'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_submissions_are_refused_with_one_line_and_nothing_written(board, tmp_path, case):
    mutate, message = BAD[case]
    with pytest.raises(SubmissionError, match=message.replace("(", r"\(").replace("[", r"\[")) as error:
        submit(_write(tmp_path, _broken(mutate)), board)
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
    results, rows = _results()
    first = submit(_write(tmp_path, results), board)
    with pytest.raises(SubmissionError, match=f"already submitted as {first}"):
        submit(_write(tmp_path, copy.deepcopy(results), "again.json"), board)
    other, other_rows = _results(seed_offset=7, split=demo_split)
    other_rows[0]["probs"] = [1.0, 0.0] if other_rows[0]["label"] == 1 else [0.0, 1.0]  # flip one prediction
    with pytest.raises(SubmissionError, match="recomputes to"):
        submit(
            _write(tmp_path, other, "o.json"),
            board,
            write_predictions(other_rows, tmp_path / "o.parquet"),
            demo_split["dir"],
        )
    assert len(list((board / "submissions").rglob("*.json"))) == 1


def test_cli_submit_build_show_and_check(board, tmp_path):
    from typer.testing import CliRunner

    from lumamba_bench.cli import app

    runner = CliRunner()
    results, _ = _results()
    ok = runner.invoke(app, ["leaderboard", "submit", str(_write(tmp_path, results)), "--root", str(board)])
    assert ok.exit_code == 0 and "accepted" in ok.output
    refused = runner.invoke(app, ["leaderboard", "submit", str(_write(tmp_path, results)), "--root", str(board)])
    assert refused.exit_code != 0 and "already submitted" in str(refused.exception)
    assert runner.invoke(app, ["leaderboard", "build", "--check", "--root", str(board)]).exit_code != 0
    assert runner.invoke(app, ["leaderboard", "build", "--root", str(board)]).exit_code == 0
    assert runner.invoke(app, ["leaderboard", "build", "--check", "--root", str(board)]).exit_code == 0
    assert runner.invoke(app, ["leaderboard", "validate", "--root", str(board)]).exit_code == 0
    shown = runner.invoke(app, ["leaderboard", "show", "--task", "demo", "--root", str(board)])
    assert shown.exit_code == 0 and "lumamba-mixed" in shown.output


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_page_renders_sorts_and_escapes_in_headless_chromium(board, tmp_path):
    results, _ = _results()
    submit(_write(tmp_path, results), board)
    second, _ = _results(seed_offset=3, name="luna-base")
    submit(_write(tmp_path, second, "b.json"), board)
    row = {"task": "demo", "model": "<script>alert(1)</script>", "parameters": 1000000, "metrics": {"auroc": 0.5}}
    evil = {"citation": "<img src=x onerror=alert(2)>", "entries": [row]}
    (board / "reference" / "evil.json").write_text(json.dumps(evil))
    build(board)
    page = (board / "index.html").resolve()
    assert "<script>alert(1)</script>" not in page.read_text()

    def dom(fragment: str = "") -> str:
        command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--no-first-run",
                   f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri() + fragment]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout

    rendered = dom()
    assert 'id="table-demo"' in rendered and 'id="table-tuab"' in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered  # shown as text, not run
    assert "<script>alert(1)</script>" not in rendered and "<img src" not in rendered

    def models_in_order(html: str) -> list[str]:
        table = html[html.index('id="table-demo"') : html.index("</table>", html.index('id="table-demo"'))]
        return [row.split("<td>")[1].split("</td>")[0] for row in table.split("<tr")[2:]]

    best_first = models_in_order(rendered)
    ascending = models_in_order(dom("#sort=demo:3:asc"))  # column 3: auroc, sorted by the page's script
    assert ascending == list(reversed(best_first))
    assert ascending[0] == "&lt;script&gt;alert(1)&lt;/script&gt;"  # auroc 0.5 is the lowest


@pytest.mark.parametrize("change", [+0.01, -0.01, "stated-undefined", "recomputed-undefined"])
def test_a_stated_metric_must_recompute_from_the_predictions(tmp_path, change):
    """Higher or lower than recomputed, or defined on one side only: refused."""
    from lumamba_bench.leaderboard.submission import check_predictions

    results, rows = _results()
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


def test_summary_of_one_seed_has_zero_std_and_of_none_is_undefined():
    assert summarise([{"auroc": 0.8}]) == {"auroc": {"mean": 0.8, "std": 0.0, "n": 1}}
    two = summarise([{"auroc": 0.8}, {"auroc": 0.6}, {"auroc": None}])
    assert two["auroc"]["n"] == 2 and two["auroc"]["std"] == pytest.approx(np.std([0.8, 0.6], ddof=1))
    assert summarise([{"auroc": None}]) == {"auroc": {"mean": None, "std": None, "n": 0}}


def test_results_record_the_checkout_commit():
    from lumamba_bench.harness.results import git_commit

    expected = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO)
    if expected.returncode != 0:
        pytest.skip("not a git checkout")
    assert git_commit() == expected.stdout.strip()


def test_nan_summaries_and_a_resubmitted_run_are_refused(board, tmp_path):
    results, _ = _results()
    broken = copy.deepcopy(results)
    broken["summary"]["auroc"]["std"] = float("nan")
    with pytest.raises(SubmissionError, match="summary auroc std = nan is not a number"):
        submit(_write(tmp_path, broken, "nan.json"), board)
    first = submit(_write(tmp_path, results), board)
    again = copy.deepcopy(results) | {"created": "2026-12-01T00:00:00+00:00", "wall_time_s": 99.0}
    with pytest.raises(SubmissionError, match=re.escape(f"already submitted as {first} (the same run)")):
        submit(_write(tmp_path, again, "again.json"), board)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r["task"].update(type="multiclass"), "task type 'multiclass'; demo is binary"),
        (lambda r: r["task"].update(label_names=["a", "b"]), "label names"),
        (lambda r: r["model"]["parameters"].update(encoder=9_900_000), "9,900,000 encoder parameters for lumamba"),
    ],
)
def test_results_must_agree_with_their_task_and_model(board, tmp_path, change, message):
    results, _ = _results()
    change(results)
    with pytest.raises(SubmissionError, match=message):
        submit(_write(tmp_path, results), board)


def test_hostile_json_and_malformed_probabilities_are_one_line_refusals(board, tmp_path, demo_split):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 2000 + "]" * 2000)
    with pytest.raises(SubmissionError, match="nested too deeply"):
        submit(deep, board)
    results, rows = _results(split=demo_split)
    one_column = [r | {"probs": [r["probs"][1]]} for r in rows]
    with pytest.raises(SubmissionError, match="the task needs 2 per window"):
        submit(
            _write(tmp_path, results), board, write_predictions(one_column, tmp_path / "one.parquet"), demo_split["dir"]
        )
    ragged = [r | {"probs": list(r["probs"]) + ([0.0] if i == 0 else [])} for i, r in enumerate(rows)]
    with pytest.raises(SubmissionError, match="different lengths"):
        submit(
            _write(tmp_path, results), board, write_predictions(ragged, tmp_path / "ragged.parquet"), demo_split["dir"]
        )


def _predictions_refused(tmp_path, board, demo_split, results, rows, message):
    with pytest.raises(SubmissionError, match=message) as error:
        submit(_write(tmp_path, results), board, write_predictions(rows, tmp_path / "bad.parquet"), demo_split["dir"])
    assert "\n" not in str(error.value)
    assert list((board / "submissions").rglob("*.json")) == []


def test_predictions_must_cover_exactly_the_test_windows_with_their_labels(board, tmp_path, demo_split):
    """Two windows predicted out of the split's 32, a window twice, one not in the split, a flipped
    label: each refused, whatever metrics the rows recompute to."""
    results, rows = _results(split=demo_split)
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
    elsewhere["task"]["manifest_sha256"] = SHA
    _predictions_refused(tmp_path, board, demo_split, elsewhere, rows, "not the same test split")
    with pytest.raises(SubmissionError, match="give its dataset folder"):
        submit(_write(tmp_path, results), board, write_predictions(rows, tmp_path / "p.parquet"))
