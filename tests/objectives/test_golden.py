"""Pre-training losses against the authors' code: one step of each objective on the conformance
fixtures' seeded weights and input, the reference's values computed by its own pieces
(``tests/models/golden/objectives.json``; provenance and regenerating command in that folder's
README). The reference's random draws (mask, jitter, view offsets) are stored with it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lumamba_bench.models.published import rename
from lumamba_bench.models.registry import build_for_input
from lumamba_bench.objectives import build_objective
from lumamba_bench.objectives.reconstruction import DECODER_KEYS

GOLDEN = Path(__file__).parents[1] / "models" / "golden"
_spec = importlib.util.spec_from_file_location("golden_fill", GOLDEN / "golden_fill.py")
golden_fill = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden_fill)
REFERENCE = json.loads((GOLDEN / "objectives.json").read_text())
TOLERANCE = 1e-5  # relative, float32


def close(ours: torch.Tensor, reference: float) -> bool:
    return abs(float(ours) - reference) <= TOLERANCE * abs(reference)


def lumamba_objective(name: str, **options):
    """Our objective with the reference's encoder and decoder weights."""
    meta = json.loads((GOLDEN / "lumamba.json").read_text())
    tensors = {k: torch.from_numpy(v) for k, v in golden_fill.fill(meta["shapes"], meta["seed"]).items()}
    encoder = build_for_input("lumamba", 22, 1280)
    objective = build_objective(name, encoder, **options).eval()
    mapped, _ = encoder.official_state_dict(tensors)
    encoder.load_state_dict(mapped)
    if hasattr(objective, "reconstruction") or hasattr(objective, "decoder"):
        decoder_owner = getattr(objective, "reconstruction", objective)
        own = {f"decoder.{k}" for k in decoder_owner.decoder.state_dict()}
        decoder, _ = rename(tensors, DECODER_KEYS, own, {".+": "the encoder's, loaded above"})
        decoder_owner.load_state_dict(decoder | {f"encoder.{k}": v for k, v in mapped.items()})
    return objective


def inputs(batch: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The fixtures' seeded windows (one for reconstruction: see objectives.json's README note)."""
    x = torch.from_numpy(golden_fill.signal(22, 1280))[:batch]
    with np.load(GOLDEN / "luna-base.npz") as arrays:  # the reference's TCP coordinates
        coords = torch.from_numpy(arrays["coords"][:1]).expand(batch, -1, -1).contiguous()
    return x, coords, REFERENCE["lumamba"]["channels"]


def reference_draws(ref: dict):
    mask = torch.tensor(REFERENCE["lumamba"]["mask_cells"]).unsqueeze(0)
    views = ([torch.tensor(s) for s in ref["local_starts"]], [torch.tensor(s) for s in ref["global_starts"]])
    return (mask, torch.tensor(REFERENCE["lumamba"]["jitter"])), views


def test_reconstruction_terms_equal_the_reference():
    ref = REFERENCE["lumamba"]
    x, coords, channels = inputs(1)
    recon_draw, _ = reference_draws(ref)
    with torch.no_grad():
        out = lumamba_objective("recon")(x, coords, None, ref["step"], channels, drawn=recon_draw)
    for term in ("masked", "visible"):
        assert close(out[term], ref[term]), (term, float(out[term]), ref[term])
    assert close(0.8 * out["query"], ref["query"])  # the reference's criterion returns it weighted
    assert close(out["loss"], ref["recon_loss"])


def test_lejepa_equals_the_reference():
    ref = REFERENCE["lumamba"]["lejepa_pair"]
    x, coords, channels = inputs(2)
    _, views = reference_draws(ref)
    with torch.no_grad():
        out = lumamba_objective("lejepa")(x, coords, None, REFERENCE["lumamba"]["step"], channels, drawn=views)
    assert close(out["lejepa"], ref["lejepa"]) and close(out["loss"], ref["lejepa_loss"])


def test_mixed_draws_what_the_reference_draws_and_equals_it():
    """From a generator seeded as the reference's global one: the same mask, jitter and views."""
    ref = REFERENCE["lumamba"]
    x, coords, channels = inputs(1)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(ref["torch_seed"])
        out = lumamba_objective("mixed")(x, coords, generator, ref["step"], channels)
    assert close(out["loss"], ref["mixed_loss"]), (float(out["loss"]), ref["mixed_loss"])


@pytest.mark.parametrize("change", [{"mask_ratio": 0.6}, {"num_slices": 300}, {"lejepa_weight": 0.1}])
def test_a_changed_setting_moves_the_loss(change):
    ref = REFERENCE["lumamba"]
    x, coords, channels = inputs(1)
    with torch.no_grad():
        out = lumamba_objective("mixed", **change)(
            x, coords, torch.Generator().manual_seed(ref["torch_seed"]), ref["step"], channels
        )
    assert not close(out["loss"], ref["mixed_loss"])


def test_femba_reconstruction_equals_the_reference():
    ref = REFERENCE["femba-tiny"]
    meta = json.loads((GOLDEN / "femba-tiny.json").read_text())
    tensors = {k: torch.from_numpy(v) for k, v in golden_fill.fill(meta["shapes"], meta["seed"]).items()}
    encoder = build_for_input("femba-tiny", 22, 512)
    objective = build_objective("recon", encoder).eval()
    mapped, _ = encoder.official_state_dict(tensors)
    encoder.load_state_dict(mapped)
    decoder = {k.removeprefix("decoder."): v for k, v in tensors.items() if k.startswith("decoder.")}
    objective.decoder.load_state_dict(decoder)
    x = torch.from_numpy(golden_fill.signal(22, 512))
    with torch.no_grad():
        out = objective(x, None, torch.Generator().manual_seed(ref["torch_seed"]))
    assert close(out["loss"], ref["loss"]), (float(out["loss"]), ref["loss"])
