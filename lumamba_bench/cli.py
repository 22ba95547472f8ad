"""The ``lumamba-bench`` command line (typer + rich).

Exit codes: 0 success; 1 an error (one readable line, no traceback); 2 a usage error;
3 ``prepare`` finished but skipped at least one recording (listed in the summary and manifest).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lumamba_bench.errors import LumambaError

app = typer.Typer(
    help="Datasets, encoders and a leaderboard harness for EEG foundation models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

EXIT_SKIPPED = 3

DataRoot = Annotated[
    Path | None,
    typer.Option("--data-root", help="Prepared data folder (default $LUMAMBA_BENCH_DATA or ~/.cache/lumamba-bench)."),
]


@app.command()
def prepare(
    recipe: Annotated[str, typer.Argument(help="Recipe name; see `lumamba-bench recipes`.")],
    source: Annotated[Path | None, typer.Option(help="Root folder of the raw corpus.")] = None,
    data_root: DataRoot = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes reading recordings.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Rebuild from scratch instead of resuming.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N recordings (quick tries).")] = None,
) -> None:
    """Turn a raw corpus into windowed Parquet shards (resumes an interrupted run)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from lumamba_bench.data.prepare import prepare as run_prepare
    from lumamba_bench.data.store import data_root as resolve_root
    from lumamba_bench.recipes import get_recipe

    chosen = get_recipe(recipe)
    root = resolve_root(data_root)
    if source is None:
        if not hasattr(chosen, "default_source"):
            raise LumambaError(f"`prepare {chosen.name}` needs --source: the folder holding {chosen.source_layout}")
        with console.status(f"writing the {chosen.name} corpus"):
            source = chosen.default_source(root)

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[current]}"),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"prepare {chosen.name}", total=None, current="")

        def on_start(total: int, done: int) -> None:
            progress.update(task, total=total, completed=done)

        def on_result(result) -> None:
            mark = "" if result.status == "ok" else " [yellow](skipped)"
            progress.update(task, advance=1, current=f"{result.recording.path.name}{mark}")

        summary = run_prepare(
            chosen,
            source,
            root / chosen.name,
            workers=workers,
            force=force,
            limit=limit,
            on_start=on_start,
            on_result=on_result,
        )
    _print_counts(summary.manifest)
    _print_skipped(summary.manifest)
    console.print(f"shards and manifest in {summary.out_dir}")
    if summary.skipped:
        raise typer.Exit(EXIT_SKIPPED)


@app.command("recipes")
def list_recipes_command(data_root: DataRoot = None) -> None:
    """List the recipes, their protocol and whether they are prepared."""
    from lumamba_bench.data.store import dataset_dir
    from lumamba_bench.recipes import get_recipe, list_recipes

    table = Table(title="recipes")
    for column in ("recipe", "version", "protocol", "--source layout", "prepared"):
        table.add_column(column, overflow="fold")
    for name in list_recipes():
        recipe = get_recipe(name)
        manifest = dataset_dir(name, data_root) / "manifest.json"
        status = "no"
        if manifest.exists():
            import json

            windows = sum(s["windows"] for s in json.loads(manifest.read_text())["splits"].values())
            status = f"yes ({windows} windows)"
        table.add_row(name, recipe.version, recipe.summary, recipe.source_layout, status)
    console.print(table)


@app.command()
def info(
    recipe: Annotated[str, typer.Argument(help="A prepared recipe.")],
    data_root: DataRoot = None,
) -> None:
    """Summarise a prepared dataset: counts per split / label / montage, skipped files."""
    from lumamba_bench.data.manifest import read_manifest
    from lumamba_bench.data.store import dataset_dir
    from lumamba_bench.recipes import get_recipe

    name = get_recipe(recipe).name
    manifest = read_manifest(dataset_dir(name, data_root), name)
    p = manifest["preprocessing"]
    console.print(
        f"[bold]{name}[/] v{manifest['recipe']['version']}  prepared {manifest['created']} "
        f"from {manifest['source_root']}\n{p['sfreq']:g} Hz, {p['l_freq']:g}-{p['h_freq']:g} Hz band-pass, "
        f"notch {p['notch_freq']} Hz, {p['window_s']:g} s windows, {p['units']}"
    )
    _print_counts(manifest)
    montages = Table(title="montages")
    for column in ("montage", "channels", "names"):
        montages.add_column(column, overflow="fold")
    for montage, entry in manifest["montages"].items():
        montages.add_row(montage, str(len(entry["channels"])), " ".join(entry["channels"]))
    console.print(montages)
    dropped = manifest["dropped_windows"]
    console.print(
        f"dropped windows: {dropped['flat']} flat, {dropped['nonfinite']} with NaN/Inf; "
        f"{len(manifest['shards'])} shards; {len(manifest['ignored_files'])} unrelated files ignored"
    )
    _print_skipped(manifest)


@app.command("demo-data")
def demo_data(
    directory: Annotated[Path, typer.Argument(help="Where to write the demo corpus (TUAB layout).")],
    seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 0,
) -> None:
    """Write the synthetic demo corpus as EDF files in the TUAB layout."""
    from lumamba_bench.recipes.demo_corpus import write_demo_corpus

    with console.status("writing EDF files"):
        paths = write_demo_corpus(directory, seed=seed)
    console.print(
        f"{len(paths)} EDF recordings in {directory}; prepare them with "
        f"`lumamba-bench prepare demo --source {directory}`"
    )


def _print_counts(manifest: dict) -> None:
    labels = manifest["label_names"]
    table = Table(title=f"{manifest['recipe']['name']}: windows per split")
    for column in ("split", "recordings", "subjects", "windows", *labels):
        table.add_column(column, justify="right")
    for split, counts in manifest["splits"].items():
        per_label = counts["windows_per_label"]
        table.add_row(
            split,
            str(counts["recordings"]),
            str(counts["subjects"]),
            str(counts["windows"]),
            *(str(per_label.get(str(i), 0)) for i in range(len(labels))),
        )
    console.print(table)


def _print_skipped(manifest: dict) -> None:
    skipped = [f for f in manifest["files"] if f["status"] == "skipped"]
    if not skipped:
        return
    table = Table(title=f"{len(skipped)} skipped recordings", title_style="bold yellow")
    table.add_column("file", overflow="fold")
    table.add_column("reason", overflow="fold")
    for entry in skipped:
        table.add_row(entry["path"], entry["reason"])
    console.print(table)


def main() -> None:
    try:
        app()
    except LumambaError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: re-run the same command to resume")
        raise SystemExit(130) from None
