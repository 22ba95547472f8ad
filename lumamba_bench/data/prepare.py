"""Turn a corpus into shards: discover, process in parallel, write in order, resume. The parts
have modules of their own: ``sources`` (what is in the source folder, completeness, resume
checks), ``recording`` (one file through the pipeline), ``journal`` (what was committed),
``manifest_assembly`` (the manifest it ends with) and ``store`` (where datasets live).

Resume works through ``journal.jsonl`` in the dataset folder. A recording is committed only
once the shard holding its windows has been renamed into place and journaled; skipped files are
journaled at once. Shards of one split x montage are filled in discovery order and closed after
the recording that makes them reach ``rows_per_shard``, so a re-run that redoes the uncommitted
tail of each stream writes exactly the bytes an uninterrupted run would have written.
"""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from lumamba_bench.data.channels import positions
from lumamba_bench.data.journal import Journal, journal_settings, resume_state
from lumamba_bench.data.lock import writer_lock
from lumamba_bench.data.manifest_assembly import build_manifest
from lumamba_bench.data.parallel import ordered_map
from lumamba_bench.data.recipe import Discovery, Recipe, Recording
from lumamba_bench.data.recording import RecordingResult, process_recording
from lumamba_bench.data.shards import FORMAT_VERSION, ShardBuffer, write_table_atomic
from lumamba_bench.data.sources import check_committed_sources, check_complete, limited, utf8_name
from lumamba_bench.data.split_tables import apply_split_file
from lumamba_bench.errors import LumambaError
from lumamba_bench.files import write_json_atomic

ROWS_PER_SHARD = 2048


@dataclass
class PrepareSummary:
    out_dir: Path
    manifest: dict
    processed: int  # files processed in this run (the rest were resumed from the journal)
    journal_bytes_dropped: int = 0  # a partial last journal line from an interrupted run, cut off

    @property
    def skipped(self) -> list[dict]:
        return skipped_entries(self.manifest)


def skipped_entries(manifest: dict) -> list[dict]:
    """Recordings skipped with a reason, and entries named like recordings that are not files."""
    return [f for f in manifest["files"] if f["status"] == "skipped"] + manifest.get("unreadable_files", [])


