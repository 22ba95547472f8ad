"""LaBraM-Base (Jiang et al., ICLR 2024): a transformer over every channel x 1 s patch.

Input rate. LaBraM works at 200 Hz with 200-sample patches; our shards are 256 Hz. The encoder
resamples inside its forward pass (FFT method, ``torch.fft``), so shards, loaders and the
harness stay the same for every model. The shards are band-limited to 75 Hz, below the 100 Hz
Nyquist of 200 Hz, so nothing aliases. Windows must last whole seconds (5 s -> 5 patches);
TDBrain's 1.25 s windows cannot be patched this way and are refused with that reason.

Architecture (Base): temporal conv patch encoder (Conv(1->8, 15, stride 8) -> GroupNorm -> GELU,
then two Conv(8->8, 3) blocks; 25 positions x 8 = 200 features, position-major), a class
token, learned spatial embeddings (one per electrode of LaBraM's vocabulary) and
temporal embeddings (one per second, up to 16), then 12 pre-norm blocks (width 200, 10 heads,
q/v biases, LayerNorm on q and k, layer scale 0.1) and a final LayerNorm. 5.8M parameters.

Electrodes reach the spatial table by name, as the reference's ``utils.get_input_chans`` does:
the channel's label as recorded (``EEG T3-REF`` -> ``T3``: TUH's old temporal names keep their
own rows) indexes LaBraM's list. A channel the list lacks (most bipolar derivations; the
reference raises for them) takes the row of the listed electrode nearest its position, and a
warning names it: a listed deviation. Without channel names (``channels=None``) every row is
chosen by position, again with a warning.

Pre-training: LaBraM's objective needs its neural tokenizer (a VQ codebook trained first); it
is not reimplemented here. Fine-tune from the published ``labram-base.pth`` (``--checkpoint``)
or from scratch (``labram-base-scratch``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lumamba_bench.data.channels import is_known, position, spelled_name
from lumamba_bench.data.preprocess import SFREQ
from lumamba_bench.errors import LumambaError
from lumamba_bench.models.base import Encoder
from lumamba_bench.models.drop_path import DropPath
from lumamba_bench.models.published import rename
from lumamba_bench.models.registry import register_encoder

# LaBraM's electrode vocabulary, in the order of its spatial embedding rows 1..120 (row 0: the class
# token; the published table has 128 electrode rows, the last 8 unused).
VOCABULARY = (
    "FP1 FPZ FP2 AF9 AF7 AF5 AF3 AF1 AFZ AF2 AF4 AF6 AF8 AF10 "
    "F9 F7 F5 F3 F1 FZ F2 F4 F6 F8 F10 FT9 FT7 FC5 FC3 FC1 FCZ FC2 FC4 FC6 FT8 FT10 "
    "T9 T7 C5 C3 C1 CZ C2 C4 C6 T8 T10 TP9 TP7 CP5 CP3 CP1 CPZ CP2 CP4 CP6 TP8 TP10 "
    "P9 P7 P5 P3 P1 PZ P2 P4 P6 P8 P10 PO9 PO7 PO5 PO3 PO1 POZ PO2 PO4 PO6 PO8 PO10 "
    "O1 OZ O2 O9 CB1 CB2 IZ O10 T3 T5 T4 T6 M1 M2 A1 A2 "
    "CFC1 CFC2 CFC3 CFC4 CFC5 CFC6 CFC7 CFC8 CCP1 CCP2 CCP3 CCP4 CCP5 CCP6 CCP7 CCP8 "
    "T1 T2 FTT9h TTP7h TPP9h FTT10h TPP8h TPP10h"
).split()
# The reference's list goes on with 16 bipolar derivations; the first 8 fall inside the 128-row
# table (rows 121-128), the other 8 past its end.
VOCABULARY_BIPOLAR = ("FP1-F7", "F7-T7", "T7-P7", "P7-O1", "FP2-F8", "F8-T8", "T8-P8", "P8-O2")
assert len(VOCABULARY) == 120
SPATIAL_ROWS = 129
ROW_OF_NAME = {name: row for row, name in enumerate((*VOCABULARY, *VOCABULARY_BIPOLAR), start=1)}
EPS = 1e-6  # every LayerNorm of the reference (norm_layer=partial(nn.LayerNorm, eps=1e-6))


def vocabulary_positions() -> tuple[np.ndarray, np.ndarray]:
    """Rows (1-based) and 3-D positions of the vocabulary electrodes the position registry knows."""
    rows, points = [], []
    for row, name in enumerate(VOCABULARY, start=1):
        if is_known(name):
            rows.append(row)
            points.append(position(name))
    return np.array(rows), np.array(points, dtype=np.float32)


def resample_fft(x: torch.Tensor, length: int) -> torch.Tensor:
    """Band-limited resampling along the last axis to ``length`` samples (periodic FFT method).

    The new Nyquist bin is dropped: the input is band-limited well below it (75 Hz < 100 Hz)."""
    if x.shape[-1] == length:
        return x
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    spectrum = torch.fft.rfft(work, dim=-1)
    bins = length // 2 + 1
    if bins <= spectrum.shape[-1]:
        spectrum = spectrum[..., :bins].clone()
    else:
        spectrum = F.pad(spectrum, (0, bins - spectrum.shape[-1]))
    if length % 2 == 0:
        spectrum[..., -1] = 0
    return (torch.fft.irfft(spectrum, n=length, dim=-1) * (length / x.shape[-1])).to(x.dtype)


class TemporalConv(nn.Module):
    def __init__(self, out_chans: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(1, out_chans, (1, 15), stride=(1, 8), padding=(0, 7))
        self.norm1 = nn.GroupNorm(4, out_chans)
        self.conv2 = nn.Conv2d(out_chans, out_chans, (1, 3), padding=(0, 1))
        self.norm2 = nn.GroupNorm(4, out_chans)
        self.conv3 = nn.Conv2d(out_chans, out_chans, (1, 3), padding=(0, 1))
        self.norm3 = nn.GroupNorm(4, out_chans)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, N, 200) -> (B, N, 200): 25 positions x 8 features, position-major."""
        x = F.gelu(self.norm1(self.conv1(patches.unsqueeze(1))))
        x = F.gelu(self.norm2(self.conv2(x)))
        x = F.gelu(self.norm3(self.conv3(x)))  # (B, 8, N, 25)
        return x.permute(0, 2, 3, 1).flatten(2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias, self.v_bias = nn.Parameter(torch.zeros(dim)), nn.Parameter(torch.zeros(dim))
        self.q_norm, self.k_norm = nn.LayerNorm(head_dim, eps=EPS), nn.LayerNorm(head_dim, eps=EPS)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).reshape(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = self.q_norm(qkv[0]), self.k_norm(qkv[1]), qkv[2]
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, ratio: float = 4.0):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, int(dim * ratio)), nn.Linear(int(dim * ratio), dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, layer_scale: float = 0.1, drop_path: float = 0.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=EPS), nn.LayerNorm(dim, eps=EPS)
        self.attn, self.mlp = Attention(dim, heads), Mlp(dim)
        self.gamma_1 = nn.Parameter(torch.full((dim,), layer_scale))
        self.gamma_2 = nn.Parameter(torch.full((dim,), layer_scale))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.gamma_1 * self.attn(self.norm1(x)))
        return x + self.drop_path(self.gamma_2 * self.mlp(self.norm2(x)))


