"""Pre-training objectives: masked reconstruction, LeJEPA, and their mix (the dial)."""

from __future__ import annotations

from torch import nn

from lumamba_bench.errors import LumambaError

OBJECTIVES = ("recon", "lejepa", "mixed")


def build_objective(
    name: str,
    encoder: nn.Module,
    lejepa_weight: float = 0.05,
    mask_ratio: float = 0.6,
    sigreg_weight: float = 0.002,
    num_slices: int = 300,
) -> nn.Module:
    from lumamba_bench.objectives.lejepa import LeJEPAObjective
    from lumamba_bench.objectives.mixed import MixedObjective
    from lumamba_bench.objectives.reconstruction import ReconstructionObjective

    if name == "recon" and hasattr(encoder, "reconstruction_objective"):
        return encoder.reconstruction_objective(mask_ratio)  # its own masking and decoder (FEMBA)
    if name in ("lejepa", "mixed") and not hasattr(encoder, "front_end"):
        raise LumambaError(f"the {name} objective needs a LUNA front end (lumamba, luna-*)")
    if name == "recon":
        return ReconstructionObjective(encoder, mask_ratio=mask_ratio)
    if name == "lejepa":
        return LeJEPAObjective(encoder, sigreg_weight=sigreg_weight, num_slices=num_slices)
    if name == "mixed":
        return MixedObjective(encoder, lejepa_weight, mask_ratio, sigreg_weight, num_slices)
    raise LumambaError(f"unknown objective {name!r}; known: {', '.join(OBJECTIVES)}")
