"""toy-eeg: a small topology-invariant encoder, a recipe and a metric, from outside lumamba-bench.

The encoder embeds each channel's patches and its electrode position, passes them through a
non-linearity and averages over channels: any montage, any channel order, and where each
channel is matters.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lumamba_bench import Encoder, Metric, register_encoder, register_metric, register_recipe
from lumamba_bench.recipes.demo import Demo


@dataclass
class ToyConfig:
    embed_dim: int = 32
    patch_size: int = 64
    input_normalisation: str = "channelwise-zscore"  # applied in forward, by self.normalise


class ToyEncoder(Encoder):
    family = "toy"

    def __init__(self, **overrides):
        super().__init__()
        self.config = ToyConfig(**overrides)
        self.embed_dim = self.config.embed_dim
        self.patch = nn.Linear(self.config.patch_size, self.embed_dim)
        self.where = nn.Linear(3, self.embed_dim)
        self.norm = nn.LayerNorm(self.embed_dim)

    def input_granularity(self) -> int:
        return self.config.patch_size

    def forward(self, x, coords, mask=None, channels=None):
        x = self.normalise(x)  # (B, C, T) microvolts -> z-scored per channel
        b, c, t = x.shape
        patches = x.reshape(b, c, t // self.config.patch_size, self.config.patch_size)
        tokens = self.patch(patches) + self.where(coords.to(x.dtype))[:, :, None]  # (B, C, S, D)
        return self.norm(torch.tanh(tokens).mean(dim=1))  # (B, S, D): the mean over channels


@register_encoder("toy", paper="tests/toy_plugin (lumamba-bench's plugin example)")
def toy(**overrides) -> ToyEncoder:
    return ToyEncoder(**overrides)


@register_recipe
class ToyDemo(Demo):
    """The demo corpus under another name: a recipe from outside the package."""

    name = "toy-demo"
    summary = "the demo corpus, registered by the toy-eeg plugin"


def sensitivity_at_03(labels: np.ndarray, probs: np.ndarray) -> float:
    """Share of positive windows whose positive-class probability exceeds 0.3."""
    positive = labels == 1
    if not positive.any():
        raise ValueError("no positive window: sensitivity is undefined")
    return float(np.mean(probs[positive, 1] > 0.3))


SENSITIVITY_AT_03 = register_metric(
    Metric("toy_sensitivity", ("binary",), required_from=None, compute=sensitivity_at_03)
)
