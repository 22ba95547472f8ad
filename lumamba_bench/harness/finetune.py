"""Fine-tune one encoder + head on one task with one seed: a plain, visible loop.

Every setting comes from a fine-tuning recipe (``finetune_recipes.py``: ``reference``, each
family as its authors fine-tuned it, or ``common``): the head, AdamW with the recipe's weight decay
(and exemptions), layer-wise decay over the recipe's scope, the warm-up + cosine schedule set at
every optimiser step, the loss, gradient clipping (none in any reference recipe), micro-batches
that accumulate to the recipe's batch, and model selection: the epoch with the lowest validation
loss (or LaBraM's highest validation accuracy), stopping after ``patience`` epochs without a
better one; the test split is scored once, with that epoch. ``full`` trains everything,
``linear`` freezes the encoder and trains only the head.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lumamba_bench.data.loader import MontageBatchSampler, ShardDataset, batches_of
from lumamba_bench.errors import LumambaError, TrainingDiverged
from lumamba_bench.harness import optim, precision
from lumamba_bench.harness.finetune_loss import FinetuneLoss, make_loss
from lumamba_bench.harness.finetune_recipes import FinetuneSettings, selection_rule
from lumamba_bench.harness.metrics import BINARY, MULTILABEL, MULTIOUTPUT, board_columns, compute_metrics
from lumamba_bench.harness.optim import clip_gradients
from lumamba_bench.models.heads import build_head
from lumamba_bench.ranks import rank_and_world

__all__ = ["Classifier", "FinetuneSettings", "train_one_seed", "predict"]


class Classifier(nn.Module):
    def __init__(self, encoder: nn.Module, outputs: int, head: str = "attention-pool"):
        super().__init__()
        self.encoder = encoder
        self.head_name, self.head_outputs = head, outputs
        self.head = build_head(head, encoder, outputs)  # a head may adopt the encoder's final norm (LaBraM)

    def forward(self, x: torch.Tensor, coords: torch.Tensor, channels: list[str] | None = None) -> torch.Tensor:
        return self.head(self.encoder(x, coords, channels=channels))


def param_groups(model: Classifier, settings: FinetuneSettings) -> list[dict]:
    """One optimiser group per (learning-rate scale, weight decay); each group keeps its ``base_lr``
    (the recipe's rate times its scale), which the schedule starts from at every step."""
    if settings.protocol == "linear":
        for p in model.encoder.parameters():
            p.requires_grad_(False)
    scope = optim.labram_scales if settings.layer_decay_scope == "labram" else optim.blocks_scales
    scales = scope(model.encoder, settings.layer_decay)
    groups: dict[tuple[float, float], dict] = {}
    named = [(n, p) for n, p in model.encoder.named_parameters()] + [(n, p) for n, p in model.head.named_parameters()]
    for name, parameter in named:
        if not parameter.requires_grad:
            continue
        scale = scales.get(id(parameter), 1.0)
        exempt = settings.weight_decay_exempt == "labram" and optim.labram_no_weight_decay(name, parameter)
        decay = 0.0 if exempt else settings.weight_decay
        group = groups.setdefault((scale, decay), {"params": [], "lr_scale": scale, "weight_decay": decay,
                                                   "base_lr": settings.lr * scale, "lr": settings.lr * scale})
        group["params"].append(parameter)
    return list(groups.values())


def learning_rate(group: dict, step: int, total: int, warmup: int, settings: FinetuneSettings) -> float:
    """The rate of ``group`` at optimiser step ``step`` under the recipe's schedule."""
    if settings.schedule == "labram-cosine":
        return optim.labram_cosine(step, total, warmup, settings.lr, settings.min_lr) * group["lr_scale"]
    return optim.timm_cosine(step, total, warmup, group["base_lr"], settings.warmup_lr, settings.min_lr)


def accuracy(task_type: str, labels: np.ndarray, probs: np.ndarray) -> float:
    """LaBraM's selection value: accuracy at 0.5 (binary, per label for multi-label) or of the argmax."""
    if len(labels) == 0:
        return float("nan")
    if task_type == BINARY:
        return float(np.mean((probs[:, 1] >= 0.5) == labels))
    if task_type == MULTILABEL:
        return float(np.mean((probs >= 0.5) == labels))
    if task_type == MULTIOUTPUT:
        return float(np.mean(probs.reshape(*labels.shape, -1).argmax(-1) == labels))
    return float(np.mean(probs.argmax(-1) == labels))


def _gather(local: dict) -> dict:
    """Concatenate every rank's predictions (rank order), so all ranks hold the whole split."""
    import torch.distributed as dist

    _, world = rank_and_world()
    if world == 1:
        return local
    parts: list = [None] * world
    dist.all_gather_object(parts, local)
    keys = ("probs", "logits", "labels", "recording_id", "window_index")
    merged = {key: np.concatenate([p[key] for p in parts]) for key in keys}
    merged["loss_sum"] = sum(p["loss_sum"] for p in parts)
    merged["norm_sum"] = sum(p["norm_sum"] for p in parts)
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
    loss: FinetuneLoss,
    batch_size: int,
    device: torch.device,
    workers: int = 0,
) -> dict:
    """Probabilities, logits, labels, recording ids and the loss over a whole split (under DDP each
    rank scores every world-th batch and the parts are gathered to all ranks)."""
    model.eval()
    rank, world = rank_and_world()
    probs, logits_out, labels, recordings, windows = [], [], [], [], []
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)  # read back once, after the split: no sync per batch
    norm_sum = torch.zeros((), dtype=torch.float64, device=device)
    loss = loss.to(device)
    pin = torch.device(device).type == "cuda"
    order = MontageBatchSampler(dataset, batch_size, shuffle=False).for_rank(rank, world)
    for batch in batches_of(dataset, order, workers, pin_memory=pin):
        signal = batch["signal"].to(device, non_blocking=pin)
        with precision.autocast(device):
            logits = model(signal, batch["coords"].to(device, non_blocking=pin), batch["channels"]).float()
        y = batch["label"].to(device, non_blocking=pin)
        loss_sum += loss.total(logits, y)
        norm_sum += loss.normaliser(y, logits.shape[-1])
        probs.append(loss.probabilities(logits))
        logits_out.append(logits)
        labels.append(batch["label"].numpy())
        recordings.extend(batch["recording_id"])
        windows.extend(batch["window_index"])
    width = model.head_outputs  # a rank with no batch (more ranks than batches) holds empty arrays of this width
    local = {
        "probs": torch.cat(probs).cpu().numpy() if probs else np.zeros((0, 2 if loss.single_logit else width)),
        "logits": torch.cat(logits_out).cpu().numpy() if logits_out else np.zeros((0, width)),
        "labels": np.concatenate(labels) if labels else np.zeros(0, dtype=int),
        "recording_id": np.asarray(recordings, dtype=str),
        "window_index": np.asarray(windows, dtype=np.int64),
        "loss_sum": float(loss_sum),
        "norm_sum": float(norm_sum),
    }
    merged = _gather(local)
    merged["loss"] = merged.pop("loss_sum") / max(1e-12, merged.pop("norm_sum"))
    return merged


