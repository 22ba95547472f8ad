"""Pre-training objectives: masked reconstruction, LeJEPA, and their mix (the dial)."""

from __future__ import annotations

from torch import nn

from lumamba_bench.errors import LumambaError
from lumamba_bench.objectives.base import Objective

OBJECTIVES = ("recon", "lejepa", "mixed")


# The reference configuration (BioFoundation ``config/experiment/LuMamba_pretrain.yaml``) and the
# values the published text gives (60% masking, 300 SIGReg projections), as named presets.
PRESETS: dict[str, dict] = {
    "reference": {"mask_ratio": 0.5, "num_slices": 128},
    "paper-text": {"mask_ratio": 0.6, "num_slices": 300},
}


def build_objective(
    name: str,
    encoder: nn.Module,
    lejepa_weight: float = 0.05,
    mask_ratio: float | None = None,
    sigreg_weight: float = 0.002,
    num_slices: int | None = None,
    preset: str = "reference",
) -> Objective:
    """An objective at the preset's values (only the parts ``name`` needs are built);
    ``mask_ratio`` and ``num_slices`` override them.
    FEMBA brings its own reconstruction (its reference masks 60% of 2 x 16 cells)."""
    from lumamba_bench.objectives.lejepa import LeJEPAObjective
    from lumamba_bench.objectives.mixed import MixedObjective
    from lumamba_bench.objectives.reconstruction import ReconstructionObjective

    if preset not in PRESETS:
        raise LumambaError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    settings = PRESETS[preset] | {
        k: v for k, v in (("mask_ratio", mask_ratio), ("num_slices", num_slices)) if v is not None
    }
    own = encoder.reconstruction_objective(mask_ratio) if name == "recon" else None
    if own is not None:
        return own  # its own masking and decoder (FEMBA)
    if name in ("lejepa", "mixed") and not encoder.has_front_end:
        raise LumambaError(f"the {name} objective needs a LUNA front end (lumamba, luna-*)")
    if name not in OBJECTIVES:
        raise LumambaError(f"unknown objective {name!r}; known: {', '.join(OBJECTIVES)}")
    reconstruction = None if name == "lejepa" else ReconstructionObjective(encoder, mask_ratio=settings["mask_ratio"])
    if name == "recon":
        return reconstruction
    lejepa = LeJEPAObjective(encoder, sigreg_weight=sigreg_weight, num_slices=settings["num_slices"],
                             scale=lejepa_weight)  # fmt: skip
    return lejepa if name == "lejepa" else MixedObjective(encoder, lejepa_weight, reconstruction, lejepa)


def objective_settings(objective: nn.Module) -> dict:
    """Every setting of an objective (numbers, strings, flags) and of the objectives inside it,
    for checkpoint cards: what was optimised, not only what was asked for."""
    settings = {"objective": type(objective).__name__}
    settings |= {
        k: v
        for k, v in vars(objective).items()
        if isinstance(v, int | float | str | bool) and not k.startswith("_") and k != "training"
    }
    for name, child in objective.named_children():
        if name in ("reconstruction", "lejepa"):
            settings[name] = objective_settings(child)
    return settings
