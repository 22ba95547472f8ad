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
from dataclasses import dataclass
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
        self.split = split
        self.shards = [s for s in self.manifest["shards"] if s["split"] == split]
        if not self.shards:
            raise LumambaError(f"{self.dataset_dir.name} has no windows in split {split!r}")
        index = _index_once_per_job(self.dataset_dir, self.manifest, self.shards, channels)
        self.coords, self.rows, self.channel_names = index.coords, index.rows, index.channel_names
        self.montage_of_shard, self.montages = index.montage_of_shard, index.montages
        self.group_shard, self.group_number = index.group_shard, index.group_number
        self.group_start, self.group_montage = index.group_start, index.group_montage
        stated = self.manifest["splits"].get(split, {}).get("windows")
        if stated != len(self):  # a hand-edited count would go into results files as it is
            raise LumambaError(
                f"{self.dataset_dir / 'manifest.json'} says split {split} has {stated} windows; its shards hold "
                f"{len(self)}: the manifest was edited; re-run `lumamba-bench prepare` with --force"
            )
        self.cache: OrderedDict[tuple[int, int], dict] = OrderedDict()
        self.cache_row_groups = cache_row_groups

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


@dataclass
class WindowIndex:
    """Where every window of a split is (one entry per row group) and each montage's channels."""

    coords: dict[str, torch.Tensor]
    rows: dict[str, torch.Tensor | None]  # the kept channels' rows, None when all are kept
    channel_names: dict[str, list[str]]
    montage_of_shard: list[str]
    montages: list[str]
    group_shard: np.ndarray
    group_number: np.ndarray
    group_start: np.ndarray  # window i's group: a binary search
    group_montage: np.ndarray


def read_index(dataset_dir: Path, manifest: dict, shards: list[dict], channels: str | None) -> WindowIndex:
    """The index from the shards' footers (one read each, checked against the manifest)."""
    coords, rows, channel_names, montage_of_shard = {}, {}, {}, []
    group_shard, group_number, group_rows = [], [], []
    for shard_id, shard in enumerate(shards):
        path = dataset_dir / "shards" / shard["file"]
        meta, row_counts = shard_footer(path)
        check_footer(path, meta, shard, manifest)
        if meta["montage"] not in coords:
            try:
                kept = select_channels(channels, meta["channels"])
            except LumambaError as error:
                raise LumambaError(f"{dataset_dir.name}, montage {meta['montage']}: {error}") from None
            rows[meta["montage"]] = None if len(kept) == len(meta["channels"]) else torch.tensor(kept)
            channel_names[meta["montage"]] = [meta["channels"][i] for i in kept]
            coords[meta["montage"]] = torch.tensor(meta["coords"], dtype=torch.float32)[kept]
        montage_of_shard.append(meta["montage"])
        group_shard.append(np.full(len(row_counts), shard_id, dtype=np.int32))
        group_number.append(np.arange(len(row_counts), dtype=np.int32))
        group_rows.append(np.asarray(row_counts, dtype=np.int64))
    group_shard = np.concatenate(group_shard)
    montages = sorted(coords)
    shard_montage = np.array([montages.index(m) for m in montage_of_shard], dtype=np.int16)
    index = WindowIndex(
        coords, rows, channel_names, montage_of_shard, montages, group_shard, np.concatenate(group_number),
        np.concatenate([[0], np.cumsum(np.concatenate(group_rows))]), shard_montage[group_shard],
    )  # fmt: skip
    release_free_memory()  # parsing thousands of footers leaves freed heap (80 MiB at 7,813 shards)
    return index


def _index_once_per_job(dataset_dir: Path, manifest: dict, shards: list[dict], channels: str | None) -> WindowIndex:
    """Every shard verified (``verify_shards``) and the index read. Under torchrun rank 0 does
    both and sends the index (or its refusal) to the others: each shard is hashed and its footer
    read once per job, not once per rank."""
    rank, world = rank_and_world()
    if world == 1:
        verify_shards(dataset_dir, manifest)
        return read_index(dataset_dir, manifest, shards, channels)
    import torch.distributed as dist

    outcome: list = [None]
    if rank == 0:
        try:
            verify_shards(dataset_dir, manifest)
            outcome[0] = read_index(dataset_dir, manifest, shards, channels)
        except LumambaError as error:
            outcome[0] = error
        finally:
            dist.broadcast_object_list(outcome, src=0)  # sent even when rank 0 refuses
    else:
        dist.broadcast_object_list(outcome, src=0)
    if isinstance(outcome[0], LumambaError):
        raise outcome[0]
    return outcome[0]


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
