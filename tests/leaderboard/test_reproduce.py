"""`leaderboard reproduce` on a real (small) run: identical on the CPU, and an edited value is
caught and named."""

import json

import pytest
from submissions import demo_results
from typer.testing import CliRunner

from lumamba_bench.cli import app
from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.results import summarise
from lumamba_bench.harness.run import RunConfig, run_benchmark
from lumamba_bench.leaderboard.reproduce import compare_metrics, reproduce, rerun_gaps
from lumamba_bench.leaderboard.submission import SubmissionError, content_hash, stored_name, submit


def _stored_run(board, tmp_path, small_demo):
    config = RunConfig(model="lumamba-mixed-scratch", task="demo", seeds=1, epochs=1, batch_size=8,
                       out=tmp_path / "results")  # fmt: skip
    results, path = run_benchmark(config)
    return submit(path, board, path.with_suffix(".predictions.parquet"), small_demo)


def _forge(stored, metric="auroc", delta=0.01):
    """The stored file with one seed's value edited, its summary recomputed and the file named
    after its new hash: valid by every rule `submit` checks (no predictions to contradict it)."""
    results = json.loads(stored.read_text())
    results["seeds"][0]["metrics"][metric] += delta
    results["summary"] = summarise([s["metrics"] for s in results["seeds"]])
    forged = stored.parent / stored_name(results)
    forged.write_text(json.dumps(results, sort_keys=True))
    assert content_hash(results) != content_hash(json.loads(stored.read_text()))
    return forged


def test_a_stored_run_reproduces_identically_and_an_edited_one_fails(board, tmp_path, small_demo, monkeypatch):
    stored = _stored_run(board, tmp_path, small_demo)
    outcome = reproduce(stored)
    assert outcome.failed == [] and outcome.rule == "identical" and outcome.environment == []
    assert {"auroc", "recording_auroc", "auroc_logit"} <= set(outcome.frame["metric"])
    assert (outcome.frame["difference"].fillna(0) == 0).all()

    forged = _forge(stored)
    stored.unlink()
    stored.with_suffix(".predictions.parquet").unlink()
    result = CliRunner().invoke(app, ["leaderboard", "reproduce", "--all", "--root", str(board)])
    assert result.exit_code == 1 and "NO" in result.output
    assert str(result.exception) == f"not reproduced: {forged.name} seed 0 auroc"  # only the edited value

    from lumamba_bench.harness import run

    def nothing(*_args, **_kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(run, "run_benchmark", nothing)
    monkeypatch.setitem(run.get_recipe("demo").finetune_defaults["all"], "lr", 5e-4)
    with pytest.raises(LumambaError, match=r"lr 0.001 -> 0.0005"):  # a changed default, named before training
        reproduce(forged)


def test_a_submission_that_cannot_be_rerun_is_refused_naming_the_field(board, tmp_path):
    results, _ = demo_results()
    del results["protocol"]["overrides"]
    assert rerun_gaps(results) == ["protocol.overrides.command_line"]
    (tmp_path / "gap.json").write_text(json.dumps(results))
    with pytest.raises(SubmissionError, match="does not record protocol.overrides.command_line"):
        submit(tmp_path / "gap.json", board)
    results, _ = demo_results()
    assert rerun_gaps(results) == []
    del results["task"]["dataset_sha256"]
    assert rerun_gaps(results) == ["task.dataset_sha256"]


def test_sigma_judges_the_seed_mean_against_the_stored_spread():
    stored = {"seeds": [{"seed": s, "metrics": {"auroc": v}} for s, v in enumerate([0.70, 0.74, 0.72])]}
    rerun = {"seeds": [{"seed": s, "metrics": {"auroc": v}} for s, v in enumerate([0.73, 0.75, 0.74])]}
    frame, rule = compare_metrics(stored, rerun, sigma=2)  # mean 0.74 vs 0.72, std 0.02: within 2 sigma
    assert frame["within"].all() and "2 stored std" in rule
    frame, _ = compare_metrics(stored, rerun, sigma=0.5)
    assert not frame["within"].any()
    frame, _ = compare_metrics(stored, rerun)
    assert not frame["within"].any()
    frame, rule = compare_metrics(stored, rerun, tolerance=0.031)  # a tolerance for other devices
    assert frame["within"].all() and rule == "|difference| <= 0.031"
