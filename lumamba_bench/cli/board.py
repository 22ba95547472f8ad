"""The leaderboard commands: submit, validate, build, compute, show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
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
        Path | None,
        typer.Option(help="The predictions Parquet `run` wrote beside it: metrics are recomputed and must match."),
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
    from lumamba_bench.leaderboard.compute import card_path, measure_into_card

    compute = measure_into_card(card_path(name, root))
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


OutFile = Annotated[Path | None, typer.Option(help="Also write the table here ('-': standard output).")]


@app.command()
def compare(
    results: Annotated[list[Path], typer.Argument(help="Results files of `run`, or folders holding them.")],
    baseline: Annotated[
        Path | None, typer.Option(help="Test every row of its task against this run (default: the best).")
    ] = None,
    markdown: OutFile = None,
    csv: OutFile = None,
    json: OutFile = None,
) -> None:
    """Runs side by side, one table per task: every board metric as mean ± std with its 95%
    bootstrap interval from the saved predictions, and paired bootstrap p-values against the best
    run (or --baseline), computed by the leaderboard's own code."""
    import sys

    from lumamba_bench.leaderboard import compare as comparing

    comparison = comparing.compare(results, baseline)
    wide = console if console.is_terminal else Console(markup=False, width=150)  # a pipe gets 80 columns
    for reason in comparison.skipped:
        console.print(f"skipped {reason}")
    for shown in comparison.tables:
        header, body, notes = comparing.terminal_cells(shown)
        table = Table(title=shown.title)
        for column in header:
            table.add_column(column, no_wrap=column in ("#", "model"))
        for cells in body:
            table.add_row(*(Text(c) for c in cells))
        wide.print(table)
        for note in notes:
            wide.print(note, highlight=False, soft_wrap=True)
    outputs = {
        markdown: lambda: comparing.markdown(comparison),
        csv: lambda: comparison.frame().to_csv(index=False),
        json: lambda: comparison.frame().to_json(orient="records", indent=2) + "\n",
    }
    for target, text in outputs.items():
        if target is None:
            continue
        if str(target) == "-":
            sys.stdout.write(text())
        else:
            from lumamba_bench.files import write_text_atomic

            target.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(target, text())
            console.print(f"wrote {target}")


@leaderboard_app.command("reproduce")
def leaderboard_reproduce(
    submission: Annotated[
        Path | None, typer.Argument(help="A stored submission under leaderboard/submissions/ (or --all).")
    ] = None,
    all_stored: Annotated[
        bool,
        typer.Option("--all", help="Every stored submission whose data and checkpoint are here; the rest are "
                     "listed as skipped, with why."),
    ] = False,
    checkpoint: Annotated[
        Path | None, typer.Option(help="The encoder it used (default: found in the model store by its sha256).")
    ] = None,
    tolerance: Annotated[float, typer.Option(help="Largest |difference| accepted (default 0: identical).")] = 0.0,
    sigma: Annotated[
        float | None,
        typer.Option(help="Accept a metric whose re-run seed mean is within K stored seed std of the stored mean."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Keep the re-run's results here (default: discarded).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or cuda:N (default: cuda when present).")] = None,
    root: BoardRoot = Path("leaderboard"),
    data_root_dir: DataRoot = None,
) -> None:
    """Re-run a stored submission from what it records (model and checkpoint sha256, task and
    prepared-dataset sha256, fine-tuning recipe, every setting, seeds) and compare every metric
    per seed. On the CPU with the same software the metrics must be identical; exit 1 otherwise,
    naming the metrics (--tolerance or --sigma on other devices)."""
    from lumamba_bench.leaderboard.reproduce import rerunnable_here

    if (submission is None) == (not all_stored):
        raise LumambaError("name one SUBMISSION, or pass --all")
    if submission is not None:
        chosen = [submission]
    else:
        chosen = []
        for path in sorted((root / "submissions").glob("*/*.json")):
            why_not = rerunnable_here(path, data_root_dir)
            if why_not:
                console.print(f"skipped {path}: {why_not}", highlight=False, soft_wrap=True)
            else:
                chosen.append(path)
    failed = []
    for path in chosen:
        failed += [f"{path.name} {f}" for f in _reproduce_one(path, checkpoint, tolerance, sigma, out, device,
                                                              data_root_dir)]  # fmt: skip
    if failed:
        raise LumambaError(f"not reproduced: {', '.join(failed)}")
    console.print(f"reproduced {len(chosen)} submission(s)")


def _reproduce_one(path, checkpoint, tolerance, sigma, out, device, data_root_dir) -> list[str]:
    """Re-run one submission, print the comparison; the values outside the rule."""
    from lumamba_bench.leaderboard.reproduce import reproduce

    outcome = reproduce(path, checkpoint, data_root_dir, device, tolerance, sigma, out)
    table = Table(title=f"{path.name}: stored vs re-run ({outcome.rule})")
    for column in ("seed", "metric", "stored", "re-run", "difference", "within"):
        table.add_column(column)
    for row in outcome.frame.itertuples():
        cells = [str(row.seed), row.metric, f"{row.stored:.6f}", f"{row.rerun:.6f}", f"{row.difference:+.2e}",
                 "yes" if row.within else "NO"]  # fmt: skip
        table.add_row(*cells)
    console.print(table)
    for difference in outcome.environment:
        console.print(f"environment differs: {difference}", highlight=False)
    if outcome.rerun_path is not None:
        console.print(f"re-run results: {outcome.rerun_path}")
    if not outcome.failed:
        console.print(f"{path.name}: {len(outcome.frame)} values reproduced ({outcome.rule})")
    return outcome.failed
