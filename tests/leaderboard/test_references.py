"""Published reference rows: each names its source (with a link that opens it), its task
protocol and metric definition, and its standard deviation and seeds where published; the page
shows the std next to the mean and links the source."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lumamba_bench.cli import app
from lumamba_bench.errors import LumambaError
from lumamba_bench.leaderboard.build import build
from lumamba_bench.leaderboard.references import read_reference

BOARD = Path(__file__).resolve().parents[2] / "leaderboard"
GOOD = {"task": "tuar-mcc", "model": "luna-base", "parameters": 7000000, "metrics": {"auroc_macro": 0.902},
        "std": {"auroc_macro": 0.011}, "seeds": 3, "source": "LUNA paper, Table 2 (TUAR)",
        "source_url": "https://arxiv.org/html/2510.22257v1#S4.T2", "task_protocol": "TUAR MCC",
        "metric_definition": "macro AUROC over 5 classes", "comparable": False, "not_comparable_because": "split"}


def _write(tmp_path, entry) -> Path:
    path = tmp_path / "paper.json"
    path.write_text(json.dumps({"citation": "A paper", "entries": [entry]}))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.pop("source"), "'source' is a required property"),
        (lambda e: e.pop("task_protocol"), "'task_protocol' is a required property"),
        (lambda e: e.update(source_url="javascript:alert(1)"), "source_url"),
        (lambda e: e.update(metrics={"auroc": 0.9}), "'auroc' is not a metric of a multiclass task"),
        (lambda e: e.update(std={"aupr_macro": 0.01}), "a standard deviation for \\['aupr_macro'\\] but no mean"),
        (lambda e: e.update(task="tuar-xyz"), "entry 0 \\(luna-base on tuar-xyz\\)"),
        (lambda e: e.pop("not_comparable_because"), "no not_comparable_because"),
        (lambda e: e.update(metrics={"auroc_macro": 1.2}), "outside"),
    ],
)
def test_a_reference_row_without_its_source_protocol_or_a_valid_metric_is_refused(tmp_path, change, message):
    assert read_reference(_write(tmp_path, GOOD))["entries"][0]["model"] == "luna-base"
    entry = json.loads(json.dumps(GOOD))
    change(entry)
    with pytest.raises(LumambaError, match=message):
        read_reference(_write(tmp_path, entry))


def test_leaderboard_validate_checks_the_shipped_reference_rows_and_refuses_a_bad_one(tmp_path):
    board = tmp_path / "board"
    shutil.copytree(BOARD, board)
    result = CliRunner().invoke(app, ["leaderboard", "validate", "--root", str(board)])
    assert result.exit_code == 0, result.output
    assert "reported rows in 4 reference files valid" in result.output
    bad = json.loads((board / "reference" / "luna.json").read_text())
    del bad["entries"][0]["source"]
    (board / "reference" / "luna.json").write_text(json.dumps(bad))
    result = CliRunner().invoke(app, ["leaderboard", "validate", "--root", str(board)])
    assert isinstance(result.exception, LumambaError)
    assert "luna.json: at entries/0: 'source' is a required property" in str(result.exception)


def test_the_shipped_rows_carry_what_was_published():
    rows = {}
    for path in sorted((BOARD / "reference").glob("*.json")):
        for entry in read_reference(path)["entries"]:
            rows[entry["model"], entry["task"]] = entry
    luna = rows["luna-huge", "tuab"]  # LUNA Table 1: 81.57 +- 0.11, AUPR 0.9029 +- 0.0014, AUROC 0.8957 +- 0.0011
    assert luna["metrics"] == {"balanced_accuracy": 0.8157, "aupr": 0.9029, "auroc": 0.8957}
    assert luna["std"] == {"balanced_accuracy": 0.0011, "aupr": 0.0014, "auroc": 0.0011} and luna["seeds"] == 3
    assert rows["luna-huge", "tuar-mcc"]["metrics"] == {"auroc_macro": 0.921, "aupr_macro": 0.528}
    femba = rows["femba-huge", "tuab"]
    assert femba["metrics"]["aupr"] == 0.9005 and femba["std"]["aupr"] == 0.0017
    assert rows["lumamba-mixed", "tuab"]["metrics"]["auroc"] == 0.883  # as the cited page says
    assert rows["lumamba-recon", "tuar-mcc"]["verified"] is False
    assert {("luna-base", "tuab"), ("luna-large", "tusl"), ("femba-tiny", "tuar-mmc"), ("femba-large", "tuar-mc"),
            ("labram-large", "tuab"), ("labram-huge", "tuab")} <= set(rows)  # fmt: skip
    assert all(r["seeds"] == 5 for (m, _), r in rows.items() if m.startswith("labram"))
    assert "split TUSL 80/10/10 at random by sample" in rows["luna-base", "tusl"]["not_comparable_because"]


def test_the_page_shows_the_published_std_next_to_the_mean_and_links_the_source(tmp_path):
    board = tmp_path / "board"
    shutil.copytree(BOARD, board)
    build(board)
    page = (board / "index.html").read_text()
    assert "0.8957 ± 0.0011" in page and "0.9029 ± 0.0014" in page
    assert '<a href="https://arxiv.org/html/2510.22257v1#S4.T1" rel="noopener">' in page
    assert "[protocol not verified]" in page
