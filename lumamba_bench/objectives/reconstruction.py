"""Masked reconstruction (LUNA / LuMamba pre-training).

A fraction ``mask_ratio`` of the (channel x patch) cells is replaced by the encoder's learned
mask token after patch embedding. A light decoder rebuilds every cell's samples: per-channel
queries (the channel's location embedding) cross-attend over the Q latent tokens of that
patch (one pre-norm cross-attention layer with a 4x FFN), then an MLP maps to P samples.
Loss = SmoothL1(masked cells) + 0.05 * SmoothL1(visible cells) + 0.8 * mean squared
off-diagonal entry of A A^T, A being the head-averaged query-over-channel attention (LUNA's
query-specialisation term: it pushes different queries to attend to different channels).
Targets are the encoder's normalised input (``encoder.normalise``, as its reference trains on).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lumamba_bench.models.luna import FeedForward


def random_cell_mask(
    batch: int,
    channels: int,
    patches: int,
    ratio: float,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(B, C, S) bool with exactly round(ratio * C * S) True cells per sample, uniformly placed."""
    cells = channels * patches
    count = int(round(ratio * cells))
    scores = torch.rand(batch, cells, generator=generator).to(device)
    chosen = scores.argsort(dim=1)[:, :count]
    mask = torch.zeros(batch, cells, dtype=torch.bool, device=device)
    mask.scatter_(1, chosen, True)
    return mask.reshape(batch, channels, patches)


def query_specialisation(attention: torch.Tensor) -> torch.Tensor:
    """Mean squared off-diagonal entry of A A^T; attention: (..., Q, C)."""
    gram = attention @ attention.transpose(-1, -2)
    queries = gram.shape[-1]
    off_diagonal = gram[..., ~torch.eye(queries, dtype=torch.bool, device=gram.device)]
    return off_diagonal.pow(2).mean()


class ReconstructionDecoder(nn.Module):
    def __init__(self, embed_dim: int, num_queries: int, patch_size: int, heads: int = 2):
        super().__init__()
        self.embed_dim, self.num_queries = embed_dim, num_queries
        self.norm_q, self.norm_kv = nn.LayerNorm(embed_dim), nn.LayerNorm(embed_dim)
        self.cross_attn = nn.MultiheadAttention(embed_dim, heads, batch_first=True)
        self.norm_ffn = nn.LayerNorm(embed_dim)
        self.ffn = FeedForward(embed_dim, 4)
        self.norm_out = nn.LayerNorm(embed_dim)
        self.to_samples = nn.Sequential(
            nn.Linear(embed_dim, 4 * embed_dim), nn.GELU(), nn.Linear(4 * embed_dim, patch_size)
        )

    def forward(self, tokens: torch.Tensor, location: torch.Tensor) -> torch.Tensor:
        """tokens (B, S, Q*E), location (B, C, E) -> reconstruction (B, C, S, P)."""
        batch, patches, _ = tokens.shape
        channels = location.shape[1]
        latents = tokens.reshape(batch * patches, self.num_queries, self.embed_dim)
        queries = location.unsqueeze(1).expand(-1, patches, -1, -1).reshape(batch * patches, channels, -1)
        x = (
            queries
            + self.cross_attn(self.norm_q(queries), self.norm_kv(latents), self.norm_kv(latents), need_weights=False)[0]
        )
        x = x + self.ffn(self.norm_ffn(x))
        out = self.to_samples(self.norm_out(x))  # (B*S, C, P)
        return out.reshape(batch, patches, channels, -1).transpose(1, 2)


class ReconstructionObjective(nn.Module):
    """Encoder + decoder; ``forward(x, coords, generator)`` returns the loss and its parts."""

    def __init__(
        self,
        encoder: nn.Module,
        mask_ratio: float = 0.6,
        visible_weight: float = 0.05,
        query_weight: float = 0.8,
        coord_noise: float = 0.02,
    ):
        super().__init__()
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask ratio must be in (0, 1), got {mask_ratio}")
        self.encoder = encoder
        front = encoder.front_end
        self.decoder = ReconstructionDecoder(front.embed_dim, front.num_queries, front.patch_size)
        self.mask_ratio, self.visible_weight = mask_ratio, visible_weight
        self.query_weight, self.coord_noise = query_weight, coord_noise

    def forward(
        self, x: torch.Tensor, coords: torch.Tensor, generator: torch.Generator, step: int = 0
    ) -> dict[str, torch.Tensor]:
        batch, channels, length = x.shape
        patch = self.encoder.patch_size
        mask = random_cell_mask(batch, channels, length // patch, self.mask_ratio, generator, x.device)
        coords = jitter_coords(coords, self.coord_noise, generator)
        features = self.encoder.forward_features(x, coords, mask)
        prediction = self.decoder(features.tokens, features.location)  # (B, C, S, P)
        target = self.encoder.normalise(x).reshape(batch, channels, length // patch, patch)
        error = F.smooth_l1_loss(prediction, target, reduction="none").mean(-1)  # per cell
        masked = error[mask].mean()
        visible = error[~mask].mean()
        specialisation = query_specialisation(features.attention)
        loss = masked + self.visible_weight * visible + self.query_weight * specialisation
        return {"loss": loss, "masked": masked.detach(), "visible": visible.detach(), "query": specialisation.detach()}


def jitter_coords(coords: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """Electrode positions + N(0, std^2) noise on the [0, 1]-normalised scale (pre-training only)."""
    if std <= 0:
        return coords
    span = (coords.amax(dim=1, keepdim=True) - coords.amin(dim=1, keepdim=True)).clamp_min(1e-6)
    noise = torch.randn(coords.shape, generator=generator).to(coords.device, coords.dtype)
    return coords + std * span * noise
