"""Classification heads: each family's own (the authors' fine-tuning modules) and ours.

``run --head reference`` picks the family's head (``REFERENCE_HEAD``); any head can be named.
The reference heads keep the authors' parameter names, so a fine-tuned checkpoint's
``classifier.*`` (BioFoundation) or ``fc_norm.*``/``head.*`` (LaBraM) tensors load onto them by
``official_key``; ``tests/models/test_heads_golden.py`` checks each against the authors' module.

- ``luna-query`` (BioFoundation ``ClassificationHeadWithQueries``): one learned query attends
  over the S tokens (``nn.MultiheadAttention``, the model's 2 heads, dropout 0.15), then an MLP
  D -> 4D -> outputs with GELU, dropout 0.15 after the GELU and after the last layer.
- ``mamba`` (FEMBA's ``MambaClassifier``): Linear D -> 256, GELU, a causal Mamba (d_model 256,
  expand 2), mean over time, Linear 256 -> outputs.
- ``linear`` (LuMamba's ``BasicLinearClassifier``): mean over time, Linear, GELU. (The
  reference's ``forward`` has no ``return``: as published it gives ``None``.)
- ``mean-pool`` (LaBraM): mean of the patch tokens (the class token left out), LayerNorm
  (``fc_norm``, eps 1e-6), Linear initialised at 0.001 x trunc-normal(0.02).
- ``attention-pool`` (ours, the ``common`` recipe's): one query, 8-head attention pooling,
  a BatchNorm without affine parameters, dropout 0.1, Linear.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lumamba_bench.errors import LumambaError
from lumamba_bench.models.mamba import Mamba
from lumamba_bench.models.published import rename


class Head(nn.Module):
    """A head maps encoder tokens (B, S, D) to logits (B, outputs).

    ``OFFICIAL_KEYS``: (published name pattern, our name) for the authors' fine-tuned checkpoints.
    ``takes_encoder_norm``: the head applies the encoder's final LayerNorm after pooling (LaBraM's
    ``fc_norm`` normalises the mean token, not each token)."""

    OFFICIAL_KEYS: tuple[tuple[str, str], ...] = ()
    takes_encoder_norm = False

    def bind(self, encoder: nn.Module) -> None:
        """Adopt what the head takes from the encoder (called once, when the classifier is built)."""


class AttentionPoolingHead(Head):
    """Ours: attention pooling, standardised by a BatchNorm (MAE's linear-probe recipe: encoders
    can put the class information in small variations around a large common component)."""

    def __init__(self, embed_dim: int, outputs: int, heads: int = 8, dropout: float = 0.1):
        super().__init__()
        if embed_dim % heads:
            heads = 1
        self.query = nn.Parameter(torch.randn(1, 1, embed_dim) * 0.02)
        self.attn = nn.MultiheadAttention(embed_dim, heads, dropout=dropout, batch_first=True)
        self.norm = nn.BatchNorm1d(embed_dim, affine=False)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(embed_dim, outputs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        query = self.query.expand(tokens.shape[0], -1, -1)
        pooled = self.attn(query, tokens, tokens, need_weights=False)[0][:, 0]
        return self.classifier(self.dropout(self.norm(pooled)))


class LunaQueryHead(Head):
    OFFICIAL_KEYS = ((r"classifier\.(.+)", r"\1"),)

    def __init__(self, embed_dim: int, outputs: int, heads: int = 2, dropout: float = 0.15):
        super().__init__()
        if embed_dim % heads:
            raise LumambaError(f"the luna-query head splits its width into {heads} heads; {embed_dim} does not divide")
        self.learned_agg = nn.Parameter(torch.randn(1, 1, embed_dim))
        self.decoder_attn = nn.MultiheadAttention(embed_dim, heads, dropout=dropout, batch_first=True)
        self.decoder_ffn = nn.ModuleDict(
            {"fc1": nn.Linear(embed_dim, 4 * embed_dim), "fc2": nn.Linear(4 * embed_dim, outputs)}
        )
        self.dropout = nn.Dropout(dropout)
        for linear in (self.decoder_attn.out_proj, self.decoder_ffn["fc1"], self.decoder_ffn["fc2"]):
            nn.init.xavier_normal_(linear.weight)  # LUNA's _init_weights reaches the head's Linears
            nn.init.zeros_(linear.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        query = self.learned_agg.expand(tokens.shape[0], -1, -1)
        pooled = self.decoder_attn(query, tokens, tokens, need_weights=False)[0][:, 0]
        hidden = self.dropout(F.gelu(self.decoder_ffn["fc1"](pooled)))
        return self.dropout(self.decoder_ffn["fc2"](hidden))


class MambaHead(Head):
    OFFICIAL_KEYS = ((r"classifier\.(.+)", r"\1"),)

    def __init__(self, embed_dim: int, outputs: int, hidden: int = 256, expand: int = 2):
        super().__init__()
        self.fc1 = nn.Linear(embed_dim, hidden)
        self.mamba_1 = Mamba(hidden, expand=expand)
        self.fc3 = nn.Linear(hidden, outputs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.mamba_1(F.gelu(self.fc1(tokens))).mean(dim=1))


class LinearHead(Head):
    OFFICIAL_KEYS = ((r"classifier\.(.+)", r"\1"),)

    def __init__(self, embed_dim: int, outputs: int):
        super().__init__()
        self.fc1 = nn.Linear(embed_dim, outputs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.fc1(tokens.mean(dim=1)))


class MeanPoolHead(Head):
    OFFICIAL_KEYS = ((r"fc_norm\.(weight|bias)", r"fc_norm.\1"), (r"head\.(weight|bias)", r"head.\1"))
    takes_encoder_norm = True

    def __init__(self, embed_dim: int, outputs: int, init_scale: float = 0.001, skip_tokens: int = 1):
        super().__init__()
        self.skip_tokens = skip_tokens  # the class token
        self.fc_norm: nn.Module = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, outputs)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.weight.mul_(init_scale)

    def bind(self, encoder: nn.Module) -> None:
        """Take over the encoder's final LayerNorm (its ``fc_norm``, loaded with its weights) and
        leave the encoder's tokens un-normalised, as the reference's mean pooling sees them."""
        if not isinstance(getattr(encoder, "norm", None), nn.LayerNorm):
            raise LumambaError(
                f"the mean-pool head needs an encoder with a final LayerNorm; {type(encoder).__name__} has none"
            )
        self.fc_norm = encoder.norm
        encoder.norm = nn.Identity()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc_norm(tokens[:, self.skip_tokens :].mean(dim=1)))


HeadFactory = Callable[[nn.Module, int], Head]

HEADS: dict[str, HeadFactory] = {
    "attention-pool": lambda encoder, outputs: AttentionPoolingHead(encoder.embed_dim, outputs),
    "luna-query": lambda encoder, outputs: LunaQueryHead(encoder.embed_dim, outputs),
    "mamba": lambda encoder, outputs: MambaHead(encoder.embed_dim, outputs),
    "linear": lambda encoder, outputs: LinearHead(encoder.embed_dim, outputs),
    "mean-pool": lambda encoder, outputs: MeanPoolHead(encoder.embed_dim, outputs),
}

# Each family's head in its authors' fine-tuning. LuMamba: the paper's 4.6M total (4,094,776 +
# 536,834) is the encoder with FEMBA's Mamba head; its config's default (classifier_option null)
# is LUNA's query head (1,186,178 parameters at width 384): `--head luna-query`.
REFERENCE_HEAD = {"lumamba": "mamba", "luna": "luna-query", "femba": "mamba", "labram": "mean-pool"}


def head_names() -> list[str]:
    return ["reference", *HEADS]


def resolve_head(name: str, family: str) -> str:
    """``reference`` -> the family's own head; a head name as it is; anything else an error."""
    if name == "reference":
        if family not in REFERENCE_HEAD:
            raise LumambaError(f"{family} has no reference head; choose one of {', '.join(HEADS)}")
        return REFERENCE_HEAD[family]
    if name not in HEADS:
        raise LumambaError(f"unknown head {name!r}; heads are {', '.join(head_names())}")
    return name


def build_head(name: str, encoder: nn.Module, outputs: int) -> Head:
    head = HEADS[name](encoder, outputs)
    head.bind(encoder)
    return head


def official_head_state(head: Head, tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(our head name -> tensor, published keys that are not this head's), by the head's key table."""
    return rename(tensors, head.OFFICIAL_KEYS, set(head.state_dict()), {r".+": "not this head's"})
