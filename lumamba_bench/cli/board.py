"""The leaderboard commands: submit, validate, build, compute, show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from lumamba_bench.cli.common import (
    DataRoot,
    app,
    console,
)
from lumamba_bench.errors import LumambaError

leaderboard_app = typer.Typer(help="Submit results, build and show the leaderboard.", no_args_is_help=True)
app.add_typer(leaderboard_app, name="leaderboard")
BoardRoot = Annotated[Path, typer.Option("--root", help="The leaderboard folder.")]


@leaderboard_app.command("submit")
def leaderboard_submit(
    file: Annotated[Path, typer.Argument(help="A results JSON written by `lumamba-bench run`.")],
    predictions: Annotated[
        Path | None, typer.Option(help="Its --save-predictions Parquet: metrics are recomputed and must match.")
    ] = None,
    card: Annotated[Path | None, typer.Option(help="The model's card (JSON), when the board has none yet.")] = None,
    root: BoardRoot = Path("leaderboard"),
    data_root_dir: DataRoot = None,
) -> None:
    """Validate a results file and its model card and store them under leaderboard/. With
    --predictions, the prepared test split must be in the data root: every test window, once,
    with its label; the predictions are stored too (they give the intervals and paired tests)."""
    from lumamba_bench.data.store import data_root
    from lumamba_bench.leaderboard.submission import read_results, submit

    task = read_results(file).get("task")
    recipe = task.get("recipe") if isinstance(task, dict) else None
    dataset = data_root(data_root_dir) / recipe if predictions is not None and isinstance(recipe, str) else None
    stored = submit(file, root, predictions, dataset, card)
    console.print(f"accepted: stored as {stored}; run `lumamba-bench leaderboard build` to render it")


@leaderboard_app.command("validate")
def leaderboard_validate(root: BoardRoot = Path("leaderboard")) -> None:
    """Check every model card and stored submission against the rules `submit` applies, and every
    reference file: each row names its source (with a link), task protocol and metric definition."""
    from lumamba_bench.leaderboard.cards import load_cards
    from lumamba_bench.leaderboard.references import read_reference, reference_files
    from lumamba_bench.leaderboard.submission import load_stored
    from lumamba_bench.leaderboard.tables import attach_cards, reported_rows

    cards = load_cards(root / "models")
    files = sorted((root / "submissions").glob("*/*.json"))
    for path in files:
        load_stored(path, cards)
    references = reference_files(root / "reference")
    rows = sum(len(read_reference(path)["entries"]) for path in references)
    attach_cards(reported_rows(root / "reference"), cards)  # every reported row names a card
    console.print(
        f"{len(cards)} model cards, {len(files)} submissions and {rows} reported rows in {len(references)} "
        "reference files valid"
    )


@leaderboard_app.command("build")
def leaderboard_build(
    root: BoardRoot = Path("leaderboard"),
    check_only: Annotated[
        bool, typer.Option("--check", help="Write nothing; fail if a generated file is out of date.")
    ] = False,
) -> None:
    """Render README.md, leaderboard.csv, index.html and schema.json from submissions, references
    and model cards (intervals and paired tests included)."""
    from lumamba_bench.leaderboard.build import build, stale

    if check_only:
        outdated = stale(root)
        if outdated:
            raise LumambaError(f"out of date: {', '.join(outdated)}; run `lumamba-bench leaderboard build`")
        console.print("leaderboard files are up to date")
        return
    for path in build(root):
        console.print(f"wrote {path}")


@leaderboard_app.command("compute")
def leaderboard_compute(
    name: Annotated[str, typer.Argument(help="A model card name under leaderboard/models/.")],
    root: BoardRoot = Path("leaderboard"),
) -> None:
    """Measure the card's compute columns (forward GFLOPs, training-step memory; one 5 s,
    22-channel window on the CPU) with the profiler and write them into the card."""
    from lumamba_bench.leaderboard.compute import measure_into_card

    compute = measure_into_card(root / "models" / f"{name}.json")
    console.print(
        f"{name}: {compute['gflops_forward_5s']:.3f} GFLOPs forward, "
        f"{compute['train_step_memory_mib_5s']:.0f} MiB training step at 5 s"
    )


@leaderboard_app.command("show")
def leaderboard_show(
    task: Annotated[str | None, typer.Option(help="Only this task.")] = None,
    root: BoardRoot = Path("leaderboard"),
) -> None:
    """Print the leaderboard tables (the generated README's columns)."""
    from lumamba_bench.leaderboard.render import table_rows
    from lumamba_bench.leaderboard.tables import build_board

    board, _, _ = build_board(root)
    if task is not None and task not in {t.task for t in board}:
        raise LumambaError(
            f"no leaderboard rows for task {task!r}; tasks: {', '.join(t.task for t in board) or 'none'}"
        )
    for shown in board:
        if task is not None and shown.task != task:
            continue
        header, rows = table_rows(shown)
        table = Table(title=shown.title)
        for column in header:
            table.add_column(column, no_wrap=column == "model", overflow="fold")
        for row, cells in rows:
            table.add_row(*(Text(c) for c in cells), style="italic dim" if row.source == "reported" else None)
        console.print(table)
