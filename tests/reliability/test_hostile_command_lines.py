"""Command lines that would crash or mislead: nonsense numbers are usage errors before any work,
user text that looks like markup prints as it is."""

import re

import pytest
from typer.testing import CliRunner

from lumamba_bench.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_paths_that_look_like_markup_print_literally(tuab_source, tmp_path):
    """A data root such as ``root[/]x`` (folder ``root[`` holding ``]x``) is printed as it is."""
    source, _ = tuab_source
    (source / "edf/eval/normal/01_tcp_ar/zzzzzzzz_s001_t000.edf").write_bytes(b"0       not an edf at all")
    root = tmp_path / "root[" / "]x"
    result = _run("prepare", "tuab", "--source", str(source), "--allow-partial", "--data-root", str(root))
    assert result.exit_code == 3, result.output
    assert "root[/]x" in result.output.replace("\n", "")


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--model", "lumamba-scratch", "--batch-size", "1"], "--batch-size"),
        (["run", "--model", "lumamba-scratch", "--lr", "nan"], "not a finite number > 0"),
        (["run", "--model", "lumamba-scratch", "--lr", "-1"], "not a finite number > 0"),
        (["pretrain", "--lr", "0"], "not a finite number > 0"),
    ],
)
def test_bad_numbers_are_usage_errors_before_any_work(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize(
    "args, literal",
    [
        (["info", "[/x]"], "unknown recipe '[/x]'"),
        (["info", "[red]tuab"], "unknown recipe '[red]tuab'"),
        (["prepare", "tuab", "--source", "/no/[bold]where[/]"], "/no/[bold]where[/]"),
    ],
)
def test_user_text_that_looks_like_markup_prints_literally_in_errors(args, literal):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "lumamba_bench", *args], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert literal in result.stderr.replace("\n", "")


@pytest.mark.parametrize(
    "device, message",
    [
        ("tpu", "--device 'tpu' is not a device; use cpu, cuda or cuda:N"),
        ("cuda:abc", "--device 'cuda:abc' is not a device"),
        ("meta", "lumamba-bench runs on cpu or cuda, not meta"),
    ],
)
def test_a_device_that_is_not_one_is_one_line(device, message):
    """doctor and run: one line and exit 1, before any work (they were tracebacks)."""
    import subprocess
    import sys

    for command in (["doctor"], ["run", "--model", "lumamba-scratch"]):
        result = subprocess.run([sys.executable, "-m", "lumamba_bench", *command, "--device", device],
                                capture_output=True, text=True)  # fmt: skip
        assert result.returncode == 1 and message in result.stderr, (command, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_library_run_refuses_a_device_it_would_have_replaced(small_demo, tmp_path):
    """RunConfig(device="meta") used to run on the CPU without a word."""
    from lumamba_bench.errors import LumambaError
    from lumamba_bench.harness.run import RunConfig, run_benchmark

    with pytest.raises(LumambaError, match="not meta"):
        run_benchmark(RunConfig(model="lumamba-scratch", device="meta", seeds=1, epochs=1, out=tmp_path))


def test_more_workers_than_cpus_are_capped_and_said(monkeypatch):
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    result = runner.invoke(app, ["prepare", "demo", "--workers", "1000000", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "--workers 1000000 is more than the 2 CPUs here; using 2" in result.output


def test_a_channel_set_that_keeps_nothing_is_refused_before_training(small_demo, tmp_path, monkeypatch):
    """``--test-channels ,`` used to train the whole run and crash at test time, losing it."""
    from lumamba_bench.errors import LumambaError
    from lumamba_bench.harness import finetune
    from lumamba_bench.harness.run import RunConfig, run_benchmark

    monkeypatch.setattr(finetune, "train_one_seed", lambda *a, **k: pytest.fail("training started"))
    for spec in (",", " , ,"):
        with pytest.raises(LumambaError, match="keeps no channel"):
            run_benchmark(RunConfig(model="lumamba-scratch", test_channels=spec, seeds=1, epochs=1, out=tmp_path))


@pytest.mark.parametrize("name", ["../../etc/passwd", "models/lumamba-mixed", "no-such-card"])
def test_leaderboard_compute_takes_a_card_name_not_a_path(board, name):
    from lumamba_bench.leaderboard.cards import CardError
    from lumamba_bench.leaderboard.compute import card_path

    with pytest.raises(CardError, match=f"no model card named '{re.escape(name)}' on the board"):
        card_path(name, board)
    assert card_path("lumamba-mixed", board) == board / "models" / "lumamba-mixed.json"
