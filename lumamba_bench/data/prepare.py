"""Turn a corpus into shards: discover, process in parallel, write in order, resume.

Resume works through ``journal.jsonl`` in the dataset folder. A recording is committed only
once the shard holding its windows has been renamed into place and journaled; skipped files are
journaled at once. Shards of one split x montage are filled in discovery order and closed after
the recording that makes them reach ``rows_per_shard``, so a re-run that redoes the uncommitted
tail of each stream writes exactly the bytes an uninterrupted run would have written.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from lumamba_bench import __version__
from lumamba_bench.data.channels import positions
from lumamba_bench.data.lock import writer_lock
from lumamba_bench.data.parallel import ordered_map
from lumamba_bench.data.recipe import DROP, MULTILABEL, SPLITS, Discovery, Recipe, Recording
from lumamba_bench.data.shards import FORMAT_VERSION, ShardBuffer, write_table_atomic
from lumamba_bench.data.split_tables import apply_split_file, table_sha256
from lumamba_bench.errors import LumambaError, RecordingError
from lumamba_bench.files import sha256_of, write_json_atomic

ROWS_PER_SHARD = 2048


JOURNAL_ONLY = ("mtime_ns",)  # file facts the journal keeps and the manifest does not (they differ per machine)


@dataclass
class RecordingResult:
    """What processing one file produced: windows, or the reason it was skipped."""

    recording: Recording
    status: str  # "ok" | "skipped"
    reason: str = ""
    size: int = 0
    mtime_ns: int = 0  # journal only (machine-specific): a resume re-hashes a source whose size or mtime changed
    fingerprint: str = ""
    channels: list[str] = field(default_factory=list)
    source_sfreq: float = 0.0
    signal: np.ndarray | None = None
    start_s: np.ndarray | None = None
    labels: np.ndarray | None = None
    dropped_flat: int = 0
    dropped_nonfinite: int = 0
    notes: dict = field(default_factory=dict)  # what the recipe found while labelling (clipped events, ...)
    multi_hot: bool = False  # labels are one bit per class (their counts are per class, not per value)

    def entry(self, source: Path, montage: str = "", shard: str = "") -> dict:
        """The manifest / journal line for this file."""
        rec = self.recording
        return {
            "path": str(rec.path.relative_to(source)) if rec.path.is_relative_to(source) else str(rec.path),
            "recording_id": rec.recording_id,
            "subject_id": rec.subject_id,
            "split": rec.split,
            "label": rec.label,
            "status": self.status,
            "reason": self.reason,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "fingerprint": self.fingerprint,
            "source_sfreq": self.source_sfreq,
            "windows": 0 if self.signal is None else int(len(self.signal)),
            "dropped_flat": self.dropped_flat,
            "dropped_nonfinite": self.dropped_nonfinite,
            "label_counts": self.label_counts(),
            "notes": self.notes,
            "montage": montage,
            "shard": shard,
        }

    def label_counts(self) -> dict[str, int]:
        """Windows per label value (multi-hot labels: windows positive for each class index;
        one class per channel: channel-windows per class)."""
        if self.labels is None or len(self.labels) == 0:
            return {}
        if self.multi_hot:
            return {str(i): int(n) for i, n in enumerate(self.labels.sum(axis=0))}
        values, counts = np.unique(self.labels, return_counts=True)
        return {str(int(v)): int(n) for v, n in zip(values, counts, strict=False)}


def not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be a recording although it is named like one (None: a regular file)."""
    try:
        if path.is_symlink() and not path.exists():
            try:
                path.stat()
            except OSError as error:
                if error.errno == errno.ELOOP:
                    return "a symbolic link loop"
            return f"a broken symbolic link (to {os.readlink(path)})"
        if path.is_dir():
            return "a folder, not a recording file"
        if not path.is_file():
            return "not a regular file" if path.exists() else "file not found"
    except OSError as error:
        return f"cannot be examined ({error.strerror or error})"
    return None


