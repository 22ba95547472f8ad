"""Masked reconstruction (LUNA / LuMamba pre-training), as BioFoundation's pre-training tasks
compute it (``tasks/pretrain_task_LuMamba.py``, ``criterion/*``, ``config/experiment/
LuMamba_pretrain.yaml``; checked by ``tests/objectives/test_golden.py``).

Per step, one mask for the whole batch: ``int(mask_ratio * C * S)`` of the (channel x 40-sample)
cells, drawn by a random permutation; their tokens become the encoder's mask token, and the
normalised electrode positions get N(0, 0.02^2) jitter. The decoder: each channel's query is its
location embedding plus a learned embedding of its name (``channel_names``); one pre-norm
transformer-decoder layer (self-attention among the channel queries, cross-attention to the patch's
Q latent tokens, 4x GELU FFN), a LayerNorm and an MLP (E -> 4E -> P) rebuild the patch.
Loss = SmoothL1(masked samples) + 0.05 * SmoothL1(visible samples) + 0.8 * mean of the squared
entries of A A^T with its diagonal zeroed (all Q x Q entries in the mean), A the head-averaged
query-over-channel attention (LUNA's query specialisation). Targets: the encoder's normalised
input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lumamba_bench.objectives.base import Objective
from lumamba_bench.objectives.channel_names import NAMES, name_indices
from lumamba_bench.objectives.draws import to_device


def batch_cell_mask(channels: int, patches: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """(C, S) bool: ``int(ratio * C * S)`` cells of a random permutation, one mask for the batch."""
    cells = channels * patches
    chosen = torch.randperm(cells, generator=generator)[: int(cells * ratio)]
    mask = torch.zeros(cells, dtype=torch.bool)
    mask[chosen] = True
    return mask.reshape(channels, patches)


def random_cell_mask(
    batch: int,
    channels: int,
    patches: int,
    ratio: float,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(B, C, S) bool with exactly round(ratio * C * S) True cells per sample, uniformly placed
    (a mask per sample: the ``per-sample`` masking option)."""
    cells = channels * patches
    count = int(round(ratio * cells))
    scores = to_device(torch.rand(batch, cells, generator=generator), device)
    chosen = scores.argsort(dim=1)[:, :count]
    mask = torch.zeros(batch, cells, dtype=torch.bool, device=device)
    mask.scatter_(1, chosen, True)
    return mask.reshape(batch, channels, patches)


