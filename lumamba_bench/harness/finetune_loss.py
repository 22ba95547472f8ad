"""The fine-tuning loss: cross-entropy (class-weighted by inverse train frequency where the recipe
says so), binary cross-entropy on multi-hot labels, one softmax per channel for multi-output
tasks, and a single-logit binary head (LaBraM's)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from lumamba_bench.data.recipe import BINARY, MULTILABEL, MULTIOUTPUT
from lumamba_bench.harness.finetune_recipes import FinetuneSettings


def class_weights(task_type: str, labels: np.ndarray, outputs: int) -> torch.Tensor:
    if task_type == MULTILABEL:
        positives = labels.sum(0).clip(min=1)
        return torch.tensor((len(labels) - positives) / positives, dtype=torch.float32)
    if task_type == MULTIOUTPUT:  # one weight per class, over every channel's labels
        outputs, labels = outputs // labels.shape[1], labels.ravel()
    counts = np.bincount(labels.astype(int), minlength=outputs).clip(min=1)
    return torch.tensor(len(labels) / (outputs * counts), dtype=torch.float32)


@dataclass
class FinetuneLoss:
    """The recipe's loss as a sum over windows and the normaliser of a whole batch, so that
    micro-batches accumulate to exactly the full batch's mean (``weights``: class weights of the
    weighted cross-entropy, or None)."""

    task_type: str
    weights: torch.Tensor | None = None
    label_smoothing: float = 0.0
    single_logit: bool = False  # one logit for a binary task (LaBraM)
    channels: int = 1  # output channels of a multi-output task (TUAR MMC: 22)

    def to(self, device) -> FinetuneLoss:
        return replace(self, weights=None if self.weights is None else self.weights.to(device))

    def total(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.single_logit:
            return F.binary_cross_entropy_with_logits(logits[:, 0], labels.float(), reduction="sum")
        if self.task_type == MULTILABEL:
            return F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=self.weights, reduction="sum")
        if self.task_type == MULTIOUTPUT:  # one softmax per channel: (B, C x K) -> (B x C, K)
            logits, labels = logits.reshape(labels.numel(), -1), labels.reshape(-1)
        return F.cross_entropy(logits, labels, weight=self.weights, label_smoothing=self.label_smoothing,
                               reduction="sum")  # fmt: skip

    def normaliser(self, labels: torch.Tensor, outputs: int) -> torch.Tensor:
        if self.task_type == MULTILABEL:
            return torch.tensor(float(labels.shape[0] * outputs), device=labels.device)
        if self.task_type == MULTIOUTPUT:
            labels = labels.reshape(-1)
        if self.weights is not None and not self.single_logit:
            return self.weights[labels].sum()
        return torch.tensor(float(labels.shape[0]), device=labels.device)

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.total(logits, labels) / self.normaliser(labels, logits.shape[-1])

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        if self.single_logit:
            positive = torch.sigmoid(logits[:, 0])
            return torch.stack([1 - positive, positive], dim=-1)
        if self.task_type == MULTIOUTPUT:  # softmax per channel, kept flat (B, C x K), channel-major
            return torch.softmax(logits.reshape(len(logits), self.channels, -1), dim=-1).reshape(len(logits), -1)
        return torch.sigmoid(logits) if self.task_type == MULTILABEL else torch.softmax(logits, dim=-1)


def make_loss(settings: FinetuneSettings, task_type: str, train_labels: np.ndarray, outputs: int) -> FinetuneLoss:
    weights = class_weights(task_type, train_labels, outputs) if settings.loss == "weighted-cross-entropy" else None
    channels = train_labels.shape[1] if task_type == MULTIOUTPUT else 1
    single = single_logit_outputs(settings, task_type) == 1
    return FinetuneLoss(task_type, weights, settings.label_smoothing, single, channels)


def single_logit_outputs(settings: FinetuneSettings, task_type: str) -> int | None:
    """1 where the recipe gives a binary task one logit (LaBraM), else None (the task's count)."""
    return 1 if settings.single_logit_binary and task_type == BINARY else None
