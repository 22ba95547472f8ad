"""A crash mid-append, a second writer, a full disk, a file where a folder should be: nothing
committed is lost, nothing is mixed, and each ends in one clear line."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from corpora import tuh_signals, write_tuh_edf

from lumamba_bench.data.journal import Journal
from lumamba_bench.data.loader import ShardDataset
from lumamba_bench.data.lock import writer_lock
from lumamba_bench.data.prepare import prepare
from lumamba_bench.data.recipe import get_recipe
from lumamba_bench.errors import LumambaError


def _source(root):
    """One good 10 s recording, then a corrupt one: with one window per shard the journal ends in
    the corrupt file's 'skipped' record, after the good file's shard record."""
    write_tuh_edf(root / "edf/eval/normal/01_tcp_ar/aaaaaaaa_s001_t000.edf", tuh_signals(10, 256, seed=1), 256)
    bad = root / "edf/eval/normal/01_tcp_ar/aaaaaaab_s001_t000.edf"
    bad.write_bytes(b"0       not an EDF file")
    return root


def _state(out):
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.pop("created")
    shards = {p.name: p.read_bytes() for p in sorted((out / "shards").iterdir())}
    return manifest, shards


def test_a_journal_cut_at_every_byte_of_its_last_record_resumes_to_the_clean_result(tmp_path):
    source = _source(tmp_path / "src")
    clean = tmp_path / "clean"
    prepare(get_recipe("tuab"), source, clean, rows_per_shard=1, allow_partial=True)
    expected = _state(clean)
    raw = (clean / "journal.jsonl").read_bytes()
    last_start = raw.rstrip(b"\n").rfind(b"\n") + 1
    assert json.loads(raw[last_start:])["type"] == "skipped"
    cut_dir = tmp_path / "cut"
    for offset in range(last_start, len(raw)):  # every byte of the last record, its newline excluded
        shutil.rmtree(cut_dir, ignore_errors=True)
        shutil.copytree(clean, cut_dir)
        (cut_dir / "manifest.json").unlink()
        (cut_dir / "journal.jsonl").write_bytes(raw[:offset])
        summary = prepare(get_recipe("tuab"), source, cut_dir, rows_per_shard=1, allow_partial=True)
        assert summary.journal_bytes_dropped == offset - last_start
        assert _state(cut_dir) == expected, offset
        assert (cut_dir / "journal.jsonl").read_bytes() == raw  # repaired, never appended onto


def test_a_cut_shard_record_redoes_that_shard_to_the_same_bytes(tmp_path):
    source = _source(tmp_path / "src")
    clean = tmp_path / "clean"
    # the shard is flushed last: its record ends the journal
    prepare(get_recipe("tuab"), source, clean, allow_partial=True)
    expected = _state(clean)
    raw = (clean / "journal.jsonl").read_bytes()
    last_start = raw.rstrip(b"\n").rfind(b"\n") + 1
    assert json.loads(raw[last_start:])["type"] == "shard"
    for offset in (last_start, last_start + 1, (last_start + len(raw)) // 2, len(raw) - 2, len(raw) - 1):
        cut = tmp_path / f"cut{offset}"
        shutil.copytree(clean, cut)
        (cut / "journal.jsonl").write_bytes(raw[:offset])
        prepare(get_recipe("tuab"), source, cut, allow_partial=True)
        assert _state(cut) == expected


def test_a_damaged_line_before_the_last_is_an_error_not_a_silent_restart(tmp_path):
    source = _source(tmp_path / "src")
    out = tmp_path / "out"
    prepare(get_recipe("tuab"), source, out, rows_per_shard=1, allow_partial=True)
    lines = (out / "journal.jsonl").read_bytes().split(b"\n")
    lines[1] = lines[1][:40]
    (out / "journal.jsonl").write_bytes(b"\n".join(lines))
    with pytest.raises(LumambaError, match="journal.jsonl line 2 is damaged.*--force"):
        Journal(out / "journal.jsonl").read()
    with pytest.raises(LumambaError, match="line 2 is damaged"):
        prepare(get_recipe("tuab"), source, out, allow_partial=True)


def test_a_second_writer_is_refused_naming_the_first_and_readers_wait(tmp_path, demo_source):
    out = tmp_path / "demo"
    prepare(get_recipe("demo"), demo_source, out, allow_partial=True)
    with writer_lock(out):  # this process is "the first prepare"
        with pytest.raises(LumambaError, match=f"being prepared by another process \\(pid {os.getpid()}\\)"):
            prepare(get_recipe("demo"), demo_source, out, allow_partial=True)
        with pytest.raises(LumambaError, match=f"being prepared right now \\(pid {os.getpid()}\\).*not complete"):
            ShardDataset(out, "train")
    assert len(ShardDataset(out, "train")) > 0  # released: readable again
    (out / ".prepare.lock").write_text("999999999\n")  # a lock file left by a killed run
    prepare(get_recipe("demo"), demo_source, out, allow_partial=True)  # not held by anyone: taken over


def test_two_concurrent_prepares_never_mix_or_duplicate_shards(tmp_path, demo_source):
    """Started together: one writes, the other is refused at once (or, if it starts after the
    first finished, resumes and finds nothing to do). Either way the manifest lists each shard
    once and every sha256 matches."""
    out = tmp_path / "demo"
    code = (
        "import sys; from pathlib import Path; from lumamba_bench.data.recipe import get_recipe; "
        "from lumamba_bench.data.prepare import prepare; from lumamba_bench.errors import LumambaError\n"
        "try:\n    prepare(get_recipe('demo'), Path(sys.argv[1]), Path(sys.argv[2]))\n"
        "except LumambaError as e:\n    print(e); sys.exit(1)\n"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", code, str(demo_source), str(out)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [(run.wait(), run.stdout.read()) for run in runs]
    assert any(status == 0 for status, _ in outputs)
    for status, text in outputs:
        assert status == 0 or "being prepared by another process" in text
    manifest = json.loads((out / "manifest.json").read_text())
    files = [s["file"] for s in manifest["shards"]]
    assert len(files) == len(set(files)) == len(list((out / "shards").glob("*.parquet")))
    ShardDataset(out, "train")  # every sha256 matches


def test_a_file_where_the_dataset_folder_should_be_is_one_line(tmp_path, demo_source):
    blocker = tmp_path / "demo"
    blocker.write_text("not a folder")
    with pytest.raises(LumambaError, match=f"cannot write {blocker}.*run the same command again"):
        prepare(get_recipe("demo"), demo_source, blocker, allow_partial=True)


def test_a_full_disk_leaves_no_half_shard_and_the_run_resumes(tmp_path, demo_source, monkeypatch):
    import errno

    import pyarrow.parquet as pq

    clean = tmp_path / "clean"
    prepare(get_recipe("demo"), demo_source, clean, rows_per_shard=16, allow_partial=True)
    out = tmp_path / "out"
    real_write, calls = pq.write_table, []

    def write_until_full(table, where, **kwargs):
        calls.append(where)
        if len(calls) == 3:
            with open(where, "wb") as handle:
                handle.write(b"PAR1 half a shard")
            raise OSError(errno.ENOSPC, "No space left on device", str(where))
        return real_write(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", write_until_full)
    with pytest.raises(LumambaError, match="No space left on device.*run the same command again"):
        prepare(get_recipe("demo"), demo_source, out, rows_per_shard=16, allow_partial=True)
    assert not list((out / "shards").glob(".*.tmp"))
    monkeypatch.setattr(pq, "write_table", real_write)
    prepare(get_recipe("demo"), demo_source, out, rows_per_shard=16, allow_partial=True)
    assert _state(out) == _state(clean)


def test_a_lock_file_that_is_a_link_or_not_a_file_is_refused_and_nothing_is_written_through_it(tmp_path, demo_source):
    """A link at .prepare.lock would have prepare truncate the file it points at; a folder there
    is no lock. Both refused, naming the path, for the writer and for a reader."""
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    out = tmp_path / "demo"
    out.mkdir()
    (out / ".prepare.lock").symlink_to(precious)
    with pytest.raises(LumambaError, match=r"\.prepare\.lock is a symbolic link"):
        prepare(get_recipe("demo"), demo_source, out)
    assert precious.read_text() == "keep me"
    from lumamba_bench.data.lock import check_no_writer

    with pytest.raises(LumambaError, match=r"\.prepare\.lock is a symbolic link"):
        check_no_writer(out)
    (out / ".prepare.lock").unlink()
    (out / ".prepare.lock").mkdir()
    with pytest.raises(LumambaError, match=r"\.prepare\.lock.*(not a regular file|cannot open)"):
        prepare(get_recipe("demo"), demo_source, out)


def test_a_resume_refuses_shards_whose_sources_are_gone_changed_or_beyond_a_lower_limit(tmp_path):
    """Each would leave windows in the shards that the manifest no longer describes."""
    from lumamba_bench.recipes.demo_corpus import write_demo_corpus

    source = tmp_path / "source"
    write_demo_corpus(source, duration_s=10.0, n_train_per_class=2, n_eval_per_class=2)
    out = tmp_path / "demo"
    prepare(get_recipe("demo"), source, out, limit=6)
    lower = r"holds 3 recordings that this run would not prepare .*beyond a lower --limit"
    with pytest.raises(LumambaError, match=lower):
        prepare(get_recipe("demo"), source, out, limit=3)
    prepare(get_recipe("demo"), source, out)  # a higher limit (none) continues
    files = sorted(source.rglob("*.edf"))
    with open(files[0], "ab") as handle:
        handle.write(bytes(256))
    with pytest.raises(LumambaError, match=rf"1 source files changed .*{files[0].name} .*--force"):
        prepare(get_recipe("demo"), source, out)
    files[0].unlink()
    with pytest.raises(LumambaError, match="holds 1 recordings that this run would not prepare .*removed, moved"):
        prepare(get_recipe("demo"), source, out)
    summary = prepare(get_recipe("demo"), source, out, force=True)
    assert sum(s["recordings"] for s in summary.manifest["splits"].values()) == 7


def test_a_source_overwritten_with_other_content_of_the_same_size_is_refused_on_resume(tmp_path):
    """Same name, same size, other bytes (another recording copied over it): its mtime moved, so
    it is hashed again and the sha256 recorded when it was prepared no longer matches. A file
    only touched (same bytes) resumes as before."""
    from lumamba_bench.recipes.demo_corpus import write_demo_corpus

    source = tmp_path / "source"
    write_demo_corpus(source, duration_s=10.0, n_train_per_class=2, n_eval_per_class=2)
    out = tmp_path / "demo"
    prepare(get_recipe("demo"), source, out, limit=4)
    first, other = sorted(source.rglob("*.edf"))[:2]
    os.utime(first, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns + 10**9))  # touched: same bytes
    prepare(get_recipe("demo"), source, out, limit=4)
    assert first.stat().st_size == other.stat().st_size  # the demo's recordings are all one length
    shutil.copyfile(other, first)
    with pytest.raises(LumambaError, match=rf"{first.name} \(same size, other content: its sha256 differs"):
        prepare(get_recipe("demo"), source, out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert all("mtime_ns" not in f for f in manifest["files"])  # machine-specific: the journal's, not the manifest's


def test_prepare_refuses_to_rewrite_a_dataset_that_a_reader_holds(tmp_path, demo_source):
    out = tmp_path / "demo"
    prepare(get_recipe("demo"), demo_source, out)
    reader = ShardDataset(out, "train")  # a run's dataset: held for its whole life
    with pytest.raises(LumambaError, match="is being read .*wait for it to finish"):
        prepare(get_recipe("demo"), demo_source, out, force=True)
    assert len(reader) == reader.manifest["splits"]["train"]["windows"]  # nothing changed under it
    del reader  # released with the reader
    prepare(get_recipe("demo"), demo_source, out, force=True)


def test_prepare_force_under_a_running_run_is_refused_and_the_run_records_the_data_it_trained_on(small_demo, tmp_path):
    from lumamba_bench.files import sha256_of
    from lumamba_bench.harness.run import RunConfig, run_benchmark
    from lumamba_bench.recipes.demo_corpus import write_demo_corpus

    other = tmp_path / "other-source"  # another corpus, which a --force would put under the run
    write_demo_corpus(other, duration_s=20.0, n_train_per_class=2, n_eval_per_class=2)
    before = sha256_of(small_demo / "manifest.json")
    refusals = []

    def force_prepare_mid_run(seed, record):
        try:
            prepare(get_recipe("demo"), other, small_demo, force=True)
        except LumambaError as error:
            refusals.append(str(error))

    result = run_benchmark(RunConfig(model="lumamba-scratch", seeds=1, epochs=2, out=tmp_path / "results"),
                           on_epoch=force_prepare_mid_run)  # fmt: skip
    assert len(refusals) == 2 and all("is being read" in r for r in refusals)
    assert result.results["task"]["manifest_sha256"] == before == sha256_of(small_demo / "manifest.json")
