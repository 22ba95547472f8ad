import pytest
import torch

from lumamba_bench.data.montages import TCP_NAMES
from lumamba_bench.models import build_encoder
from lumamba_bench.objectives import build_objective
from lumamba_bench.objectives.reconstruction import batch_cell_mask, query_specialisation, random_cell_mask

TCP = list(TCP_NAMES)


@pytest.mark.parametrize("ratio", [0.5, 0.6, 0.9])
def test_mask_has_the_exact_ratio_per_sample(ratio):
    mask = random_cell_mask(5, 22, 32, ratio, torch.Generator().manual_seed(0))
    assert mask.shape == (5, 22, 32)
    assert mask.flatten(1).sum(1).tolist() == [round(ratio * 22 * 32)] * 5
    assert not torch.equal(mask[0], mask[1])


def test_batch_mask_is_the_reference_count_and_one_for_the_batch():
    mask = batch_cell_mask(22, 32, 0.5, torch.Generator().manual_seed(0))
    assert mask.shape == (22, 32) and mask.sum().item() == int(22 * 32 * 0.5)
    assert batch_cell_mask(3, 5, 0.5, torch.Generator().manual_seed(0)).sum().item() == 7  # int(7.5): floor


def test_query_specialisation_by_hand():
    one_hot = torch.eye(3, 5)[None]  # each query on its own channel: A A^T = I, no off-diagonal
    assert query_specialisation(one_hot).item() == 0.0
    same = torch.full((1, 3, 4), 0.25)  # every query spreads evenly: off-diagonal = 4 * 0.25^2
    # the mean runs over all 3 x 3 entries, the zeroed diagonal included (as the reference)
    assert query_specialisation(same).item() == pytest.approx(0.25**2 * 6 / 9)


def test_masked_cells_change_the_encoding_and_hide_masked_hides_them():
    torch.manual_seed(0)
    encoder = build_encoder("lumamba").eval()
    x, coords = torch.randn(1, 22, 1280) * 20, torch.rand(1, 22, 3)
    mask = torch.zeros(1, 22, 32, dtype=torch.bool)
    mask[0, 3, 5] = True
    assert not torch.allclose(encoder(x, coords), encoder(x, coords, mask))
    # Only the masked cell changes, and the channel keeps its mean and standard deviation (the
    # z-score is computed over the whole window first, as in the reference).
    x_changed = x.clone()
    x_changed[0, 3, 5 * 40 : 6 * 40] = x[0, 3, 5 * 40 : 6 * 40].flip(0)
    # The reference's default: GroupNorm statistics over all cells carry a trace of it.
    assert not torch.allclose(encoder(x, coords, mask), encoder(x_changed, coords, mask))
    # The option zeroes masked samples first: invisible.
    torch.testing.assert_close(
        encoder(x, coords, mask, hide_masked=True), encoder(x_changed, coords, mask, hide_masked=True)
    )


def test_reconstruction_learns_a_fixed_batch():
    """Objective, decoder and gradients wired together: 80 steps on one batch of rhythms (four
    masks in turn) cut the loss by more than 15%."""
    torch.manual_seed(0)
    objective = build_objective("recon", build_encoder("lumamba"), num_slices=16)
    t = torch.arange(640) / 256
    phases = torch.rand(4, 22, 4, 1) * 2 * torch.pi
    x = 30 * torch.sin(2 * torch.pi * torch.tensor([3.0, 7.0, 10.0, 13.0])[:, None] * t + phases).sum(2)
    coords = torch.rand(1, 22, 3).expand(4, -1, -1)
    optimiser = torch.optim.AdamW(objective.parameters(), lr=2e-3)
    losses = []
    for step in range(80):
        loss = objective(x, coords, torch.Generator().manual_seed(step % 4), step=step, channels=TCP)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert sum(losses[-8:]) < 0.85 * sum(losses[:8])


@pytest.mark.parametrize("name", ["recon", "mixed"])
def test_objective_loss_is_the_documented_sum(name):
    torch.manual_seed(0)
    objective = build_objective(name, build_encoder("lumamba"), num_slices=16)
    x, coords = torch.randn(2, 22, 1280) * 20, torch.rand(2, 22, 3)
    out = objective(x, coords, torch.Generator().manual_seed(1), step=0, channels=TCP)
    recon = out["masked"] + 0.05 * out["visible"] + 0.8 * out["query"]
    if name == "mixed":
        recon = recon + 0.05 * ((1 - 0.002) * out["predictive"] + 0.002 * out["sigreg"])
    torch.testing.assert_close(out["loss"].detach(), recon)


def test_the_decoder_has_no_dropout_as_in_the_reference():
    objective = build_objective("recon", build_encoder("lumamba")).train()
    tokens, location = torch.randn(2, 4, 384), torch.randn(2, 22, 64)
    torch.testing.assert_close(objective.decoder(tokens, location, TCP), objective.decoder(tokens, location, TCP))
