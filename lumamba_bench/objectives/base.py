"""The protocol every pre-training objective follows (as ``Encoder`` is the encoders'), so the
pre-training loop, checkpoints and cards treat masked reconstruction, LeJEPA, their mix and an
encoder's own objective (FEMBA's) alike."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class Objective(nn.Module, ABC):
    """An encoder and what it is trained to do.

    ``forward(x (B, C, T) microvolts, coords (B, C, 3), generator, step, channels, drawn)``
    returns ``{"loss": scalar to minimise, <term>: detached scalars to log}``. ``generator`` is
    the step's CPU generator (masks, views, jitter); ``drawn``, when given, are draws made ahead
    (``objectives/draws.py``) that replace the generator's."""

    encoder: nn.Module

    @abstractmethod
    def forward(
        self,
        x: torch.Tensor,
        coords: torch.Tensor | None,
        generator: torch.Generator,
        step: int = 0,
        channels: list[str] | None = None,
        drawn=None,
    ) -> dict[str, torch.Tensor]: ...
