"""The mixed objective, LuMamba's best trade-off: reconstruction + w * LeJEPA (w = 0.05).

``lejepa_weight`` is the dial: 0 is reconstruction only; the ``lejepa`` objective is LeJEPA only.
"""

from __future__ import annotations

import torch
from torch import nn

from lumamba_bench.objectives.lejepa import LeJEPAObjective
from lumamba_bench.objectives.reconstruction import ReconstructionObjective


class MixedObjective(nn.Module):
    def __init__(
        self,
        encoder: nn.Module,
        lejepa_weight: float = 0.05,
        mask_ratio: float = 0.6,
        sigreg_weight: float = 0.002,
        num_slices: int = 300,
    ):
        super().__init__()
        self.encoder = encoder
        self.reconstruction = ReconstructionObjective(encoder, mask_ratio=mask_ratio)
        self.lejepa = LeJEPAObjective(encoder, sigreg_weight=sigreg_weight, num_slices=num_slices)
        self.lejepa_weight = lejepa_weight

    def forward(
        self, x: torch.Tensor, coords: torch.Tensor, generator: torch.Generator, step: int = 0
    ) -> dict[str, torch.Tensor]:
        recon = self.reconstruction(x, coords, generator)
        if self.lejepa_weight == 0:
            return recon
        jepa = self.lejepa(x, coords, generator, step)
        parts = {k: v for k, v in recon.items() if k != "loss"} | {k: v for k, v in jepa.items() if k != "loss"}
        return {"loss": recon["loss"] + self.lejepa_weight * jepa["loss"], **parts}
