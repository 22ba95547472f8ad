"""The GPU check's summary, rewritten after every step (benchmarks/gpu_check.sh): summary.json and
summary.md under the output folder hold the versions that ran, each step's status, seconds and
limit, and the profile figures (training-step peak memory and inference windows/s per model,
window length and scan backend), with LuMamba's ratios to LUNA-Base.

    python gpu_summary.py --init OUT STATUS
    python gpu_summary.py --step OUT STATUS NAME STATUS_TEXT SECONDS LIMIT
    python gpu_summary.py --profile OUT STATUS BACKEND PROFILE_JSON
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path


def versions() -> dict:
    found = {"python": platform.python_version()}
    try:
        import torch

        found |= {"torch": torch.__version__, "cuda": torch.version.cuda}
        if torch.cuda.is_available():
            found["gpu"] = torch.cuda.get_device_name(0)
    except ImportError as error:
        found["torch"] = f"not importable: {error}"
    return found


def read(status: Path) -> list[dict]:
    return [json.loads(line) for line in status.read_text().splitlines() if line.strip()]


def profile_rows(backend: str, path: Path) -> list[dict]:
    if not path.exists():
        return [{"kind": "profile", "backend": backend, "error": f"{path.name} was not written"}]
    report = json.loads(path.read_text())
    return [{"kind": "profile", "backend": backend} | point for point in report["points"]]


def render(out: Path, records: list[dict]) -> None:
    meta = next((r for r in records if r["kind"] == "versions"), {})
    steps = [r for r in records if r["kind"] == "step"]
    points = [r for r in records if r["kind"] == "profile"]
    (out / "summary.json").write_text(json.dumps({"versions": meta, "steps": steps, "profile": points}, indent=1))
    lines = ["# GPU check", "", "versions: " + ", ".join(f"{k} {v}" for k, v in meta.items() if k != "kind"), ""]
    lines += ["| step | status | seconds | limit |", "| --- | --- | --- | --- |"]
    lines += [f"| {s['name']} | {s['status']} | {s['seconds']} | {s['limit']} |" for s in steps]
    if points:
        lines += ["", "| backend | model | seconds | training-step peak MiB | windows/s | error |",
                  "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for p in points:
            memory = "" if p.get("memory_mib") is None else f"{p['memory_mib']:.0f}"
            speed = "" if p.get("windows_per_s") is None else f"{p['windows_per_s']:.1f}"
            lines.append(f"| {p['backend']} | {p.get('model', '')} | {p.get('seconds', '')} | {memory} | {speed} | "
                         f"{p.get('error') or ''} |")  # fmt: skip
        lines += ["", *ratios(points)]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def ratios(points: list[dict]) -> list[str]:
    """LuMamba against LUNA-Base at each length and backend: memory and windows/s."""
    by = {(p["backend"], p.get("model"), p.get("seconds")): p for p in points}
    lines = []
    for (backend, model, seconds), ours in sorted(by.items(), key=lambda kv: (kv[0][0], str(kv[0][2]))):
        luna = by.get((backend, "luna-base", seconds))
        if model != "lumamba" or luna is None:
            continue
        parts = []
        if ours.get("memory_mib") and luna.get("memory_mib"):
            parts.append(f"memory {ours['memory_mib'] / luna['memory_mib']:.2f}x LUNA-Base's")
        if ours.get("windows_per_s") and luna.get("windows_per_s"):
            parts.append(f"windows/s {ours['windows_per_s'] / luna['windows_per_s']:.2f}x")
        if parts:
            lines.append(f"- {backend}, {seconds} s: LuMamba " + ", ".join(parts))
    return lines


def main(argv: list[str]) -> None:
    mode, out, status = argv[0], Path(argv[1]), Path(argv[2])
    if mode == "--init":
        status.write_text(json.dumps({"kind": "versions"} | versions()) + "\n")
    elif mode == "--step":
        name, text, seconds, limit = argv[3:7]
        record = {"kind": "step", "name": name, "status": text, "seconds": int(seconds), "limit": int(limit)}
        with status.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
    elif mode == "--profile":
        with status.open("a") as handle:
            for row in profile_rows(argv[3], Path(argv[4])):
                handle.write(json.dumps(row) + "\n")
    else:
        sys.exit(f"unknown mode {mode}")
    render(out, read(status))


if __name__ == "__main__":
    main(sys.argv[1:])
