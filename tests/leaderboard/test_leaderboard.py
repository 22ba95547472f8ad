"""Leaderboard: submission rules, deterministic build, and the page in a real browser."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from submissions import demo_results, model_card, write_json

from lumamba_bench.harness.results import RESULTS_SCHEMA, summarise, write_predictions
from lumamba_bench.leaderboard.build import build, generate, stale
from lumamba_bench.leaderboard.cards import CARD_SCHEMA
from lumamba_bench.leaderboard.submission import submit

REPO = Path(__file__).resolve().parents[2]


def test_schema_file_is_the_code_schema():
    schemas = json.loads((REPO / "leaderboard" / "schema.json").read_text())
    assert schemas == {"results": RESULTS_SCHEMA, "model_card": CARD_SCHEMA}


def test_committed_leaderboard_files_are_up_to_date():
    assert stale(REPO / "leaderboard") == []


def test_submit_with_predictions_then_build(board, tmp_path, demo_split):
    results, rows = demo_results(split=demo_split)
    predictions = write_predictions(rows, tmp_path / "p.parquet")
    stored = submit(write_json(tmp_path, results), board, predictions, demo_split["dir"])
    assert stored.parent == board / "submissions" / "demo" and len(stored.stem) == 16
    assert stored.with_suffix(".predictions.parquet").is_file()  # kept: the intervals come from it
    written = {p.name for p in build(board)}
    assert written == {"README.md", "leaderboard.csv", "index.html", "schema.json"}
    readme = (board / "README.md").read_text()
    mean, std = results["summary"]["auroc"]["mean"], results["summary"]["auroc"]["std"]
    assert f"| 1 | lumamba-mixed-test | measured | none | {mean:.4f} ± {std:.4f} [" in readme
    assert "| labram-base | reported |" in readme and "## tuab" in readme
    assert generate(board) == generate(board)  # deterministic: same inputs, same bytes
    assert stale(board) == []


def test_cli_submit_build_show_and_check(board, tmp_path):
    from typer.testing import CliRunner

    from lumamba_bench.cli import app

    runner = CliRunner()
    results, _ = demo_results()
    ok = runner.invoke(app, ["leaderboard", "submit", str(write_json(tmp_path, results)), "--root", str(board)])
    assert ok.exit_code == 0 and "accepted" in ok.output
    refused = runner.invoke(app, ["leaderboard", "submit", str(write_json(tmp_path, results)), "--root", str(board)])
    assert refused.exit_code != 0 and "already submitted" in str(refused.exception)
    assert runner.invoke(app, ["leaderboard", "build", "--check", "--root", str(board)]).exit_code != 0
    assert runner.invoke(app, ["leaderboard", "build", "--root", str(board)]).exit_code == 0
    assert runner.invoke(app, ["leaderboard", "build", "--check", "--root", str(board)]).exit_code == 0
    assert runner.invoke(app, ["leaderboard", "validate", "--root", str(board)]).exit_code == 0
    shown = runner.invoke(app, ["leaderboard", "show", "--task", "demo", "--root", str(board)])
    assert shown.exit_code == 0 and "lumamba-mixed-test" in shown.output


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'>"


def _evil_card(name: str) -> dict:
    """A card whose every free-text field carries markup."""
    card = model_card(name, corpora=("tueg",), excluded=())
    card["family"] = card["weights"]["licence"] = card["weights"]["source"] = EVIL
    card["pretraining"]["notes"] = card["input_normalisation"] = card["code_revision"] = card["citation"] = EVIL
    return card


def _board_with_hostile_text(board, tmp_path, demo_split) -> Path:
    """Two submissions, and a card and reference rows whose every string is markup; built."""
    results, rows = demo_results(split=demo_split)
    submit(write_json(tmp_path, results), board, write_predictions(rows, tmp_path / "a.parquet"), demo_split["dir"])
    second, _ = demo_results(seed_offset=3, name="luna-base-test")
    submit(write_json(tmp_path, second, "b.json"), board)
    (board / "models" / "evil.json").write_text(json.dumps(_evil_card("evil")))
    row = {"task": "demo", "model": "evil", "parameters": 1000000, "metrics": {"auroc": 0.5}, "std": {"auroc": 0.01},
           "source": EVIL, "source_url": "https://example.org/paper#T1", "task_protocol": EVIL,
           "metric_definition": EVIL}
    (board / "reference" / "evil.json").write_text(json.dumps({"citation": EVIL, "entries": [row]}))
    seen = dict(row, task="tuab", model="evil")  # pre-trained on TUEG without leaving TUAB out: hidden by default
    (board / "reference" / "seen.json").write_text(json.dumps({"citation": "seen", "entries": [seen]}))
    build(board)
    return (board / "index.html").resolve()


def test_the_page_and_the_markdown_escape_every_string_from_cards_and_references(board, tmp_path, demo_split):
    """Without a browser: what the generated files hold (the browser test below shows it rendered)."""
    page = _board_with_hostile_text(board, tmp_path, demo_split).read_text()
    assert "<script>alert(1)" not in page and "<img src" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown as text
    markdown = (board / "README.md").read_text()
    assert "<script>" not in markdown and "<img" not in markdown


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_page_renders_sorts_toggles_and_escapes_in_headless_chromium(board, tmp_path, demo_split):
    page = _board_with_hostile_text(board, tmp_path, demo_split)

    def chromium(*arguments: str) -> subprocess.CompletedProcess:
        command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,2400",
                   f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
                   *arguments]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)

    def dom(fragment: str = "") -> str:
        done = chromium("--dump-dom", page.as_uri() + fragment)
        assert "Uncaught" not in done.stderr, done.stderr[-2000:]  # no script error
        return done.stdout

    rendered = dom()
    assert 'data-ready="1"' in rendered and 'data-overflow="false"' in rendered  # script ran; no sideways scroll
    assert 'id="table-demo"' in rendered and 'id="table-tuab"' in rendered and 'id="table-overall"' in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered  # card text shown as text, not run
    assert "<script>alert(1)" not in rendered and "<img src" not in rendered
    assert 'class="whisker"' in rendered  # the submission with predictions has its interval on the chart
    assert 'id="card-evil"' in rendered and 'id="card-lumamba-mixed-test"' in rendered
    hidden = int(rendered.split('data-visible-rows="')[1].split('"')[0])
    shown = dom("#all")
    assert 'class="show-all' in shown or "show-all" in shown.split("<body")[1].split(">")[0]
    seen_rows = page.read_text().count(' seen">')
    assert seen_rows >= 1 and 'class="reported seen"><td class="num" data-value="">–' in page.read_text()
    assert int(shown.split('data-visible-rows="')[1].split('"')[0]) == hidden + seen_rows  # the toggle shows them

    def models_in_order(html: str) -> list[str]:
        table = html[html.index('id="table-demo"') : html.index("</table>", html.index('id="table-demo"'))]
        return [row.split("</a>")[0].split(">")[-1] for row in table.split("<tr")[2:]]

    best_first = models_in_order(rendered)
    ascending = models_in_order(dom("#sort=demo:4:asc"))  # column 4: auroc, sorted by the page's script
    assert ascending == list(reversed(best_first)) and ascending[0] == "evil"  # auroc 0.5 is the lowest

    shot = tmp_path / "page.png"
    chromium(f"--screenshot={shot}", page.as_uri())
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2400, 1280) and pixels.std() > 0.05  # something was drawn
    blue = np.abs(pixels - np.array([0x09, 0x69, 0xDA]) / 255).sum(-1) < 0.1
    assert blue.sum() > 50  # the measured points and whiskers of the charts


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


def test_ci_and_the_workflow_run_the_leaderboard_checks_contributing_describes():
    workflow = (REPO / ".github" / "workflows" / "leaderboard.yml").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    contributing = (REPO / "CONTRIBUTING.md").read_text()
    for command in ("leaderboard validate", "leaderboard build --check", "leaderboard reproduce --all"):
        assert f"run: lumamba-bench {command}" in workflow
        assert f"\nlumamba-bench {command}" in ci
        assert f"lumamba-bench {command}" in contributing
