"""The preparation journal (``journal.jsonl``): what was committed, so an interrupted run
resumes to byte-identical shards, and the settings a resume must share.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from lumamba_bench.data.recipe import Discovery, Recipe
from lumamba_bench.data.shards import FORMAT_VERSION
from lumamba_bench.errors import LumambaError
from lumamba_bench.files import sha256_of


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


def journal_settings(recipe: Recipe, discovery: Discovery | None = None) -> dict:
    """What the journal's windows depend on: a resume with other settings is refused."""
    split = (discovery.split_source if discovery is not None else None) or {"from": "recipe"}
    return {
        "recipe": recipe.name,
        "recipe_version": recipe.version,
        "format_version": FORMAT_VERSION,
        "preprocessing": recipe.preprocessing.to_dict(),
        "split": split.get("file_sha256", "recipe"),
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


def resume_state(journal: Journal, recipe: Recipe, out_dir: Path, discovery: Discovery) -> dict:
    """Committed recordings and shard counters from the journal, after checking the shards."""
    records = journal.read()
    committed: set[str] = set()
    counters: Counter = Counter()
    for record in records:
        settings = journal_settings(recipe, discovery)
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
