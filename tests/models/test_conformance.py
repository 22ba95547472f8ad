"""Our encoders against the authors' code: golden fixtures made by running the reference
repositories (``tests/models/golden/README.md``), loaded through our published-checkpoint path.

Each fixture holds the reference's state-dict shape table, a fill seed, a seeded input in
microvolts with TUH electrode coordinates, and the reference's output. The test fills the
reference layout, loads it with ``load_encoder_weights`` (strict: no tensor dropped unless
declared) and compares outputs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.checkpoints import load_encoder_weights
from lumamba_bench.models.registry import build_for_input

GOLDEN = Path(__file__).parent / "golden"
_spec = importlib.util.spec_from_file_location("golden_fill", GOLDEN / "golden_fill.py")
golden_fill = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden_fill)
fill = golden_fill.fill
MODELS = ["luna-base", "lumamba", "femba-tiny", "labram-base"]
TOLERANCE = 1e-4  # relative Frobenius error, float32


def fixture(name: str) -> tuple[dict, dict[str, np.ndarray]]:
    meta = json.loads((GOLDEN / f"{name}.json").read_text())
    with np.load(GOLDEN / f"{name}.npz") as arrays:
        return meta, dict(arrays)


def reference_tensors(meta: dict, arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The reference layout filled from the seed; its constant buffers as the reference stores them."""
    tensors = {k: torch.from_numpy(v) for k, v in fill(meta["shapes"], meta["seed"]).items()}
    constants = {k.removeprefix("constant:"): torch.from_numpy(v) for k, v in arrays.items() if k.startswith("constant:")}
    return tensors | constants


def reference_checkpoint(meta: dict, arrays: dict, path: Path, extra: dict | None = None) -> Path:
    save_file(reference_tensors(meta, arrays) | (extra or {}), str(path))
    return path


def relative_error(ours: torch.Tensor, reference: np.ndarray) -> float:
    reference = torch.from_numpy(reference).to(ours.dtype)
    return float((ours - reference).norm() / reference.norm())


@pytest.mark.parametrize("name", MODELS)
def test_encoder_equals_reference(name, tmp_path):
    meta, arrays = fixture(name)
    x, coords = torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["coords"])
    encoder = build_for_input(name, x.shape[1], x.shape[2]).eval()
    with pytest.warns(UserWarning, match="not part of the encoder"):
        load_encoder_weights(encoder, reference_checkpoint(meta, arrays, tmp_path / "ref.safetensors"))
    with torch.no_grad():
        error = relative_error(encoder(x, coords), arrays["output"])
    assert error < TOLERANCE, f"{name}: relative error {error:.2e} against the reference"
    assert encoder.config.input_normalisation == meta["normalisation"]


@pytest.mark.parametrize("name", MODELS)
def test_every_reference_encoder_tensor_is_loaded(name):
    """Parameter count equals the reference's encoder: nothing dropped, nothing invented."""
    meta, arrays = fixture(name)
    encoder = build_for_input(name, arrays["x"].shape[1], arrays["x"].shape[2])
    mapped, ignored = encoder.official_state_dict(reference_tensors(meta, arrays))
    ours = {k: v for k, v in encoder.state_dict().items()}
    assert set(mapped) == set(ours)
    reference_encoder = sum(int(np.prod(meta["shapes"][k])) for k in meta["shapes"] if k not in ignored)
    invented = sum(t.numel() for k, t in mapped.items() if k.endswith(("attn.q_bias", "attn.v_bias")) or k.startswith("norm."))
    expected = reference_encoder + (invented if name == "labram-base" else 0)
    assert sum(t.numel() for t in ours.values()) == expected


def test_unknown_published_tensor_is_refused(tmp_path):
    meta, arrays = fixture("lumamba")
    encoder = build_for_input("lumamba", 22, arrays["x"].shape[2])
    extra = {"cross_attn.extra_gate.weight": torch.ones(3)}
    path = reference_checkpoint(meta, arrays, tmp_path / "ref.safetensors", extra)
    with pytest.raises(LumambaError, match="cross_attn.extra_gate.weight"):
        load_encoder_weights(encoder, path)


def test_labram_runs_in_float64():
    meta, arrays = fixture("labram-base")
    encoder = build_for_input("labram-base", arrays["x"].shape[1], arrays["x"].shape[2]).double().eval()
    with torch.no_grad():
        out = encoder(torch.from_numpy(arrays["x"]).double(), torch.from_numpy(arrays["coords"]).double())
    assert out.dtype == torch.float64 and torch.isfinite(out).all()
