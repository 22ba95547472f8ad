"""Encoder efficiency against LuMamba at equal input: forward FLOPs, training-step memory and
inference throughput per window length (the library behind `lumamba-bench profile`).

Every figure is a ratio to LuMamba measured in the same process on the same input.

    python benchmarks/encoder_efficiency.py [--seconds 5,10,30,60] [--models luna-base,labram-base]
"""

from __future__ import annotations

import argparse

from lumamba_bench.analysis.profile import ProfileConfig, run_profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", default="5,10,30,60")
    parser.add_argument("--models", default="luna-base,labram-base,femba-tiny")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    config = ProfileConfig(
        models=("lumamba", *args.models.split(",")),
        seconds=tuple(float(s) for s in args.seconds.split(",")),
        batch_size=args.batch_size,
    )
    report = run_profile(config)
    reference = {p["seconds"]: p for p in report["points"] if p["model"] == "lumamba"}
    print(f"{'model':<12} {'window':>7} {'FLOPs':>9} {'memory':>9} {'time/window':>12}   (x LuMamba)")
    for p in report["points"]:
        ref = reference[p["seconds"]]
        if p["error"]:
            print(f"{p['model']:<12} {p['seconds']:>6g}s  {p['error']}")
            continue
        speed = ref["windows_per_s"] / p["windows_per_s"]
        memory = "n/a" if p["memory_ratio"] is None else f"{p['memory_ratio']:.2f}x"
        print(f"{p['model']:<12} {p['seconds']:>6g}s {p['flops_ratio']:>8.2f}x {memory:>9} {speed:>11.2f}x")


if __name__ == "__main__":
    main()
