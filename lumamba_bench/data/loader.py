"""PyTorch access to shards: lazy row-group reads, batches that never mix montages.

``ShardDataset`` indexes row groups, not windows, from Parquet footers only: three numpy arrays
of one entry per row group (its shard, its number in the shard, its first window), so window i
is found by a binary search and the index costs a few bytes per row group, however many
windows there are (16 million for TUEG). It reads a row group when one of its windows is asked
for, keeping a few decoded groups in a small cache. ``MontageBatchSampler`` shuffles row groups,
then windows within a block of row groups, and cuts batches inside one montage, generating them
as they are consumed (numpy arrays, no Python object per window), so every batch has one shape,
each row group is decoded about once per epoch and memory stays bounded whatever the corpus size.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from torch.utils.data import Dataset, Sampler

from lumamba_bench.data.channel_sets import select_channels
from lumamba_bench.data.integrity import check_footer, verify_shards
from lumamba_bench.data.lock import hold_for_reading
from lumamba_bench.data.manifest import read_manifest
from lumamba_bench.data.shards import read_verified, read_windows, shard_footer
from lumamba_bench.errors import LumambaError
from lumamba_bench.heap import release_free_memory
from lumamba_bench.ranks import rank_and_world


class ShardDataset(Dataset):
    """Windows of one split of a prepared dataset; items are dicts of tensors.

    ``channels`` (a channel set: ``all``, a named set or a list, see ``channel_sets``) keeps
    only those channels of every montage, for the unseen-montage protocol."""

    def __init__(self, dataset_dir: Path | str, split: str, cache_row_groups: int = 16, channels: str | None = None):
        self.dataset_dir = Path(dataset_dir)
        self._hold = hold_for_reading(self.dataset_dir)  # prepare cannot rewrite it while this dataset lives
        self.manifest = read_manifest(self.dataset_dir)
        _verify_once_per_job(self.dataset_dir, self.manifest)  # every shard is the one prepare wrote
        self.split = split
        self.shards = [s for s in self.manifest["shards"] if s["split"] == split]
        if not self.shards:
            raise LumambaError(f"{self.dataset_dir.name} has no windows in split {split!r}")
        self.coords, self.rows, self.channel_names, self.montage_of_shard = {}, {}, {}, []
        group_shard, group_number, group_rows = [], [], []
        for shard_id, shard in enumerate(self.shards):
            path = self.dataset_dir / "shards" / shard["file"]
            meta, row_counts = shard_footer(path)
            check_footer(path, meta, shard, self.manifest)
            if meta["montage"] not in self.coords:
                try:
                    rows = select_channels(channels, meta["channels"])
                except LumambaError as error:
                    raise LumambaError(f"{self.dataset_dir.name}, montage {meta['montage']}: {error}") from None
                self.rows[meta["montage"]] = None if len(rows) == len(meta["channels"]) else torch.tensor(rows)
                self.channel_names[meta["montage"]] = [meta["channels"][i] for i in rows]
                self.coords[meta["montage"]] = torch.tensor(meta["coords"], dtype=torch.float32)[rows]
            self.montage_of_shard.append(meta["montage"])
            group_shard.append(np.full(len(row_counts), shard_id, dtype=np.int32))
            group_number.append(np.arange(len(row_counts), dtype=np.int32))
            group_rows.append(np.asarray(row_counts, dtype=np.int64))
        self.group_shard, self.group_number = np.concatenate(group_shard), np.concatenate(group_number)
        self.group_start = np.concatenate([[0], np.cumsum(np.concatenate(group_rows))])  # window i's group: search
        montages = sorted(self.coords)
        shard_montage = np.array([montages.index(m) for m in self.montage_of_shard], dtype=np.int16)
        self.montages, self.group_montage = montages, shard_montage[self.group_shard]
        stated = self.manifest["splits"].get(split, {}).get("windows")
        if stated != len(self):  # a hand-edited count would go into results files as it is
            raise LumambaError(
                f"{self.dataset_dir / 'manifest.json'} says split {split} has {stated} windows; its shards hold "
                f"{len(self)}: the manifest was edited; re-run `lumamba-bench prepare` with --force"
            )
        self.cache: OrderedDict[tuple[int, int], dict] = OrderedDict()
        self.cache_row_groups = cache_row_groups
        release_free_memory()  # parsing thousands of footers leaves freed heap (80 MiB at 7,813 shards)

    def __getstate__(self) -> dict:
        """For DataLoader workers started by spawn: the lock stays with the process that holds it."""
        return {k: v for k, v in self.__dict__.items() if k != "_hold"} | {"_hold": None}

    def __len__(self) -> int:
        return int(self.group_start[-1])

    def locate(self, i: int) -> tuple[int, int, int]:
        """Window i as (shard, row group in the shard, row in the group)."""
        if not 0 <= i < len(self):
            raise IndexError(f"window {i} of {len(self)}")
        group = int(np.searchsorted(self.group_start, i, side="right")) - 1
        return int(self.group_shard[group]), int(self.group_number[group]), int(i - self.group_start[group])

    def montage(self, i: int) -> str:
        return self.montage_of_shard[self.locate(i)[0]]

    def _row_group(self, key: tuple[int, int]) -> dict:
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        path = self.dataset_dir / "shards" / self.shards[key[0]]["file"]
        self.cache[key] = read_windows(path, row_group=key[1])
        if len(self.cache) > self.cache_row_groups:
            self.cache.popitem(last=False)
        return self.cache[key]

    def __getitem__(self, i: int) -> dict:
        shard_id, group, row = self.locate(int(i))
        block = self._row_group((shard_id, group))
        montage = self.montage_of_shard[shard_id]
        signal = torch.from_numpy(np.array(block["signal"][row]))
        return {
            "signal": signal if self.rows[montage] is None else signal[self.rows[montage]],
            "coords": self.coords[montage],
            "channels": self.channel_names[montage],
            "label": torch.tensor(np.array(block["label"][row]), dtype=torch.long),
            "recording_id": block["recording_id"][row],
            "window_index": int(block["window_index"][row]),
        }

    def labels(self) -> np.ndarray:
        """Every label of the split (reads only the label column): (N,), or (N, width) for list labels."""
        parts = [read_verified(self.dataset_dir / "shards" / s["file"], columns=["label"]) for s in self.shards]
        return np.concatenate([_label_array(p.column("label").combine_chunks()) for p in parts])


def _label_array(column) -> np.ndarray:
    if pa.types.is_fixed_size_list(column.type):
        return column.values.to_numpy(zero_copy_only=False).reshape(len(column), column.type.list_size)
    return column.to_numpy(zero_copy_only=False)


def _verify_once_per_job(dataset_dir: Path, manifest: dict) -> None:
    """Under torchrun, rank 0 hashes the shards and the others wait, then find its verdict in the
    hash cache (a stat per shard): each shard is hashed once in total, not once per rank."""
    rank, world = rank_and_world()
    if world == 1:
        verify_shards(dataset_dir, manifest)
        return
    import torch.distributed as dist

    if rank == 0:
        try:
            verify_shards(dataset_dir, manifest)
        finally:
            dist.barrier()  # released even when rank 0 refuses: the others then refuse on their own
    else:
        dist.barrier()
        verify_shards(dataset_dir, manifest)


class MontageBatchSampler(Sampler[list[int]]):
    """Batches of indices from one montage each; shuffled by row-group blocks when asked.

    Batches are generated as they are consumed: a montage's row groups are permuted, then the
    windows of each block of ``block_row_groups`` groups; several montages' batch streams are
    interleaved by a permutation of batch slots, each montage keeping its own order. The first
    montage draws from ``default_rng([seed, epoch])``, the others and the interleaving from their
    own streams, so a single-montage split's order does not depend on the montage count."""

    def __init__(
        self,
        dataset: ShardDataset,
        batch_size: int,
        shuffle: bool = True,
        block_row_groups: int = 8,
        drop_last: bool = False,
        seed: int = 0,
    ):
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.block_row_groups, self.drop_last, self.seed, self.epoch = block_row_groups, drop_last, seed, 0
        self.groups_of_montage = [np.flatnonzero(dataset.group_montage == k) for k in range(len(dataset.montages))]
        starts = dataset.group_start
        self.windows_of_montage = [int((starts[g + 1] - starts[g]).sum()) for g in self.groups_of_montage]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _count(self, windows: int) -> int:
        return windows // self.batch_size if self.drop_last else -(-windows // self.batch_size)

    def _windows(self, groups: np.ndarray) -> np.ndarray:
        """The window indices of ``groups``, in that order (no Python loop over windows)."""
        starts = self.dataset.group_start[groups]
        counts = self.dataset.group_start[groups + 1] - starts
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        return offsets + np.arange(int(counts.sum()))

    def _montage_batches(self, k: int) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch] + ([k] if k else []))
        groups = self.groups_of_montage[k]
        if self.shuffle:
            groups = groups[rng.permutation(len(groups))]
        carry = np.zeros(0, dtype=np.int64)
        for start in range(0, len(groups), self.block_row_groups):
            block = self._windows(groups[start : start + self.block_row_groups])
            pending = np.concatenate([carry, rng.permutation(block) if self.shuffle else block])
            full = len(pending) - len(pending) % self.batch_size
            for at in range(0, full, self.batch_size):
                yield pending[at : at + self.batch_size].tolist()
            carry = pending[full:]
        if len(carry) and not self.drop_last:
            yield carry.tolist()

    def __iter__(self) -> Iterator[list[int]]:
        counts = [self._count(n) for n in self.windows_of_montage]
        streams = [self._montage_batches(k) for k in range(len(counts))]
        slots = np.repeat(np.arange(len(counts), dtype=np.int16), counts)  # one entry per batch, not per window
        if self.shuffle and len(counts) > 1:
            slots = slots[np.random.default_rng([self.seed, self.epoch, len(counts)]).permutation(len(slots))]
        for k in slots:
            yield next(streams[k])

    def __len__(self) -> int:
        return sum(self._count(n) for n in self.windows_of_montage)

    def for_rank(self, rank: int, world: int, limit: int | None = None) -> Iterator[list[int]]:
        """This rank's share of the epoch's batches (every ``world``-th from ``rank``), generated lazily."""
        return itertools.islice(iter(self), rank, None if limit is None else rank + limit * world, world)