@dataclass
class LabramConfig:
    embed_dim: int = 200
    depth: int = 12
    heads: int = 10
    patch_size: int = 200  # samples at 200 Hz: one second
    model_sfreq: float = 200.0
    max_seconds: int = 16
    drop_path: float = 0.0  # stochastic depth, 0 at the first block to this at the last (fine-tuning: 0.1)
    qkv_bias: bool = True  # False: q/v biases stay at zero, untrained (the reference's --disable_qkv_bias)
    input_normalisation: str = "scale-0.01"  # microvolts -> 0.1 mV, LaBraM's unit (models/normalisation.py)


class Labram(Encoder):
    family = "labram"
    sfreq = SFREQ  # what it is fed; it resamples to ``config.model_sfreq`` itself

    def __init__(self, config: LabramConfig | None = None, **overrides):
        super().__init__()
        self.config = c = config or LabramConfig(**overrides)
        self.embed_dim = c.embed_dim
        self.patch_embed = TemporalConv(c.embed_dim // 25)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, SPATIAL_ROWS, c.embed_dim))
        self.time_embed = nn.Parameter(torch.zeros(1, c.max_seconds, c.embed_dim))
        for parameter in (self.cls_token, self.pos_embed, self.time_embed):
            nn.init.trunc_normal_(parameter, std=0.02)
        rates = np.linspace(0, c.drop_path, c.depth).tolist()  # rising with depth, as the reference
        self.blocks = nn.ModuleList(Block(c.embed_dim, c.heads, drop_path=rate) for rate in rates)
        for block in self.blocks if not c.qkv_bias else ():
            block.attn.q_bias.requires_grad_(False)
            block.attn.v_bias.requires_grad_(False)
        self.norm = nn.LayerNorm(c.embed_dim, eps=EPS)  # the reference's fc_norm
        rows, points = vocabulary_positions()
        self.register_buffer("vocab_rows", torch.from_numpy(rows), persistent=False)
        self.register_buffer("vocab_points", torch.from_numpy(points), persistent=False)
        self._named_rows: dict[tuple[str, ...], torch.Tensor] = {}  # channel names -> rows, once per montage

    def layer_groups(self) -> list[list[nn.Parameter]]:
        first = [self.cls_token, self.pos_embed, self.time_embed, *self.patch_embed.parameters()]
        return [first] + [list(b.parameters()) for b in self.blocks] + [list(self.norm.parameters())]

    def input_granularity(self) -> int:
        return int(self.sfreq)  # whole seconds: it resamples each second to one 200-sample patch

    def length_overrides(self, samples: int) -> dict:
        return {"max_seconds": max(self.config.max_seconds, math.ceil(samples / self.sfreq))}

    def nearest_rows(self, coords: torch.Tensor) -> torch.Tensor:
        """(B, C, 3) -> (B, C) rows of ``pos_embed``: the nearest vocabulary electrode."""
        points = self.vocab_points.to(coords.dtype).unsqueeze(0).expand(coords.shape[0], -1, -1)
        distance = torch.cdist(coords, points)
        return self.vocab_rows[distance.argmin(dim=-1)]

    def spatial_rows(self, coords: torch.Tensor, channels: list[str] | None) -> torch.Tensor:
        """(B, C) rows of ``pos_embed``: by name where LaBraM's list has the channel, else by position."""
        if channels is None:
            warnings.warn(
                "labram-base got no channel names: spatial embeddings are chosen by electrode position, "
                "not by name as in the reference",
                stacklevel=3,
            )
            return self.nearest_rows(coords)
        if len(channels) != coords.shape[1]:
            raise LumambaError(f"labram-base got {len(channels)} channel names for {coords.shape[1]} channels")
        key = tuple(channels)
        if key not in self._named_rows:
            rows = [ROW_OF_NAME.get(spelled_name(name)) for name in channels]
            unlisted = [name for name, row in zip(channels, rows, strict=True) if row is None]
            if unlisted:
                nearest = self.nearest_rows(coords[:1])[0].tolist()
                rows = [nearest[i] if row is None else row for i, row in enumerate(rows)]
                warnings.warn(
                    f"labram-base: {', '.join(unlisted)} are not in LaBraM's electrode list (the reference cannot "
                    "run them); each takes the row of the listed electrode nearest its position",
                    stacklevel=3,
                )
            self._named_rows[key] = torch.tensor(rows)
        return self._named_rows[key].to(coords.device).expand(coords.shape[0], -1)

    def forward(
        self,
        x: torch.Tensor,
        coords: torch.Tensor,
        mask: torch.Tensor | None = None,
        channels: list[str] | None = None,
    ) -> torch.Tensor:
        """x: (B, C, T) microvolts at 256 Hz, ``channels``: the C channel names -> tokens
        (B, 1 + C * seconds, 200)."""
        if mask is not None:
            raise LumambaError("labram-base has no masked pre-training here (its objective needs a VQ tokenizer)")
        batch, count, length = x.shape
        c = self.config
        seconds = length / self.sfreq
        if abs(seconds - round(seconds)) > 1e-9 or round(seconds) < 1:
            raise LumambaError(f"labram-base needs windows of whole seconds (1 s patches); got {seconds:g} s")
        seconds = int(round(seconds))
        if seconds > c.max_seconds:
            raise LumambaError(f"labram-base has temporal embeddings for {c.max_seconds} s; got {seconds} s")
        x = resample_fft(self.normalise(x), seconds * c.patch_size)
        tokens = self.patch_embed(x.reshape(batch, count * seconds, c.patch_size))  # channel-major
        spatial = self.pos_embed[0, self.spatial_rows(coords, channels)]  # (B, C, D)
        tokens = tokens + spatial.repeat_interleave(seconds, dim=1) + self.time_embed[0, :seconds].repeat(count, 1)
        cls = self.cls_token.expand(batch, -1, -1) + self.pos_embed[:, :1]
        tokens = torch.cat([cls, tokens], dim=1)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    # ---- published checkpoint (labram-base.pth) --------------------------------------------
    OFFICIAL_KEYS = (
        (r"fc_norm\.(weight|bias)", r"norm.\1"),  # a fine-tuned checkpoint's final norm
        (r"(?!norm\.).+", r"\g<0>"),  # every other encoder name is ours already
    )
    OFFICIAL_IGNORED = {
        r"lm_head\..+": "masked-token prediction head (pre-training)",
        r"projection_head\..+": "projection head (pre-training)",
        r"mask_token": "mask token (pre-training)",
        r"head\..+": "classification head (fine-tuning)",
        r"norm\.(weight|bias)": "the pre-training model's final norm: the reference's fine-tuning model has "
        "none (use_mean_pooling) and normalises with a new fc_norm",
    }

    def official_state_dict(self, tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
        """LaBraM's names -> ours, as the reference's ``run_class_finetuning.py`` loads them.

        The pre-training checkpoint (``student.*``, built with ``qkv_bias=False``) has no q/v
        biases and no ``fc_norm``: those start at their initial values (zeros; ones and zeros),
        exactly as in the reference's fine-tuning model. Declared heads are returned apart."""
        own = dict(self.state_dict())
        mapped, ignored = rename(tensors, self.OFFICIAL_KEYS, set(own), self.OFFICIAL_IGNORED)
        for name, tensor in own.items():
            if name not in mapped and (name.endswith(("attn.q_bias", "attn.v_bias")) or name == "norm.bias"):
                mapped[name] = torch.zeros_like(tensor)
            elif name not in mapped and name == "norm.weight":
                mapped[name] = torch.ones_like(tensor)
        return mapped, ignored

    def looks_official(self, tensors: dict) -> bool:
        return any(k.startswith(("student.", "blocks.0.attn.q_bias", "blocks.0.attn.qkv")) for k in tensors)


register_encoder(
    "labram-base",
    paper="LaBraM, Jiang et al., ICLR 2024 (arXiv:2405.18765)",
    family="labram",
    note="no pre-training here (VQ-tokenizer objective): published weights or -scratch",
    weights="https://github.com/935963004/LaBraM",
    licence="as stated with the weights",
)(lambda **overrides: Labram(LabramConfig(**overrides)))
