"""PyTorch access to shards: lazy row-group reads, batches that never mix montages.

``ShardDataset`` indexes (shard, row group, row) from Parquet footers only, and reads a row
group when one of its windows is asked for, keeping a few decoded groups in a small cache.
``MontageBatchSampler`` shuffles row groups, then windows within a block of row groups, and
cuts batches inside one montage, so every batch has one shape and each row group is decoded
about once per epoch: memory stays bounded whatever the corpus size.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import Dataset, Sampler

from lumamba_bench.data.channel_sets import select_channels
from lumamba_bench.data.integrity import check_footer, verify_shards
from lumamba_bench.data.lock import hold_for_reading
from lumamba_bench.data.manifest import read_manifest
from lumamba_bench.data.shards import read_verified, read_windows, shard_metadata
from lumamba_bench.errors import LumambaError


class ShardDataset(Dataset):
    """Windows of one split of a prepared dataset; items are dicts of tensors.

    ``channels`` (a channel set: ``all``, a named set or a list, see ``channel_sets``) keeps
    only those channels of every montage, for the unseen-montage protocol."""

    def __init__(self, dataset_dir: Path | str, split: str, cache_row_groups: int = 16, channels: str | None = None):
        self.dataset_dir = Path(dataset_dir)
        self._hold = hold_for_reading(self.dataset_dir)  # prepare cannot rewrite it while this dataset lives
        self.manifest = read_manifest(self.dataset_dir)
        verify_shards(self.dataset_dir, self.manifest)  # every shard is the one prepare wrote
        self.split = split
        self.shards = [s for s in self.manifest["shards"] if s["split"] == split]
        if not self.shards:
            raise LumambaError(f"{self.dataset_dir.name} has no windows in split {split!r}")
        self.coords, self.rows, self.channel_names, self.montage_of_shard, index = {}, {}, {}, [], []
        for shard_id, shard in enumerate(self.shards):
            path = self.dataset_dir / "shards" / shard["file"]
            meta = shard_metadata(path)
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
            footer = pq.ParquetFile(path).metadata
            for group in range(footer.num_row_groups):
                count = footer.row_group(group).num_rows
                index.append(np.stack([np.full(count, shard_id), np.full(count, group), np.arange(count)], 1))
        self.index = np.concatenate(index)  # (n, 3): shard, row group, row in group
        stated = self.manifest["splits"].get(split, {}).get("windows")
        if stated != len(self.index):  # a hand-edited count would go into results files as it is
            raise LumambaError(
                f"{self.dataset_dir / 'manifest.json'} says split {split} has {stated} windows; its shards hold "
                f"{len(self.index)}: the manifest was edited; re-run `lumamba-bench prepare` with --force"
            )
        self.cache: OrderedDict[tuple[int, int], dict] = OrderedDict()
        self.cache_row_groups = cache_row_groups

    def __getstate__(self) -> dict:
        """For DataLoader workers started by spawn: the lock stays with the process that holds it."""
        return {k: v for k, v in self.__dict__.items() if k != "_hold"} | {"_hold": None}

    def __len__(self) -> int:
        return len(self.index)

    def montage(self, i: int) -> str:
        return self.montage_of_shard[int(self.index[i, 0])]

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
        shard_id, group, row = (int(v) for v in self.index[i])
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


class MontageBatchSampler(Sampler[list[int]]):
    """Batches of indices from one montage each; shuffled by row-group blocks when asked."""

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
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (shard_id, group, _) in enumerate(dataset.index):
            groups.setdefault((int(shard_id), int(group)), []).append(i)
        self.groups_by_montage: dict[str, list[list[int]]] = {}
        for (shard_id, _), rows in groups.items():
            self.groups_by_montage.setdefault(dataset.montage_of_shard[shard_id], []).append(rows)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        batches = []
        for montage in sorted(self.groups_by_montage):
            groups = list(self.groups_by_montage[montage])
            if self.shuffle:
                groups = [groups[i] for i in rng.permutation(len(groups))]
            order: list[int] = []
            for start in range(0, len(groups), self.block_row_groups):
                block = np.concatenate(groups[start : start + self.block_row_groups])
                order.extend((rng.permutation(block) if self.shuffle else block).tolist())
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch)
        if self.shuffle:
            # Interleave the montages' batches (within a montage the block order stays).
            if len(self.groups_by_montage) > 1:
                batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._batches()

    def __len__(self) -> int:
        return len(self._batches())


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
