"""Command lines that would crash or mislead: nonsense numbers are usage errors before any work,
user text that looks like markup prints as it is."""

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
