"""``leaderboard build``: every generated file from submissions + references, same bytes for the
same inputs (no timestamps, sorted inputs), so CI can check the committed files are current."""

from __future__ import annotations

import json
from pathlib import Path

from lumamba_bench.files import write_text_atomic
from lumamba_bench.harness.results import RESULTS_SCHEMA
from lumamba_bench.leaderboard.cards import CARD_SCHEMA
from lumamba_bench.leaderboard.render import html, markdown, to_csv
from lumamba_bench.leaderboard.tables import build_board

SCHEMAS = {"results": RESULTS_SCHEMA, "model_card": CARD_SCHEMA}


def generate(root: Path) -> dict[str, str]:
    """File name (relative to ``root``) -> content."""
    board, standings, cards = build_board(Path(root))
    return {
        "schema.json": json.dumps(SCHEMAS, indent=2, sort_keys=True) + "\n",
        "README.md": markdown(board, standings),
        "leaderboard.csv": to_csv(board),
        "index.html": html(board, standings, cards),
    }


def build(root: Path) -> list[Path]:
    written = []
    for name, content in generate(root).items():
        path = Path(root) / name
        write_text_atomic(path, content)
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
