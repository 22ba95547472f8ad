import numpy as np
import pytest
from corpora import manifest_around
from spawned import spawn_ranks

from lumamba_bench.data.loader import MontageBatchSampler, ShardDataset, make_loader
from lumamba_bench.data.shards import ShardBuffer, write_table_atomic
from lumamba_bench.errors import LumambaError
from lumamba_bench.files import write_json_atomic


def _dataset(root, montages=(("a", 3), ("b", 5)), rows=150):
    """A prepared-looking dataset with one shard per montage (different channel counts)."""
    (root / "shards").mkdir(parents=True)
    shards, layouts = [], {}
    for name, channels in montages:
        meta = {
            "channels": [f"ch{i}" for i in range(channels)],
            "coords": [[0.01 * i, 0, 0] for i in range(channels)],
            "montage": name,
            "n_samples": 4,
            "sfreq": 256.0,
            "units": "uV",
        }
        layouts[name] = {"channels": meta["channels"], "coords": meta["coords"]}
        buffer = ShardBuffer("train", name, meta, n_values=channels * 4)
        signal = np.arange(rows * channels * 4, dtype=np.float32).reshape(rows, channels, 4)
        buffer.add(f"rec-{name}", "subj", signal, np.zeros(rows), np.arange(rows) % 2)
        file = f"train-{name}-00000.parquet"
        shards.append(
            {
                "file": file,
                "split": "train",
                "montage": name,
                "rows": rows,
                "sha256": write_table_atomic(buffer.to_table(), root / "shards" / file),
            }
        )
    write_json_atomic(root / "manifest.json", manifest_around(shards, layouts))
    return root


def test_batches_never_mix_montages_and_cover_every_window_once(tmp_path):
    dataset = ShardDataset(_dataset(tmp_path), "train")
    sampler = MontageBatchSampler(dataset, batch_size=32, shuffle=True, seed=1)
    seen = []
    for batch in sampler:
        assert len({dataset.montage(i) for i in batch}) == 1
        seen.extend(batch)
    assert sorted(seen) == list(range(len(dataset)))


def test_shuffle_is_seeded_and_changes_with_the_epoch(tmp_path):
    dataset = ShardDataset(_dataset(tmp_path), "train")
    first = list(MontageBatchSampler(dataset, 16, seed=3))
    assert first == list(MontageBatchSampler(dataset, 16, seed=3))
    other = MontageBatchSampler(dataset, 16, seed=3)
    other.set_epoch(1)
    assert list(other) != first
    ordered = [i for b in MontageBatchSampler(dataset, 16, shuffle=False) for i in b]
    assert ordered == list(range(len(dataset)))


def test_row_groups_are_read_lazily_with_a_bounded_cache(tmp_path):
    dataset = ShardDataset(_dataset(tmp_path), "train", cache_row_groups=2)
    assert not dataset.cache  # nothing decoded at construction
    for i in range(len(dataset)):
        dataset[i]
        assert len(dataset.cache) <= 2
    item = dataset[151]  # montage b, row 1
    assert item["signal"].shape == (5, 4) and item["coords"].shape == (5, 3)
    assert float(item["signal"][0, 0]) == 20.0 and int(item["label"]) == 1


def test_loader_yields_stacked_batches(tmp_path):
    loader = make_loader(_dataset(tmp_path), "train", batch_size=50)
    shapes = {tuple(batch["signal"].shape[1:]) for batch in loader}
    assert shapes == {(3, 4), (5, 4)}


def test_missing_split_is_a_clear_error(tmp_path):
    from lumamba_bench.errors import LumambaError

    with pytest.raises(LumambaError, match="no windows in split 'val'"):
        ShardDataset(_dataset(tmp_path), "val")


def test_a_dataset_in_the_old_shard_format_is_refused_with_the_rebuild_command(tmp_path):
    from lumamba_bench.data.manifest import read_manifest
    from lumamba_bench.errors import LumambaError
    from lumamba_bench.files import write_json_atomic

    write_json_atomic(tmp_path / "manifest.json", {"format_version": 1, "shards": []})
    with pytest.raises(LumambaError, match=r"shard format 1 \(electrode coordinates in MNE's MRI frame.*--force"):
        read_manifest(tmp_path, "tuab")
    write_json_atomic(tmp_path / "manifest.json", {"format_version": 2, "shards": []})
    with pytest.raises(LumambaError, match=r"shard format 2 \(signals resampled first, then Butterworth-filtered"):
        read_manifest(tmp_path, "tuab")


