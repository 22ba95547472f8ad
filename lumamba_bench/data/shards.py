"""Parquet shards (format version 2): one split x one montage per file, one row per window.

Columns: recording_id, subject_id, window_index, start_s, label, signal (fixed-size list of
float32, channels x samples, row-major). The file's schema metadata repeats channel names,
coordinates, sampling rate and units under the key ``lumamba_bench`` so a shard is readable on
its own. Files are written under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lumamba_bench.errors import LumambaError
from lumamba_bench.files import atomic_path, sha256_of

FORMAT_VERSION = 3  # see manifest.OLD_FORMATS for what earlier versions hold
METADATA_KEY = b"lumamba_bench"
ROWS_PER_GROUP = 64  # ~7 MB of 22 x 1280 float32 windows: cheap random access


def shard_schema(n_values: int, metadata: dict, n_classes: int | None = None) -> pa.Schema:
    """Arrow schema of a shard; ``n_classes`` set means a multi-hot label list per window."""
    label = pa.int16() if n_classes is None else pa.list_(pa.field("element", pa.int16(), False), n_classes)
    return pa.schema(
        [
            pa.field("recording_id", pa.string(), False),
            pa.field("subject_id", pa.string(), False),
            pa.field("window_index", pa.int32(), False),
            pa.field("start_s", pa.float32(), False),
            pa.field("label", label, False),
            pa.field("signal", pa.list_(pa.field("element", pa.float32(), False), n_values), False),
        ],
        metadata={METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()},
    )


@dataclass
class ShardBuffer:
    """Windows of one split x montage waiting to be written, kept recording by recording."""

    split: str
    montage: str
    metadata: dict
    n_values: int
    n_classes: int | None = None
    parts: list[dict] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)
    rows: int = 0

    def add(
        self, recording_id: str, subject_id: str, signal: np.ndarray, start_s: np.ndarray, labels: np.ndarray
    ) -> None:
        n = len(signal)
        self.parts.append(
            {
                "recording_id": np.full(n, recording_id, dtype=object),
                "subject_id": np.full(n, subject_id, dtype=object),
                "window_index": np.arange(n, dtype=np.int32),
                "start_s": np.asarray(start_s, np.float32),
                "label": np.asarray(labels, np.int16),
                "signal": np.ascontiguousarray(signal, np.float32).reshape(n, -1),
            }
        )
        self.recordings.append(recording_id)
        self.rows += n

    def to_table(self) -> pa.Table:
        schema = shard_schema(self.n_values, self.metadata, self.n_classes)
        columns = {}
        for name in ("recording_id", "subject_id", "window_index", "start_s"):
            columns[name] = pa.array(np.concatenate([p[name] for p in self.parts]), type=schema.field(name).type)
        labels = np.concatenate([p["label"] for p in self.parts])
        signal = np.concatenate([p["signal"] for p in self.parts])
        if self.n_classes is None:
            columns["label"] = pa.array(labels, type=pa.int16())
        else:
            columns["label"] = pa.FixedSizeListArray.from_arrays(
                pa.array(labels.ravel()), type=schema.field("label").type
            )
        columns["signal"] = pa.FixedSizeListArray.from_arrays(
            pa.array(signal.ravel()), type=schema.field("signal").type
        )
        return pa.Table.from_pydict(columns, schema=schema)

    def clear(self) -> None:
        self.parts, self.recordings, self.rows = [], [], 0


def write_table_atomic(table: pa.Table, path: Path) -> str:
    """Write a shard through a temporary name (never half a shard: a full disk, a kill); returns
    the file's sha256."""
    small_columns = [name for name in table.column_names if name != "signal"]
    # Signal values: no dictionary or min/max statistics (useless on EEG, and they halve write
    # speed); byte-stream split lets zstd find the shared exponent bytes (~18% smaller).
    with atomic_path(path) as tmp:
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            row_group_size=ROWS_PER_GROUP,
            use_dictionary=small_columns,
            write_statistics=small_columns,
            use_byte_stream_split=["signal.list.element"],
            write_page_checksum=True,  # CRC32 per page, checked on every read (read_verified)
        )
    return sha256_of(path)


def shard_metadata(path: Path) -> dict:
    """The ``lumamba_bench`` schema metadata of a shard, read without touching the data; a footer
    that cannot be read (zeroed, cut, its JSON broken) is an error naming the shard."""
    return shard_footer(path)[0]


def shard_footer(path: Path) -> tuple[dict, list[int]]:
    """A shard's metadata and the row count of each of its row groups, from one read of its footer."""
    try:
        footer = pq.read_metadata(path)
        raw = (footer.schema.to_arrow_schema().metadata or {}).get(METADATA_KEY)
        if raw is None:
            raise ValueError(f"no {METADATA_KEY.decode()} metadata: not a lumamba-bench shard")
        meta = json.loads(raw)
        if not isinstance(meta, dict):
            raise ValueError(f"its {METADATA_KEY.decode()} metadata is not a JSON object")
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as error:  # ArrowInvalid is a ValueError
        raise LumambaError(
            f"shard {path}: its footer cannot be read ({error}); re-run `lumamba-bench prepare` for this corpus "
            "with --force"
        ) from None
    return meta, [footer.row_group(g).num_rows for g in range(footer.num_row_groups)]


class ShardChecksumError(LumambaError):
    """A shard page whose bytes no longer match the CRC written with it."""


def read_verified(path: Path, row_group: int | None = None, columns: list[str] | None = None) -> pa.Table:
    """Read a shard (or one row group), checking every page's CRC32 as it is decoded."""
    try:
        handle = pq.ParquetFile(path, page_checksum_verification=True)
        return handle.read(columns=columns) if row_group is None else handle.read_row_group(row_group, columns=columns)
    except OSError as error:
        if "checksum" not in str(error).lower():
            raise
        where = "" if row_group is None else f" (row group {row_group})"
        raise ShardChecksumError(
            f"shard {path} is corrupt{where}: {error}. Re-run `lumamba-bench prepare` for this corpus with --force"
        ) from None


def read_windows(path: Path, row_group: int | None = None) -> dict[str, np.ndarray]:
    """Read a shard (or one row group) as numpy: signal comes back as (n, C, T) float32."""
    meta = shard_metadata(path)
    table = read_verified(path, row_group)
    n = table.num_rows
    signal = table.column("signal").combine_chunks().values.to_numpy(zero_copy_only=False)
    label_col = table.column("label").combine_chunks()
    if pa.types.is_fixed_size_list(label_col.type):
        labels = label_col.values.to_numpy(zero_copy_only=False).reshape(n, -1)
    else:
        labels = label_col.to_numpy(zero_copy_only=False)
    return {
        "recording_id": np.asarray(table.column("recording_id").to_pylist(), dtype=object),
        "subject_id": np.asarray(table.column("subject_id").to_pylist(), dtype=object),
        "window_index": table.column("window_index").to_numpy(),
        "start_s": table.column("start_s").to_numpy(),
        "label": labels,
        "signal": signal.reshape(n, len(meta["channels"]), meta["n_samples"]),
    }
