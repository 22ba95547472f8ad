import pytest
import torch

from lumamba_bench.analysis.memory import cpu_peak_supported, peak_step_memory

pytestmark = pytest.mark.skipif(not cpu_peak_supported(), reason="needs Linux /proc/self/clear_refs")


_MEASURE = """
import json, torch
from lumamba_bench.analysis.memory import peak_step_memory

class Widen(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))

    def forward(self, x, coords):
        return x.repeat(1, 4096) * self.scale

print(json.dumps({rows: peak_step_memory(Widen(), torch.randn(rows, 1), None) for rows in (2048, 4096)}))
"""


def test_cpu_peak_measures_what_the_step_allocates():
    # (rows, 4096) float32 tensors: the repeat, the product, its square, and their gradients:
    # at least the one saved tensor, at most the seven the step creates (plus 2 MiB of page and
    # allocator bookkeeping that resident-set measurement sees). Measured in a fresh process: a
    # long-lived one's allocator already holds freed pages that the step may reuse.
    import json
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _MEASURE], capture_output=True, text=True, check=True)
    measured = {int(k): v for k, v in json.loads(result.stdout.strip().splitlines()[-1]).items()}
    for rows in (2048, 4096):
        size = rows * 4096 * 4
        assert size <= measured[rows] <= 7 * size + 2 * 2**20, measured[rows] / 2**20
    assert measured[4096] / measured[2048] == pytest.approx(2.0, rel=0.15)


def test_longer_windows_need_more_memory():
    from lumamba_bench.models import build_encoder

    encoder = build_encoder("lumamba")
    coords = torch.rand(1, 22, 3)
    short = peak_step_memory(encoder, torch.randn(1, 22, 1280), coords)
    long = peak_step_memory(encoder, torch.randn(1, 22, 8 * 1280), coords)
    assert long > 3 * short > 0
