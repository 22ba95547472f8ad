"""Baselines: parameter counts, one shared conformance test, and loading published checkpoints."""

import argparse
import warnings

import numpy as np
import pytest
import scipy.signal
import torch
from lumamba_bench.baselines.labram import resample_fft
from lumamba_bench.baselines.luna import apply_rotary, rotary_angles
from safetensors.torch import save_file

from lumamba_bench.data.channels import positions
from lumamba_bench.data.montages import TCP_NAMES
from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.checkpoints import load_encoder_weights
from lumamba_bench.models import build_encoder, build_for_input
from lumamba_bench.models.heads import AttentionPoolingHead

CHANNEL_SETS = {16: list(TCP_NAMES[:16]), 22: list(TCP_NAMES), 26: list(TCP_NAMES) + ["FZ", "CZ", "PZ", "OZ"]}


def _count(name: str, head: bool = False) -> int:
    with torch.device("meta"):
        encoder = build_encoder(name)
        total = sum(p.numel() for p in encoder.parameters())
        if head:
            total += sum(p.numel() for p in AttentionPoolingHead(encoder.embed_dim, 2).parameters())
    return total


@pytest.mark.parametrize(
    "name, paper, with_head",
    [
        ("femba-tiny", 7.8e6, False),
        ("labram-base", 5.8e6, False),
        ("luna-base", 7.0e6, True),  # LUNA's 7M counts its classification head (encoder alone: 6.57M)
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


@pytest.mark.parametrize("name", ["luna-base", "labram-base", "femba-tiny", "lumamba"])
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
    unused = {"front_end.mask_token"}  # only used when cells are masked
    assert set(no_grad) <= unused, no_grad


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


def published_luna_base() -> dict[str, torch.Tensor]:
    """LUNA-Base as published (E=64, Q=4, depth 8), plus its pre-training decoder."""
    g = torch.Generator().manual_seed(0)
    E, Q, W = 64, 4, 256

    def t(*shape):
        return torch.randn(*shape, generator=g)

    sd = {"mask_token": t(1, 1, E), "cross_attn.query_embed": t(1, Q, E), "cross_attn.temperature": torch.tensor(1.0)}
    for i, (cin, k) in enumerate([(1, 19), (16, 3), (16, 3)]):
        sd[f"patch_embed.proj_in.{3 * i}.weight"], sd[f"patch_embed.proj_in.{3 * i}.bias"] = t(16, cin, 1, k), t(16)
        sd[f"patch_embed.proj_in.{3 * i + 1}.weight"], sd[f"patch_embed.proj_in.{3 * i + 1}.bias"] = t(16), t(16)
    for name, (o, i) in {"fc1": (168, 42), "fc2": (E, 168)}.items():
        sd[f"freq_embed.frequency_to_embed.{name}.weight"], sd[f"freq_embed.frequency_to_embed.{name}.bias"] = (
            t(o, i),
            t(o),
        )
    for name, (o, i) in {"fc1": (2 * E, E), "fc2": (E, 2 * E)}.items():
        sd[f"channel_location_embedder.0.{name}.weight"], sd[f"channel_location_embedder.0.{name}.bias"] = t(o, i), t(o)
    prefix = "cross_attn.cross_attention"
    sd |= {f"{prefix}.in_proj_weight": t(3 * E, E), f"{prefix}.in_proj_bias": t(3 * E)}
    sd |= {f"{prefix}.out_proj.weight": t(E, E), f"{prefix}.out_proj.bias": t(E)}
    sd |= {"cross_attn.ffn.fc1.weight": t(4 * E, E), "cross_attn.ffn.fc1.bias": t(4 * E)}
    sd |= {"cross_attn.ffn.fc2.weight": t(E, 4 * E), "cross_attn.ffn.fc2.bias": t(E)}
    for norm in ("keys_norm", "values_norm", "queries_norm"):
        sd[f"cross_attn.{norm}.weight"], sd[f"cross_attn.{norm}.bias"] = t(E), t(E)
    for layer in range(3):
        p = f"cross_attn.query_self_attn.layers.{layer}"
        sd |= {f"{p}.self_attn.in_proj_weight": t(3 * E, E), f"{p}.self_attn.in_proj_bias": t(3 * E)}
        sd |= {f"{p}.self_attn.out_proj.weight": t(E, E), f"{p}.self_attn.out_proj.bias": t(E)}
        sd |= {f"{p}.linear1.weight": t(4 * E, E), f"{p}.linear1.bias": t(4 * E)}
        sd |= {f"{p}.linear2.weight": t(E, 4 * E), f"{p}.linear2.bias": t(E)}
        sd |= {f"{p}.norm1.weight": t(E), f"{p}.norm1.bias": t(E), f"{p}.norm2.weight": t(E), f"{p}.norm2.bias": t(E)}
    for block in range(8):
        p = f"blocks.{block}"
        sd |= {f"{p}.norm1.weight": t(W), f"{p}.norm1.bias": t(W), f"{p}.norm2.weight": t(W), f"{p}.norm2.bias": t(W)}
        sd |= {f"{p}.attn.qkv_proj.weight": t(3 * W, W), f"{p}.attn.qkv_proj.bias": t(3 * W)}
        sd |= {f"{p}.attn.proj.weight": t(W, W), f"{p}.attn.proj.bias": t(W)}
        sd |= {f"{p}.mlp.fc1.weight": t(4 * W, W), f"{p}.mlp.fc1.bias": t(4 * W)}
        sd |= {f"{p}.mlp.norm.weight": t(4 * W), f"{p}.mlp.norm.bias": t(4 * W)}
        sd |= {f"{p}.mlp.fc2.weight": t(W, 4 * W), f"{p}.mlp.fc2.bias": t(W)}
    sd |= {"norm.weight": t(W), "norm.bias": t(W)}
    sd |= {"decoder_head.norm.weight": t(E), "channel_emb.embeddings.weight": t(90, E)}  # pre-training only
    return sd


def test_luna_loads_published_key_names(tmp_path):
    published = published_luna_base()
    path = tmp_path / "LUNA_base.safetensors"
    save_file(published, path)
    encoder = build_encoder("luna-base")
    with pytest.warns(UserWarning, match=r"3 published keys .*decoder_head.norm.weight"):
        load_encoder_weights(encoder, path)
    assert torch.equal(encoder.front_end.unify.queries, published["cross_attn.query_embed"][0])
    assert torch.equal(encoder.front_end.mask_token, published["mask_token"][0, 0])
    assert torch.equal(encoder.blocks[5].mlp.norm.weight, published["blocks.5.mlp.norm.weight"])
    assert torch.equal(
        encoder.front_end.unify.layers[2].ffn[3].weight, published["cross_attn.query_self_attn.layers.2.linear2.weight"]
    )
    assert torch.equal(encoder.front_end.patch_embed.time_pathway[4].bias, published["patch_embed.proj_in.4.bias"])
    # A shape mismatch (a LUNA-Large block in a Base file) is refused, and nothing is loaded.
    published["blocks.0.attn.qkv_proj.weight"] = torch.zeros(1728, 576)
    save_file(published, path)
    fresh = build_encoder("luna-base")
    before = fresh.blocks[1].norm1.weight.clone()
    with (
        warnings.catch_warnings(),
        pytest.raises(LumambaError, match=r"blocks.0.attn.qkv_proj.weight has shape \(1728, 576\)"),
    ):
        warnings.simplefilter("ignore")
        load_encoder_weights(fresh, path)
    assert torch.equal(fresh.blocks[1].norm1.weight, before)
    # A missing tensor is named.
    del published["blocks.7.mlp.fc2.bias"]
    published["blocks.0.attn.qkv_proj.weight"] = torch.zeros(768, 256)
    save_file(published, path)
    with warnings.catch_warnings(), pytest.raises(LumambaError, match=r"1 missing keys \(blocks.7.mlp.fc2.bias\)"):
        warnings.simplefilter("ignore")
        load_encoder_weights(build_encoder("luna-base"), path)


def published_labram_base() -> dict[str, torch.Tensor]:
    """LaBraM-Base's pre-training checkpoint layout: ``student.``-prefixed encoder + lm_head."""
    g = torch.Generator().manual_seed(1)
    D = 200

    def t(*shape):
        return torch.randn(*shape, generator=g)

    sd = {"cls_token": t(1, 1, D), "pos_embed": t(1, 129, D), "time_embed": t(1, 16, D), "mask_token": t(1, 1, D)}
    for i, cin, k in ((1, 1, 15), (2, 8, 3), (3, 8, 3)):
        sd |= {f"patch_embed.conv{i}.weight": t(8, cin, 1, k), f"patch_embed.conv{i}.bias": t(8)}
        sd |= {f"patch_embed.norm{i}.weight": t(8), f"patch_embed.norm{i}.bias": t(8)}
    for b in range(12):
        p = f"blocks.{b}"
        sd |= {f"{p}.norm1.weight": t(D), f"{p}.norm1.bias": t(D), f"{p}.norm2.weight": t(D), f"{p}.norm2.bias": t(D)}
        sd |= {f"{p}.attn.qkv.weight": t(3 * D, D), f"{p}.attn.q_bias": t(D), f"{p}.attn.v_bias": t(D)}
        sd |= {f"{p}.attn.q_norm.weight": t(20), f"{p}.attn.q_norm.bias": t(20)}
        sd |= {f"{p}.attn.k_norm.weight": t(20), f"{p}.attn.k_norm.bias": t(20)}
        sd |= {f"{p}.attn.proj.weight": t(D, D), f"{p}.attn.proj.bias": t(D)}
        sd |= {f"{p}.mlp.fc1.weight": t(4 * D, D), f"{p}.mlp.fc1.bias": t(4 * D)}
        sd |= {f"{p}.mlp.fc2.weight": t(D, 4 * D), f"{p}.mlp.fc2.bias": t(D)}
        sd |= {f"{p}.gamma_1": t(D), f"{p}.gamma_2": t(D)}
    sd |= {"norm.weight": t(D), "norm.bias": t(D), "lm_head.weight": t(8192, D), "lm_head.bias": t(8192)}
    return {f"student.{k}": v for k, v in sd.items()}


def test_labram_loads_the_published_pth_with_weights_only(tmp_path):
    published = published_labram_base()
    path = tmp_path / "labram-base.pth"
    torch.save({"model": published, "epoch": 49, "args": argparse.Namespace(lr=5e-4)}, path)
    encoder = build_encoder("labram-base")
    with pytest.warns(UserWarning, match="3 published keys"):
        load_encoder_weights(encoder, path)
    assert torch.equal(encoder.blocks[11].attn.q_bias, published["student.blocks.11.attn.q_bias"])
    assert torch.equal(encoder.pos_embed, published["student.pos_embed"])
    x, coords = _inputs(22)
    assert torch.isfinite(encoder(x, coords)).all()


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
