"""LuMamba-Tiny (Latent Unified Mamba, arXiv:2603.19100): LUNA's channel unification feeding
FEMBA's bidirectional Mamba blocks.

The encoder of BioFoundation's ``models/LuMamba.py`` with ``config/model/LuMamba_tiny.yaml``
(checked against it by ``tests/models/test_conformance.py``): 256 Hz input, patch P=40
(5 s -> S=32 tokens), E=64, Q=6 queries, temporal width Q*E=384, 2 pre-norm bi-Mamba blocks
(x + BiMamba(LayerNorm(x)); d_state 16, d_conv 4, expand 2; forward and time-reversed Mambas,
outputs added), and no final LayerNorm (the reference deletes LUNA's). 4,094,776 encoder
parameters. Input: per-channel z-score of each window, as the reference's tasks apply it. Any
channel count and any length divisible by P. No reference code is copied.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from lumamba_bench.data.preprocess import SFREQ
from lumamba_bench.models.luna import FRONT_END_IGNORED, FRONT_END_KEYS, LunaFrontEnd, UnifiedEncoder
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
    dropout: float = 0.1  # in the channel-unification block, as the reference (active in training only)
    input_normalisation: str = "channelwise-zscore"  # models/normalisation.py


class LuMamba(UnifiedEncoder):
    family = "lumamba"
    sfreq = SFREQ

    # BioFoundation's LuMamba names: the LUNA front end, then mamba_blocks / norm_layers.
    OFFICIAL_KEYS = FRONT_END_KEYS + (
        (r"mamba_blocks\.(\d+)\.mamba_fwd\.(.+)", r"blocks.\1.mixer.forward_mamba.\2"),
        (r"mamba_blocks\.(\d+)\.mamba_rev\.(.+)", r"blocks.\1.mixer.backward_mamba.\2"),
        (r"norm_layers\.(\d+)\.(weight|bias)", r"blocks.\1.norm.\2"),
    )
    OFFICIAL_IGNORED = FRONT_END_IGNORED

    def __init__(self, config: LuMambaConfig | None = None, **overrides):
        super().__init__()
        self.config = config or LuMambaConfig(**overrides)
        c = self.config
        self.patch_size = c.patch_size
        self.embed_dim = c.num_queries * c.embed_dim
        self.front_end = LunaFrontEnd(
            c.embed_dim, c.num_queries, c.patch_size, c.unify_heads, c.unify_layers, c.dropout
        )
        self.blocks = nn.ModuleList(
            PreNormBiMambaBlock(self.embed_dim, d_state=c.d_state, d_conv=c.d_conv, expand=c.expand)
            for _ in range(c.depth)
        )
        self.norm = nn.Identity()  # the reference deletes LUNA's final norm


@register_encoder(
    "lumamba",
    objectives=("recon", "lejepa", "mixed"),
    paper="LuMamba, arXiv:2603.19100",
    weights="https://huggingface.co/PulpBio/LuMamba",
    licence="as stated with the weights",
)
def lumamba_tiny(**overrides) -> LuMamba:
    return LuMamba(LuMambaConfig(**overrides))
