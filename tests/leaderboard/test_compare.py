import json

import pytest
from submissions import demo_results, write_json

from lumamba_bench.cli import app
from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.results import write_predictions
from lumamba_bench.leaderboard.compare import compare
from lumamba_bench.leaderboard.submission import submit
from lumamba_bench.leaderboard.tables import build_board


def _run_files(folder, demo_split, name, offset, signal):
    """A results file and its predictions beside it, as `run` leaves them."""
    results, rows = demo_results(seed_offset=offset, name=name, split=demo_split, signal=signal)
    folder.mkdir(parents=True, exist_ok=True)
    path = write_json(folder, results, f"{name}-{offset}.json")
    write_predictions(rows, path.with_suffix(".predictions.parquet"))
    return path


def test_compare_gives_the_boards_intervals_and_p_values(board, tmp_path, demo_split):
    runs = tmp_path / "runs"
    weak = _run_files(runs, demo_split, "lumamba-mixed-test", 1, 0.35)
    strong = _run_files(runs, demo_split, "luna-base-test", 2, 0.6)
    for path in (weak, strong):
        submit(path, board, path.with_suffix(".predictions.parquet"), demo_split["dir"])
    on_board = next(t for t in build_board(board)[0] if t.task == "demo")
    compared = compare([runs]).tables
    assert [t.task for t in compared] == ["demo"]
    by_model = {r.model: r for r in compared[0].rows}
    for row in on_board.rows:
        mine = by_model[row.model]
        assert mine.ci == row.ci and ("recording", "auroc") in mine.ci  # both levels, same numbers
        assert mine.p_value == row.p_value
    assert by_model["lumamba-mixed-test"].p_value < 0.05  # the clear gain is significant
    frame = compare([weak, strong]).frame()
    assert list(frame["model"]) == ["luna-base-test", "lumamba-mixed-test"]  # best first
    low, high = by_model["luna-base-test"].ci["window", "auroc"]
    assert frame.loc[0, "auroc_ci_low"] == low and frame.loc[0, "auroc_ci_high"] == high
    assert "recording_auroc_ci_low" in frame and frame.loc[1, "p_value"] == by_model["lumamba-mixed-test"].p_value


def test_compare_against_a_baseline_and_without_predictions(tmp_path, demo_split):
    runs = tmp_path / "runs"
    weak = _run_files(runs, demo_split, "lumamba-mixed-test", 1, 0.35)
    strong = _run_files(runs, demo_split, "luna-base-test", 2, 0.6)
    rows = {r.model: r for r in compare([runs], baseline=weak).tables[0].rows}
    assert rows["lumamba-mixed-test"].p_note == "reference of the tests"
    assert rows["luna-base-test"].p_value < 0.05
    strong.with_suffix(".predictions.parquet").unlink()
    rows = {r.model: r for r in compare([runs]).tables[0].rows}
    assert rows["luna-base-test"].predictions is None and rows["luna-base-test"].ci == {}  # mean ± std only
    with pytest.raises(LumambaError, match="no predictions beside it"):
        compare([runs], baseline=strong)


def test_compare_refuses_an_edited_file_and_skips_other_json(tmp_path, demo_split):
    runs = tmp_path / "runs"
    path = _run_files(runs, demo_split, "lumamba-mixed-test", 1, 0.35)
    (runs / "notes.json").write_text("{}")
    (runs / "x.partial.json").write_text("{}")
    comparison = compare([runs])
    assert len(comparison.skipped) == 2 and any("not a results file" in s for s in comparison.skipped)
    edited = json.loads(path.read_text())
    edited["seeds"][0]["metrics"]["auroc"] = 0.99
    path.write_text(json.dumps(edited))
    with pytest.raises(LumambaError, match="summary auroc mean"):
        compare([path])
    with pytest.raises(LumambaError, match="no such file or folder"):
        compare([tmp_path / "absent"])


def test_compare_command_writes_markdown_csv_and_json(tmp_path, demo_split):
    from typer.testing import CliRunner

    runs = tmp_path / "runs"
    _run_files(runs, demo_split, "lumamba-mixed-test", 1, 0.35)
    _run_files(runs, demo_split, "luna-base-test", 2, 0.6)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["compare", str(runs), "--markdown", str(out / "c.md"), "--csv", str(out / "c.csv"),
              "--json", str(out / "c.json")]  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert "luna-base-test" in result.output and "significantly different from luna-base-test" in result.output
    markdown = (out / "c.md").read_text()
    assert markdown.startswith("## demo") and "auroc (recording)" in markdown
    import pandas as pd

    assert len(pd.read_csv(out / "c.csv")) == 2 and len(json.loads((out / "c.json").read_text())) == 2
