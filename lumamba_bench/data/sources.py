"""What is in a source folder before anything is read: files that are not recordings (links,
folders, undecodable names), the corpus release's file counts (``check_complete``), a
``--limit`` subset, and on resume whether the sources committed earlier are still the same.
"""

from __future__ import annotations

import errno
import os
from collections import Counter, defaultdict
from pathlib import Path

from lumamba_bench.data.recipe import Discovery, Recipe, Recording
from lumamba_bench.errors import LumambaError
from lumamba_bench.files import sha256_of


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


def limited(recordings: list[Recording], limit: int | None) -> list[Recording]:
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


def check_committed_sources(out_dir: Path, records: list[dict], recordings: list[Recording]) -> None:
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