def masked_smooth_l1(prediction: torch.Tensor, target: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """SmoothL1 (beta 1) averaged over the elements ``where`` selects: the reconstruction loss of
    LUNA, LuMamba and FEMBA alike."""
    return F.smooth_l1_loss(prediction[where], target[where])


def query_specialisation(attention: torch.Tensor) -> torch.Tensor:
    """Mean over all Q x Q entries of (A A^T with a zeroed diagonal)^2; attention: (..., Q, C)."""
    gram = attention @ attention.transpose(-1, -2)
    queries = gram.shape[-1]
    return (gram * (1.0 - torch.eye(queries, device=gram.device, dtype=gram.dtype))).pow(2).mean()


class ReconstructionDecoder(nn.Module):
    """Channel queries (location + name embedding) decode each patch from its Q latent tokens."""

    def __init__(self, embed_dim: int, num_queries: int, patch_size: int, heads: int = 2):
        super().__init__()
        self.embed_dim, self.num_queries = embed_dim, num_queries
        self.names = nn.Embedding(len(NAMES), embed_dim)
        self.layer = nn.TransformerDecoderLayer(
            embed_dim, heads, 4 * embed_dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.to_samples = nn.Sequential(
            nn.Linear(embed_dim, 4 * embed_dim), nn.GELU(), nn.Linear(4 * embed_dim, patch_size)
        )

    def name_embedding(self, channels: list[str], device) -> torch.Tensor:
        rows = name_indices(channels, device)
        return self.names(rows.clamp_min(0)) * (rows >= 0).unsqueeze(-1)  # (C, E); unlisted names: zeros

    def forward(self, tokens: torch.Tensor, location: torch.Tensor, channels: list[str]) -> torch.Tensor:
        """tokens (B, S, Q*E), location (B, C, E), C channel names -> reconstruction (B, C, S, P)."""
        batch, patches, _ = tokens.shape
        channels_count = location.shape[1]
        latents = tokens.reshape(batch * patches, self.num_queries, self.embed_dim)
        queries = location + self.name_embedding(channels, location.device)
        queries = queries.unsqueeze(1).expand(-1, patches, -1, -1).reshape(batch * patches, channels_count, -1)
        out = self.to_samples(self.norm(self.layer(queries, latents)))  # (B*S, C, P)
        return out.reshape(batch, patches, channels_count, -1).transpose(1, 2)


# BioFoundation's decoder names (``decoder_head.*``, ``channel_emb.*``) -> ours, for loading a
# published pre-training checkpoint's decoder (``published.rename``).
DECODER_KEYS: tuple[tuple[str, str], ...] = (
    (r"decoder_head\.decoder_pred\.layers\.0\.(.+)", r"decoder.layer.\1"),
    (r"decoder_head\.norm\.(weight|bias)", r"decoder.norm.\1"),
    (r"decoder_head\.decoder_linear\.fc1\.(weight|bias)", r"decoder.to_samples.0.\1"),
    (r"decoder_head\.decoder_linear\.fc2\.(weight|bias)", r"decoder.to_samples.2.\1"),
    (r"channel_emb\.embeddings\.weight", r"decoder.names.weight"),
)


class ReconstructionObjective(Objective):
    """Encoder + decoder; ``forward(x, coords, generator, step, channels)`` returns the loss and its parts.

    Defaults are the reference configuration; ``masking="per-sample"`` draws a mask per window
    and ``hide_masked=True`` zeroes masked samples before the patch embedding (options)."""

    def __init__(
        self,
        encoder: nn.Module,
        mask_ratio: float = 0.5,
        visible_weight: float = 0.05,
        query_weight: float = 0.8,
        coord_noise: float = 0.02,
        masking: str = "per-batch",
        hide_masked: bool = False,
    ):
        super().__init__()
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask ratio must be in (0, 1), got {mask_ratio}")
        if masking not in ("per-batch", "per-sample"):
            raise ValueError(f"masking must be per-batch or per-sample, got {masking!r}")
        self.encoder = encoder
        front = encoder.front_end
        self.decoder = ReconstructionDecoder(front.embed_dim, front.num_queries, front.patch_size)
        self.mask_ratio, self.visible_weight = mask_ratio, visible_weight
        self.query_weight, self.coord_noise = query_weight, coord_noise
        self.masking, self.hide_masked = masking, hide_masked

    def draw(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's mask (B, C, S) and coordinate jitter (B, C, 3), in the reference's order."""
        batch, channels, length = x.shape
        patches = length // self.encoder.patch_size
        if self.masking == "per-batch":
            mask = batch_cell_mask(channels, patches, self.mask_ratio, generator).expand(batch, -1, -1)
        else:
            mask = random_cell_mask(batch, channels, patches, self.mask_ratio, generator)
        noise = torch.randn((batch, channels, 3), generator=generator) * self.coord_noise
        return to_device(mask, x.device), to_device(noise, x.device)

    def forward(
        self,
        x: torch.Tensor,
        coords: torch.Tensor,
        generator: torch.Generator,
        step: int = 0,
        channels: list[str] | None = None,
        drawn: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        batch, count, length = x.shape
        patch = self.encoder.patch_size
        if channels is None:
            raise ValueError("the reconstruction decoder needs the batch's channel names")
        mask, noise = drawn if drawn is not None else self.draw(x, generator)
        normalised = self.encoder.normalise(x)  # once: the encoder's input and the target
        features = self.encoder.forward_features(
            normalised, coords, mask, normalised=True, coord_noise=noise, hide_masked=self.hide_masked
        )
        prediction = self.decoder(features.tokens, features.location, channels)  # (B, C, S, P)
        target = normalised.reshape(batch, count, length // patch, patch)
        cells = mask.unsqueeze(-1).expand_as(target)
        masked = masked_smooth_l1(prediction, target, cells)
        visible = masked_smooth_l1(prediction, target, ~cells)
        specialisation = query_specialisation(features.attention)
        loss = masked + self.visible_weight * visible + self.query_weight * specialisation
        return {"loss": loss, "masked": masked.detach(), "visible": visible.detach(), "query": specialisation.detach()}
