"""Prepared data is checked before it is trusted: every shard the manifest lists must be a file
inside ``shards/`` whose sha256 is the one recorded when it was written, holding the number of
windows the manifest says.

Hashing is cached per dataset in ``.verified.json`` by (size, modification time), so opening a
dataset costs one hash per shard that changed since the last check; ``verify`` ignores the cache.
Any problem is one ``LumambaError`` naming the shard and saying how to rebuild.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from lumamba_bench.data.lock import check_no_writer
from lumamba_bench.errors import LumambaError
from lumamba_bench.files import sha256_of, write_text_atomic

CACHE = ".verified.json"
SHARD_KEYS = ("file", "split", "montage", "rows", "sha256")


def _rebuild(dataset_dir: Path) -> str:
    return f"re-run `lumamba-bench prepare {dataset_dir.name} --source DIR --force`"


def shard_entries(manifest: dict, dataset_dir: Path) -> list[dict]:
    """The manifest's shard list, each entry complete and naming a file directly in ``shards/``."""
    shards = manifest.get("shards")
    if not isinstance(shards, list):
        raise LumambaError(f"{dataset_dir / 'manifest.json'} lists no shards; {_rebuild(dataset_dir)}")
    seen: set = set()
    for entry in shards:
        missing = [k for k in SHARD_KEYS if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise LumambaError(
                f"{dataset_dir / 'manifest.json'}: a shard entry lacks {', '.join(missing)}; {_rebuild(dataset_dir)}"
            )
        name = entry["file"]
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise LumambaError(
                f"{dataset_dir / 'manifest.json'}: shard path {name!r} is not a file name inside shards/; "
                f"{_rebuild(dataset_dir)}"
            )
        if name in seen:  # read twice, its windows would count twice in every metric
            raise LumambaError(
                f"{dataset_dir / 'manifest.json'} lists shard {name} twice; {_rebuild(dataset_dir)}"
            )
        seen.add(name)
    return shards


def verify_shards(dataset_dir: Path | str, manifest: dict, use_cache: bool = True) -> int:
    """Check every listed shard; returns how many were hashed (the rest matched the cache)."""
    dataset_dir = Path(dataset_dir)
    check_no_writer(dataset_dir)
    cache_path = dataset_dir / CACHE
    cache: dict = {}
    if use_cache and cache_path.is_file():
        try:
            cache = json.loads(cache_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            cache = {}
        if not isinstance(cache, dict) or not all(isinstance(v, dict) for v in cache.values()):
            cache = {}  # malformed: ignored, and rewritten below from fresh hashes
    hashed, fresh = 0, {}
    for entry in shard_entries(manifest, dataset_dir):
        path = dataset_dir / "shards" / entry["file"]
        if not path.is_file():
            raise LumambaError(f"shard {path} is missing; {_rebuild(dataset_dir)}")
        stat = path.stat()
        stamp = [stat.st_size, stat.st_mtime_ns]
        known = cache.get(entry["file"])
        if known and known.get("stamp") == stamp and known.get("sha256") == entry["sha256"] and "rows" in known:
            fresh[entry["file"]] = known  # an unchanged file: same hash, same footer
        else:
            digest = sha256_of(path)
            hashed += 1
            if digest != entry["sha256"]:
                raise LumambaError(
                    f"shard {path} has changed since it was written (sha256 {digest[:12]}..., the manifest "
                    f"records {str(entry['sha256'])[:12]}...); {_rebuild(dataset_dir)}"
                )
            rows = pq.ParquetFile(path).metadata.num_rows
            fresh[entry["file"]] = {"stamp": stamp, "sha256": digest, "rows": rows}
        rows = fresh[entry["file"]]["rows"]  # against the manifest every time: its counts may be edited
        if rows != entry["rows"]:
            raise LumambaError(
                f"{dataset_dir / 'manifest.json'} says shard {entry['file']} holds {entry['rows']} windows, the file "
                f"holds {rows}; {_rebuild(dataset_dir)}"
            )
    if hashed:
        try:
            write_text_atomic(cache_path, json.dumps(fresh))
        except OSError:
            pass  # a read-only data root: checked, just not cached
    return hashed


def check_footer(path: Path, meta: dict, entry: dict, manifest: dict) -> None:
    """What the loader takes from a shard's footer (its montage, channel names and positions,
    rate, window length and label names) against what the manifest says, on every open: a footer
    rewritten with its size and time kept passes the hash cache, not this; nor does a manifest
    whose label names were edited by hand."""
    preprocessing = manifest["preprocessing"]
    montage = manifest["montages"].get(entry["montage"], {})
    expected = {
        "montage": entry["montage"],
        "channels": montage.get("channels"),
        "coords": montage.get("coords"),
        "sfreq": preprocessing["sfreq"],
        "n_samples": int(round(preprocessing["window_s"] * preprocessing["sfreq"])),
    }
    if "label_names" in meta:  # shards written by prepare carry them
        expected["label_names"] = manifest["label_names"]
    differing = [key for key, value in expected.items() if meta.get(key) != value]
    if differing:
        raise LumambaError(
            f"shard {path}: its footer disagrees with the manifest on {', '.join(differing)} (the file was changed "
            f"after prepare wrote it); {_rebuild(path.parent.parent)}"
        )
