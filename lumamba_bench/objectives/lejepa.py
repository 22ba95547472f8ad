"""LeJEPA (Balestriero & LeCun 2025) as LuMamba uses it: views, predictive loss, SIGReg.

Views: per window, 2 global views of 16 patches and 4 local views of 4 patches, all channels,
cut at independent random offsets from the unmasked input; each is encoded and mean-pooled.
Predictive loss: squared distance of each local embedding to the mean of the two global
embeddings, averaged over views, windows and embedding dimensions (LeJEPA's formulation; a sum
over dimensions would be K=384 times larger and drown SIGReg at lambda=0.002). No teacher, no
EMA, no stop-gradient. SIGReg: the Epps-Pulley normality statistic
of the embeddings projected on ``num_slices`` random unit directions, averaged; applied per local
view and averaged. Loss = (1 - lambda) * predictive + lambda * SIGReg.
"""

from __future__ import annotations

import torch
from torch import nn

from lumamba_bench.objectives.reconstruction import jitter_coords


def _all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Differentiable mean over DDP ranks (identity when not distributed)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    from torch.distributed.nn.functional import all_reduce

    return all_reduce(tensor) / dist.get_world_size()


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
    return torch.trapezoid(integrand, t, dim=-1) * n * _world_size()


def _world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def slice_directions(dim: int, num_slices: int, step: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(dim, num_slices) unit-norm Gaussian directions from a generator seeded by ``step``:
    redrawn every step, identical on every rank."""
    generator = torch.Generator().manual_seed(int(step))
    directions = torch.randn(dim, num_slices, generator=generator, dtype=torch.float64)
    return (directions / directions.norm(dim=0, keepdim=True)).to(device=device, dtype=dtype)


def sigreg(z: torch.Tensor, num_slices: int = 300, step: int = 0) -> torch.Tensor:
    """Sketched isotropic Gaussian regulariser: mean Epps-Pulley over random 1-D projections of z (N, K)."""
    directions = slice_directions(z.shape[1], num_slices, step, z.device, z.dtype)
    return epps_pulley(z @ directions).mean()


def random_views(
    x: torch.Tensor, count: int, patches: int, patch_size: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """``count`` crops of ``patches * patch_size`` samples at independent offsets per window."""
    batch, _, length = x.shape
    size = patches * patch_size
    if size > length:
        raise ValueError(f"a view of {patches} patches needs {size} samples, the window has {length}")
    views = []
    for _ in range(count):
        starts = torch.randint(0, length - size + 1, (batch,), generator=generator)
        index = (starts[:, None] + torch.arange(size)[None]).to(x.device)  # (B, size)
        views.append(torch.gather(x, 2, index[:, None, :].expand(-1, x.shape[1], -1)))
    return views


class LeJEPAObjective(nn.Module):
    def __init__(
        self,
        encoder: nn.Module,
        global_views: int = 2,
        local_views: int = 4,
        global_patches: int = 16,
        local_patches: int = 4,
        sigreg_weight: float = 0.002,
        num_slices: int = 300,
        coord_noise: float = 0.02,
    ):
        super().__init__()
        self.encoder = encoder
        self.global_views, self.local_views = global_views, local_views
        self.global_patches, self.local_patches = global_patches, local_patches
        self.sigreg_weight, self.num_slices, self.coord_noise = sigreg_weight, num_slices, coord_noise

    def embed(self, view: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        return self.encoder(view, coords).mean(dim=1)

    def forward(
        self, x: torch.Tensor, coords: torch.Tensor, generator: torch.Generator, step: int = 0
    ) -> dict[str, torch.Tensor]:
        patch = self.encoder.patch_size
        coords = jitter_coords(coords, self.coord_noise, generator)
        globals_ = [
            self.embed(v, coords) for v in random_views(x, self.global_views, self.global_patches, patch, generator)
        ]
        locals_ = [
            self.embed(v, coords) for v in random_views(x, self.local_views, self.local_patches, patch, generator)
        ]
        target = torch.stack(globals_).mean(0)
        predictive = torch.stack([(local - target).pow(2).mean() for local in locals_]).mean()
        regulariser = torch.stack([sigreg(local, self.num_slices, step) for local in locals_]).mean()
        loss = (1 - self.sigreg_weight) * predictive + self.sigreg_weight * regulariser
        return {"loss": loss, "predictive": predictive.detach(), "sigreg": regulariser.detach()}
