"""LuMamba-Tiny (Latent Unified Mamba, arXiv:2603.19100): LUNA's channel unification feeding
FEMBA's bidirectional Mamba blocks.

Paper values (the defaults here): 256 Hz input, patch P=40 (5 s -> S=32 tokens), E=64, Q=6
queries, temporal width Q*E=384, 2 pre-norm bi-Mamba blocks (d_state 16, d_conv 4, expand 2;
forward and time-reversed Mambas, outputs added). 4.1M encoder parameters (4.6M with the
fine-tuning head). Any channel count and any length divisible by P. Written from the papers'
descriptions (LuMamba, LUNA, FEMBA, Mamba); no reference code is copied.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from lumamba_bench.models.luna import LunaFrontEnd, UnifiedEncoder
from lumamba_bench.models.mamba import PreNormBiMambaBlock
from lumamba_bench.models.registry import register_encoder


@dataclass
class LuMambaConfig:
    embed_dim: int = 64
    num_queries: int = 6
    patch_size: int = 40
    unify_heads: int = 2
    unify_layers: int = 3
    depth: int = 2
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dropout: float = 0.0
    input_scale: float = 0.01  # microvolts -> units of 100 uV, so typical EEG is O(0.1-1)


class LuMamba(UnifiedEncoder):
    family = "lumamba"
    sfreq = 256.0

    def __init__(self, config: LuMambaConfig | None = None, **overrides):
        super().__init__()
        self.config = config or LuMambaConfig(**overrides)
        c = self.config
        self.patch_size = c.patch_size
        self.input_scale = c.input_scale
        self.embed_dim = c.num_queries * c.embed_dim
        self.front_end = LunaFrontEnd(
            c.embed_dim, c.num_queries, c.patch_size, c.unify_heads, c.unify_layers, c.dropout
        )
        self.blocks = nn.ModuleList(
            PreNormBiMambaBlock(self.embed_dim, d_state=c.d_state, d_conv=c.d_conv, expand=c.expand)
            for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(self.embed_dim)


@register_encoder("lumamba", objectives=("recon", "lejepa", "mixed"), paper="LuMamba, arXiv:2603.19100")
def lumamba_tiny(**overrides) -> LuMamba:
    return LuMamba(LuMambaConfig(**overrides))
