import csv
import json

import numpy as np
import pytest

from lumamba_bench.analysis.memory import cpu_peak_supported
from lumamba_bench.analysis.profile import (
    Point,
    ProfileConfig,
    common_granularity,
    flops_fit,
    length_for_ratio,
    run_profile,
    write_profile,
)


def test_profile_reports_ratios_at_equal_input_and_writes_its_files(tmp_path):
    config = ProfileConfig(
        models=("luna-base", "labram-base", "femba-tiny"),
        seconds=(2.0, 10.0),  # 2 s rounds to 5 s: the shortest length all four take
        batch_size=2,
        min_time_s=0.01,
        measure_memory=cpu_peak_supported(),
    )
    report = run_profile(config)
    points = {(p["model"], p["seconds"]): p for p in report["points"]}
    assert {s for _, s in points} == {5.0, 10.0}
    assert {m for m, _ in points} == {"lumamba", "luna-base", "labram-base", "femba-tiny"}
    for seconds in (5.0, 10.0):
        assert points["lumamba", seconds]["flops_ratio"] == 1.0
        assert 1.0 < points["luna-base", seconds]["flops_ratio"] < points["labram-base", seconds]["flops_ratio"]
        for model in ("lumamba", "luna-base", "labram-base", "femba-tiny"):
            point = points[model, seconds]
            assert point["error"] is None and point["windows_per_s"] > 0
            assert point["flops_ratio"] == pytest.approx(point["gflops"] / points["lumamba", seconds]["gflops"])
    # Twice the window, twice the linear-cost FLOPs (attention adds a little more for LaBraM).
    assert points["lumamba", 10.0]["gflops"] / points["lumamba", 5.0]["gflops"] == pytest.approx(2.0, rel=0.01)
    assert points["labram-base", 10.0]["gflops"] > 2 * points["labram-base", 5.0]["gflops"]
    params = {m["model"]: m["parameters"] for m in report["models"]}
    assert params["lumamba"] == 4_094_776

    paths = write_profile(report, tmp_path)
    assert json.loads(paths["json"].read_text())["points"] == report["points"]
    rows = list(csv.DictReader(paths["csv"].open()))
    assert len(rows) == 8 and {"gflops", "flops_ratio", "memory_mib", "parameters"} <= set(rows[0])
    assert paths["flops_png"].stat().st_size > 1000 and paths["throughput_png"].exists()


@pytest.mark.skipif(not cpu_peak_supported(), reason="needs Linux /proc/self/clear_refs")
def test_memory_budget_search_brackets_the_budget_by_measurement():
    budget_gib = 0.12
    report = run_profile(
        ProfileConfig(models=("lumamba",), seconds=(5.0,), memory_budget_gib=budget_gib, measure_throughput=False)
    )
    (summary,) = report["models"]
    budget_mib = budget_gib * 1024
    longest = summary["longest_s"]
    assert longest is not None and longest > 5.0
    by_length = {p["seconds"]: p["memory_mib"] for p in summary["probes"]}
    assert by_length[longest] <= budget_mib
    longer = [s for s in by_length if s > longest]
    assert longer and by_length[min(longer)] > budget_mib
    assert min(longer) / longest <= 1.1  # bisected to within a few patches


def test_lengths_are_common_multiples():
    assert common_granularity(["lumamba", "labram-base", "femba-tiny"]) == 1280  # lcm(40, 256, 16)
    assert common_granularity(["lumamba", "luna-base"]) == 40


def test_quadratic_fit_and_the_length_where_a_ratio_is_reached():
    # Synthetic: reference 1 GFLOP/s; the other 2 t + 0.01 t^2 -> ratio 2 + 0.01 t reaches 26 at t = 2400.
    points = []
    for t in (5.0, 10.0, 30.0, 60.0):
        points.append(Point("lumamba", t, int(t * 256), gflops=t))
        points.append(Point("luna-base", t, int(t * 256), gflops=2 * t + 0.01 * t * t))
    np.testing.assert_allclose(flops_fit(points, "luna-base"), [0.0, 2.0, 0.01], atol=1e-9)
    assert length_for_ratio(points, "luna-base", 26.0) == pytest.approx(2400.0)
    assert length_for_ratio(points, "luna-base", 1.5) is None  # never that low
