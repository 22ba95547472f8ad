"""The mixed objective, LuMamba's best trade-off: reconstruction + w * LeJEPA (w = 0.05, the
reference's ``lejepa_scaling_factor``). ``lejepa_weight`` is the dial: 0 is reconstruction only;
the ``lejepa`` objective is w * LeJEPA alone, as the reference's ``use_lejepa_only``.

Random draws follow the reference's order in one step: the mask, the coordinate jitter, the
local view offsets, the global view offsets.
"""

from __future__ import annotations

import torch
from torch import nn

from lumamba_bench.objectives.base import Objective
from lumamba_bench.objectives.lejepa import LeJEPAObjective
from lumamba_bench.objectives.reconstruction import ReconstructionObjective


class MixedObjective(Objective):
    def __init__(self, encoder: nn.Module, lejepa_weight: float = 0.05, reconstruction=None, lejepa=None):
        super().__init__()
        self.encoder = encoder
        self.reconstruction = reconstruction or ReconstructionObjective(encoder)
        self.lejepa = lejepa or LeJEPAObjective(encoder)
        self.lejepa.scale = self.lejepa_weight = lejepa_weight

    def forward(
        self,
        x: torch.Tensor,
        coords: torch.Tensor,
        generator: torch.Generator,
        step: int = 0,
        channels: list[str] | None = None,
        drawn: dict | None = None,
    ) -> dict[str, torch.Tensor]:
        drawn = drawn or {}
        recon = self.reconstruction(x, coords, generator, step, channels, drawn.get("reconstruction"))
        if self.lejepa_weight == 0:
            return recon
        jepa = self.lejepa(x, coords, generator, step, channels, drawn.get("lejepa"))
        parts = {k: v for k, v in recon.items() if k != "loss"} | {k: v for k, v in jepa.items() if k != "loss"}
        return {"loss": recon["loss"] + jepa["loss"], **parts}
