"""Our encoders against the authors' code: golden fixtures made by running the reference
repositories (``tests/models/golden/README.md``), loaded through our published-checkpoint path.

Each fixture holds the reference's state-dict shape table, a fill seed, a seeded input in
microvolts with TUH electrode coordinates, and the reference's output. The test fills the
reference layout, loads it with ``load_encoder_weights`` (strict: no tensor dropped unless
declared) and compares outputs."""

from __future__ import annotations

import argparse
import importlib.util
import json
import warnings
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
TOLERANCE = 1e-5  # relative Frobenius error, float32; measured <= 6e-7. LaBraM with eps 1e-5: 2.4e-5


def fixture(name: str) -> tuple[dict, dict[str, np.ndarray]]:
    meta = json.loads((GOLDEN / f"{name}.json").read_text())
    with np.load(GOLDEN / f"{name}.npz") as arrays:
        return meta, dict(arrays)


def reference_tensors(meta: dict, arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The reference layout filled from the seed; its constant buffers as the reference stores them."""
    tensors = {k: torch.from_numpy(v) for k, v in fill(meta["shapes"], meta["seed"]).items()}
    stored = {k.removeprefix("constant:"): v for k, v in arrays.items() if k.startswith("constant:")}
    return tensors | {k: torch.from_numpy(v) for k, v in stored.items()}


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
        error = relative_error(encoder(x, coords, channels=meta["channels"] or None), arrays["output"])
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
    # LaBraM's fine-tuning model adds q/v biases and fc_norm to the pre-training layout, at their
    # initial values (the reference does the same).
    added = [k for k in mapped if name == "labram-base" and (k.endswith(("q_bias", "v_bias")) or k.startswith("norm."))]
    expected = reference_encoder + sum(mapped[k].numel() for k in added)
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
        x, coords = torch.from_numpy(arrays["x"]).double(), torch.from_numpy(arrays["coords"]).double()
        out = encoder(x, coords, channels=meta["channels"])
    assert out.dtype == torch.float64 and torch.isfinite(out).all()


def test_shape_mismatch_and_missing_tensor_are_refused_and_nothing_loads(tmp_path):
    meta, arrays = fixture("luna-base")
    published = reference_tensors(meta, arrays)
    published["blocks.0.attn.qkv_proj.weight"] = torch.zeros(1728, 576)  # a LUNA-Large block
    path = tmp_path / "LUNA_base.safetensors"
    save_file(published, str(path))
    fresh = build_for_input("luna-base", 22, 640)
    before = fresh.blocks[1].norm1.weight.clone()
    with warnings.catch_warnings(), pytest.raises(LumambaError, match=r"blocks.0.attn.qkv_proj.weight has shape"):
        warnings.simplefilter("ignore")
        load_encoder_weights(fresh, path)
    assert torch.equal(fresh.blocks[1].norm1.weight, before)
    published = reference_tensors(meta, arrays)
    del published["blocks.7.mlp.fc2.bias"]
    save_file(published, str(path))
    with warnings.catch_warnings(), pytest.raises(LumambaError, match=r"1 missing keys \(blocks.7.mlp.fc2.bias\)"):
        warnings.simplefilter("ignore")
        load_encoder_weights(build_for_input("luna-base", 22, 640), path)


def test_labram_pretraining_pth_loads_with_weights_only(tmp_path):
    """The published ``labram-base.pth`` layout: ``{"model": student.* + lm_head, "args": Namespace}``."""
    meta, arrays = fixture("labram-base")
    path = tmp_path / "labram-base.pth"
    torch.save({"model": reference_tensors(meta, arrays), "epoch": 49, "args": argparse.Namespace(lr=5e-4)}, path)
    encoder = build_for_input("labram-base", 21, 1024)
    with pytest.warns(UserWarning, match=r"student.norm.weight"):
        load_encoder_weights(encoder, path)
    assert not encoder.blocks[11].attn.q_bias.any() and not encoder.blocks[11].attn.v_bias.any()


@pytest.mark.parametrize("name", ["luna-base", "lumamba"])
def test_models_command_prints_the_reference_parameter_count(name):
    from typer.testing import CliRunner

    from lumamba_bench.cli import app

    meta, arrays = fixture(name)
    encoder = build_for_input(name, 22, arrays["x"].shape[2])
    _, ignored = encoder.official_state_dict(reference_tensors(meta, arrays))
    reference = sum(int(np.prod(shape)) for key, shape in meta["shapes"].items() if key not in ignored)
    result = CliRunner().invoke(app, ["models", "--modules"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith(f"│ {name} "))
    assert f"{reference:,}" in row and "channelwise-zscore" in row


def test_labram_looks_tuh_temporal_electrodes_up_by_their_own_names():
    """T3 and T7 share a position; the reference gives TUH's T3 its own row, not T7's."""
    encoder = build_for_input("labram-base", 2, 256)
    coords = torch.zeros(1, 2, 3)
    rows = encoder.spatial_rows(coords, ["EEG T3-REF", "T7"])[0].tolist()
    assert rows == [89, 38]  # get_input_chans: standard_1020.index(name) + 1
    with pytest.warns(UserWarning, match="F7-T3 are not in LaBraM's electrode list"):
        encoder.spatial_rows(torch.rand(1, 2, 3), ["FP1-F7", "F7-T3"])


@pytest.mark.parametrize("name", ["luna-base", "lumamba"])
def test_each_sample_keeps_its_own_montage_in_a_batch(name):
    """The listed deviation: the reference's ``.repeat`` hands location embeddings across samples
    whose coordinates differ; ours encodes each sample as it would alone."""
    meta, arrays = fixture(name)
    encoder = build_for_input(name, 22, arrays["x"].shape[2]).eval()
    x, coords = torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["coords"]).clone()
    order = torch.randperm(22, generator=torch.Generator().manual_seed(0))
    x[1], coords[1] = x[1, order], coords[1, order]  # sample 1: the same channels in another order
    with torch.no_grad():
        together = encoder(x, coords)
        alone = torch.cat([encoder(x[i : i + 1], coords[i : i + 1]) for i in range(2)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