def utf8_name(path: Path | str) -> bool:
    """Whether a path is text (a name in another encoding reaches Python as lone surrogates,
    which Parquet, the manifest's split table and a terminal cannot hold)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_name(path: Path | str) -> str:
    """A path as text, its undecodable bytes written as \\xNN."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def unreadable_candidates(source: Path, suffix: str, known: set[str]) -> list[dict]:
    """Entries under ``source`` named like recordings (``suffix``) that are not regular files:
    folders, broken links, link loops. Discovery passes them over; the manifest lists them."""
    found = []
    for folder, dirs, files in os.walk(source, followlinks=False):
        for name in sorted(dirs + files):
            if not name.lower().endswith(suffix):
                continue
            path = Path(folder) / name
            relative = str(path.relative_to(source))
            if not utf8_name(relative):
                reason = f"{shown_name(name)}: the file name is not valid UTF-8; rename it to keep it"
                found.append({"path": shown_name(relative), "status": "skipped", "reason": reason})
                continue
            reason = not_a_file(path)
            if reason and relative not in known:
                found.append({"path": relative, "status": "skipped", "reason": f"{name}: {reason}"})
    return sorted(found, key=lambda e: e["path"])


def process_recording(recipe: Recipe, recording: Recording) -> RecordingResult:
    """Read, preprocess and label one file; any failure becomes a skip with its reason."""
    result = RecordingResult(recording, "skipped", multi_hot=recipe.task_type == MULTILABEL)
    try:
        problem = not_a_file(recording.path)
        if problem:
            raise RecordingError(f"{recording.path.name}: {problem} ({recording.path})")
        found = recording.path.stat()
        result.size, result.mtime_ns = found.st_size, found.st_mtime_ns
        result.fingerprint = "sha256:" + sha256_of(recording.path)
        data, sfreq, channels = recipe.read(recording)
        result.channels, result.source_sfreq = list(channels), float(sfreq)
        windows = recipe.windows(data, sfreq)
        result.dropped_flat, result.dropped_nonfinite = windows.dropped_flat, windows.dropped_nonfinite
        if len(windows.signal) == 0:
            result.reason = (
                f"no usable {recipe.preprocessing.window_s:g} s window "
                f"({windows.dropped_flat} flat, {windows.dropped_nonfinite} with NaN/Inf, "
                f"{data.shape[-1] * (data.shape[0] if data.ndim == 3 else 1) / sfreq:.1f} s long)"
            )
            return result
        duration_s = data.shape[-1] / sfreq
        result.labels, result.notes = recipe.window_labels(recording, windows, duration_s)
        result.signal, result.start_s = windows.signal, windows.start_s
        if recipe.drops_windows:
            _drop_windows(result)
            if len(result.labels) == 0:
                dropped = result.notes.get("dropped_windows", {})
                result.reason = f"{recording.path.name}: no window belongs to the task ({_counts_text(dropped)})"
                return result
        result.status = "ok"
    except Exception as error:  # one bad file must never stop a corpus: record why, go on
        message = str(error)
        name = recording.path.name
        result.reason = message if message.startswith(name) else f"{name}: {type(error).__name__}: {message}"
    return result


def _drop_windows(result: RecordingResult) -> None:
    """Remove the windows a recipe labelled DROP (the recipe notes why, with counts)."""
    labels = result.labels
    keep = labels != DROP if labels.ndim == 1 else (labels != DROP).all(axis=1)
    result.labels, result.signal, result.start_s = labels[keep], result.signal[keep], result.start_s[keep]


def _counts_text(counts: dict) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items())) or "no windows"


def _limit(recordings: list[Recording], limit: int | None) -> list[Recording]:
    """The first ``limit`` recordings, taken round-robin over (split, label) groups."""
    if limit is None or limit >= len(recordings):
        return recordings
    groups: dict[tuple, list[Recording]] = defaultdict(list)
    for rec in recordings:
        groups[(rec.split, rec.label)].append(rec)
    picked: list[Recording] = []
    queues = [groups[key] for key in sorted(groups, key=str)]
    while len(picked) < limit:
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    order = {rec.recording_id: i for i, rec in enumerate(recordings)}
    return sorted(picked, key=lambda r: order[r.recording_id])


