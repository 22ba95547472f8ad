"""Stochastic depth (Huang et al. 2016), as LUNA's and LaBraM's fine-tuning use it: in training,
a residual branch is dropped for a whole sample with probability ``p`` and the kept ones are
scaled by 1 / (1 - p); in evaluation it is the identity."""

from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"
