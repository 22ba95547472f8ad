"""Mamba (Gu & Dao 2023) and the bidirectional block FEMBA and LuMamba stack.

Written from the paper's description (section 3.4 and Algorithm 2): input projection to
``expand * d_model`` with a gate branch, a causal depthwise convolution, input-dependent
(delta, B, C) from a projection, the selective scan, a SiLU-gated output projection. The
initialisation follows the paper: S4D-real A = -(1..N), delta initialised log-uniformly in
[1e-3, 1e-1] through the inverse softplus of its bias.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from lumamba_bench.models.scan import scan_backend, selective_scan


class Mamba(nn.Module):
    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
    ):
        super().__init__()
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16)
        self.d_state = d_state
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

        nn.init.uniform_(self.dt_proj.weight, -(self.dt_rank**-0.5), self.dt_rank**-0.5)
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, L, d_model) -> (B, L, d_model), causal in L."""
        if _fused_on_cpu(x):
            from lumamba_bench.models.mamba_numba import mamba_inference  # numba is loaded by now

            return mamba_inference(self, x)
        length = x.shape[1]
        u, gate = self.in_proj(x).transpose(1, 2).chunk(2, dim=1)  # (B, d_inner, L) each
        u = F.silu(self.conv1d(u)[..., :length])
        dt, B, C = self.x_proj(u.transpose(1, 2)).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = (dt @ self.dt_proj.weight.T).transpose(1, 2)  # bias is added inside the scan
        y = selective_scan(
            u,
            delta,
            -torch.exp(self.A_log.float()),
            B.transpose(1, 2),
            C.transpose(1, 2),
            self.D.float(),
            z=gate,
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
        )
        return self.out_proj(y.transpose(1, 2))


_fusing = True


@contextmanager
def step_by_step():
    """Mamba layers run their unfused steps for the duration, whatever the backend: what the FLOP
    counter counts and what ``doctor`` holds the fused pass to."""
    global _fusing
    before, _fusing = _fusing, False
    try:
        yield
    finally:
        _fusing = before


def _fused_on_cpu(x: torch.Tensor) -> bool:
    """Inference (no gradients) on the CPU with the numba scan runs the fused pass of
    ``mamba_numba``, in the Linear layers' layout; training and every other backend run the
    steps below (whose intermediates the backward pass needs)."""
    return (
        _fusing
        and not torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and not torch.is_autocast_enabled("cpu")
        and scan_backend(x.device) == "numba"
    )


class BiMamba(nn.Module):
    """A forward Mamba and a Mamba over the time-reversed sequence; their outputs are added."""

    def __init__(self, d_model: int, **mamba_kwargs):
        super().__init__()
        self.forward_mamba = Mamba(d_model, **mamba_kwargs)
        self.backward_mamba = Mamba(d_model, **mamba_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_mamba(x) + self.backward_mamba(x.flip(1)).flip(1)


class PreNormBiMambaBlock(nn.Module):
    """LuMamba's block: x + BiMamba(LayerNorm(x))."""

    def __init__(self, d_model: int, **mamba_kwargs):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mixer = BiMamba(d_model, **mamba_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mixer(self.norm(x))


class PostNormBiMambaBlock(nn.Module):
    """FEMBA's block: LayerNorm(x + BiMamba(x))."""

    def __init__(self, d_model: int, **mamba_kwargs):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mixer = BiMamba(d_model, **mamba_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.mixer(x))
