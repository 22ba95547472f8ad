"""Subject -> split tables, out of a prepared dataset and into ``prepare``.

A split published by another harness or paper can be reproduced exactly (``prepare
--split-file``), and ours can be reused elsewhere (``lumamba-bench splits``). The table is a
CSV, ``subject_id,split``, one row per subject sorted by id; its sha256 (of exactly those bytes)
is recorded in the manifest, so two datasets with the same digest were split alike.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from pathlib import Path

from lumamba_bench.data.recipe import SPLITS, Discovery
from lumamba_bench.errors import LumambaError

HEADER = ("subject_id", "split")


def table_text(subjects: dict[str, str]) -> str:
    """The canonical CSV of a subject -> split mapping (sorted by subject, LF line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(sorted(subjects.items()))
    return out.getvalue()


def table_sha256(subjects: dict[str, str]) -> str:
    return hashlib.sha256(table_text(subjects).encode()).hexdigest()


def read_split_file(path: Path) -> dict[str, str]:
    """A subject -> split table; any problem is an error naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise LumambaError(f"cannot read split file {path}: {error}") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(cell.strip() for cell in rows[0]) != HEADER:
        raise LumambaError(f"{path}:1: expected the header {','.join(HEADER)!r}")
    table: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 2:
            raise LumambaError(f"{path}:{number}: expected two columns (subject_id,split), found {len(row)}")
        subject, split = (cell.strip() for cell in row)
        if split not in SPLITS:
            raise LumambaError(f"{path}:{number}: split {split!r} of {subject} is not one of {', '.join(SPLITS)}")
        if subject in table and table[subject] != split:
            raise LumambaError(f"{path}:{number}: {subject} is assigned twice ({table[subject]} and {split})")
        table[subject] = split
    return table


def apply_split_file(discovery: Discovery, path: Path) -> dict:
    """Give every discovered recording its subject's split from the file at ``path``; a subject
    the file misses, or one it names that the corpus does not have, is an error naming it.
    Returns the manifest's record of the table."""
    table = read_split_file(path)
    found = {r.subject_id for r in discovery.recordings}
    missing, unknown = sorted(found - set(table)), sorted(set(table) - found)
    if missing:
        raise LumambaError(f"{path} assigns no split to {len(missing)} subject(s) of this corpus: {_some(missing)}")
    if unknown:
        raise LumambaError(f"{path} names {len(unknown)} subject(s) this corpus does not have: {_some(unknown)}")
    discovery.recordings = [dataclasses.replace(r, split=table[r.subject_id]) for r in discovery.recordings]
    return {"from": "split-file", "file": Path(path).name, "file_sha256": table_sha256(table)}


def _some(names: list[str], shown: int = 5) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
