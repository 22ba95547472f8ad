"""LUNA (Döner et al., NeurIPS 2025): the LUNA front end (shared with LuMamba, one
implementation in ``lumamba_bench.models.luna``) feeding a RoPE transformer over patches.

Temporal encoder: ``depth`` pre-norm blocks at width Q*E with 2*Q heads; attention uses rotary
position embeddings (theta 10,000, rotating interleaved pairs of each head's features); the
MLP is fc1 -> GELU -> LayerNorm(hidden) -> fc2. Sizes: Base E=64, Q=4, depth 8 (~6.6M encoder
parameters, ~6.85M with our head; the paper's 7M); Large 96/6/10; Huge 128/8/24.

``official_state_dict`` maps the published checkpoints (``LUNA_base.safetensors``) onto these
modules with an explicit key table; the declared pre-training heads in those files are reported,
not loaded, and any other unplaced tensor is an error. Input: per-channel z-score, as the
reference's tasks apply it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lumamba_bench.data.preprocess import SFREQ
from lumamba_bench.errors import LumambaError
from lumamba_bench.models.drop_path import DropPath
from lumamba_bench.models.luna import FRONT_END_IGNORED, FRONT_END_KEYS, LunaFrontEnd, UnifiedEncoder
from lumamba_bench.models.registry import register_encoder


def rotary_angles(
    length: int, head_dim: int, device, dtype, theta: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin (length, head_dim) for rotating feature pairs (2i, 2i+1) by position * theta^(-2i/d)."""
    freqs = theta ** (-torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * freqs[None]
    angles = angles.repeat_interleave(2, dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs: (x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin)."""
    pairs = x.unflatten(-1, (-1, 2))
    rotated = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)
    return x * cos + rotated * sin


class RotaryAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv_proj = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv_proj(x).reshape(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        cos, sin = rotary_angles(length, dim // self.heads, x.device, x.dtype)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


class NormedMlp(nn.Module):
    def __init__(self, dim: int, ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1, self.norm, self.fc2 = nn.Linear(dim, hidden), nn.LayerNorm(hidden), nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.norm(self.dropout(F.gelu(self.fc1(x))))))


class RotaryTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float = 0.0, drop_path: float = 0.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = RotaryAttention(dim, heads, dropout)
        self.mlp = NormedMlp(dim, 4.0, dropout)
        self.drop_path = DropPath(drop_path)  # the same rate in every block, as the reference's LUNA

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


@dataclass
class LunaConfig:
    embed_dim: int = 64
    num_queries: int = 4
    depth: int = 8
    patch_size: int = 40
    unify_heads: int = 2
    unify_layers: int = 3
    dropout: float = 0.0  # in the temporal blocks (the reference's drop and attn_drop: 0)
    unify_dropout: float = 0.1  # in the channel-unification block, as the reference
    drop_path: float = 0.0  # stochastic depth in the temporal blocks (the reference fine-tunes with 0.1)
    input_normalisation: str = "channelwise-zscore"  # BioFoundation's LUNA tasks (models/normalisation.py)


class Luna(UnifiedEncoder):
    family = "luna"
    sfreq = SFREQ

    def __init__(self, config: LunaConfig | None = None, **overrides):
        super().__init__()
        self.config = c = config or LunaConfig(**overrides)
        self.patch_size = c.patch_size
        self.embed_dim = c.num_queries * c.embed_dim
        self.front_end = LunaFrontEnd(
            c.embed_dim, c.num_queries, c.patch_size, c.unify_heads, c.unify_layers, c.unify_dropout
        )
        self.blocks = nn.ModuleList(
            RotaryTransformerBlock(self.embed_dim, 2 * c.num_queries, c.dropout, c.drop_path) for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(self.embed_dim)

    # ---- published checkpoints ------------------------------------------------------------
    OFFICIAL_KEYS: tuple[tuple[str, str], ...] = FRONT_END_KEYS + (
        (r"blocks\.(\d+)\.(norm1|norm2)\.(weight|bias)", r"blocks.\1.\2.\3"),
        (r"blocks\.(\d+)\.attn\.(qkv_proj|proj)\.(weight|bias)", r"blocks.\1.attn.\2.\3"),
        (r"blocks\.(\d+)\.mlp\.(fc1|fc2|norm)\.(weight|bias)", r"blocks.\1.mlp.\2.\3"),
        (r"norm\.(weight|bias)", r"norm.\1"),
    )  # fmt: skip
    OFFICIAL_IGNORED = FRONT_END_IGNORED | {
        r"blocks\.\d+\.attn\.rotary_emb\.freqs": "rotary frequencies (theta 10,000), recomputed and checked",
    }

    def official_state_dict(self, tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
        """As ``UnifiedEncoder``'s, and the stored rotary frequencies must be the ones we compute."""
        head_dim = self.embed_dim // (2 * self.config.num_queries)
        expected = 10000.0 ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        for key, tensor in tensors.items():
            if key.endswith("rotary_emb.freqs") and not torch.allclose(tensor.float(), expected, rtol=1e-6):
                raise LumambaError(f"{key} holds other rotary frequencies than theta 10,000; this LUNA cannot run them")
        return super().official_state_dict(tensors)


def _luna(**defaults):
    def factory(**overrides) -> Luna:
        return Luna(LunaConfig(**(defaults | overrides)))

    return factory


PAPER = "LUNA, Döner et al., NeurIPS 2025 (arXiv:2510.22257)"
WEIGHTS = {"weights": "https://huggingface.co/PulpBio/LUNA", "licence": "CC BY-ND 4.0"}
register_encoder("luna-base", paper=PAPER, family="luna", pretrain_objective="recon", **WEIGHTS)(_luna())
register_encoder("luna-large", paper=PAPER, family="luna", pretrain_objective="recon", **WEIGHTS)(
    _luna(embed_dim=96, num_queries=6, depth=10)
)
register_encoder("luna-huge", paper=PAPER, family="luna", pretrain_objective="recon", **WEIGHTS)(
    _luna(embed_dim=128, num_queries=8, depth=24)
)
