"""Which scan runs, said out loud: backend selection, the refusal when the kernel is demanded and
absent, what results files and cards record, and bf16 through our PyTorch scans."""

import pytest
import torch
from spawned import cache_hits_and_misses
from typer.testing import CliRunner

from lumamba_bench.cli import app
from lumamba_bench.errors import LumambaError
from lumamba_bench.harness import precision
from lumamba_bench.models import scan


@pytest.fixture(autouse=True)
def _reset():
    yield
    scan.set_scan_backend("auto")
    precision.configure(torch.device("cpu"), "fp32")


def test_cpu_runs_the_numba_kernel_under_auto_and_reports_it():
    assert scan.numba_available(), scan.NUMBA_ERROR  # numba is a dependency: it must load here
    assert scan.scan_backend("cpu") == "numba"
    report = scan.scan_report("cpu")
    assert report["requested"] == "auto" and report["used"] == "numba" and report["numba_error"] is None
    assert (report["kernel_error"] is None) == scan.mamba_ssm_available()
    scan.set_scan_backend("chunked")
    assert scan.scan_backend("cpu") == "chunked"


def test_a_numba_kernel_that_cannot_load_is_said_once_and_demanding_it_is_an_error(monkeypatch):
    import warnings

    monkeypatch.setattr(scan, "_numba_tried", True)
    monkeypatch.setattr(scan, "_numba_scan", None)
    monkeypatch.setattr(scan, "NUMBA_ERROR", "the numba CPU scan cannot be imported: no module named numba")
    monkeypatch.setattr(scan, "_warned", set())
    with pytest.raises(LumambaError, match="--scan-backend numba: the numba CPU scan cannot be imported"):
        scan.set_scan_backend("numba")
    args = dict(u=torch.randn(1, 2, 5), delta=torch.rand(1, 2, 5), A=-torch.rand(2, 3), B=torch.randn(1, 3, 5),
                C=torch.randn(1, 3, 5))  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scan.selective_scan(**args)
        scan.selective_scan(**args)
    said = [str(w.message) for w in caught if "numba" in str(w.message)]
    assert said == ["the numba CPU scan cannot be imported: no module named numba; the chunked PyTorch scan runs on "
                    "the CPU instead"]  # fmt: skip
    assert scan.scan_backend("cpu") == "chunked"


def test_demanding_the_numba_kernel_on_a_gpu_run_is_refused():
    scan.set_scan_backend("numba")
    with pytest.raises(LumambaError, match="the kernel runs on CPU tensors; this run is on a GPU"):
        scan.scan_backend("cuda")


def test_the_numba_kernel_follows_torchs_thread_count():
    import numba

    from lumamba_bench.models.scan_numba import selective_scan_numba

    before = torch.get_num_threads()
    args = dict(u=torch.randn(1, 4, 9), delta=torch.rand(1, 4, 9), A=-torch.rand(4, 3), B=torch.randn(1, 3, 9),
                C=torch.randn(1, 3, 9))  # fmt: skip
    try:
        for threads in {1, min(2, numba.config.NUMBA_NUM_THREADS)}:
            torch.set_num_threads(threads)
            selective_scan_numba(**args)
            assert numba.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(scan.mamba_ssm_available(), reason="the kernel is installed here")
def test_demanding_an_absent_kernel_is_an_error_with_its_cause_never_a_fallback():
    with pytest.raises(LumambaError, match="--scan-backend mamba-ssm: .*selective_scan_cuda.*cannot be imported"):
        scan.set_scan_backend("mamba-ssm")
    result = CliRunner().invoke(app, ["doctor", "--scan-backend", "mamba-ssm"])
    assert result.exit_code == 1 and "cannot be imported" in str(result.exception)
    with pytest.raises(LumambaError, match="unknown scan backend 'fast'"):
        scan.set_scan_backend("fast")


def test_demanding_the_kernel_on_a_cpu_run_is_refused(monkeypatch):
    monkeypatch.setattr(scan, "_mamba_ssm_scan", lambda *a: None)
    scan.set_scan_backend("mamba-ssm")
    with pytest.raises(LumambaError, match="the kernel runs on CUDA tensors; this run is on the CPU"):
        scan.scan_backend("cpu")


