"""The compute settings of one run (device, precision, scan backend), applied for its duration.

Precision and the scan backend are read deep inside the model (autocast, the selective scan), so
they are process settings; ``compute_settings`` sets them from a run's config and puts the
previous ones back afterwards, so that two runs in one Python session never leak into each other.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from lumamba_bench.harness import precision as precisions
from lumamba_bench.harness.distributed import parse_device
from lumamba_bench.heap import keep_freed_memory
from lumamba_bench.models import scan


def apply(device: str | None, precision: str, scan_backend: str) -> torch.device:
    """Check and set the three (a kernel demanded on a CPU run fails here, before any work);
    returns the device."""
    chosen = parse_device(device)
    if chosen.type == "cpu":
        keep_freed_memory()  # no page faults for tensors freed and allocated again every step
    scan.set_scan_backend(scan_backend)
    scan.scan_backend(chosen)
    precisions.configure(chosen, precision)
    return chosen


@contextmanager
def compute_settings(device: str | None, precision: str, scan_backend: str):
    """``apply`` for the duration of a ``with`` block; the settings before it come back after."""
    before = (precisions.active(), scan.requested())
    try:
        yield apply(device, precision, scan_backend)
    finally:
        precisions.restore(before[0])
        scan.set_scan_backend(before[1])
