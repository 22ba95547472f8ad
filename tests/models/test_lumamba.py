import pytest
import torch

from lumamba_bench.data.channels import positions
from lumamba_bench.data.montages import TCP_NAMES
from lumamba_bench.errors import LumambaError
from lumamba_bench.models import build_encoder, list_encoders, list_model_names, parse_model_name
from lumamba_bench.models.heads import MambaHead

TEN_TWENTY = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz", "P4",
              "P8", "O1", "O2", "Oz", "FC3", "FC4", "CP3", "CP4", "FCz", "CPz"]  # fmt: skip


def _batch(channels, batch=2, length=1280, seed=0):
    names = list(TCP_NAMES) if channels == 22 else TEN_TWENTY[:channels]
    coords = torch.from_numpy(positions(names)).expand(batch, -1, -1)
    x = torch.randn(batch, channels, length, generator=torch.Generator().manual_seed(seed)) * 20
    return x, coords


def test_parameter_counts_match_the_paper():
    """4.1M encoder; 4.6M with FEMBA's Mamba head, the reference head (the reference's own counts)."""
    encoder = build_encoder("lumamba")
    params = sum(p.numel() for p in encoder.parameters())
    head = sum(p.numel() for p in MambaHead(encoder.embed_dim, 2).parameters())
    assert params == 4_094_776 and head == 536_834
    assert params + head == pytest.approx(4.6e6, rel=0.01)


@pytest.mark.parametrize("channels", [16, 22, 26])
def test_any_channel_count_gives_the_same_token_shape(channels):
    encoder = build_encoder("lumamba").eval()
    x, coords = _batch(channels)
    assert encoder(x, coords).shape == (2, 32, 384)


@pytest.mark.parametrize("length", [40, 640, 2560])
def test_any_length_divisible_by_the_patch(length):
    encoder = build_encoder("lumamba").eval()
    x, coords = _batch(22, length=length)
    assert encoder(x, coords).shape == (2, length // 40, 384)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        encoder(x[..., :-1], coords)


def test_channel_order_does_not_matter():
    """Topology invariance: permuting channels with their coordinates leaves the tokens unchanged."""
    torch.manual_seed(0)
    encoder = build_encoder("lumamba").double().eval()
    x, coords = _batch(22)
    perm = torch.randperm(22)
    torch.testing.assert_close(
        encoder(x.double(), coords.double()), encoder(x[:, perm].double(), coords[:, perm].double()), atol=1e-9, rtol=0
    )


def test_deterministic_and_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    first = build_encoder("lumamba").eval()  # eval: the channel-unification dropout is off
    torch.manual_seed(0)
    second = build_encoder("lumamba").eval()
    x, coords = _batch(22)
    torch.testing.assert_close(first(x, coords), second(x, coords))
    mask = torch.zeros(2, 22, 32, dtype=torch.bool)
    mask[:, :5, :7] = True
    first(x, coords, mask).square().mean().backward()
    missing = [n for n, p in first.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_model_names_parse_and_unknown_names_list_the_known_ones():
    assert "lumamba" in list_encoders()
    assert {"lumamba-recon", "lumamba-lejepa", "lumamba-mixed", "lumamba-mixed-scratch"} <= set(list_model_names())
    parsed = parse_model_name("lumamba-mixed-scratch")
    assert (parsed.architecture, parsed.objective, parsed.scratch) == ("lumamba", "mixed", True)
    with pytest.raises(LumambaError, match="unknown model 'lumamba-bogus'.*lumamba-mixed"):
        parse_model_name("lumamba-bogus")


def test_a_model_name_where_an_architecture_is_expected_is_a_clear_error():
    from lumamba_bench.errors import LumambaError
    from lumamba_bench.models.registry import encoder_spec

    with pytest.raises(LumambaError, match="unknown architecture 'lumamba-mixed'; architectures are .*lumamba"):
        encoder_spec("lumamba-mixed")
    assert encoder_spec("lumamba").name == "lumamba"
