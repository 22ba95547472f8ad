"""The manifest a preparation ends with, assembled from its journal: settings, counts per
split and label, montages, every file's status and every shard's sha256.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from lumamba_bench import __version__
from lumamba_bench.data.recipe import SPLITS, Discovery, Recipe, Recording
from lumamba_bench.data.recording import JOURNAL_ONLY
from lumamba_bench.data.shards import FORMAT_VERSION
from lumamba_bench.data.sources import unreadable_candidates
from lumamba_bench.data.split_tables import table_sha256


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
