"""The contract every registered encoder declares, instead of the harness probing for it.

``Encoder`` is an ``nn.Module`` whose class and instance attributes say everything the harness,
objectives, profiler, checkpoint loader and leaderboard use: the sampling rate it takes, how an
input length must be rounded, whether it is built per montage, what it applies to its microvolt
input, its layer groups for layer-wise decay, whether it has LUNA's channel-unifying front end,
how a published checkpoint maps onto it, and its config (round-tripped by ``config_dict``).
Defaults cover the simple case; each family overrides what differs, in its own module.

Forward: ``forward(x (B, C, T) float32 microvolts, coords (B, C, 3) metres, mask | None,
channels: list[str] | None) -> tokens (B, S, embed_dim)``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import ClassVar

from torch import nn

from lumamba_bench.data.preprocess import SFREQ
from lumamba_bench.errors import LumambaError
from lumamba_bench.models.normalisation import NormalisedInput


class Encoder(NormalisedInput, nn.Module):
    family: ClassVar[str] = ""
    sfreq: ClassVar[float] = SFREQ  # the rate of the input it takes; `run`/`pretrain` refuse other data
    fixed_topology: ClassVar[bool] = False  # built for one montage (num_channels, num_samples): FEMBA
    has_front_end: ClassVar[bool] = False  # LUNA's channel unification: LeJEPA, mixed, attention maps
    # parameters only masked pre-training uses (a mask token): no gradient in fine-tuning, on purpose
    pretraining_only: ClassVar[tuple[str, ...]] = ()
    embed_dim: int
    config: object  # a dataclass with ``input_normalisation`` (models/normalisation.py)

    def input_granularity(self) -> int:
        """Samples an input length must be a multiple of (its patch or cell length)."""
        return 1

    def length_overrides(self, samples: int) -> dict:
        """Config overrides this encoder needs to take ``samples`` per window (LaBraM: more
        positional embeddings); none by default."""
        return {}

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters from the input upwards, for layer-wise learning-rate decay (one group: none)."""
        return [list(self.parameters())]

    def decay_blocks(self) -> list[nn.Module]:
        """The depth-ordered blocks whose learning rate layer-wise decay lowers (the authors decay
        their temporal blocks only; the front end and the head keep the full rate); none by default."""
        blocks = getattr(self, "blocks", None)
        return list(blocks) if isinstance(blocks, nn.ModuleList) else []

    def config_dict(self) -> dict:
        """The config as plain values: ``build_encoder(name, **config_dict())`` rebuilds it."""
        return asdict(self.config)

    def looks_official(self, tensors: dict) -> bool:
        """Whether a state dict uses the authors' parameter names (mapped by ``official_state_dict``)."""
        return False

    def official_state_dict(self, tensors: dict) -> tuple[dict, list[str]]:
        raise LumambaError(f"{self.family or type(self).__name__} has no published checkpoint layout")

    def reconstruction_objective(self, mask_ratio: float | None = None) -> nn.Module | None:
        """An encoder-specific masked-reconstruction objective (FEMBA's), or None for the shared
        LUNA-style one."""
        return None
