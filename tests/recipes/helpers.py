"""Checks every recipe test makes on a prepared dataset."""

from collections import defaultdict
from pathlib import Path

import numpy as np

from lumamba_bench.data.channels import positions
from lumamba_bench.data.shards import read_windows


def files_by_id(manifest: dict) -> dict[str, dict]:
    return {f["recording_id"]: f for f in manifest["files"]}


def assert_no_subject_leak(manifest: dict) -> None:
    """No subject in two splits, and the manifest's subject table agrees with the files."""
    splits_of = defaultdict(set)
    for entry in manifest["files"]:
        splits_of[entry["subject_id"]].add(entry["split"])
    assert all(len(s) == 1 for s in splits_of.values()), {k: v for k, v in splits_of.items() if len(v) > 1}
    for subject, splits in splits_of.items():
        assert manifest["subjects"][subject] == next(iter(splits))


def shard_rows(out: Path, manifest: dict) -> dict[str, dict]:
    """Every window in the shards, by recording id: labels, start times, montage, shapes."""
    rows: dict[str, dict] = defaultdict(lambda: {"label": [], "start_s": [], "montage": set(), "shape": set()})
    for shard in manifest["shards"]:
        windows = read_windows(out / "shards" / shard["file"])
        channels = manifest["montages"][shard["montage"]]["channels"]
        np.testing.assert_allclose(manifest["montages"][shard["montage"]]["coords"], positions(channels), atol=1e-6)
        for i, rec in enumerate(windows["recording_id"]):
            rows[rec]["label"].append(np.asarray(windows["label"][i]).tolist())
            rows[rec]["start_s"].append(float(windows["start_s"][i]))
            rows[rec]["montage"].add(shard["montage"])
            rows[rec]["shape"].add(windows["signal"][i].shape)
    return rows
