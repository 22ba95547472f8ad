"""LUNA's topology-invariant front end (Doener et al., NeurIPS 2025), shared by LuMamba and LUNA.

Per (channel, patch) cell of ``patch_size`` samples:
  time pathway   Conv2d(1->E/4, k=19, s=10, p=9) -> GroupNorm(4) -> GELU, then twice
                 Conv2d(E/4->E/4, k=3, p=1) -> GroupNorm -> GELU; 4 positions x E/4 = E values
  freq pathway   rfft of the patch: magnitude and phase (2 * (P/2+1) = 42) -> MLP 42->4*42->E
The two are summed. Masked cells (reconstruction pre-training) become a learned mask token.
Channel positions, min-max normalised per sample to [0, 1], get a NeRF encoding (E//6 octaves,
sin(2^k x) and cos, zero-padded to E) and an MLP E->2E->E with a LayerNorm on its hidden layer,
added to every token. Channel unification: Q learned queries cross-attend over the C channel
tokens of each patch (LayerNorm on q, k, v; 2 heads), a residual 4x FFN (LayerNorm on its hidden
layer), then 3 pre-norm transformer layers among the queries. Output: (B, S, Q*E), independent of
how many channels came in.

Tensor layouts follow the published LUNA checkpoints (so ``luna-base`` can load them): the time
pathway's output is flattened position-major, the NeRF features are ordered (octave, axis,
sin/cos) at frequencies 2^k (no pi), and the FFN after the cross-attention is a plain residual
``x + FFN(x)``. The two hidden-layer LayerNorms are those of timm's ``Mlp(norm_layer=LayerNorm)``
in BioFoundation's ``models/LUNA.py``; ``tests/models/test_conformance.py`` checks the whole front
end against the authors' code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lumamba_bench.models.base import Encoder
from lumamba_bench.models.published import PREFIXES, rename


class PatchEmbedding(nn.Module):
    def __init__(self, embed_dim: int = 64, patch_size: int = 40):
        super().__init__()
        if embed_dim % 4:
            raise ValueError(f"embed_dim must be divisible by 4, got {embed_dim}")
        width = embed_dim // 4
        self.patch_size = patch_size
        self.time_pathway = nn.Sequential(
            nn.Conv2d(1, width, (1, 19), stride=(1, 10), padding=(0, 9)), nn.GroupNorm(4, width), nn.GELU(),
            nn.Conv2d(width, width, (1, 3), padding=(0, 1)), nn.GroupNorm(4, width), nn.GELU(),
            nn.Conv2d(width, width, (1, 3), padding=(0, 1)), nn.GroupNorm(4, width), nn.GELU(),
        )  # fmt: skip
        positions = (patch_size + 2 * 9 - 19) // 10 + 1
        self.time_projection = (
            nn.Identity() if positions * width == embed_dim else nn.Linear(positions * width, embed_dim)
        )
        n_freq = 2 * (patch_size // 2 + 1)
        self.freq_pathway = nn.Sequential(nn.Linear(n_freq, 4 * n_freq), nn.GELU(), nn.Linear(4 * n_freq, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> (B, C, S, E) with S = T // patch_size."""
        batch, channels, length = x.shape
        patches = x.reshape(batch, channels * (length // self.patch_size), self.patch_size)
        time = self.time_pathway(patches.unsqueeze(1))  # (B, E/4, C*S, 4)
        time = self.time_projection(time.permute(0, 2, 3, 1).flatten(2))  # (B, C*S, E), position-major
        spectrum = torch.fft.rfft(patches.float(), dim=-1)
        freq = self.freq_pathway(torch.cat([spectrum.abs(), spectrum.angle()], dim=-1).to(x.dtype))
        return (time + freq).reshape(batch, channels, length // self.patch_size, -1)


def nerf_encoding(coords: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, 3) in [0, 1] -> (B, C, size): sin/cos at 2^k for k < size // 6, zero-padded.

    Feature order (octave, axis, sin/cos), as in the published LUNA weights."""
    octaves = size // 6
    freqs = 2.0 ** torch.arange(octaves, device=coords.device, dtype=coords.dtype)
    angles = coords.unsqueeze(-2) * freqs.unsqueeze(-1)  # (B, C, octaves, 3)
    encoded = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-3)  # (B, C, octaves * 3 * 2)
    return F.pad(encoded, (0, size - encoded.shape[-1]))


def normalise_coords(coords: torch.Tensor) -> torch.Tensor:
    """Min-max each axis over the channels of each sample to [0, 1] (montage-relative)."""
    low = coords.amin(dim=1, keepdim=True)
    high = coords.amax(dim=1, keepdim=True)
    return (coords - low) / (high - low + 1e-8)


class NormedFeedForward(nn.Sequential):
    """Linear -> GELU -> Dropout -> LayerNorm(hidden) -> Linear -> Dropout (timm's ``Mlp`` with a
    norm layer)."""

    def __init__(self, dim: int, hidden: int, out: int | None = None, dropout: float = 0.0):
        super().__init__(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.LayerNorm(hidden),
            nn.Linear(hidden, out or dim),
            nn.Dropout(dropout),
        )


class ChannelLocationEncoder(nn.Module):
    def __init__(self, embed_dim: int = 64):
        super().__init__()
        self.embed_dim = embed_dim
        self.mlp = NormedFeedForward(embed_dim, 2 * embed_dim)

    def forward(self, coords: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, 3) metres -> (B, C, E); ``noise`` (B, C, 3) is added on the normalised [0, 1]
        scale (the reference's 0.02-std jitter during masked pre-training)."""
        normalised = normalise_coords(coords)
        if noise is not None:
            normalised = normalised + noise
        return self.mlp(nerf_encoding(normalised, self.embed_dim))


class FeedForward(nn.Sequential):
    """Linear -> GELU -> Dropout -> Linear -> Dropout (``nn.TransformerEncoderLayer``'s FFN)."""

    def __init__(self, dim: int, ratio: int = 4, dropout: float = 0.0):
        hidden = ratio * dim
        drop = nn.Dropout(dropout)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), drop, nn.Linear(hidden, dim), nn.Dropout(dropout))


class QueryTransformerLayer(nn.Module):
    """Pre-norm self-attention + FFN among the Q queries."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.attn_dropout = nn.Dropout(dropout)
        self.ffn = FeedForward(dim, 4, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn_dropout(self.attn(h, h, h, need_weights=False)[0])
        return x + self.ffn(self.norm2(x))


class ChannelUnification(nn.Module):
    """Q learned queries cross-attend over a patch's channels: C channels in, Q tokens out."""

    def __init__(
        self, embed_dim: int = 64, num_queries: int = 6, heads: int = 2, layers: int = 3, dropout: float = 0.0
    ):
        super().__init__()
        self.queries = nn.Parameter(torch.empty(num_queries, embed_dim))
        nn.init.orthogonal_(self.queries)
        self.norm_q, self.norm_k, self.norm_v = (
            nn.LayerNorm(embed_dim),
            nn.LayerNorm(embed_dim),
            nn.LayerNorm(embed_dim),
        )
        self.cross_attn = nn.MultiheadAttention(embed_dim, heads, dropout=dropout, batch_first=True)
        self.ffn = NormedFeedForward(embed_dim, 4 * embed_dim, dropout=dropout)
        self.layers = nn.ModuleList(QueryTransformerLayer(embed_dim, heads, dropout) for _ in range(layers))

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens: (N, C, E) -> queries (N, Q, E), head-averaged attention (N, Q, C)."""
        queries = self.queries.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        x, attention = self.cross_attn(
            self.norm_q(queries), self.norm_k(tokens), self.norm_v(tokens), need_weights=True, average_attn_weights=True
        )
        x = x + self.ffn(x)
        for layer in self.layers:
            x = layer(x)
        return x, attention


@dataclass
class FrontEndOutput:
    tokens: torch.Tensor  # (B, S, Q*E)
    attention: torch.Tensor  # (B, S, Q, C): query-over-channel attention, head-averaged
    location: torch.Tensor  # (B, C, E): channel location embedding


class LunaFrontEnd(nn.Module):
    """Patch embedding + location encoding + channel unification."""

    def __init__(
        self,
        embed_dim: int = 64,
        num_queries: int = 6,
        patch_size: int = 40,
        heads: int = 2,
        layers: int = 3,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.embed_dim, self.num_queries, self.patch_size = embed_dim, num_queries, patch_size
        self.patch_embed = PatchEmbedding(embed_dim, patch_size)
        self.location = ChannelLocationEncoder(embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(embed_dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.unify = ChannelUnification(embed_dim, num_queries, heads, layers, dropout)

    def forward(
        self,
        x: torch.Tensor,
        coords: torch.Tensor,
        mask: torch.Tensor | None = None,
        coord_noise: torch.Tensor | None = None,
        hide_masked: bool = False,
    ) -> FrontEndOutput:
        """x (B, C, T) normalised; ``mask`` (B, C, S) cells become the mask token.

        ``hide_masked`` zeroes masked samples before the patch embedding: the reference does not,
        so GroupNorm statistics over all cells carry a trace of the hidden signal into visible
        tokens (the objective's option; off by default, as in the reference)."""
        batch, channels, length = x.shape
        if length % self.patch_size:
            raise ValueError(f"signal length {length} is not a multiple of the patch size {self.patch_size}")
        if mask is not None and hide_masked:
            x = x.masked_fill(mask.repeat_interleave(self.patch_size, dim=-1), 0.0)
        tokens = self.patch_embed(x)  # (B, C, S, E)
        if mask is not None:
            tokens = torch.where(mask.unsqueeze(-1), self.mask_token.to(tokens.dtype), tokens)
        noise = None if coord_noise is None else coord_noise.to(tokens.dtype)
        location = self.location(coords.to(tokens.dtype), noise)  # (B, C, E)
        tokens = tokens + location.unsqueeze(2)
        patches = tokens.shape[2]
        flat = tokens.permute(0, 2, 1, 3).reshape(batch * patches, channels, self.embed_dim)
        unified, attention = self.unify(flat)
        return FrontEndOutput(
            tokens=unified.reshape(batch, patches, self.num_queries * self.embed_dim),
            attention=attention.reshape(batch, patches, self.num_queries, channels),
            location=location,
        )


class UnifiedEncoder(Encoder):
    """An encoder built as LUNA front end -> temporal ``blocks`` -> ``norm`` (LuMamba, LUNA).

    Subclasses set ``config`` (a dataclass with ``input_normalisation``), ``front_end``,
    ``blocks`` and ``norm`` (``nn.Identity`` where the reference has no final norm); the temporal
    blocks are what differs (bi-Mamba or RoPE transformer)."""

    has_front_end = True
    pretraining_only = ("front_end.mask_token",)  # replaces masked cells in pre-training only
    OFFICIAL_KEYS: tuple[tuple[str, str], ...] = ()  # set by each family: front end + its blocks
    OFFICIAL_IGNORED: dict[str, str] = {}

    def official_state_dict(self, tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
        """Published names -> ours (with the reshapes the layouts need); the declared non-encoder
        keys (decoder and classifier heads, a constant) are returned apart, anything else fails."""
        own = dict(self.state_dict())
        mapped, ignored = rename(tensors, self.OFFICIAL_KEYS, set(own), self.OFFICIAL_IGNORED)
        for name, tensor in mapped.items():
            if tensor.shape != own[name].shape and tensor.numel() == own[name].numel():
                mapped[name] = tensor.reshape(own[name].shape)  # (1, Q, E) queries, (1, 1, E) mask token
        return mapped, ignored

    def looks_official(self, tensors: dict) -> bool:
        return any(re.sub(PREFIXES, "", k).startswith(("cross_attn.", "patch_embed.proj_in")) for k in tensors)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters from the input upwards, for layer-wise learning-rate decay."""
        return (
            [list(self.front_end.parameters())]
            + [list(b.parameters()) for b in self.blocks]
            + [list(self.norm.parameters())]
        )

    def input_granularity(self) -> int:
        return self.patch_size

    def forward_features(
        self,
        x: torch.Tensor,
        coords: torch.Tensor,
        mask: torch.Tensor | None = None,
        channels=None,
        normalised: bool = False,
        **front_end,
    ):
        """Tokens plus what the objectives need (query attention, location embedding);
        ``front_end`` options (``coord_noise``, ``hide_masked``) go to ``LunaFrontEnd``.
        ``normalised``: ``x`` is already normalised (crops of a normalised window, as LeJEPA's
        views are in the reference)."""
        front = self.front_end(x if normalised else self.normalise(x), coords, mask, **front_end)
        tokens = front.tokens
        for block in self.blocks:
            tokens = block(tokens)
        return FrontEndOutput(self.norm(tokens), front.attention, front.location)

    def forward(
        self, x: torch.Tensor, coords: torch.Tensor, mask: torch.Tensor | None = None, channels=None, **options
    ) -> torch.Tensor:
        """x: (B, C, T) microvolts, coords: (B, C, 3) metres -> tokens (B, T // P, Q*E). Channels
        are known by their coordinates; their names are not used."""
        return self.forward_features(x, coords, mask, **options).tokens


# ---- published checkpoints (BioFoundation's LUNA and LuMamba layouts) ---------------------------
# (published name pattern, our name), shared by every encoder built on this front end.
FRONT_END_KEYS: tuple[tuple[str, str], ...] = (
    (r"patch_embed\.proj_in\.(\d+)\.(weight|bias)", r"front_end.patch_embed.time_pathway.\1.\2"),
    (r"freq_embed\.frequency_to_embed\.fc1\.(weight|bias)", r"front_end.patch_embed.freq_pathway.0.\1"),
    (r"freq_embed\.frequency_to_embed\.fc2\.(weight|bias)", r"front_end.patch_embed.freq_pathway.2.\1"),
    (r"channel_location_embedder\.(?:0\.)?fc1\.(weight|bias)", r"front_end.location.mlp.0.\1"),
    (r"channel_location_embedder\.(?:0\.)?norm\.(weight|bias)", r"front_end.location.mlp.3.\1"),
    (r"channel_location_embedder\.(?:0\.)?fc2\.(weight|bias)", r"front_end.location.mlp.4.\1"),
    (r"mask_token", r"front_end.mask_token"),
    (r"cross_attn\.query_embed", r"front_end.unify.queries"),
    (r"cross_attn\.cross_attention\.(in_proj_weight|in_proj_bias)", r"front_end.unify.cross_attn.\1"),
    (r"cross_attn\.cross_attention\.out_proj\.(weight|bias)", r"front_end.unify.cross_attn.out_proj.\1"),
    (r"cross_attn\.ffn\.fc1\.(weight|bias)", r"front_end.unify.ffn.0.\1"),
    (r"cross_attn\.ffn\.norm\.(weight|bias)", r"front_end.unify.ffn.3.\1"),
    (r"cross_attn\.ffn\.fc2\.(weight|bias)", r"front_end.unify.ffn.4.\1"),
    (r"cross_attn\.queries_norm\.(weight|bias)", r"front_end.unify.norm_q.\1"),
    (r"cross_attn\.keys_norm\.(weight|bias)", r"front_end.unify.norm_k.\1"),
    (r"cross_attn\.values_norm\.(weight|bias)", r"front_end.unify.norm_v.\1"),
    (r"cross_attn\.query_self_attn\.layers\.(\d+)\.self_attn\.(in_proj_weight|in_proj_bias)",
     r"front_end.unify.layers.\1.attn.\2"),
    (r"cross_attn\.query_self_attn\.layers\.(\d+)\.self_attn\.out_proj\.(weight|bias)",
     r"front_end.unify.layers.\1.attn.out_proj.\2"),
    (r"cross_attn\.query_self_attn\.layers\.(\d+)\.linear1\.(weight|bias)", r"front_end.unify.layers.\1.ffn.0.\2"),
    (r"cross_attn\.query_self_attn\.layers\.(\d+)\.linear2\.(weight|bias)", r"front_end.unify.layers.\1.ffn.3.\2"),
    (r"cross_attn\.query_self_attn\.layers\.(\d+)\.(norm1|norm2)\.(weight|bias)", r"front_end.unify.layers.\1.\2.\3"),
)  # fmt: skip

# Published tensors that are not part of the encoder, by what they are; anything else that no
# key row places is an error (``published.rename``).
FRONT_END_IGNORED: dict[str, str] = {
    r"decoder_head\..+": "reconstruction decoder (pre-training head)",
    r"channel_emb\.embeddings\.weight": "channel-name embedding of the reconstruction decoder",
    r"classifier\..+": "classification head (fine-tuning)",
    r"cross_attn\.temparature": "a constant 1.0 the reference stores and never reads",
}
