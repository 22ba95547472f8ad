import numpy as np
import pytest
import torch
from scipy import integrate

from lumamba_bench.models import build_encoder
from lumamba_bench.objectives.lejepa import LeJEPAObjective, crop, epps_pulley, sigreg, slice_directions, view_starts


def _direct_integral(samples: np.ndarray, t_max: float = 5.0) -> float:
    """N * integral of |ECF(t) - exp(-t^2/2)|^2 exp(-t^2/2) over [-t_max, t_max], by adaptive quadrature."""

    def integrand(t):
        real = np.cos(t * samples).mean() - np.exp(-t * t / 2)
        imag = np.sin(t * samples).mean()
        return (real**2 + imag**2) * np.exp(-t * t / 2)

    value, _ = integrate.quad(integrand, -t_max, t_max, limit=500, epsabs=1e-12)
    return len(samples) * value


@pytest.mark.parametrize("kind", ["gaussian", "shifted", "wide", "bimodal"])
def test_epps_pulley_matches_direct_integration(kind):
    rng = np.random.default_rng(0)
    samples = {
        "gaussian": rng.standard_normal(200),
        "shifted": rng.standard_normal(200) + 0.7,
        "wide": 2.5 * rng.standard_normal(200),
        "bimodal": np.sign(rng.standard_normal(200)) * 1.5,
    }[kind]
    ours = epps_pulley(torch.from_numpy(samples)[:, None], n_points=2001)[0].item()
    assert ours == pytest.approx(_direct_integral(samples), abs=1e-4)


def test_default_grid_is_the_17_point_trapezoid():
    rng = np.random.default_rng(1)
    samples = rng.standard_normal((64, 3))
    t = np.linspace(-5, 5, 17)
    expected = []
    for column in samples.T:
        real = np.cos(np.outer(column, t)).mean(0) - np.exp(-(t**2) / 2)
        imag = np.sin(np.outer(column, t)).mean(0)
        expected.append(64 * integrate.trapezoid((real**2 + imag**2) * np.exp(-(t**2) / 2), t))
    torch.testing.assert_close(epps_pulley(torch.from_numpy(samples)), torch.tensor(expected, dtype=torch.float64))


def test_sigreg_is_near_its_null_value_for_gaussians_and_large_for_collapse_or_anisotropy():
    # Under N(0, I), N * E|ECF - phi|^2 = 1 - exp(-t^2), so the statistic's expectation is
    # sqrt(2 pi) - sqrt(2 pi / 3) = 1.06 whatever N: "near 0" means near that, versus O(N).
    null = np.sqrt(2 * np.pi) - np.sqrt(2 * np.pi / 3)
    g = torch.Generator().manual_seed(0)
    isotropic = torch.randn(1024, 64, generator=g)
    collapsed = torch.randn(1024, 1, generator=g).expand(-1, 64) * 0.01
    anisotropic = isotropic * torch.linspace(0.05, 3.0, 64)
    low = sigreg(isotropic, num_slices=300, step=1).item()
    assert low == pytest.approx(null, rel=0.2)
    assert sigreg(collapsed, num_slices=300, step=1).item() > 100 * null
    assert sigreg(anisotropic, num_slices=300, step=1).item() > 20 * null


def test_directions_are_unit_redrawn_each_step_and_identical_for_a_step():
    first = slice_directions(32, 300, step=7)
    torch.testing.assert_close(first.norm(dim=0), torch.ones(300))
    torch.testing.assert_close(first, slice_directions(32, 300, step=7))
    assert not torch.allclose(first, slice_directions(32, 300, step=8))


def test_views_have_the_requested_lengths_and_come_from_the_window():
    x = torch.arange(2 * 3 * 1280, dtype=torch.float32).reshape(2, 3, 1280)
    views = [crop(x, starts, 160) for starts in view_starts(2, 1280, 160, 4, torch.Generator().manual_seed(0))]
    assert [v.shape for v in views] == [(2, 3, 160)] * 4
    for v in views:  # contiguous crops of each window, same offset on every channel
        assert torch.all(v[..., 1:] - v[..., :-1] == 1)
        assert torch.all(v[:, 1, 0] - v[:, 0, 0] == 1280)


def test_lejepa_objective_runs_and_backpropagates():
    torch.manual_seed(0)
    objective = LeJEPAObjective(build_encoder("lumamba"), num_slices=32)
    x, coords = torch.randn(4, 22, 1280) * 20, torch.rand(4, 22, 3) * 0.1
    out = objective(x, coords, torch.Generator().manual_seed(0), step=3)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and out["predictive"] > 0 and out["sigreg"] > 0
    expected = (1 - 0.002) * out["predictive"] + 0.002 * out["sigreg"]
    torch.testing.assert_close(out["lejepa"], expected)
    torch.testing.assert_close(out["loss"].detach(), 0.05 * expected)  # the reference's scale, alone too


def _epps_pulley_worker(rank, port, data, results):
    import os

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    half = data[rank * 50 : (rank + 1) * 50].clone().requires_grad_()
    statistic = epps_pulley(half)
    statistic.sum().backward()
    results.put((rank, statistic.detach().numpy(), half.grad.numpy()))  # arrays: outlive the process
    dist.destroy_process_group()


def test_epps_pulley_under_ddp_is_the_statistic_of_the_global_batch():
    """Two ranks with half the windows each give the statistic (and gradients) of all windows."""
    import socket

    import torch.multiprocessing as mp

    data = torch.randn(100, 3, generator=torch.Generator().manual_seed(0)) * 1.5
    full = data.clone().requires_grad_()
    expected = epps_pulley(full)
    expected.sum().backward()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = mp.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_epps_pulley_worker, args=(r, port, data, results)) for r in range(2)]
    for worker in workers:
        worker.start()
    outcome = {}
    for _ in workers:
        rank, statistic, grad = results.get(timeout=120)
        outcome[rank] = (torch.from_numpy(statistic), torch.from_numpy(grad))
    for worker in workers:
        worker.join(timeout=60)
    for rank in (0, 1):
        torch.testing.assert_close(outcome[rank][0], expected.detach(), rtol=1e-5, atol=1e-6)
    # The all-reduce's backward sums both ranks' (equal) upstream gradients, so each rank holds
    # twice its share; DDP's averaging of parameter gradients over the 2 ranks halves it again.
    torch.testing.assert_close(torch.cat([outcome[0][1], outcome[1][1]]) / 2, full.grad, rtol=1e-4, atol=1e-6)