def collate(items: list[dict]) -> dict:
    """A batch of one montage (``MontageBatchSampler``): ``channels`` are its channel names."""
    channels = items[0]["channels"]
    if any(item["channels"] != channels for item in items):
        raise LumambaError("a batch mixes montages; batch with MontageBatchSampler")
    return {
        "signal": torch.stack([item["signal"] for item in items]),
        "coords": torch.stack([item["coords"] for item in items]),
        "channels": list(channels),
        "label": torch.stack([item["label"] for item in items]),
        "recording_id": [item["recording_id"] for item in items],
        "window_index": [item["window_index"] for item in items],
    }


def batches_of(
    dataset: ShardDataset, batches: list[list[int]], workers: int = 0, pin_memory: bool = False
) -> Iterator[dict]:
    """Collated batches in exactly the given order. With ``workers`` > 0, worker processes decode
    row groups ahead of the training step (two batches each in flight) while the order stays the
    one given, so a run is the same with any number of workers (tested); ``pin_memory`` speeds
    the copy to a GPU."""
    if workers == 0:
        for ids in batches:
            batch = collate([dataset[i] for i in ids])
            yield {k: v.pin_memory() if pin_memory and torch.is_tensor(v) else v for k, v in batch.items()}
        return
    yield from torch.utils.data.DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collate,
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=2,
        persistent_workers=False,
    )


def make_loader(
    dataset_dir: Path | str,
    split: str,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
) -> torch.utils.data.DataLoader:
    """A DataLoader over one split whose batches each hold a single montage."""
    dataset = ShardDataset(dataset_dir, split)
    sampler = MontageBatchSampler(dataset, batch_size, shuffle=shuffle, seed=seed)
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers)
