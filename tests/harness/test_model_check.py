"""check-model catches each broken contract on its own, and passes every built-in encoder."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from lumamba_bench import check_model
from lumamba_bench.models import registry
from lumamba_bench.models.base import Encoder


@dataclass
class SketchConfig:
    embed_dim: int = 16
    patch_size: int = 64
    input_normalisation: str = "channelwise-zscore"


class Sketch(Encoder):
    """A correct topology-invariant encoder; each subclass breaks one thing."""

    family = "sketch"

    def __init__(self, **overrides):
        super().__init__()
        self.config = SketchConfig(**overrides)
        self.embed_dim = self.config.embed_dim
        self.patch = nn.Linear(self.config.patch_size, self.embed_dim)
        self.where = nn.Linear(3, self.embed_dim)

    def tokens(self, x, coords):
        b, c, t = x.shape
        patches = x.reshape(b, c, t // self.config.patch_size, self.config.patch_size)
        return torch.tanh(self.patch(patches) + self.where(coords.to(x.dtype))[:, :, None]).mean(dim=1)

    def forward(self, x, coords, mask=None, channels=None):
        return self.tokens(self.normalise(x), coords)


class IgnoresPositions(Sketch):
    def __init__(self, **overrides):
        super().__init__(**overrides)
        del self.where  # no positions at all: a mean over channels is still permutation invariant

    def forward(self, x, coords, mask=None, channels=None):
        b, c, t = x.shape
        patches = self.normalise(x).reshape(b, c, t // self.config.patch_size, self.config.patch_size)
        return torch.tanh(self.patch(patches)).mean(dim=1)


class SkipsItsZscore(Sketch):
    def forward(self, x, coords, mask=None, channels=None):
        return self.tokens(x, coords)  # declares channelwise-zscore, feeds microvolts as they are


class NanAtSixteenChannels(Sketch):
    def forward(self, x, coords, mask=None, channels=None):
        out = super().forward(x, coords)
        return out * float("nan") if x.shape[1] == 16 else out


class UnusedParameter(Sketch):
    def __init__(self, **overrides):
        super().__init__(**overrides)
        self.forgotten = nn.Parameter(torch.zeros(self.embed_dim))


class OrderDependent(Sketch):
    def forward(self, x, coords, mask=None, channels=None):
        weights = torch.linspace(0.5, 1.5, x.shape[1], device=x.device)[None, :, None]  # channel i weighs more
        return self.tokens(self.normalise(x) * weights, coords)


def _check(cls, **kwargs):
    name = f"sketch-{cls.__name__.lower()}"
    registry.register_encoder(name, family="sketch")(cls)
    try:
        return check_model(name, ["demo"], **kwargs)
    finally:
        registry._ENCODERS.pop(name)


def _failed(report) -> dict[str, str]:
    return {c.name: c.detail for c in report.failures}


def test_a_correct_encoder_passes_every_check():
    report = _check(Sketch)
    assert report.ok, report.frame()
    assert {"gradients reach every parameter", "channel names and positions are used",
            "normalisation applied (channelwise-zscore)", "eval mode is deterministic"} <= {
        c.name for c in report.checks}  # fmt: skip
    assert len([c for c in report.checks if c.name.startswith("input demo")]) == 4  # 22 channels and 3 sets


def test_a_model_that_ignores_positions_while_claiming_topology_invariance_fails():
    failed = _failed(_check(IgnoresPositions))
    assert list(failed) == ["channel names and positions are used"]
    assert "ignores where each channel is" in failed["channel names and positions are used"]


def test_a_model_that_declares_the_zscore_and_does_not_apply_it_fails():
    failed = _failed(_check(SkipsItsZscore))
    assert list(failed) == ["normalisation applied (channelwise-zscore)"]
    assert "not applied" in failed["normalisation applied (channelwise-zscore)"]


def test_a_model_whose_output_is_nan_for_one_montage_width_fails_on_that_width_only():
    failed = _failed(_check(NanAtSixteenChannels))
    assert list(failed) == ["input demo tcp22 -> 10-20-16ch (16 x 1280)"]
    assert "not finite" in failed["input demo tcp22 -> 10-20-16ch (16 x 1280)"]


def test_a_parameter_without_gradient_fails_naming_it():
    failed = _failed(_check(UnusedParameter))
    assert list(failed) == ["gradients reach every parameter"]
    assert "no gradient reaches forgotten" in failed["gradients reach every parameter"]


def test_a_model_that_depends_on_channel_order_fails():
    failed = _failed(_check(OrderDependent))
    assert "channel permutation (with positions) leaves the pooled output" in failed


@pytest.mark.parametrize("model", ["lumamba", "luna-base", "labram-base", "femba-tiny"])
def test_every_built_in_encoder_passes_on_every_recipe(model):
    report = check_model(model)
    assert report.ok, report.frame().to_string()
    refused = {c.name for c in report.refusals}
    if model == "labram-base":  # 1 s patches: TDBrain's 1.25 s windows are refused, saying so
        assert refused and all("tdbrain" in name for name in refused)
    if model == "femba-tiny":  # an odd channel count does not split into its 2-channel cells
        assert refused == {"input tdbrain tdbrain26 -> 10-20-19ch (19 x 320)"}
        assert any(c.name == "fixed topology refuses another montage" and c.passed for c in report.checks)


def test_run_stops_on_a_failed_check_and_names_it(small_demo, tmp_path):
    from lumamba_bench import LumambaError, run

    registry.register_encoder("sketch-unused", family="sketch")(UnusedParameter)
    try:
        with pytest.raises(LumambaError, match="gradients reach every parameter: no gradient reaches forgotten"):
            run("sketch-unused-scratch", "demo", seeds=1, epochs=1, out=tmp_path / "results")
        assert not (tmp_path / "results").exists()  # nothing trained
    finally:
        registry._ENCODERS.pop("sketch-unused")
