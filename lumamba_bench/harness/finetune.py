"""Fine-tune one encoder + head on one task with one seed: a plain, visible loop.

Protocol (reference: LuMamba / LUNA fine-tuning): AdamW, weight decay 0.05, layer-wise learning
rate decay 0.75 from the head down (encoders that expose ``layer_groups()``), cosine schedule.
``full`` trains everything, ``linear`` freezes the encoder and trains only the head. The loss
is class-balanced: cross-entropy weighted by inverse class frequency on the training split
(multi-label: BCE with positive weights neg/pos per class), because clinical tasks are
imbalanced. Model selection: the epoch with the lowest validation loss; training stops after
``patience`` epochs without improvement; the test split is scored once, with that epoch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lumamba_bench.data.loader import MontageBatchSampler, ShardDataset, batches_of
from lumamba_bench.errors import LumambaError, TrainingDiverged
from lumamba_bench.harness import precision
from lumamba_bench.harness.metrics import MULTILABEL, compute_metrics
from lumamba_bench.harness.optim import clip_gradients, warmup_cosine
from lumamba_bench.models.heads import AttentionPoolingHead
from lumamba_bench.ranks import rank_and_world


@dataclass
class FinetuneSettings:
    protocol: str = "full"
    epochs: int = 50
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.05
    layer_decay: float = 0.75
    patience: int = 10
    workers: int = 0  # DataLoader worker processes decoding batches ahead (0: in the training process)


class Classifier(nn.Module):
    def __init__(self, encoder: nn.Module, outputs: int):
        super().__init__()
        self.encoder = encoder
        self.head = AttentionPoolingHead(encoder.embed_dim, outputs)

    def forward(self, x: torch.Tensor, coords: torch.Tensor, channels: list[str] | None = None) -> torch.Tensor:
        return self.head(self.encoder(x, coords, channels=channels))


def param_groups(model: Classifier, settings: FinetuneSettings) -> list[dict]:
    """Head at the full rate; encoder layer i of n (bottom = 0) at lr * decay^(n - i)."""
    groups = [{"params": list(model.head.parameters()), "lr": settings.lr}]
    if settings.protocol == "linear":
        for p in model.encoder.parameters():
            p.requires_grad_(False)
        return groups
    layers = (
        model.encoder.layer_groups()
    )
    for i, params in enumerate(layers):
        groups.append({"params": params, "lr": settings.lr * settings.layer_decay ** (len(layers) - i)})
    return groups


def class_weights(task_type: str, labels: np.ndarray, outputs: int) -> torch.Tensor:
    if task_type == MULTILABEL:
        positives = labels.sum(0).clip(min=1)
        return torch.tensor((len(labels) - positives) / positives, dtype=torch.float32)
    counts = np.bincount(labels.astype(int), minlength=outputs).clip(min=1)
    return torch.tensor(len(labels) / (outputs * counts), dtype=torch.float32)


def loss_fn(task_type: str, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    if task_type == MULTILABEL:
        return F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=weights)
    return F.cross_entropy(logits, labels, weight=weights)


def probabilities(task_type: str, logits: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(logits) if task_type == MULTILABEL else torch.softmax(logits, dim=-1)


def _gather(local: dict) -> dict:
    """Concatenate every rank's predictions (rank order), so all ranks hold the whole split."""
    import torch.distributed as dist

    _, world = rank_and_world()
    if world == 1:
        return local
    parts: list = [None] * world
    dist.all_gather_object(parts, local)
    keys = ("probs", "labels", "recording_id", "window_index")
    merged = {key: np.concatenate([p[key] for p in parts]) for key in keys}
    merged["loss_sum"] = sum(p["loss_sum"] for p in parts)
    return merged


def _mean_over_ranks(value: float) -> float:
    import torch.distributed as dist

    _, world = rank_and_world()
    if world == 1:
        return value
    # An object collective: it serves any backend (a CPU tensor all-reduced on an NCCL group fails).
    parts: list = [None] * world
    dist.all_gather_object(parts, float(value))
    return float(sum(parts)) / world


@torch.no_grad()
def predict(
    model: Classifier,
    dataset: ShardDataset,
    task_type: str,
    weights: torch.Tensor,
    batch_size: int,
    device: torch.device,
    workers: int = 0,
) -> dict:
    """Probabilities, labels, recording ids and mean loss over a whole split (under DDP each rank
    scores every world-th batch and the parts are gathered to all ranks)."""
    model.eval()
    rank, world = rank_and_world()
    probs, labels, recordings, windows = [], [], [], []
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)  # read back once, after the split: no sync per batch
    pin = torch.device(device).type == "cuda"
    order = list(MontageBatchSampler(dataset, batch_size, shuffle=False))[rank::world]
    for batch in batches_of(dataset, order, workers, pin_memory=pin):
        signal = batch["signal"].to(device, non_blocking=pin)
        with precision.autocast(device):
            logits = model(signal, batch["coords"].to(device, non_blocking=pin), batch["channels"]).float()
        y = batch["label"].to(device, non_blocking=pin)
        loss_sum += loss_fn(task_type, logits, y, weights.to(device)) * len(y)
        probs.append(probabilities(task_type, logits))
        labels.append(batch["label"].numpy())
        recordings.extend(batch["recording_id"])
        windows.extend(batch["window_index"])
    local = {
        "probs": torch.cat(probs).cpu().numpy() if probs else np.zeros((0, len(weights))),
        "labels": np.concatenate(labels) if labels else np.zeros(0, dtype=int),
        "recording_id": np.asarray(recordings, dtype=str),
        "window_index": np.asarray(windows, dtype=np.int64),
        "loss_sum": float(loss_sum),
    }
    merged = _gather(local)
    merged["loss"] = merged.pop("loss_sum") / max(1, len(merged["labels"]))
    return merged