@dataclass
class SeedOutcome:
    seed: int
    best_epoch: int
    log: list[dict] = field(default_factory=list)
    test: dict = field(default_factory=dict)  # predictions on the test split


@dataclass
class _Selection:
    """The best epoch so far under the recipe's selection rule."""

    rule: str
    value: float = math.nan
    epoch: int = -1
    state: dict | None = None

    def offer(self, epoch: int, record: dict, model: nn.Module) -> None:
        _, higher = selection_rule(self.rule)
        value = record[self.rule]
        value = math.nan if value is None else value  # undefined on this epoch's validation set
        better = value > self.value if higher else value < self.value
        if self.epoch < 0 or better or (math.isnan(self.value) and not math.isnan(value)):
            # strict: the first epoch reaching the best value is kept
            self.value, self.epoch, self.state = value, epoch, copy.deepcopy(model.state_dict())


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
    loss = make_loss(settings, task_type, splits["train"].labels(), outputs).to(device)
    optimizer = torch.optim.AdamW(param_groups(model, settings), weight_decay=settings.weight_decay)
    rank, world = rank_and_world()
    trained = model
    if world > 1:  # same seed on every rank: identical initial weights, then averaged gradients
        trained = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)  # mask token
    sampler = _train_sampler(splits["train"], settings, seed, world)
    per_rank = len(sampler) // world
    schedule = {"total": settings.epochs * per_rank, "warmup": settings.warmup_epochs * per_rank}
    selection_rule(settings.selection, task_type)  # a metric of another task type cannot select
    selection, log, step = _Selection(settings.selection), [], 0
    for epoch in range(settings.epochs):
        model.train()
        if settings.protocol == "linear":
            model.encoder.eval()
        sampler.set_epoch(epoch)
        pin = torch.device(device).type == "cuda"
        batches = batches_of(splits["train"], sampler.for_rank(rank, world, per_rank), settings.workers, pin)
        first_step = step
        losses, step = _train_epoch(trained, optimizer, batches, step, schedule, settings, loss, device)
        epoch_losses = torch.stack(losses).cpu().numpy()  # read back once per epoch: no host sync in a step
        if not np.isfinite(epoch_losses).all():  # found before validation: a diverged state is never kept
            at = int(np.flatnonzero(~np.isfinite(epoch_losses))[0])
            raise TrainingDiverged(
                f"loss became {epoch_losses[at]} at epoch {epoch}, step {first_step + at} (seed {seed}); "
                "try a lower --lr",
                log=log,
            )
        val = predict(model, splits["val"], loss, settings.batch_size, device, settings.workers)
        record = _epoch_record(epoch, epoch_losses, val, task_type, settings.selection)
        log.append(record)
        if on_epoch is not None:
            on_epoch(record)
        selection.offer(epoch, record, model)
        if settings.patience is not None and epoch - selection.epoch >= settings.patience:
            break
    model.load_state_dict(selection.state)
    if splits.get("test") is None:
        test = _no_predictions(outputs)
    else:
        test = predict(model, splits["test"], loss, settings.batch_size, device, settings.workers)
    return SeedOutcome(seed, selection.epoch, log, test)


