"""LeJEPA (Balestriero & LeCun 2025) as LuMamba's reference code computes it
(BioFoundation ``tasks/pretrain_task_LuMamba.py``; checked by ``tests/objectives/test_golden.py``).

Views: per window, 4 local views of 4 patches, then 2 global views of 16 patches, all channels,
cut at independent random offsets from the unmasked input normalised as a whole window (no
coordinate jitter);
each is encoded and mean-pooled.
Predictive loss: squared distance of each local embedding to the mean of the two global
embeddings, averaged over views, windows and embedding dimensions (LeJEPA's formulation; a sum
over dimensions would be K=384 times larger and drown SIGReg at lambda=0.002). No teacher, no
EMA, no stop-gradient. SIGReg: the Epps-Pulley normality statistic
of the embeddings projected on ``num_slices`` (128) random unit directions, averaged; applied per
local view and averaged. The directions come from a generator seeded with the step, drawn as the
reference draws them (float32 ``randn``, each column over its norm + 1e-12): new every step, the
same on every rank. LeJEPA loss = (1 - lambda) * predictive + lambda * SIGReg; the objective
returns it times ``scale`` (0.05, the reference's ``lejepa_scaling_factor``, which it applies to
LeJEPA-only pre-training too).
"""

from __future__ import annotations

import torch
from torch import nn

from lumamba_bench.objectives.base import Objective
from lumamba_bench.objectives.draws import to_device
from lumamba_bench.ranks import rank_and_world


def _all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Differentiable mean over DDP ranks (identity when not distributed)."""
    world = rank_and_world()[1]
    if world == 1:
        return tensor
    from torch.distributed.nn.functional import all_reduce

    return all_reduce(tensor) / world


def epps_pulley(proj: torch.Tensor, t_max: float = 5.0, n_points: int = 17) -> torch.Tensor:
    """Epps-Pulley statistic of each column of ``proj`` (N, M) against N(0, 1) -> (M,).

    N * integral over [-t_max, t_max] of |ECF(t) - exp(-t^2/2)|^2 exp(-t^2/2) dt, trapezoid rule
    on ``n_points`` equally spaced t. Under DDP the empirical characteristic function is averaged
    over ranks, so the statistic is the one of the global batch.
    """
    n = proj.shape[0]
    t = torch.linspace(-t_max, t_max, n_points, device=proj.device, dtype=proj.dtype)
    angles = proj.unsqueeze(-1) * t  # (N, M, T)
    ecf_real = _all_reduce_mean(torch.cos(angles).mean(0))
    ecf_imag = _all_reduce_mean(torch.sin(angles).mean(0))
    gaussian = torch.exp(-0.5 * t**2)
    integrand = ((ecf_real - gaussian) ** 2 + ecf_imag**2) * gaussian
    return torch.trapezoid(integrand, t, dim=-1) * n * rank_and_world()[1]


def slice_directions(dim: int, num_slices: int, step: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(dim, num_slices) unit directions from a CPU generator seeded by ``step``, drawn as the
    reference draws them: redrawn every step, identical on every rank."""
    generator = torch.Generator().manual_seed(int(step))
    directions = torch.randn((dim, num_slices), generator=generator)
    directions = directions / (directions.norm(dim=0) + 1e-12)
    return to_device(directions, device).to(dtype)


def sigreg(
    z: torch.Tensor, num_slices: int = 128, step: int = 0, directions: torch.Tensor | None = None
) -> torch.Tensor:
    """Sketched isotropic Gaussian regulariser: mean Epps-Pulley over random 1-D projections of z (N, K).
    ``directions``: the step's (K, num_slices) directions, when already drawn."""
    if directions is None:
        directions = slice_directions(z.shape[1], num_slices, step, z.device, z.dtype)
    return epps_pulley(z @ directions).mean()


def view_starts(batch: int, length: int, size: int, count: int, generator: torch.Generator) -> list[torch.Tensor]:
    """``count`` tensors of (B,) random offsets for crops of ``size`` samples."""
    if size > length:
        raise ValueError(f"a view of {size} samples does not fit a window of {length}")
    return [torch.randint(0, length - size + 1, (batch,), generator=generator) for _ in range(count)]


def crop(x: torch.Tensor, starts: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, T) -> (B, C, size) from each window's own offset."""
    index = to_device(starts[:, None] + torch.arange(size)[None], x.device)  # (B, size)
    return torch.gather(x, 2, index[:, None, :].expand(-1, x.shape[1], -1))


class LeJEPAObjective(Objective):
    def __init__(
        self,
        encoder: nn.Module,
        global_views: int = 2,
        local_views: int = 4,
        global_patches: int = 16,
        local_patches: int = 4,
        sigreg_weight: float = 0.002,
        num_slices: int = 128,
        scale: float = 0.05,
    ):
        super().__init__()
        self.encoder = encoder
        self.global_views, self.local_views = global_views, local_views
        self.global_patches, self.local_patches = global_patches, local_patches
        self.sigreg_weight, self.num_slices, self.scale = sigreg_weight, num_slices, scale

    def draw(self, x: torch.Tensor, generator: torch.Generator) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The step's view offsets: local views first, then global ones (the reference's order)."""
        batch, _, length = x.shape
        patch = self.encoder.patch_size
        local = view_starts(batch, length, self.local_patches * patch, self.local_views, generator)
        global_ = view_starts(batch, length, self.global_patches * patch, self.global_views, generator)
        return local, global_

    def embed(self, views: list[torch.Tensor], coords: torch.Tensor, channels) -> torch.Tensor:
        """(V, B, K): all views of one size through the encoder in one batch, mean-pooled."""
        stacked = torch.cat(views)  # (V*B, C, size)
        out = self.encoder(stacked, coords.repeat(len(views), 1, 1), channels=channels, normalised=True).mean(dim=1)
        return out.reshape(len(views), -1, out.shape[-1])

    def forward(
        self,
        x: torch.Tensor,
        coords: torch.Tensor,
        generator: torch.Generator,
        step: int = 0,
        channels: list[str] | None = None,
        drawn: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None,
    ) -> dict[str, torch.Tensor]:
        patch = self.encoder.patch_size
        local_starts, global_starts = drawn if drawn is not None else self.draw(x, generator)
        x = self.encoder.normalise(x)  # the whole window, before cropping (as the reference)
        locals_ = self.embed([crop(x, s, self.local_patches * patch) for s in local_starts], coords, channels)
        globals_ = self.embed([crop(x, s, self.global_patches * patch) for s in global_starts], coords, channels)
        predictive = (globals_.mean(0) - locals_).pow(2).mean()
        directions = slice_directions(locals_.shape[-1], self.num_slices, step, locals_.device, locals_.dtype)
        regulariser = torch.stack([sigreg(local, directions=directions) for local in locals_]).mean()
        lejepa = (1 - self.sigreg_weight) * predictive + self.sigreg_weight * regulariser
        return {
            "loss": self.scale * lejepa,
            "lejepa": lejepa.detach(),
            "predictive": predictive.detach(),
            "sigreg": regulariser.detach(),
        }
