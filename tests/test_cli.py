import json

import pytest
from typer.testing import CliRunner

from lumamba_bench.cli import app
from lumamba_bench.data.store import data_root

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_prepare_demo_writes_the_corpus_and_info_shows_counts():
    result = _run("prepare", "demo", "--workers", "2", "--limit", "6")
    assert result.exit_code == 0, result.output
    assert "windows per split" in result.output
    manifest = json.loads((data_root() / "demo" / "manifest.json").read_text())
    assert len(manifest["files"]) == 6
    info = _run("info", "demo")
    assert info.exit_code == 0 and "tcp22" in info.output and "train" in info.output
    listing = _run("recipes")
    assert "demo" in listing.output and "tuab" in listing.output and "yes" in listing.output


def test_prepare_with_skipped_files_exits_3_and_lists_them(tuab_source, tmp_path):
    source, _ = tuab_source
    bad = source / "edf/eval/normal/01_tcp_ar/zzzzzzzz_s001_t000.edf"
    bad.write_bytes(b"0       not an edf at all")
    result = _run("prepare", "tuab", "--source", str(source), "--allow-partial", "--data-root", str(tmp_path / "root"))
    assert result.exit_code == 3
    assert "1 skipped" in result.output and "zzzzzzzz_s001_t000.edf" in result.output


def test_demo_data_command_writes_edf_files(tmp_path):
    result = _run("demo-data", str(tmp_path / "corpus"))
    assert result.exit_code == 0
    assert len(list((tmp_path / "corpus").rglob("*.edf"))) == 28  # 8 + 6 subjects per class
    assert "prepare demo --source" in result.output


def test_demo_data_writes_the_unlabelled_part_in_the_tueg_layout(tmp_path):
    result = _run("demo-data", str(tmp_path / "corpus"), "--pretrain")
    assert result.exit_code == 0 and "prepare demo-pretrain --source" in result.output
    files = sorted((tmp_path / "corpus").rglob("*.edf"))
    assert len(files) == 96
    first = files[0].relative_to(tmp_path / "corpus").as_posix()
    assert first == "edf/000/dp000000/s001_2026/01_tcp_ar/dp000000_s001_t000.edf"


@pytest.mark.parametrize(
    "args, message",
    [
        (["prepare", "nope"], "unknown recipe 'nope'"),
        (["prepare", "tuab"], "needs --source"),
        (["prepare", "tuab", "--source", "/definitely/not/here"], "does not exist"),
        (["info", "tuab"], "tuab is not prepared"),
    ],
)
def test_errors_are_one_line_without_traceback(args, message):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "lumamba_bench", *args], capture_output=True, text=True)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_models_table_lists_lumamba_with_its_parameter_counts():
    """Encoder alone, with its reference head (the paper's 4.6M) and with every other head."""
    result = _run("models", "--heads")
    assert result.exit_code == 0
    assert "lumamba" in result.output and "4,094,776" in result.output and "4,631,610" in result.output
    assert "mamba (its own)" in result.output
    assert "5,280,954" in result.output  # with LUNA's query head, the config's default: 4,094,776 + 1,186,178


def test_run_without_weights_is_one_line_naming_the_pretrain_command():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "lumamba_bench", "run", "--model", "lumamba-mixed"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "lumamba-bench pretrain --model lumamba-mixed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_recipes_lists_every_registered_recipe_of_the_seven_corpora_with_protocols(monkeypatch):
    from lumamba_bench.cli import console
    from lumamba_bench.data.recipe import list_recipes

    monkeypatch.setattr(console, "width", 300)
    listing = _run("recipes").output
    tuar = ("tuar", "tuar-mc", "tuar-mmc", "tuar-mcc", "tuar-ours-multilabel")
    expected = {"demo", "demo-pretrain", "tuab", *tuar, "tusl", "tueg", "apava", "tdbrain"}
    assert set(list_recipes()) == expected  # a recipe added or lost is noticed here
    for name in expected:
        assert f" {name} " in listing
    assert "by subject (ref.: by file)" in listing and "1.25 s" in listing


def test_prepare_tueg_excluding_tuab_subjects(tuab_source, tmp_path):
    from corpora import write_tueg_fixture

    write_tueg_fixture(tmp_path / "tueg")
    args = ["prepare", "tueg", "--source", str(tmp_path / "tueg"), "--exclude-subjects-of", "tuab"]
    assert "tuab is not prepared" in str(runner.invoke(app, args).exception)
    assert _run("prepare", "tuab", "--source", str(tuab_source[0]), "--allow-partial").exit_code == 0
    result = runner.invoke(app, args)
    assert result.exit_code == 3  # the 17-channel file is skipped
    manifest = json.loads((data_root() / "tueg" / "manifest.json").read_text())
    assert len(manifest["excluded_files"]) == 2
    wrong = runner.invoke(app, ["prepare", "tuab", "--source", str(tuab_source[0]), "--exclude-subjects-of", "tuab"])
    assert "applies to pre-training corpora" in str(wrong.exception)


def test_verify_rehashes_every_shard_and_info_refuses_a_changed_one():
    assert _run("prepare", "demo", "--limit", "6").exit_code == 0
    manifest = json.loads((data_root() / "demo" / "manifest.json").read_text())
    result = _run("verify", "demo")
    assert result.exit_code == 0 and f"{len(manifest['shards'])} shards match" in result.output
    shard = data_root() / "demo" / "shards" / manifest["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:-10])  # truncated
    info = runner.invoke(app, ["info", "demo"])
    assert info.exit_code == 1 and "has changed since it was written" in str(info.exception)
