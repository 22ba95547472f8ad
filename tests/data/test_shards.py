import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from lumamba_bench.data.shards import METADATA_KEY, ShardBuffer, read_windows, shard_metadata, write_table_atomic

META = {
    "channels": ["FP1-F7", "F7-T3"],
    "coords": [[0.0, 0.1, 0.0], [0.1, 0.0, 0.0]],
    "sfreq": 256.0,
    "n_samples": 8,
    "units": "uV",
    "montage": "m2",
    "split": "train",
}


def _buffer(n_classes=None) -> tuple[ShardBuffer, dict]:
    rng = np.random.default_rng(0)
    buffer = ShardBuffer("train", "m2", META, n_values=16, n_classes=n_classes)
    parts = {}
    for rec, n in (("r1", 3), ("r2", 70)):
        signal = rng.standard_normal((n, 2, 8)).astype(np.float32)
        labels = rng.integers(0, 2, (n, n_classes) if n_classes else n)
        buffer.add(rec, f"s-{rec}", signal, np.arange(n) * 5.0, labels)
        parts[rec] = (signal, labels)
    return buffer, parts


def test_round_trip(tmp_path):
    buffer, parts = _buffer()
    digest = write_table_atomic(buffer.to_table(), tmp_path / "train-m2-00000.parquet")
    assert len(digest) == 64 and not list(tmp_path.glob(".*tmp"))
    back = read_windows(tmp_path / "train-m2-00000.parquet")
    np.testing.assert_array_equal(back["signal"], np.concatenate([parts["r1"][0], parts["r2"][0]]))
    np.testing.assert_array_equal(back["label"], np.concatenate([parts["r1"][1], parts["r2"][1]]))
    assert list(back["recording_id"][:4]) == ["r1", "r1", "r1", "r2"]
    np.testing.assert_array_equal(back["window_index"][:5], [0, 1, 2, 0, 1])
    np.testing.assert_array_equal(back["start_s"][3:5], [0.0, 5.0])


def test_schema_metadata_and_row_groups(tmp_path):
    buffer, _ = _buffer()
    path = tmp_path / "s.parquet"
    write_table_atomic(buffer.to_table(), path)
    assert shard_metadata(path)["channels"] == META["channels"]
    assert json.loads(pq.read_schema(path).metadata[METADATA_KEY])["sfreq"] == 256.0
    handle = pq.ParquetFile(path)
    assert handle.num_row_groups == 2  # 73 rows in groups of 64
    assert handle.metadata.row_group(0).column(5).compression == "ZSTD"
    one_group = read_windows(path, row_group=1)
    assert len(one_group["signal"]) == 9


def test_multilabel_round_trip(tmp_path):
    buffer, parts = _buffer(n_classes=5)
    write_table_atomic(buffer.to_table(), tmp_path / "m.parquet")
    back = read_windows(tmp_path / "m.parquet")
    assert back["label"].shape == (73, 5)
    np.testing.assert_array_equal(back["label"][:3], parts["r1"][1])


def test_huggingface_datasets_loads_a_shard(tmp_path):
    datasets = pytest.importorskip("datasets")
    buffer, parts = _buffer()
    path = tmp_path / "train-m2-00000.parquet"
    write_table_atomic(buffer.to_table(), path)
    loaded = datasets.load_dataset("parquet", data_files={"train": str(path)}, cache_dir=str(tmp_path / "hf-cache"))[
        "train"
    ]
    assert loaded.num_rows == 73
    row = loaded[3]
    assert row["recording_id"] == "r2" and row["subject_id"] == "s-r2"
    np.testing.assert_allclose(np.asarray(row["signal"], np.float32).reshape(2, 8), parts["r2"][0][0])