def test_the_index_and_sampler_hold_no_object_per_window(tmp_path):
    """At 200k windows the dataset's index and the sampler's structure are numpy arrays of one
    entry per row group (well under a byte per window), and an epoch's batches are generated as
    they are consumed: the first batch costs memory of the order of a block, not of the split."""
    import sys
    import tracemalloc
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from loader_scale import build

    windows = 200_000
    folder = build(tmp_path / "scale", windows)
    tracemalloc.start()
    try:
        dataset = ShardDataset(folder, "train")
        sampler = MontageBatchSampler(dataset, 64, shuffle=True, seed=0, drop_last=True)
        held, _ = tracemalloc.get_traced_memory()
        next(iter(sampler))  # numpy's generator machinery, loaded once per process
        sampler.set_epoch(1)
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        first = next(iter(sampler))
        peak = tracemalloc.get_traced_memory()[1] - start  # what the first batch of an epoch allocated at most
    finally:
        tracemalloc.stop()
    arrays = (dataset.group_shard, dataset.group_number, dataset.group_start, dataset.group_montage)
    index_bytes = sum(a.nbytes for a in arrays) + sum(g.nbytes for g in sampler.groups_of_montage)
    assert len(dataset) == windows and len(dataset.group_start) - 1 == -(-windows // 64)
    assert index_bytes / windows < 1.0
    assert held / windows < 8.0  # everything opening allocated, footers' metadata included
    assert peak < windows and len(first) == 64  # < 1 byte a window: not 200k indices (1.6 MB as int64)
    seen = np.concatenate([np.asarray(batch) for batch in sampler])
    assert len(seen) == len(sampler) * 64 == windows - windows % 64 and len(np.unique(seen)) == len(seen)
    assert dataset.locate(windows - 1) == (len(dataset.shards) - 1, (windows - 1) % 2048 // 64, (windows - 1) % 64)


def _rank_opens(rank: int, world: int, port: int, folder, results) -> None:
    """One gloo rank: open the split, counting the footers read and the shards hashed here."""
    import os

    import torch.distributed as dist

    from lumamba_bench.data import integrity, loader

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    dist.init_process_group("gloo")
    counts = {"footers": 0, "hashes": 0}
    real_footer, real_hash = loader.shard_footer, integrity.sha256_of

    def footer(path):
        counts["footers"] += 1
        return real_footer(path)

    def digest(path):
        counts["hashes"] += 1
        return real_hash(path)

    loader.shard_footer, integrity.sha256_of = footer, digest
    try:
        dataset = ShardDataset(folder, "train")
        results.put({"rank": rank, **counts, "starts": dataset.group_start.tolist(),
                     "montages": dataset.montage_of_shard, "error": None})  # fmt: skip
    except LumambaError as error:
        results.put({"rank": rank, **counts, "error": str(error)})
    finally:
        dist.destroy_process_group()


def test_under_torchrun_rank0_alone_hashes_the_shards_and_reads_their_footers(tmp_path):
    from lumamba_bench.data.integrity import CACHE

    folder = _dataset(tmp_path)
    shards = len(list((folder / "shards").iterdir()))
    (folder / CACHE).unlink(missing_ok=True)
    outcome = spawn_ranks(_rank_opens, 2, folder, timeout=120)
    assert outcome[0]["error"] is None and outcome[1]["error"] is None
    assert (outcome[0]["hashes"], outcome[0]["footers"]) == (shards, shards)
    assert (outcome[1]["hashes"], outcome[1]["footers"]) == (0, 0)  # rank 0's index, sent
    assert outcome[0]["starts"] == outcome[1]["starts"] and outcome[0]["montages"] == outcome[1]["montages"]

    victim = sorted((folder / "shards").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")  # other content: rank 0 refuses, and so does rank 1
    outcome = spawn_ranks(_rank_opens, 2, folder, timeout=120)
    assert "has changed since it was written" in outcome[0]["error"]
    assert outcome[1]["error"] == outcome[0]["error"]
