"""Reading and atomically writing a prepared dataset's ``manifest.json``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from lumamba_bench.data.shards import FORMAT_VERSION
from lumamba_bench.errors import LumambaError

# What an older shard format means for a user who still has one.
OLD_FORMATS = {
    1: "electrode coordinates in MNE's MRI frame, not the head frame the published models were trained on",
    2: "signals resampled first, then Butterworth-filtered, not the reference's MNE FIR filters at the native rate; "
    "no page checksums",
}


_SPLIT = {"enum": ["train", "val", "test"]}
_COUNT = {"type": "integer", "minimum": 0}
_NAME = {"type": "string", "minLength": 1}
# What readers rely on (``run``, ``pretrain``, ``info``, submissions); a manifest missing any of it,
# or holding the wrong type, is refused on read rather than failing later with a KeyError.
MANIFEST_SCHEMA = {
    "type": "object",
    "required": ["format_version", "recipe", "preprocessing", "label_names", "splits", "montages", "files", "shards"],
    "properties": {
        "format_version": {"type": "integer"},
        "recipe": {"type": "object", "required": ["name", "version"], "properties": {"name": _NAME}},
        "preprocessing": {
            "type": "object",
            "required": ["sfreq", "window_s"],
            "properties": {"sfreq": {"type": "number", "exclusiveMinimum": 0}, "window_s": {"type": "number"}},
        },
        "label_names": {"type": "array", "items": {"type": "string"}},
        "splits": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["recordings", "windows"],
                "properties": {"recordings": _COUNT, "windows": _COUNT, "subjects": _COUNT},
            },
        },
        "subjects": {"type": "object", "additionalProperties": _SPLIT},
        "split_table": {
            "type": "object",
            "required": ["from", "sha256"],
            "properties": {"from": {"enum": ["recipe", "split-file"]}, "sha256": {"type": "string"}},
        },
        "montages": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["channels", "coords"],
                "properties": {
                    "channels": {"type": "array", "items": _NAME, "minItems": 1},
                    "coords": {
                        "type": "array",
                        "items": {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3},
                    },
                },
            },
        },
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["recording_id", "subject_id", "split", "status", "windows"],
                "properties": {
                    "recording_id": _NAME,
                    "subject_id": {"type": "string"},
                    "split": _SPLIT,
                    "status": {"enum": ["ok", "skipped"]},
                    "windows": _COUNT,
                },
            },
        },
        "shards": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["file", "split", "montage", "rows", "sha256"],
                "properties": {
                    "file": _NAME,
                    "split": _SPLIT,
                    "montage": _NAME,
                    "rows": _COUNT,
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                },
            },
        },
    },
}


def validate_manifest(manifest: dict, path: Path) -> None:
    """One line naming the first field that breaks ``MANIFEST_SCHEMA``."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(MANIFEST_SCHEMA).iter_errors(manifest))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise LumambaError(f"{path} is not a valid manifest: at {where}: {error.message}; re-run prepare with --force")


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
    validate_manifest(manifest, path)
    return manifest


def partial_reason(manifest: dict) -> str | None:
    """Why a prepared dataset is not the whole corpus release (``--limit``, ``--allow-partial``
    with files missing), or None: results on a part are not comparable with the board's."""
    if manifest.get("limit") is not None:
        return f"prepared with --limit {manifest['limit']}"
    completeness = manifest.get("recipe", {}).get("completeness")
    if completeness and not completeness.get("complete", True):
        found, expected = sum(completeness["found"].values()), sum(completeness["expected"].values())
        return f"prepared with --allow-partial from {found:,} of the release's {expected:,} files"
    return None


# What differs between two preparations of the same corpus with the same recipe: when, and where
# the raw files were. Everything else (files, splits, shards with their sha256) is the data.
_WHERE_AND_WHEN = ("created", "source_root")


def dataset_sha256(manifest: dict) -> str:
    """The prepared dataset's identity: sha256 of its manifest (canonical JSON) without the time
    and the source folder, so the same corpus prepared the same way on any machine gives the
    same hash (a results file's ``manifest_sha256`` hashes the file, time and path included)."""
    kept = {k: v for k, v in manifest.items() if k not in _WHERE_AND_WHEN}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
