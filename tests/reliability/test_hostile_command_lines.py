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
    result = _run("prepare", "tuab", "--source", str(source), "--data-root", str(root))
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
