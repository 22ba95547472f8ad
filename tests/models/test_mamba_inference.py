"""The fused CPU inference pass (``models/mamba_numba.py``) against Mamba's step-by-step path with
the step-loop scan, and when it runs: inference only, on the CPU, with the numba backend."""

import pytest
import torch
from spawned import cache_hits_and_misses

from lumamba_bench.models import mamba, mamba_numba, scan
from lumamba_bench.models.mamba import Mamba


@pytest.fixture(autouse=True)
def _reset():
    yield
    scan.set_scan_backend("auto")


def _module(d_model: int, dtype: torch.dtype, seed: int = 0) -> Mamba:
    """A Mamba whose parameters leave their initial values, with delta's softplus seeing large
    negative and positive inputs (above torch's threshold of 20 too) and a conv bias; every value
    representable in float32, so the path's float32 A, D and bias are exact in float64."""
    torch.manual_seed(seed)
    module = Mamba(d_model)
    with torch.no_grad():
        module.A_log.add_(0.5 * torch.randn_like(module.A_log))
        module.D.normal_()
        module.conv1d.bias.normal_()
        module.dt_proj.bias.copy_(torch.linspace(-25.0, 25.0, module.d_inner))
        module.dt_proj.weight.mul_(3.0)
    return module.to(dtype)


def _step_by_step(module: Mamba, x: torch.Tensor, monkeypatch) -> torch.Tensor:
    """The module's unfused forward with the step-loop scan (``selective_scan_ref``)."""
    with monkeypatch.context() as patch:
        patch.setattr(mamba, "selective_scan", scan.selective_scan_ref)
        with torch.no_grad(), mamba.step_by_step():
            return module(x)


# d_inner 768 (24 full blocks of 32 channels), 40 (a block and 8 more), 16 (fewer than a block);
# lengths shorter than the convolution, one block-sized and longer.
@pytest.mark.parametrize("d_model", [384, 20, 8])
@pytest.mark.parametrize("length", [1, 3, 50])
def test_the_fused_pass_equals_the_step_loop_in_float64(d_model, length, monkeypatch):
    module = _module(d_model, torch.float64)
    x = torch.randn(2, length, d_model, dtype=torch.float64)
    with torch.no_grad():
        fused = mamba_numba.mamba_inference(module, x)
    torch.testing.assert_close(fused, _step_by_step(module, x, monkeypatch), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("d_model", [384, 20])
def test_the_fused_pass_equals_the_step_loop_in_float32(d_model, monkeypatch):
    module = _module(d_model, torch.float32, seed=1)
    x = torch.randn(3, 200, d_model)
    with torch.no_grad():
        fused = mamba_numba.mamba_inference(module, x)
    torch.testing.assert_close(fused, _step_by_step(module, x, monkeypatch), rtol=2e-5, atol=2e-6)


def test_the_fused_pass_runs_for_cpu_inference_with_the_numba_scan_only(monkeypatch):
    calls = []
    real = mamba_numba.mamba_inference
    monkeypatch.setattr(mamba_numba, "mamba_inference", lambda m, x: calls.append(x.shape) or real(m, x))
    module, x = _module(8, torch.float32), torch.randn(1, 6, 8)
    with torch.no_grad():
        module(x)
    assert len(calls) == 1  # inference, CPU, numba under auto
    module(x)  # gradients on: training needs the unfused intermediates
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        module(x)  # bf16 autocast: the unfused path, which computes the scan in float32
    scan.set_scan_backend("chunked")
    with torch.no_grad():
        module(x)
    assert len(calls) == 1
    with torch.inference_mode():
        scan.set_scan_backend("numba")
        module(x)
    assert len(calls) == 2


def test_the_fused_kernels_are_loaded_from_the_disk_cache_by_a_second_process():
    module = _module(8, torch.float32)
    with torch.no_grad():
        mamba_numba.mamba_inference(module, torch.randn(1, 5, 8))  # compiled (or loaded) and cached here
    out = cache_hits_and_misses(
        "import torch\nfrom lumamba_bench.models import mamba_numba as m\n"
        "from lumamba_bench.models.mamba import Mamba\n"
        "with torch.no_grad():\n    m.mamba_inference(Mamba(8), torch.randn(1, 5, 8))",
        "(m._conv_silu, m._gated_scan)",
    )
    assert out == ["2", "0"], out
