"""Baselines: parameter counts, one shared conformance test, and loading published checkpoints."""


import numpy as np
import pytest
import scipy.signal
import torch

from lumamba_bench.baselines.labram import resample_fft
from lumamba_bench.baselines.luna import apply_rotary, rotary_angles
from lumamba_bench.data.channels import positions
from lumamba_bench.data.montages import TCP_NAMES
from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.checkpoints import load_encoder_weights
from lumamba_bench.models import build_encoder, build_for_input
from lumamba_bench.models.registry import encoder_facts

CHANNEL_SETS = {16: list(TCP_NAMES[:16]), 22: list(TCP_NAMES), 26: list(TCP_NAMES) + ["FZ", "CZ", "PZ", "OZ"]}


def _count(name: str, head: bool = False) -> int:
    """Encoder parameters, with the family's reference head (two classes) when ``head``."""
    facts = encoder_facts(name)
    return facts.parameters + (facts.head_parameters if head else 0)


@pytest.mark.parametrize(
    "name, paper, with_head",
    [
        ("femba-tiny", 7.8e6, False),
        ("labram-base", 5.8e6, False),
        ("luna-base", 7.0e6, True),  # LUNA's 7M counts its query head (encoder alone: 6.57M)
        ("luna-large", 43e6, True),
        ("luna-huge", 311e6, True),
        ("lumamba", 4.1e6, False),
    ],
)
def test_parameter_counts_match_the_papers(name, paper, with_head):
    assert abs(_count(name, with_head) / paper - 1) < 0.05


def _inputs(channels: int, seconds: int = 5, batch: int = 2, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = 30 * torch.randn(batch, channels, seconds * 256, generator=generator)
    coords = torch.tensor(positions(CHANNEL_SETS[channels]), dtype=torch.float32).expand(batch, -1, -1)
    return x, coords


def _smallest_of_each_family() -> list[str]:
    """From the registry: every family, by its smallest architecture (luna-huge's 303M parameters
    would add minutes and nothing the family's base does not show)."""
    from lumamba_bench.models.registry import encoder_facts, list_encoders

    facts = [encoder_facts(name) for name in list_encoders()]
    return sorted(min((f for f in facts if f.family == family), key=lambda f: f.parameters).name
                  for family in {f.family for f in facts})  # fmt: skip


@pytest.mark.parametrize("name", _smallest_of_each_family())
@pytest.mark.parametrize("channels", [16, 22, 26])
def test_encoder_conformance(name, channels):
    """Any channel count 16-26, output (B, S, embed_dim), deterministic, gradients reach every weight."""
    torch.manual_seed(0)
    encoder = build_for_input(name, channels, 1280)
    torch.manual_seed(0)
    twin = build_for_input(name, channels, 1280)
    assert all(
        torch.equal(a, b) for a, b in zip(encoder.state_dict().values(), twin.state_dict().values(), strict=True)
    )
    encoder.eval()
    x, coords = _inputs(channels)
    tokens = encoder(x, coords)
    assert tokens.ndim == 3 and tokens.shape[0] == 2 and tokens.shape[2] == encoder.embed_dim
    assert torch.isfinite(tokens).all()
    assert torch.equal(tokens, encoder(x, coords))
    encoder.train()
    encoder(x, coords).pow(2).mean().backward()
    no_grad = [n for n, p in encoder.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert set(no_grad) <= set(encoder.pretraining_only), no_grad  # a mask token: used when cells are masked


def test_femba_refuses_another_shape_and_labram_fractional_seconds():
    femba = build_encoder("femba-tiny")
    x, coords = _inputs(16)
    with pytest.raises(LumambaError, match="built for 22 channels"):
        femba(x, coords)
    labram = build_encoder("labram-base")
    with pytest.raises(LumambaError, match="whole seconds"):
        labram(torch.zeros(1, 16, 320), coords[:1])


def test_rotary_scores_depend_only_on_relative_position():
    cos, sin = rotary_angles(12, 32, "cpu", torch.float64)
    q, k = torch.randn(32, dtype=torch.float64), torch.randn(32, dtype=torch.float64)
    q_rot = apply_rotary(q.expand(12, -1), cos, sin)
    k_rot = apply_rotary(k.expand(12, -1), cos, sin)
    scores = q_rot @ k_rot.T
    for shift in range(-5, 6):
        diagonal = torch.diagonal(scores, offset=shift)
        assert torch.allclose(diagonal, diagonal[0].expand_as(diagonal), atol=1e-10)
    assert torch.allclose(q_rot.norm(dim=-1), q.norm().expand(12))  # a rotation


def test_labram_resampling_matches_scipy_on_band_limited_eeg():
    """Shards are band-limited to 75 Hz; there the FFT resampler must agree with scipy's."""
    rng = np.random.default_rng(1)
    spectrum = np.fft.rfft(rng.standard_normal((3, 1280)), axis=-1)
    spectrum[:, np.fft.rfftfreq(1280, 1 / 256) > 75] = 0
    x = np.fft.irfft(spectrum, n=1280, axis=-1)
    ours = resample_fft(torch.from_numpy(x), 1000).numpy()
    np.testing.assert_allclose(ours, scipy.signal.resample(x, 1000, axis=-1), atol=1e-10)


# ---- published checkpoints: names and shapes written from each paper's architecture ----------


def published_femba_tiny() -> dict[str, torch.Tensor]:
    """FEMBA-Tiny (E=35, 2 blocks, expand 4, 22 x 1280) with its reconstruction decoder."""
    g = torch.Generator().manual_seed(2)
    d, inner, rank = 385, 1540, 25

    def t(*shape):
        return torch.randn(*shape, generator=g)

    sd = {"patch_embed.proj.weight": t(35, 1, 2, 16), "patch_embed.proj.bias": t(35), "pos_embed": t(1, 80, d)}
    for b in range(2):
        for direction in ("mamba_fwd", "mamba_rev"):
            p = f"mamba_blocks.{b}.{direction}"
            sd |= {
                f"{p}.in_proj.weight": t(2 * inner, d),
                f"{p}.conv1d.weight": t(inner, 1, 4),
                f"{p}.conv1d.bias": t(inner),
            }
            sd |= {
                f"{p}.x_proj.weight": t(rank + 32, inner),
                f"{p}.dt_proj.weight": t(inner, rank),
                f"{p}.dt_proj.bias": t(inner),
            }
            sd |= {f"{p}.A_log": t(inner, 16), f"{p}.D": t(inner), f"{p}.out_proj.weight": t(d, inner)}
        sd |= {f"norm_layers.{b}.weight": t(d), f"norm_layers.{b}.bias": t(d)}
    sd |= {"decoder.dec_conv.weight": t(1, 1, 31, 31), "decoder.conv_transpose.weight": t(35, 1, 2, 16)}
    return sd


def test_femba_loads_its_published_checkpoint(tmp_path):
    published = published_femba_tiny()
    path = tmp_path / "femba_tiny.pt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in published.items()}}, path)
    encoder = build_encoder("femba-tiny")
    with pytest.warns(UserWarning, match="2 published keys"):
        load_encoder_weights(encoder, path)
    assert torch.equal(encoder.blocks[1].mixer.backward_mamba.A_log, published["mamba_blocks.1.mamba_rev.A_log"])
    assert torch.equal(encoder.blocks[0].norm.bias, published["norm_layers.0.bias"])
