"""FEMBA-Tiny (Tegon et al., 2025): a conv patch grid feeding post-norm bidirectional Mamba blocks.

Conv2d(1 -> E, kernel = stride = (2, 16)) turns a (C, T) window into a (C/2, T/16) grid of
E-dim cells (22 x 1280 -> 11 x 80); each time step's column is one token of width C/2 * E
(feature index e * C/2 + row, as in the published weights), plus a learned positional
embedding; then ``depth`` blocks LN(x + BiMamba(x)) with expand 4, on the same scan backends as
LuMamba. Tiny: E=35, 2 blocks, 7.8M parameters at 22 channels.

The channel count is part of the architecture (token width C/2 * E): the harness builds FEMBA
for the task's montage (``num_channels``, ``num_samples``), and weights only transfer between
tasks with the same channel count and window length.

Pre-training (``pretrain --model femba-tiny``), as the reference: one mask per batch over 60% of
the 2 x 16 cells, zeroed after normalisation; a 31 x 31 convolution and the transposed patch
convolution rebuild the window from the tokens; SmoothL1 on the masked samples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from lumamba_bench.data.preprocess import SFREQ
from lumamba_bench.errors import LumambaError
from lumamba_bench.models.base import Encoder
from lumamba_bench.models.mamba import PostNormBiMambaBlock
from lumamba_bench.models.published import PREFIXES, rename
from lumamba_bench.models.registry import register_encoder
from lumamba_bench.objectives.base import Objective
from lumamba_bench.objectives.reconstruction import batch_cell_mask, masked_smooth_l1


@dataclass
class FembaConfig:
    embed_dim: int = 35
    depth: int = 2
    num_channels: int = 22
    num_samples: int = 1280
    cell: tuple[int, int] = (2, 16)
    expand: int = 4
    d_state: int = 16
    d_conv: int = 4
    input_normalisation: str = "femba-quartile"  # BioFoundation's FEMBA configs (models/normalisation.py)


class Femba(Encoder):
    family = "femba"
    sfreq = SFREQ
    fixed_topology = True  # built per montage: num_channels and num_samples

    def __init__(self, config: FembaConfig | None = None, **overrides):
        super().__init__()
        self.config = c = config or FembaConfig(**overrides)
        rows, steps = c.num_channels // c.cell[0], c.num_samples // c.cell[1]
        if c.num_channels % c.cell[0] or c.num_samples % c.cell[1]:
            raise LumambaError(f"femba needs channels divisible by {c.cell[0]} and samples by {c.cell[1]}")
        self.rows, self.steps = rows, steps
        self.embed_dim = rows * c.embed_dim
        self.patch_embed = nn.Conv2d(1, c.embed_dim, kernel_size=c.cell, stride=c.cell)
        self.pos_embed = nn.Parameter(torch.zeros(1, steps, self.embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList(
            PostNormBiMambaBlock(self.embed_dim, d_state=c.d_state, d_conv=c.d_conv, expand=c.expand)
            for _ in range(c.depth)
        )

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return [[*self.patch_embed.parameters(), self.pos_embed]] + [list(b.parameters()) for b in self.blocks]

    def input_granularity(self) -> int:
        return self.config.cell[1]

    def forward(self, x: torch.Tensor, coords: torch.Tensor | None = None, mask=None, channels=None) -> torch.Tensor:
        """x: (B, C, T) microvolts -> tokens (B, T / 16, C / 2 * E). Coordinates and names are not used.

        ``mask`` (B, rows, steps) bool: cells zeroed after normalisation, as the reference masks."""
        batch, channels, length = x.shape
        c = self.config
        if (channels, length) != (c.num_channels, c.num_samples):
            raise LumambaError(
                f"this femba was built for {c.num_channels} channels x {c.num_samples} samples, "
                f"got {channels} x {length}"
            )
        x = self.normalise(x)
        if mask is not None:
            x = x.masked_fill(self.sample_mask(mask), 0.0)
        grid = self.patch_embed(x.unsqueeze(1))  # (B, E, rows, steps)
        tokens = grid.flatten(1, 2).transpose(1, 2) + self.pos_embed
        for block in self.blocks:
            tokens = block(tokens)
        return tokens

    def sample_mask(self, cells: torch.Tensor) -> torch.Tensor:
        """(B, rows, steps) cell mask -> (B, C, T) sample mask."""
        rows, cols = self.config.cell
        return cells.repeat_interleave(rows, 1).repeat_interleave(cols, 2)

    def reconstruction_objective(self, mask_ratio: float | None = None) -> nn.Module:
        return FembaReconstruction(self, mask_ratio)

    # ---- published checkpoint -------------------------------------------------------------
    OFFICIAL_KEYS = (
        (r"patch_embed\.proj\.(weight|bias)", r"patch_embed.\1"),
        (r"pos_embed", r"pos_embed"),
        (r"mamba_blocks\.(\d+)\.mamba_fwd\.(.+)", r"blocks.\1.mixer.forward_mamba.\2"),
        (r"mamba_blocks\.(\d+)\.mamba_rev\.(.+)", r"blocks.\1.mixer.backward_mamba.\2"),
        (r"norm_layers\.(\d+)\.(weight|bias)", r"blocks.\1.norm.\2"),
    )
    OFFICIAL_IGNORED = {
        r"decoder\..+": "reconstruction decoder (pre-training head)",
        r"classifier\..+": "classification head (fine-tuning)",
    }

    def official_state_dict(self, tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
        """Published FEMBA names -> ours; the declared decoder and classifier weights are returned
        apart, anything else fails."""
        return rename(tensors, self.OFFICIAL_KEYS, set(self.state_dict()), self.OFFICIAL_IGNORED)

    def looks_official(self, tensors: dict) -> bool:
        return any(re.sub(PREFIXES, "", k).startswith("mamba_blocks.") for k in tensors)


class FembaDecoder(nn.Module):
    """FEMBA's decoder: a 31 x 31 convolution over the (time, feature) token map, then the
    transposed patch convolution back to (C, T)."""

    def __init__(self, embed_dim: int, cell: tuple[int, int], kernel: int = 31):
        super().__init__()
        self.dec_conv = nn.Conv2d(1, 1, kernel, padding=(kernel - 1) // 2, bias=False)
        self.conv_transpose = nn.ConvTranspose2d(embed_dim, 1, kernel_size=cell, stride=cell)

    def forward(self, tokens: torch.Tensor, rows: int) -> torch.Tensor:
        """tokens (B, steps, E * rows) -> (B, C, T)."""
        x = self.dec_conv(tokens.unsqueeze(1)).squeeze(1).transpose(1, 2)  # (B, E * rows, steps)
        return self.conv_transpose(x.unflatten(1, (-1, rows)))[:, 0]


class FembaReconstruction(Objective):
    """FEMBA's pre-training as its reference computes it (``tasks/pretrain_task.py``,
    ``config/experiment/FEMBA_pretrain.yaml``): one mask per batch over 60% of the 2 x 16 cells
    (a random permutation), masked samples zeroed after normalisation, SmoothL1 on the masked
    samples only."""

    def __init__(self, encoder: Femba, mask_ratio: float | None = None):
        super().__init__()
        self.encoder, self.mask_ratio = encoder, 0.6 if mask_ratio is None else mask_ratio
        self.decoder = FembaDecoder(encoder.config.embed_dim, encoder.config.cell)

    def forward(
        self, x: torch.Tensor, coords: torch.Tensor | None, generator: torch.Generator, step: int = 0, channels=None,
        drawn=None,
    ) -> dict:
        """``drawn`` is not used: FEMBA draws its one mask per batch from ``generator`` here."""
        enc = self.encoder
        mask = batch_cell_mask(enc.rows, enc.steps, self.mask_ratio, generator).expand(x.shape[0], -1, -1)
        mask = mask.to(x.device)
        prediction = self.decoder(enc(x, coords, mask), enc.rows)
        samples = enc.sample_mask(mask)  # (B, C, T)
        masked = masked_smooth_l1(prediction, enc.normalise(x), samples)
        return {"loss": masked, "masked": masked.detach()}


register_encoder(
    "femba-tiny",
    paper="FEMBA, Tegon et al., 2025 (arXiv:2502.06438)",
    family="femba",
    pretrain_objective="recon",
    note="fixed channel count (built per montage); masked 2x16-cell reconstruction",
    weights="https://huggingface.co/PulpBio/FEMBA",
    licence="CC BY-ND 4.0",
)(lambda **overrides: Femba(FembaConfig(**overrides)))
