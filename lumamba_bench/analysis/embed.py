"""Embed a split with an encoder: mean-pooled tokens per window, plus (for LUNA front ends) the
query-over-channel attention averaged over every window and patch of each montage."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from lumamba_bench.data.loader import MontageBatchSampler, ShardDataset, batches_of
from lumamba_bench.harness import precision


@dataclass
class Embedded:
    embeddings: np.ndarray  # (N, K)
    labels: np.ndarray
    recording_ids: list[str]
    attention: dict[str, np.ndarray] = field(default_factory=dict)  # montage -> (Q, C)
    channels: dict[str, list[str]] = field(default_factory=dict)
    coords: dict[str, np.ndarray] = field(default_factory=dict)


@torch.no_grad()
def embed_split(
    encoder: torch.nn.Module,
    dataset: ShardDataset,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    max_windows: int | None = None,
    workers: int = 0,
) -> Embedded:
    encoder.eval().to(device)
    has_front_end = encoder.has_front_end
    embeddings, labels, recordings = [], [], []
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    order, planned = [], 0
    for batch_ids in MontageBatchSampler(dataset, batch_size, shuffle=False):
        if max_windows is not None and planned >= max_windows:
            break
        order.append(batch_ids[: None if max_windows is None else max_windows - planned])
        planned += len(order[-1])
    seen = 0
    stream = batches_of(dataset, order, workers, pin_memory=torch.device(device).type == "cuda")
    for batch_ids, batch in zip(order, stream, strict=True):
        x, coords = batch["signal"].to(device), batch["coords"].to(device)
        if has_front_end:
            with precision.autocast(device):
                features = encoder.forward_features(x, coords)
            tokens = features.tokens
            montage = dataset.montage(batch_ids[0])
            attention = features.attention.float().sum(dim=(0, 1)).cpu()  # (Q, C)
            sums[montage] = sums.get(montage, 0) + attention
            counts[montage] = counts.get(montage, 0) + features.attention.shape[0] * features.attention.shape[1]
        else:
            with precision.autocast(device):
                tokens = encoder(x, coords, channels=batch["channels"])
        embeddings.append(tokens.float().mean(dim=1).cpu().numpy())
        labels.append(batch["label"].numpy())
        recordings += batch["recording_id"]
        seen += len(batch_ids)
    result = Embedded(np.concatenate(embeddings), np.concatenate(labels), recordings)
    for montage, total in sums.items():
        result.attention[montage] = (total / counts[montage]).numpy()
        result.channels[montage] = dataset.channel_names[montage]
        result.coords[montage] = dataset.coords[montage].numpy()
    return result
