"""Input normalisation: part of each encoder's contract, applied inside its ``forward``.

Published weights were trained on one input scaling; feeding them another silently changes the
model. Every encoder names the normalisation its reference code applies before the model
(``config.input_normalisation``), and ``normalise_input`` is the one place that computes it, for
pre-training, fine-tuning, analysis and profiling alike. Input to every encoder is microvolts.

- ``channelwise-zscore``: each channel of each window minus its mean, over its standard deviation
  (unbiased) + 1e-8. BioFoundation's ``ChannelWiseNormalize`` (LUNA and LuMamba pre-training and
  fine-tuning, ``input_normalization.normalize: True`` in their experiment configs).
- ``femba-quartile``: (x + 20) / (40 + 1e-8). BioFoundation's ``RobustQuartileNormalize(-20, 20)``
  (FEMBA's experiment configs).
- ``scale-0.01``: x / 100, microvolts to units of 0.1 mV. LaBraM's engines divide by 100.
- ``none``: microvolts as they are (a model that scales its input itself, or needs no scaling).
"""

from __future__ import annotations

import torch

from lumamba_bench.errors import LumambaError

NORMALISATIONS = {
    "channelwise-zscore": "per channel and window: (x - mean) / (std + 1e-8), BioFoundation ChannelWiseNormalize",
    "femba-quartile": "(x + 20) / (40 + 1e-8), BioFoundation RobustQuartileNormalize(-20, 20)",
    "scale-0.01": "x / 100: microvolts to 0.1 mV, LaBraM's engines",
    "none": "microvolts as they are",
}
INVARIANT_TO_SCALE = ("channelwise-zscore",)  # the same output for the same signal in microvolts and volts


def normalise_input(x: torch.Tensor, name: str) -> torch.Tensor:
    """x: (B, C, T) microvolts -> what the encoder's reference code feeds its model."""
    if name == "channelwise-zscore":
        return (x - x.mean(dim=-1, keepdim=True)) / (x.std(dim=-1, keepdim=True) + 1e-8)
    if name == "femba-quartile":
        return (x + 20.0) / (40.0 + 1e-8)
    if name == "scale-0.01":
        return x * 0.01
    if name == "none":
        return x
    raise LumambaError(f"unknown input normalisation {name!r}; known: {', '.join(NORMALISATIONS)}")


class NormalisedInput:
    """Mixin for encoders: ``normalise(x)`` applies ``self.config.input_normalisation``."""

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return normalise_input(x, self.config.input_normalisation)
