"""Splits out and in: `splits` writes a prepared task's subject -> split table, `prepare
--split-file` takes one back, so a split can be reproduced exactly, here or elsewhere."""

import hashlib
import json

import pytest
from corpora import write_tusl_fixture
from typer.testing import CliRunner

from lumamba_bench.cli import app
from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.errors import LumambaError

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def tusl_source(tmp_path_factory):
    root = tmp_path_factory.mktemp("tusl")
    write_tusl_fixture(root, subjects=10)
    return root


def test_splits_then_prepare_with_the_table_round_trips_the_split(tusl_source, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert _run("prepare", "tusl", "--source", tusl_source, "--data-root", first).exit_code == 0
    table = tmp_path / "tusl-splits.csv"
    result = _run("splits", "tusl", "--out", table, "--data-root", first)
    assert result.exit_code == 0, result.output
    manifest = json.loads((first / "tusl" / "manifest.json").read_text())
    digest = hashlib.sha256(table.read_bytes()).hexdigest()
    assert digest in result.output and manifest["split_table"] == {"from": "recipe", "sha256": digest}
    lines = table.read_text().splitlines()
    assert lines[0] == "subject_id,split" and len(lines) == 11
    assert lines[1:] == [f"{s},{manifest['subjects'][s]}" for s in sorted(manifest["subjects"])]
    printed = _run("splits", "tusl", "--data-root", first)
    assert printed.output == table.read_text()

    result = _run("prepare", "tusl", "--source", tusl_source, "--data-root", second, "--split-file", table)
    assert result.exit_code == 0, result.output
    again = json.loads((second / "tusl" / "manifest.json").read_text())
    assert again["splits"] == manifest["splits"] and again["subjects"] == manifest["subjects"]
    assert again["split_table"] == {"from": "split-file", "file": table.name, "file_sha256": digest, "sha256": digest}


def test_a_split_file_moves_subjects_and_a_resume_with_another_is_refused(tusl_source, tmp_path):
    table = tmp_path / "mine.csv"
    subjects = sorted(f"aaaaab{i:02d}" for i in range(10))
    table.write_text("subject_id,split\n" + "".join(f"{s},{'test' if i < 5 else 'train'}\n"
                                                    for i, s in enumerate(subjects)))  # fmt: skip
    out = tmp_path / "out"
    manifest = prepare(get_recipe("tusl"), tusl_source, out, split_file=table).manifest
    assert manifest["subjects"] == {s: "test" if i < 5 else "train" for i, s in enumerate(subjects)}
    assert all(f["split"] == manifest["subjects"][f["subject_id"]] for f in manifest["files"])
    assert manifest["splits"]["val"]["recordings"] == 0
    other = tmp_path / "other.csv"
    other.write_text(table.read_text().replace(",test", ",val"))
    with pytest.raises(LumambaError, match="prepared with other settings .*split"):
        prepare(get_recipe("tusl"), tusl_source, out, split_file=other)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: rows[:-1], r"assigns no split to 1 subject\(s\) of this corpus: aaaaab09"),
        (lambda rows: [*rows, "zzzzzzzz,train"], r"names 1 subject\(s\) this corpus does not have: zzzzzzzz"),
        (lambda rows: [*rows[:-1], "aaaaab09,holdout"], r":11: split 'holdout' of aaaaab09 is not one of"),
        (lambda rows: ["subject,fold", *rows[1:]], r":1: expected the header 'subject_id,split'"),
    ],
)
def test_a_bad_split_file_is_refused_naming_the_subject_or_line(tusl_source, tmp_path, edit, message):
    rows = ["subject_id,split"] + [f"aaaaab{i:02d},train" for i in range(10)]
    table = tmp_path / "bad.csv"
    table.write_text("\n".join(edit(rows)) + "\n")
    with pytest.raises(LumambaError, match=message):
        prepare(get_recipe("tusl"), tusl_source, tmp_path / "out", split_file=table)
    assert not (tmp_path / "out").exists()  # refused before anything is written
