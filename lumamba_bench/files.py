"""Files written whole or not at all, and file hashes: the one way the package does both.

``atomic_path`` hands out a temporary name beside the target; when the block ends the file is
flushed to disk, renamed over the target and the folder entry synced, so a reader (or a run
after a crash) finds the old file or the new one, never half of one. On any error the temporary
file is removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # a platform or file system that cannot open folders: the rename is still atomic
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path to write ``path`` through (see the module docstring)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def replace_folder(tmp: Path, folder: Path) -> None:
    """Put a folder built under a temporary name in place of ``folder``: its files synced first,
    then the old folder removed and the new one renamed in (a crash in between leaves the new
    one complete under its temporary name)."""
    for item in Path(tmp).iterdir():
        if item.is_file():
            _fsync_file(item)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    _fsync_folder(Path(folder).parent)


def write_text_atomic(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: Path | str, payload, sort_keys: bool = False) -> None:
    """JSON, indented, ending in a newline, written whole or not at all."""
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=sort_keys) + "\n")


def copy_atomic(source: Path | str, path: Path | str) -> None:
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)


def sha256_of(path: Path | str, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