def _train_sampler(train: ShardDataset, settings: FinetuneSettings, seed: int, world: int) -> MontageBatchSampler:
    """Batches of the recipe's size; the reference drops a ragged last batch, so a split smaller
    than one batch cannot be trained on as the recipe says (refused, naming both sizes)."""
    if settings.drop_last and len(train) < settings.batch_size:
        raise LumambaError(
            f"the training split has {len(train)} windows, fewer than one batch of {settings.batch_size} "
            f"(the {settings.recipe} recipe drops an incomplete batch); lower --batch-size"
        )
    sampler = MontageBatchSampler(train, settings.batch_size, shuffle=True, seed=seed, drop_last=settings.drop_last)
    if len(sampler) // world == 0:
        raise LumambaError(f"fewer training batches ({len(sampler)}) than processes ({world}); lower --batch-size")
    return sampler


def _train_epoch(trained, optimizer, batches, step, schedule, settings, loss, device):
    """One pass over the epoch's batches; returns the losses (on the device) and the next step.
    A batch larger than ``settings.micro_batch`` is split; the gradients of its parts add up to
    the whole batch's (each part's loss sum over the whole batch's normaliser)."""
    model = trained.module if isinstance(trained, torch.nn.parallel.DistributedDataParallel) else trained
    pin = torch.device(device).type == "cuda"
    losses = []
    for batch in batches:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(group, step, schedule["total"], schedule["warmup"], settings)
        labels = batch["label"].to(device, non_blocking=pin)
        outputs = model.head_outputs
        normaliser = loss.normaliser(labels, outputs)
        optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), device=device)
        parts = _parts(len(labels), settings.micro_batch)
        for i, part in enumerate(parts):
            signal = batch["signal"][part].to(device, non_blocking=pin)
            coords = batch["coords"][part].to(device, non_blocking=pin)
            # Under DDP, gradients are averaged across processes once, after the batch's last part.
            last = i == len(parts) - 1
            with contextlib.nullcontext() if last or trained is model else trained.no_sync():
                with precision.autocast(device):
                    logits = trained(signal, coords, batch["channels"])
                    part_loss = loss.total(logits.float(), labels[part]) / normaliser
                part_loss.backward()
            total = total + part_loss.detach()
        if settings.clip_grad is not None:
            clip_gradients(model.parameters(), settings.clip_grad)
        optimizer.step()
        losses.append(total)
        step += 1
    return losses, step


def _parts(size: int, micro_batch: int | None) -> list[slice]:
    """At most ``micro_batch`` windows a part, the parts as equal as can be (16 by 5: 4, 4, 4, 4,
    not 5, 5, 5, 1: a part of one window cannot be batch-normalised)."""
    count = 1 if micro_batch is None else -(-size // micro_batch)
    bounds = [round(i * size / count) for i in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _epoch_record(epoch: int, epoch_losses: np.ndarray, val: dict, task_type: str, selection: str) -> dict:
    """The epoch's log line: losses, LaBraM's accuracy, the board's ranking metric (the registry's)
    and the metric the recipe selects by, when it is another."""
    val_metrics = compute_metrics(task_type, val["labels"], val["probs"])["metrics"]
    shown = [board_columns(task_type)[0]]
    if selection.removeprefix("val_") in val_metrics:  # a recipe selecting by a metric
        shown.append(selection.removeprefix("val_"))
    return {
        "epoch": epoch,
        "train_loss": _mean_over_ranks(float(np.mean(epoch_losses))),
        "val_loss": val["loss"],
        "val_accuracy": accuracy(task_type, val["labels"], val["probs"]),
    } | {f"val_{name}": val_metrics.get(name) for name in shown}


def _no_predictions(outputs: int) -> dict:
    """What scoring an absent test split gives: nothing, in the usual shapes."""
    return {
        "probs": np.zeros((0, outputs)),
        "logits": np.zeros((0, outputs)),
        "labels": np.zeros(0, dtype=int),
        "recording_id": np.zeros(0, dtype=str),
        "window_index": np.zeros(0, dtype=np.int64),
        "loss": float("nan"),
    }


def task_type_of(recipe) -> tuple[str, int]:
    """(task type, number of model outputs) of a recipe's task; an unlabelled corpus is an error."""
    outputs = recipe.outputs  # raises for an unlabelled corpus
    return recipe.task_type, outputs
