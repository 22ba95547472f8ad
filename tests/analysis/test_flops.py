"""FLOP counts against an independent hand count of LuMamba and explicit matmul references."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from lumamba_bench.analysis.flops import count_forward_flops, selective_scan_flops
from lumamba_bench.models import build_encoder, mamba
from lumamba_bench.models.scan import selective_scan_ref


def lumamba_flops_by_hand(channels: int, samples: int) -> int:
    """LuMamba-Tiny's forward FLOPs from its architecture, written out layer by layer."""
    e, q, p = 64, 6, 40
    s = samples // p
    cells = channels * s
    # Patch embedding, per (channel, patch) cell: three convolutions at 4 positions, the
    # frequency MLP on 42 spectrum values, the rfft of 40 samples.
    time_convs = 2 * 16 * 19 * 4 + 2 * (2 * 16 * 16 * 3 * 4)
    freq_mlp = 2 * (42 * 168 + 168 * 64)
    rfft = 2.5 * p * math.log2(p)
    patch = cells * (time_convs + freq_mlp + rfft)
    location = channels * 2 * (64 * 128 + 128 * 64)
    # Channel unification, per patch: q/k/v and output projections, attention (2 heads of 32),
    # the FFN, then 3 query transformer layers (6 tokens).
    cross = 2 * q * e * e + 2 * 2 * channels * e * e + 2 * 2 * q * channels * e + 2 * q * e * e
    ffn = 2 * q * (e * 4 * e) * 2
    layer = 2 * q * e * 3 * e + 2 * 2 * q * q * e + 2 * q * e * e + ffn
    unify = s * (cross + ffn + 3 * layer)
    # Two blocks x two directions of Mamba (d 384, inner 768, state 16, dt rank 24, conv 4).
    d, di, n, r = 384, 768, 16, 24
    one_mamba = (
        2 * s * d * 2 * di  # in_proj
        + 2 * di * 4 * (s + 3)  # depthwise causal conv (padded output)
        + 2 * s * di * (r + 2 * n)  # x_proj
        + 2 * s * r * di  # dt_proj
        + selective_scan_flops(1, s, di, n)
        + 2 * s * di * d  # out_proj
    )
    return int(patch + location + unify + 4 * one_mamba)


@pytest.mark.parametrize(("channels", "samples"), [(22, 1280), (16, 2560)])
def test_lumamba_count_matches_the_hand_count(channels, samples):
    encoder = build_encoder("lumamba")
    counted = count_forward_flops(encoder, torch.randn(1, channels, samples), torch.rand(1, channels, 3))
    assert counted.total == pytest.approx(lumamba_flops_by_hand(channels, samples), rel=1e-6)
    assert counted.scan == 4 * selective_scan_flops(1, samples // 40, 768, 16)


def test_scan_count_does_not_depend_on_the_backend(monkeypatch):
    encoder = build_encoder("lumamba")
    x, coords = torch.randn(2, 22, 640), torch.rand(2, 22, 3)
    chunked = count_forward_flops(encoder, x, coords)
    monkeypatch.setattr(mamba, "selective_scan", selective_scan_ref)
    stepwise = count_forward_flops(encoder, x, coords)
    assert chunked.total == stepwise.total and chunked.scan == stepwise.scan > 0


def test_cpu_fused_attention_counts_like_explicit_matmuls():
    q, k, v = torch.randn(2, 4, 50, 16), torch.randn(2, 4, 70, 16), torch.randn(2, 4, 70, 24)
    with FlopCounterMode(display=False) as reference:
        torch.softmax(q @ k.transpose(-1, -2), -1) @ v

    class Fused(torch.nn.Module):
        def forward(self, x, coords):
            return F.scaled_dot_product_attention(q, k, v)

    assert count_forward_flops(Fused(), q, None).total == reference.get_total_flops() > 0


def test_fft_is_counted_at_2_5_n_log2_n_per_real_transform():
    class Spectrum(torch.nn.Module):
        def forward(self, x, coords):
            return torch.fft.irfft(torch.fft.rfft(x, dim=-1), n=x.shape[-1], dim=-1)

    n, rows = 64, 3
    assert count_forward_flops(Spectrum(), torch.randn(rows, n), None).total == 2 * int(rows * 2.5 * n * math.log2(n))
