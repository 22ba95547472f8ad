"""``lumamba-bench compare``: local runs side by side, with the board's own statistics.

Each results file becomes a board row (``tables.measured_row``) and the rows go through the same
``tables.tables`` as ``leaderboard build``: the same bootstrap intervals (recording- and
window-level for file-level tasks) and the same paired tests, against the best row of each task
or against a chosen baseline. Nothing is stored; no model card is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lumamba_bench.errors import LumambaError
from lumamba_bench.leaderboard import cards as model_cards
from lumamba_bench.leaderboard.submission import (
    SubmissionError,
    check,
    check_prediction_table,
    predictions_path,
    read_predictions,
    read_results,
)
from lumamba_bench.leaderboard.tables import Row, Table, file_level, measured_row, tables


@dataclass
class Comparison:
    """The compared runs: one board table per (task, track), and the files left out of folders."""

    tables: list[Table]
    skipped: list[str]  # "path: why" for JSON files in a folder that are not results files

    def frame(self):
        """One pandas row per run: mean, std and 95% interval of every metric, p against the
        reference row of its table."""
        import pandas as pd

        records = []
        for table in self.tables:
            levels = ["window"] + (["recording"] if file_level(table.task) else [])
            for row in table.rows:
                record = {
                    "task": table.task,
                    "track": table.track or "standard",
                    "model": row.model,
                    "recipe": row.extra.get("recipe", "-"),
                    "protocol": row.note.removeprefix("protocol "),
                    "seeds": row.seeds,
                    "checkpoint": row.checkpoint,
                    "file": row.extra.get("path", row.extra.get("file")),
                    "predictions": row.predictions is not None,
                }
                for level in levels:
                    values = row.metrics if level == "window" else row.recording_metrics
                    prefix = "" if level == "window" else "recording_"
                    for metric in table.metrics:
                        mean, std = values.get(metric, (None, None))
                        low, high = row.ci.get((level, metric)) or (None, None)
                        record |= {f"{prefix}{metric}": mean, f"{prefix}{metric}_std": std,
                                   f"{prefix}{metric}_ci_low": low, f"{prefix}{metric}_ci_high": high}  # fmt: skip
                record |= {"p_value": row.p_value, "paired_test": row.p_note or "-"}
                records.append(record)
        return pd.DataFrame.from_records(records)


def results_files(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Results files named, or found under named folders (``*.json`` that are results files:
    partial logs of diverged runs and other JSON are listed as skipped, with why)."""
    files, skipped = [], []
    for path in map(Path, paths):
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            for found in sorted(path.rglob("*.json")):
                if found.name.endswith(".partial.json"):
                    skipped.append(f"{found}: a diverged run's partial log")
                    continue
                try:
                    content = json.loads(found.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
                    skipped.append(f"{found}: not readable JSON ({error})")
                    continue
                if isinstance(content, dict) and "schema_version" in content and "seeds" in content:
                    files.append(found)
                else:
                    skipped.append(f"{found}: not a results file")
        else:
            raise LumambaError(f"{path}: no such file or folder")
    if not files:
        raise LumambaError(f"no results files in {', '.join(map(str, paths))}")
    return files, skipped


def load_row(path: Path) -> Row:
    """A results file, checked as ``submit`` checks it (its summary is what its seeds give; its
    predictions, where beside it, recompute to its metrics), as a row."""
    results = read_results(path)
    try:
        check(results, str(path), rerunnable=False)
        table = None
        if predictions_path(path).is_file():
            table = read_predictions(predictions_path(path))
            check_prediction_table(results, table, str(predictions_path(path)))
    except SubmissionError as error:
        raise LumambaError(f"cannot compare {error}") from None
    row = measured_row(results, table, path.name)
    row.extra["path"] = str(path)
    row.overlap = model_cards.NONE  # local runs: ranked by score; pre-training overlap is the board's question
    return row


def compare(paths: list[Path | str], baseline: Path | str | None = None) -> Comparison:
    """Compare results files (or folders of them); ``baseline``: the row every other row of its
    task is tested against (default: the best of each task)."""
    files, skipped = results_files([Path(p) for p in paths])
    resolved = {f.resolve() for f in files}
    if baseline is not None and Path(baseline).resolve() not in resolved:
        files.append(Path(baseline))
    rows = [load_row(f) for f in files]
    chosen = None
    if baseline is not None:
        chosen = next(r for r in rows if Path(r.extra["path"]).resolve() == Path(baseline).resolve())
        if chosen.predictions is None:
            raise LumambaError(f"{baseline}: the baseline has no predictions beside it; paired tests need them")
    return Comparison(tables(rows, chosen), skipped)


def table_cells(table: Table) -> tuple[list[str], list[list[str]]]:
    """Header and text cells of one compared table (mean ± std [95% interval], p), as the
    board writes its metric cells."""
    from lumamba_bench.leaderboard.render import metric_text

    levels = ["window"] + (["recording"] if file_level(table.task) else [])
    header = ["model", "recipe", "protocol", "seeds"]
    header += [m if level == "window" else f"{m} (recording)" for level in levels for m in table.metrics]
    header += ["p", "paired test", "file"]
    body = []
    for row in table.rows:
        cells = [row.model, row.extra.get("recipe", "-"), row.note.removeprefix("protocol "), str(row.seeds)]
        marker = " [no predictions]" if row.predictions is None else ""
        cells += [metric_text(row, metric, level) + marker for level in levels for metric in table.metrics]
        cells += ["-" if row.p_value is None else f"{row.p_value:.3f}", row.p_note or "-", row.extra["path"]]
        body.append(cells)
    return header, body


def terminal_cells(table: Table) -> tuple[list[str], list[list[str]], list[str]]:
    """A narrower view for the terminal: window-level metrics (and the primary one per
    recording), the interval under the mean, p; each row's file and test as a note below."""
    columns = [("window", m) for m in table.metrics]
    if file_level(table.task):
        columns.append(("recording", table.metrics[0]))
    header = ["#", "model", "recipe", "seeds"]
    header += [m if level == "window" else f"{m} (recording)" for level, m in columns] + ["p"]
    body, notes = [], []
    for number, row in enumerate(table.rows, 1):
        cells = [str(number), row.model, row.extra.get("recipe", "-"), str(row.seeds)]
        for level, metric in columns:
            values = row.metrics if level == "window" else row.recording_metrics
            mean, std = values.get(metric, (None, None))
            text = "-" if mean is None else f"{mean:.3f}" + ("" if std is None else f" ± {std:.3f}")
            interval = row.ci.get((level, metric))
            below = "no predictions" if row.predictions is None else f"[{row.ci_note}]" if row.ci_note else (
                "[n/a]" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]")
            cells.append(f"{text}\n{below}")
        cells.append("-" if row.p_value is None else f"{row.p_value:.3f}")
        body.append(cells)
        notes.append(f"  {number}: {row.extra['path']} ({row.note}); {row.p_note or 'no paired test'}")
    return header, body, notes


def markdown(comparison: Comparison) -> str:
    from lumamba_bench.leaderboard.render import markdown_cell

    lines = []
    for table in comparison.tables:
        header, body = table_cells(table)
        lines += [f"## {table.title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(markdown_cell(c) for c in cells) + " |" for cells in body]
        lines.append("")
    return "\n".join(lines)