def prepare(
    recipe: Recipe,
    source: Path,
    out_dir: Path,
    workers: int = 1,
    force: bool = False,
    limit: int | None = None,
    rows_per_shard: int = ROWS_PER_SHARD,
    on_result: Callable[[RecordingResult], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    allow_partial: bool = False,
    split_file: Path | None = None,
) -> PrepareSummary:
    """Prepare ``recipe`` from ``source`` into ``out_dir``; see the module docstring for resume.
    A source with other file counts than the recipe's corpus version declares is refused unless
    ``allow_partial`` (recorded in the manifest). ``split_file``: a subject -> split table used
    instead of the recipe's split (``data/split_tables.py``), recorded in the manifest."""
    source = Path(source)
    if not source.exists():
        raise LumambaError(f"source folder {source} does not exist")
    if not source.is_dir():
        raise LumambaError(f"source {source} is not a folder")
    discovery = recipe.discover(source)
    discovery.recordings = [r for r in discovery.recordings if utf8_name(r.path)]  # others: listed unreadable
    if not discovery.recordings:
        raise LumambaError(
            f"no recordings found in {source} ({len(discovery.ignored)} unrelated files); "
            f"expected {recipe.source_layout}"
        )
    discovery.completeness = check_complete(recipe, source, discovery, allow_partial)
    discovery.split_source = apply_split_file(discovery, split_file) if split_file else {"from": "recipe"}
    recordings = limited(discovery.recordings, limit)

    try:
        with writer_lock(Path(out_dir)):
            return _prepare_locked(
                recipe,
                source,
                Path(out_dir),
                discovery,
                recordings,
                limit,
                workers,
                force,
                rows_per_shard,
                on_result,
                on_start,
            )
    except OSError as error:  # a full disk, a read-only folder, a file where a folder should be
        where = error.filename or out_dir
        raise LumambaError(
            f"cannot write {where}: {error.strerror or error}; what was committed is kept: "
            "fix this and run the same command again (it resumes)"
        ) from None


def _prepare_locked(
    recipe: Recipe,
    source: Path,
    out_dir: Path,
    discovery: Discovery,
    recordings: list[Recording],
    limit: int | None,
    workers: int,
    force: bool,
    rows_per_shard: int,
    on_result: Callable[[RecordingResult], None] | None,
    on_start: Callable[[int, int], None] | None,
) -> PrepareSummary:
    journal = Journal(out_dir / "journal.jsonl")
    state, dropped = _begin(recipe, out_dir, journal, discovery, recordings, force)
    todo = [r for r in recordings if r.recording_id not in state["committed"]]
    if on_start is not None:
        on_start(len(recordings), len(recordings) - len(todo))
    shards = _ShardWriter(recipe, out_dir / "shards", journal, state["counters"], rows_per_shard)
    for result in ordered_map(partial(process_recording, recipe), todo, workers=workers):
        if on_result is not None:
            on_result(result)
        if result.status != "ok":
            journal.append({"type": "skipped", "file": result.entry(source)})
        else:
            shards.add(result, source)
    shards.close()
    manifest = build_manifest(recipe, source, journal.read(), recordings, discovery, limit)
    write_json_atomic(out_dir / "manifest.json", manifest)
    return PrepareSummary(out_dir, manifest, processed=len(todo), journal_bytes_dropped=dropped)


def _begin(
    recipe: Recipe, out_dir: Path, journal: Journal, discovery: Discovery, recordings: list[Recording], force: bool
) -> tuple[dict, int]:
    """Start fresh (``force``) or pick up the journal: its repaired state and the bytes of a torn
    last record cut off. Recordings committed earlier that this run would not prepare, or whose
    source changed, are an error (``sources.check_committed_sources``)."""
    if force and out_dir.exists():
        for name in ("shards", "journal.jsonl", "manifest.json"):
            target = out_dir / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    (out_dir / "shards").mkdir(parents=True, exist_ok=True)
    dropped = journal.repair()
    state = resume_state(journal, recipe, out_dir, discovery)
    check_committed_sources(out_dir, state["records"], recordings)
    if not state["records"]:
        journal.append({"type": "settings", **journal_settings(recipe, discovery)})
    return state, dropped


class _ShardWriter:
    """Windows buffered per (split, montage), written as a shard every ``rows_per_shard`` rows;
    each shard is journalled (with its files) once it is on disk."""

    def __init__(self, recipe: Recipe, shard_dir: Path, journal: Journal, counters: Counter, rows_per_shard: int):
        self.recipe, self.shard_dir, self.journal = recipe, shard_dir, journal
        self.counters, self.rows_per_shard = counters, rows_per_shard
        self.buffers: dict[tuple[str, str], ShardBuffer] = {}
        self.pending: dict[tuple[str, str], list[dict]] = defaultdict(list)

    def add(self, result: RecordingResult, source: Path) -> None:
        rec = result.recording
        montage = self.recipe.montage_name(result.channels)
        key = (rec.split, montage)
        if key not in self.buffers:
            self.buffers[key] = ShardBuffer(
                split=rec.split,
                montage=montage,
                n_values=result.signal[0].size,
                n_classes=self.recipe.label_width,
                metadata=_shard_metadata(self.recipe, rec.split, montage, result),
            )
        self.buffers[key].add(rec.recording_id, rec.subject_id, result.signal, result.start_s, result.labels)
        self.pending[key].append(result.entry(source, montage=montage))
        if self.buffers[key].rows >= self.rows_per_shard:
            self.flush(key)

    def flush(self, key: tuple[str, str]) -> None:
        buffer = self.buffers[key]
        name = f"{key[0]}-{key[1]}-{self.counters[key]:05d}.parquet"
        digest = write_table_atomic(buffer.to_table(), self.shard_dir / name)
        self.counters[key] += 1
        entries = [dict(e, shard=name) for e in self.pending.pop(key)]
        self.journal.append(
            {"type": "shard", "file": name, "split": key[0], "montage": key[1],
             "channels": buffer.metadata["channels"], "coords": buffer.metadata["coords"], "rows": buffer.rows,
             "sha256": digest, "files": entries}
        )  # fmt: skip
        buffer.clear()

    def close(self) -> None:
        """Write what is left in every buffer, in a fixed order."""
        for key in sorted(self.buffers):
            if self.buffers[key].rows:
                self.flush(key)


def _shard_metadata(recipe: Recipe, split: str, montage: str, result: RecordingResult) -> dict:
    p = recipe.preprocessing
    return {
        "format_version": FORMAT_VERSION,
        "recipe": recipe.name,
        "recipe_version": recipe.version,
        "split": split,
        "montage": montage,
        "channels": result.channels,
        "coords": positions(result.channels).round(6).tolist(),
        "sfreq": p.sfreq,
        "n_samples": p.window_samples,
        "units": p.units,
        "label_names": list(recipe.label_names),
    }
