"""One table-driven check of the Encoder contract over the registry: every registered encoder,
and a toy one registered here the way a new encoder would be (one module, one decorator)."""

import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from lumamba_bench.data.preprocess import SFREQ
from lumamba_bench.errors import LumambaError
from lumamba_bench.models import registry
from lumamba_bench.models.base import Encoder
from lumamba_bench.models.normalisation import NORMALISATIONS

TOY = "toy-contract"
BIG = 50_000_000  # parameters above which the forward pass is skipped (luna-large, luna-huge)


@dataclass
class ToyConfig:
    embed_dim: int = 8
    patch_size: int = 32
    input_normalisation: str = "channelwise-zscore"


class ToyEncoder(Encoder):
    """Patches averaged over channels, then one linear layer: the smallest encoder that keeps the contract."""

    family = "toy"

    def __init__(self, config: ToyConfig | None = None, **overrides):
        super().__init__()
        self.config = ToyConfig(**((config.__dict__ if config else {}) | overrides))
        self.embed_dim = self.config.embed_dim
        self.proj = nn.Linear(self.config.patch_size, self.config.embed_dim)
        self.norm = nn.LayerNorm(self.config.embed_dim)

    def input_granularity(self) -> int:
        return self.config.patch_size

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return [list(self.proj.parameters()), list(self.norm.parameters())]

    def forward(self, x, coords=None, mask=None, channels=None):
        patches = self.normalise(x).unflatten(-1, (-1, self.config.patch_size)).mean(1)  # (B, S, P)
        return self.norm(self.proj(patches))


@pytest.fixture
def toy_registered():
    registry.register_encoder(TOY, paper="a test", family="toy")(lambda **overrides: ToyEncoder(**overrides))
    yield
    registry._ENCODERS.pop(TOY)


@pytest.mark.parametrize("name", [*registry.list_encoders(), TOY])
def test_every_registered_encoder_keeps_the_contract(name, request):
    if name == TOY:
        request.getfixturevalue("toy_registered")
    spec = registry.encoder_spec(name)
    with torch.device("meta"):
        probe = registry.build_encoder(name)
    assert isinstance(probe, Encoder) and probe.family == spec.family
    assert probe.sfreq == SFREQ and probe.config.input_normalisation in NORMALISATIONS
    step = probe.input_granularity()
    samples = math.ceil(5 * SFREQ / step) * step
    big = sum(p.numel() for p in probe.parameters()) > BIG
    with torch.device("meta" if big else "cpu"):
        torch.manual_seed(0)
        encoder = registry.build_for_input(name, 22, samples, **probe.length_overrides(samples))
    groups = encoder.layer_groups()  # every parameter in exactly one group
    assert sorted(id(p) for g in groups for p in g) == sorted(id(p) for p in encoder.parameters())
    with torch.device("meta"):
        rebuilt = registry.build_encoder(name, **encoder.config_dict())
    assert rebuilt.config_dict() == encoder.config_dict()
    shapes = {k: v.shape for k, v in encoder.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes
    assert not encoder.looks_official({}) and encoder.has_front_end == hasattr(encoder, "front_end")
    manifest = {"recipe": {"name": "slow"}, "preprocessing": {"sfreq": 200.0}}
    with pytest.raises(LumambaError, match="prepared at 200 Hz"):
        registry.check_rate(encoder, manifest)
    if big:
        return
    from lumamba_bench.data.channels import positions
    from lumamba_bench.data.montages import TCP_NAMES

    x = 20 * torch.randn(2, 22, samples)
    coords = torch.from_numpy(positions(list(TCP_NAMES))).float().expand(2, -1, -1)
    encoder.eval()
    with torch.no_grad():
        tokens = encoder(x, coords, None, list(TCP_NAMES))
    assert tokens.ndim == 3 and tokens.shape[0] == 2 and tokens.shape[-1] == encoder.embed_dim
    assert torch.isfinite(tokens).all()


def test_a_factory_that_returns_no_encoder_is_refused():
    registry.register_encoder("not-an-encoder")(lambda **overrides: nn.Linear(2, 2))
    try:
        with pytest.raises(LumambaError, match="returned a Linear, not an Encoder"):
            registry.build_encoder("not-an-encoder")
    finally:
        registry._ENCODERS.pop("not-an-encoder")