@dataclass
class SeedOutcome:
    seed: int
    best_epoch: int
    log: list[dict] = field(default_factory=list)
    test: dict = field(default_factory=dict)  # predictions on the test split


def train_one_seed(
    build_model: Callable[[], Classifier],
    splits: dict[str, ShardDataset],
    task_type: str,
    outputs: int,
    settings: FinetuneSettings,
    seed: int,
    device: torch.device,
    on_epoch: Callable[[dict], None] | None = None,
) -> SeedOutcome:
    torch.manual_seed(seed)
    model = build_model().to(device)
    weights = class_weights(task_type, splits["train"].labels(), outputs).to(device)
    optimizer = torch.optim.AdamW(param_groups(model, settings), weight_decay=settings.weight_decay)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    rank, world = rank_and_world()
    trained = model
    if world > 1:  # same seed on every rank: identical initial weights, then averaged gradients
        trained = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)  # mask token
    # Drop a ragged last batch: a batch of one window cannot be batch-normalised in the head.
    drop_last = len(splits["train"]) > settings.batch_size
    sampler = MontageBatchSampler(splits["train"], settings.batch_size, shuffle=True, seed=seed, drop_last=drop_last)
    per_rank = len(sampler) // world
    if per_rank == 0:
        raise LumambaError(f"fewer training batches ({len(sampler)}) than processes ({world}); lower --batch-size")
    pin = torch.device(device).type == "cuda"
    total = settings.epochs * per_rank
    best_loss, best_state, best_epoch, log, step = math.inf, None, -1, [], 0
    for epoch in range(settings.epochs):
        model.train()
        if settings.protocol == "linear":
            model.encoder.eval()
        sampler.set_epoch(epoch)
        batches = batches_of(splits["train"], list(sampler)[rank::world][:per_rank], settings.workers, pin)
        first_step = step
        losses, step = _train_epoch(trained, optimizer, base_lrs, batches, step, total, task_type, weights, device)
        epoch_losses = torch.stack(losses).cpu().numpy()  # read back once per epoch: no host sync in a step
        if not np.isfinite(epoch_losses).all():  # found before validation: a diverged state is never kept
            at = int(np.flatnonzero(~np.isfinite(epoch_losses))[0])
            raise TrainingDiverged(
                f"loss became {epoch_losses[at]} at epoch {epoch}, step {first_step + at} (seed {seed}); "
                "try a lower --lr",
                log=log,
            )
        val = predict(model, splits["val"], task_type, weights, settings.batch_size, device, settings.workers)
        record = _epoch_record(epoch, epoch_losses, val, task_type)
        log.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if val["loss"] < best_loss:
            best_loss, best_epoch, best_state = val["loss"], epoch, copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= settings.patience:
            break
    model.load_state_dict(best_state)
    if splits.get("test") is None:
        test = _no_predictions(outputs)
    else:
        test = predict(model, splits["test"], task_type, weights, settings.batch_size, device, settings.workers)
    return SeedOutcome(seed, best_epoch, log, test)


def _train_epoch(trained, optimizer, base_lrs, batches, step, total, task_type, weights, device):
    """One pass over the epoch's batches; returns the losses (on the device) and the next step."""
    model = trained.module if isinstance(trained, torch.nn.parallel.DistributedDataParallel) else trained
    pin = torch.device(device).type == "cuda"
    losses = []
    for batch in batches:
        scale = warmup_cosine(step, total, 0, 1.0)  # no warm-up: the reference's fine-tuning
        for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
            group["lr"] = base * scale
        signal, coords = batch["signal"].to(device, non_blocking=pin), batch["coords"].to(device, non_blocking=pin)
        with precision.autocast(device):
            logits = trained(signal, coords, batch["channels"])
            loss = loss_fn(task_type, logits.float(), batch["label"].to(device, non_blocking=pin), weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(model.parameters())
        optimizer.step()
        losses.append(loss.detach())
        step += 1
    return losses, step


def _epoch_record(epoch: int, epoch_losses: np.ndarray, val: dict, task_type: str) -> dict:
    val_metrics = compute_metrics(task_type, val["labels"], val["probs"])["metrics"]
    return {
        "epoch": epoch,
        "train_loss": _mean_over_ranks(float(np.mean(epoch_losses))),
        "val_loss": val["loss"],
        "val_auroc": val_metrics.get("auroc", val_metrics.get("auroc_macro")),
    }


def _no_predictions(outputs: int) -> dict:
    """What scoring an absent test split gives: nothing, in the usual shapes."""
    return {
        "probs": np.zeros((0, outputs)),
        "labels": np.zeros(0, dtype=int),
        "recording_id": np.zeros(0, dtype=str),
        "window_index": np.zeros(0, dtype=np.int64),
        "loss": float("nan"),
    }


def task_type_of(recipe) -> tuple[str, int]:
    """(task type, number of model outputs) of a recipe's task; an unlabelled corpus is an error."""
    outputs = recipe.outputs  # raises for an unlabelled corpus
    return recipe.task_type, outputs