class Journal:
    """Append-only record of finished shards and skipped files, one JSON object per line.

    A line counts only once its newline is on disk (the append is fsynced), so a crash or a full
    disk mid-append leaves at most a partial last line: ``repair`` cuts it off (reporting how
    many bytes) before anything is appended, and the recording it described is redone. A broken
    line anywhere else is not a torn write but damage, and an error."""

    def __init__(self, path: Path):
        self.path = path

    def repair(self) -> int:
        """Drop a partial last line left by an interrupted append; returns the bytes dropped."""
        if not self.path.exists():
            return 0
        raw = self.path.read_bytes()
        keep = raw.rfind(b"\n") + 1
        if keep == len(raw):
            return 0
        with open(self.path, "r+b") as handle:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
        return len(raw) - keep

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]  # a partial last line is not a record yet
        records = []
        for number, line in enumerate(complete.decode("utf-8", errors="replace").splitlines(), start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if not isinstance(record, dict) or "type" not in record:
                raise LumambaError(
                    f"{self.path} line {number} is damaged (not a journal record); re-run with --force to rebuild"
                )
            records.append(record)
        return records

    def append(self, record: dict) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


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


def _settings(recipe: Recipe, discovery: Discovery | None = None) -> dict:
    """What the journal's windows depend on: a resume with other settings is refused."""
    split = (discovery.split_source if discovery is not None else None) or {"from": "recipe"}
    return {
        "recipe": recipe.name,
        "recipe_version": recipe.version,
        "format_version": FORMAT_VERSION,
        "preprocessing": recipe.preprocessing.to_dict(),
        "split": split.get("file_sha256", "recipe"),
    }


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
    recordings = _limit(discovery.recordings, limit)

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


def check_complete(recipe: Recipe, source: Path, discovery: Discovery, allow_partial: bool) -> dict | None:
    """Recording files found per group against the counts of a complete copy of the corpus
    version (None where the recipe declares none). A partial copy is an error listing the counts,
    unless ``allow_partial``: then the counts go into the manifest."""
    if not recipe.expected_files:
        return None
    found = Counter(recipe.count_group(r) for r in discovery.recordings)
    expected = dict(recipe.expected_files)
    complete = {g: found.get(g, 0) for g in expected} == expected and set(found) <= set(expected)
    record = {
        "corpus_version": recipe.corpus_version,
        "expected": expected,
        "found": {g: found.get(g, 0) for g in sorted(set(expected) | set(found))},
        "complete": complete,
        "allow_partial": allow_partial,
    }
    if not complete and not allow_partial:
        counts = ", ".join(f"{g} {found.get(g, 0):,} of {n:,}" for g, n in expected.items())
        raise LumambaError(
            f"{source} is not a complete {recipe.name.upper()} {recipe.corpus_version}: "
            f"{sum(found.values()):,} of {sum(expected.values()):,} recording files ({counts}); "
            "finish the download, or pass --allow-partial to prepare it anyway (recorded in the manifest)"
        )
    return record


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


def _check_committed_sources(out_dir: Path, records: list[dict], recordings: list[Recording]) -> None:
    """A resume keeps only shards whose recordings are still the ones this run prepares: a
    recording removed, moved, now excluded or beyond a lower ``--limit`` would stay in the shards
    while the manifest no longer lists it, and one whose content changed holds other data.
    A source whose size or modification time differs from the journal's is hashed again and
    compared with the sha256 recorded when it was prepared (the stat first, as git does: hashing
    every source on every resume would re-read the whole corpus). Named, with the way out."""
    wanted = {r.recording_id: r for r in recordings}
    committed = [f for record in records if record["type"] == "shard" for f in record["files"]]
    gone = sorted(f["recording_id"] for f in committed if f["recording_id"] not in wanted)
    if gone:
        raise LumambaError(
            f"{out_dir} already holds {len(gone)} recordings that this run would not prepare (e.g. {gone[0]}: "
            "removed, moved, now excluded, or beyond a lower --limit); re-run with --force to rebuild without them"
        )
    changed = [why for f in committed if (why := _source_change(f, wanted[f["recording_id"]].path))]
    if changed:
        raise LumambaError(
            f"{out_dir}: {len(changed)} source files changed since they were prepared (e.g. {changed[0]}); "
            "re-run with --force to rebuild"
        )


def _source_change(entry: dict, path: Path) -> str:
    """Why a committed source is no longer the file that was prepared ("" when it is)."""
    try:
        found = path.stat()
    except OSError as error:
        return f"{entry['path']} ({error.strerror})"
    if entry.get("size") is not None and found.st_size != entry["size"]:
        return f"{entry['path']} ({entry['size']:,} -> {found.st_size:,} bytes)"
    if entry.get("mtime_ns") in (None, found.st_mtime_ns) or not entry.get("fingerprint"):
        return ""  # same size and time (or a journal from before times were kept)
    if "sha256:" + sha256_of(path) != entry["fingerprint"]:
        return f"{entry['path']} (same size, other content: its sha256 differs from the one prepared)"
    return ""


def _begin(
    recipe: Recipe, out_dir: Path, journal: Journal, discovery: Discovery, recordings: list[Recording], force: bool
) -> tuple[dict, int]:
    """Start fresh (``force``) or pick up the journal: its repaired state and the bytes of a torn
    last record cut off. Recordings committed earlier that this run would not prepare, or whose
    source changed, are an error (``_check_committed_sources``)."""
    if force and out_dir.exists():
        for name in ("shards", "journal.jsonl", "manifest.json"):
            target = out_dir / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    (out_dir / "shards").mkdir(parents=True, exist_ok=True)
    dropped = journal.repair()
    state = _resume_state(journal, recipe, out_dir, discovery)
    _check_committed_sources(out_dir, state["records"], recordings)
    if not state["records"]:
        journal.append({"type": "settings", **_settings(recipe, discovery)})
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


def _changed(old: dict, new: dict, prefix: str = "") -> list[str]:
    """'field: old -> new' for every setting that differs (nested dicts compared key by key)."""
    changes = []
    for key in sorted(set(old) | set(new)):
        if key == "type":
            continue
        before, after = old.get(key, "absent"), new.get(key, "absent")
        if isinstance(before, dict) and isinstance(after, dict):
            changes += _changed(before, after, f"{prefix}{key}.")
        elif before != after:
            changes.append(f"{prefix}{key}: {before} -> {after}")
    return changes


def _resume_state(journal: Journal, recipe: Recipe, out_dir: Path, discovery: Discovery) -> dict:
    """Committed recordings and shard counters from the journal, after checking the shards."""
    records = journal.read()
    committed: set[str] = set()
    counters: Counter = Counter()
    for record in records:
        settings = _settings(recipe, discovery)
        if record["type"] == "settings" and _changed({"split": "recipe", **record}, settings):
            raise LumambaError(
                f"{out_dir} was prepared with other settings "
                f"({'; '.join(_changed({'split': 'recipe', **record}, settings))}); "
                "its windows cannot be mixed with new ones: re-run with --force to rebuild it"
            )
        if record["type"] == "shard":
            path = out_dir / "shards" / record["file"]
            if not path.exists() or sha256_of(path) != record["sha256"]:
                raise LumambaError(
                    f"shard {path} is missing or changed since it was written; re-run with --force to rebuild"
                )
            committed.update(e["recording_id"] for e in record["files"])
            counters[(record["split"], record["montage"])] += 1
    return {"records": records, "committed": committed, "counters": counters}


def _split_counts(files: list[dict]) -> dict:
    """Recordings, subjects, windows and windows per label of one split's usable files."""
    ok = [f for f in files if f["status"] == "ok"]
    per_label: Counter = Counter()
    for f in ok:
        per_label.update(f["label_counts"])
    return {
        "recordings": len(ok),
        "subjects": len({f["subject_id"] for f in ok}),
        "windows": sum(f["windows"] for f in ok),
        "windows_per_label": {k: per_label[k] for k in sorted(per_label, key=int)},
    }


def build_manifest(
    recipe: Recipe,
    source: Path,
    records: list[dict],
    recordings: list[Recording],
    discovery: Discovery,
    limit: int | None,
) -> dict:
    """The manifest: settings, counts, montages, per-file status and per-shard sha256."""
    wanted = {r.recording_id for r in recordings}
    files: dict[str, dict] = {}
    shards, montages = [], {}
    for record in records:
        if record["type"] == "shard":
            shards.append({k: record[k] for k in ("file", "split", "montage", "rows", "sha256")})
            montages.setdefault(record["montage"], {"channels": record["channels"], "coords": record["coords"]})
            for entry in record["files"]:
                files[entry["recording_id"]] = {k: v for k, v in entry.items() if k not in JOURNAL_ONLY}
        elif record["type"] == "skipped":
            files[record["file"]["recording_id"]] = {k: v for k, v in record["file"].items() if k not in JOURNAL_ONLY}
    files = {k: v for k, v in files.items() if k in wanted}

    splits = {split: _split_counts([f for f in files.values() if f["split"] == split]) for split in SPLITS}
    subjects = {r.subject_id: r.split for r in sorted(recordings, key=lambda r: r.subject_id)}
    known = {f["path"] for f in files.values()} | set(discovery.ignored) | set(discovery.excluded)
    unreadable = unreadable_candidates(source, recipe.recording_suffix, known)
    ordered_files = sorted(files.values(), key=lambda f: f["recording_id"])
    return {
        "format_version": FORMAT_VERSION,
        "recipe": {"name": recipe.name, "version": recipe.version, "summary": recipe.summary}
        | ({"completeness": discovery.completeness} if discovery.completeness else {}),
        "tool_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "source_root": str(source),
        "limit": limit,
        "preprocessing": recipe.preprocessing.to_dict(),
        "label_names": list(recipe.label_names),
        "splits": splits,
        "subjects": subjects,
        "split_table": {**discovery.split_source, "sha256": table_sha256(subjects)},
        "montages": montages,
        "dropped_windows": {
            "flat": sum(f["dropped_flat"] for f in ordered_files),
            "nonfinite": sum(f["dropped_nonfinite"] for f in ordered_files),
        },
        "label_notes": _sum_notes(f.get("notes", {}) for f in ordered_files),
        "files": ordered_files,
        "ignored_files": discovery.ignored,
        "excluded_files": [{"path": k, "reason": v} for k, v in sorted(discovery.excluded.items())],
        "unreadable_files": unreadable,
        "skipped_files": sum(f["status"] == "skipped" for f in ordered_files) + len(unreadable),
        "same_content_across_splits": _same_content_across_splits(ordered_files),
        "shards": sorted(shards, key=lambda s: s["file"]),
    }


def _same_content_across_splits(files: list[dict]) -> list[dict]:
    """Recordings whose source files are byte-identical (same sha256) but sit in different splits:
    the same EEG under two names would leak between training and evaluation."""
    by_content: dict[str, list[dict]] = {}
    for f in files:
        if f["status"] == "ok" and f.get("fingerprint"):
            by_content.setdefault(f["fingerprint"], []).append(f)
    return [
        {"fingerprint": digest, "files": [{"path": f["path"], "split": f["split"]} for f in group]}
        for digest, group in sorted(by_content.items())
        if len({f["split"] for f in group}) > 1
    ]


def _sum_notes(notes) -> dict:
    """Corpus totals of the per-file counts recipes note (nested dicts of counts add up)."""
    total: dict = {}
    for note in notes:
        for key, value in note.items():
            if isinstance(value, dict):
                total[key] = _sum_notes([total.get(key, {}), value])
            elif isinstance(value, int | float) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    return dict(sorted(total.items()))


def ensure_prepared(recipe_name: str, root: Path | str | None = None) -> Path:
    """The dataset folder of a prepared recipe; the demo corpus is prepared on first use,
    any other unprepared recipe is an error naming the command that prepares it."""
    from lumamba_bench.data.recipe import get_recipe
    from lumamba_bench.data.store import data_root

    recipe = get_recipe(recipe_name)
    folder = data_root(root) / recipe.name
    if (folder / "manifest.json").exists():
        return folder
    source = recipe.default_source(data_root(root))
    if source is None:
        raise LumambaError(
            f"{recipe.name} is not prepared; run `lumamba-bench prepare {recipe.name} --source DIR`"
            f" (DIR holding {recipe.source_layout})"
        )
    prepare(recipe, source, folder)
    return folder


def resolve_source(recipe: Recipe, source: Path | None, root: Path) -> Path:
    """The folder ``prepare`` reads: the one given, or the corpus this package generates (the
    demo); an error naming the layout otherwise."""
    if source is not None:
        return Path(source)
    generated = recipe.default_source(root)
    if generated is None:
        raise LumambaError(f"`prepare {recipe.name}` needs --source: the folder holding {recipe.source_layout}")
    return generated
