"""Leaderboard: submission rules, deterministic build, and the page in a real browser."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from submissions import demo_results, write_json

from lumamba_bench.harness.results import RESULTS_SCHEMA, summarise, write_predictions
from lumamba_bench.leaderboard.build import build, generate, stale
from lumamba_bench.leaderboard.submission import submit

REPO = Path(__file__).resolve().parents[2]


def test_schema_file_is_the_code_schema():
    assert json.loads((REPO / "leaderboard" / "schema.json").read_text()) == RESULTS_SCHEMA


def test_committed_leaderboard_files_are_up_to_date():
    assert stale(REPO / "leaderboard") == []


def test_submit_with_predictions_then_build(board, tmp_path, demo_split):
    results, rows = demo_results(split=demo_split)
    predictions = write_predictions(rows, tmp_path / "p.parquet")
    stored = submit(write_json(tmp_path, results), board, predictions, demo_split["dir"])
    assert stored.parent == board / "submissions" / "demo" and len(stored.stem) == 16
    written = {p.name for p in build(board)}
    assert written == {"README.md", "leaderboard.csv", "index.html", "schema.json"}
    readme = (board / "README.md").read_text()
    mean, std = results["summary"]["auroc"]["mean"], results["summary"]["auroc"]["std"]
    assert f"| 1 | lumamba-mixed | measured | {mean:.4f} ± {std:.4f}" in readme
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
    assert shown.exit_code == 0 and "lumamba-mixed" in shown.output


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_page_renders_sorts_and_escapes_in_headless_chromium(board, tmp_path):
    results, _ = demo_results()
    submit(write_json(tmp_path, results), board)
    second, _ = demo_results(seed_offset=3, name="luna-base")
    submit(write_json(tmp_path, second, "b.json"), board)
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