def test_doctor_passes_its_parity_check_on_this_machine():
    result = CliRunner().invoke(app, ["doctor", "--length", "64"])
    assert result.exit_code == 0, result.output
    assert "PASS numba scan vs the step-by-step reference on cpu" in result.output.replace("\n", " ")


def test_doctors_parity_includes_the_fused_cpu_inference_pass():
    from lumamba_bench.harness.doctor import parity

    errors = parity(torch.device("cpu"), length=64)["relative_errors"]
    assert 0 < errors["fused inference"] < 1e-5


@pytest.mark.parametrize("half", [torch.bfloat16, torch.float16])
def test_our_scans_compute_half_precision_inputs_in_float32(half):
    g = torch.Generator().manual_seed(0)
    args = dict(
        u=torch.randn(2, 8, 96, generator=g),
        delta=0.5 * torch.randn(2, 8, 96, generator=g),
        A=-torch.rand(8, 4, generator=g) - 0.1,
        B=torch.randn(2, 4, 96, generator=g),
        C=torch.randn(2, 4, 96, generator=g),
        D=torch.randn(8, generator=g),
        z=torch.randn(2, 8, 96, generator=g),
    )
    low = {k: (v.to(half) if k not in ("A", "D") else v) for k, v in args.items()}  # as bf16 autocast feeds it
    exact = scan.selective_scan_ref(**{k: v.to(half).float() if k not in ("A", "D") else v for k, v in args.items()})
    from lumamba_bench.models.scan_numba import selective_scan_numba

    for fn in (scan.selective_scan_chunked, selective_scan_numba, scan.selective_scan_ref):
        out = fn(**low)
        assert out.dtype == half
        torch.testing.assert_close(out.float(), exact, atol=2e-2, rtol=2e-2)


def test_results_environment_records_backend_and_precision():
    from lumamba_bench.harness.results import environment

    precision.configure(torch.device("cpu"), "bf16")
    env = environment("cpu", 1)
    assert env["scan_backend"]["used"] == "numba" and env["precision"] == "bf16"


def test_a_bf16_pretraining_step_runs_and_the_card_says_so(small_demo, tmp_path):
    import json

    from pretraining import small_config

    from lumamba_bench.harness.checkpoints import latest_checkpoint
    from lumamba_bench.harness.pretrain import pretrain

    result = pretrain(small_config(tmp_path, model="lumamba-mixed", max_steps=2, precision="bf16"))  # the run's own
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in result.history)
    card = json.loads((latest_checkpoint(result.run_dir) / "card.json").read_text())
    assert card["precision"] == "bf16" and card["scan_backend"]["used"] == "numba"
    assert precision.active() == "fp32"  # put back after the run


def test_a_second_process_loads_the_compiled_kernels_from_the_disk_cache():
    """numba's ``cache=True``: once this process has compiled the kernels, a new process finds
    them on disk (cache hits, no misses) instead of compiling them again."""
    from lumamba_bench.models.scan_numba import selective_scan_numba

    args = dict(u=torch.randn(1, 4, 9, requires_grad=True), delta=torch.rand(1, 4, 9), A=-torch.rand(4, 3),
                B=torch.randn(1, 3, 9), C=torch.randn(1, 3, 9))  # fmt: skip
    selective_scan_numba(**args).sum().backward()  # compiled here (or loaded) and so written to the cache
    out = cache_hits_and_misses(
        "import torch\nfrom lumamba_bench.models import scan_numba as s\n"
        "a = dict(u=torch.randn(1, 4, 9, requires_grad=True), delta=torch.rand(1, 4, 9), A=-torch.rand(4, 3), "
        "B=torch.randn(1, 3, 9), C=torch.randn(1, 3, 9))\n"
        "s.selective_scan_numba(**a).sum().backward()",
        "(s._forward, s._backward)",
    )
    assert out == ["2", "0"], out
