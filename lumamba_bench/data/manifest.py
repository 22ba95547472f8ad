"""Reading and atomically writing a prepared dataset's ``manifest.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lumamba_bench.data.shards import FORMAT_VERSION
from lumamba_bench.errors import LumambaError

# What an older shard format means for a user who still has one.
OLD_FORMATS = {1: "electrode coordinates in MNE's MRI frame, not the head frame the published models were trained on"}


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON through a temporary file and rename it into place (never half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as handle:
        json.dump(payload, handle, indent=2, sort_keys=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_manifest(dataset: Path, recipe: str | None = None) -> dict:
    """The manifest of a prepared dataset folder, or an error saying how to prepare it."""
    path = Path(dataset) / "manifest.json"
    name = recipe or Path(dataset).name
    if not path.exists():
        raise LumambaError(
            f"{name} is not prepared ({path} not found); run `lumamba-bench prepare {name} --source DIR`"
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise LumambaError(f"{path} is not valid JSON ({error}); re-run prepare with --force") from None
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != FORMAT_VERSION:
        why = OLD_FORMATS.get(version, "an unknown format")
        raise LumambaError(
            f"{path} was written in shard format {version} ({why}); this version reads format {FORMAT_VERSION}. "
            f"Re-run `lumamba-bench prepare {name} --source DIR --force` to rebuild it"
        )
    return manifest
