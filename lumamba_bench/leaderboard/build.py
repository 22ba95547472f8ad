"""``leaderboard build``: every generated file from submissions + references, same bytes for the
same inputs (no timestamps, sorted inputs), so CI can check the committed files are current."""

from __future__ import annotations

import json
from pathlib import Path

from lumamba_bench.harness.results import RESULTS_SCHEMA
from lumamba_bench.leaderboard.render import html, markdown, to_csv
from lumamba_bench.leaderboard.tables import measured_rows, ranked, reported_rows


def generate(root: Path) -> dict[str, str]:
    """File name (relative to ``root``) -> content."""
    root = Path(root)
    tables = ranked(measured_rows(root / "submissions") + reported_rows(root / "reference"))
    return {
        "schema.json": json.dumps(RESULTS_SCHEMA, indent=2, sort_keys=True) + "\n",
        "README.md": markdown(tables),
        "leaderboard.csv": to_csv(tables),
        "index.html": html(tables),
    }


def build(root: Path) -> list[Path]:
    written = []
    for name, content in generate(root).items():
        path = Path(root) / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


def stale(root: Path) -> list[str]:
    """Generated files whose committed content differs from a fresh build."""
    out = []
    for name, content in generate(root).items():
        path = Path(root) / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            out.append(name)
    return out
