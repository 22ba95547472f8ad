"""Commands on corpora and prepared data: prepare, splits, recipes, verify, info, demo-data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from lumamba_bench.cli.common import (
    EXIT_SKIPPED,
    DataRoot,
    _capped_workers,
    app,
    console,
    progress_bar,
)


@app.command()
def prepare(
    recipe: Annotated[str, typer.Argument(help="Recipe name; see `lumamba-bench recipes`.")],
    source: Annotated[Path | None, typer.Option(help="Root folder of the raw corpus.")] = None,
    data_root: DataRoot = None,
    workers: Annotated[
        int, typer.Option(min=1, callback=_capped_workers, help="Processes reading recordings (at most the CPUs).")
    ] = 1,
    force: Annotated[bool, typer.Option("--force", help="Rebuild from scratch instead of resuming.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N recordings (quick tries).")] = None,
    exclude_subjects_of: Annotated[
        list[str] | None,
        typer.Option(help="Leave out the subjects of these prepared recipes (tueg: --exclude-subjects-of tuab)."),
    ] = None,
    allow_partial: Annotated[
        bool,
        typer.Option("--allow-partial", help="Prepare a copy with fewer files than the corpus release has (recorded)."),
    ] = False,
    split_file: Annotated[
        Path | None,
        typer.Option(help="A subject_id,split CSV (see `lumamba-bench splits`) used instead of the recipe's split."),
    ] = None,
) -> None:
    """Turn a raw corpus into windowed Parquet shards (resumes an interrupted run). A copy whose
    file counts differ from the corpus release the recipe declares is refused, unless --allow-partial."""

    from lumamba_bench.data.prepare import prepare as run_prepare
    from lumamba_bench.data.recipe import get_recipe
    from lumamba_bench.data.store import data_root as resolve_root
    from lumamba_bench.data.store import resolve_source

    chosen = get_recipe(recipe)
    root = resolve_root(data_root)
    if exclude_subjects_of:
        chosen.exclude_subjects_of([get_recipe(name).name for name in exclude_subjects_of], root)
    with console.status(f"finding the {chosen.name} corpus"):
        source = resolve_source(chosen, source, root)

    with progress_bar("current", console, remaining=True) as progress:
        task = progress.add_task(f"prepare {chosen.name}", total=None, current="")

        def on_start(total: int, done: int) -> None:
            progress.update(task, total=total, completed=done)

        def on_result(result) -> None:
            mark = "" if result.status == "ok" else " (skipped)"
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
            allow_partial=allow_partial,
            split_file=split_file,
        )
    _report_preparation(summary)
    if summary.skipped:
        raise typer.Exit(EXIT_SKIPPED)


def _report_preparation(summary) -> None:
    """Counts, skipped files and every warning a finished preparation has."""
    from lumamba_bench.data.manifest import partial_reason

    partial = partial_reason(summary.manifest)
    if partial:
        console.print(Text(f"warning: {partial}, as asked; the leaderboard takes no results on it", style="yellow"))
    if summary.journal_bytes_dropped:
        console.print(
            Text(
                f"note: cut a partial last journal record ({summary.journal_bytes_dropped} bytes) left by an "
                "interrupted run; its recordings were processed again",
                style="yellow",
            )
        )
    _print_counts(summary.manifest)
    _print_skipped(summary.manifest)
    for group in summary.manifest.get("same_content_across_splits", []):
        same = " = ".join(f"{f['path']} ({f['split']})" for f in group["files"])
        console.print(Text(f"warning: the same recording in two splits: {same}", style="yellow"))
    console.print(f"shards and manifest in {summary.out_dir}")


@app.command()
def splits(
    recipe: Annotated[str, typer.Argument(help="A prepared recipe.")],
    out: Annotated[Path | None, typer.Option(help="Write the table here (default: print it).")] = None,
    data_root: DataRoot = None,
) -> None:
    """The subject -> split table of a prepared task, as CSV (subject_id,split) with its sha256,
    which the manifest also records; `prepare --split-file` takes it back."""
    from lumamba_bench.data.split_tables import table_sha256, table_text
    from lumamba_bench.files import write_text_atomic

    name, manifest, _ = _verified_dataset(recipe, data_root)
    subjects = manifest.get("subjects", {})
    text, digest = table_text(subjects), table_sha256(subjects)
    if out is None:
        typer.echo(text, nl=False)
        return
    write_text_atomic(out, text)
    counts = ", ".join(f"{s} {list(subjects.values()).count(s)}" for s in ("train", "val", "test"))
    console.print(f"{name}: {len(subjects)} subjects ({counts}) in {out}, sha256 {digest}")


@app.command("recipes")
def list_recipes_command(data_root: DataRoot = None) -> None:
    """List the recipes, their protocol and whether they are prepared."""
    from lumamba_bench.data.manifest import read_manifest
    from lumamba_bench.data.recipe import get_recipe, list_recipes
    from lumamba_bench.data.store import dataset_dir

    table = Table(title="recipes")
    for column in ("recipe", "version", "protocol", "--source layout", "prepared"):
        table.add_column(column, overflow="fold")
    for name in list_recipes():
        recipe = get_recipe(name)
        status = "no"
        if (dataset_dir(name, data_root) / "manifest.json").exists():
            manifest = read_manifest(dataset_dir(name, data_root), name)
            status = f"yes ({sum(s['windows'] for s in manifest['splits'].values())} windows)"
        table.add_row(name, recipe.version, recipe.summary, recipe.source_layout, status)
    console.print(table)


@app.command()
def verify(
    recipe: Annotated[str, typer.Argument(help="A prepared recipe.")],
    data_root: DataRoot = None,
) -> None:
    """Re-hash every shard of a prepared dataset against its manifest (ignores the hash cache)."""
    name, _, count = _verified_dataset(recipe, data_root, use_cache=False)
    console.print(f"{name}: {count} shards match their recorded sha256")


def _verified_dataset(recipe: str, data_root: Path | None, use_cache: bool = True) -> tuple[str, dict, int]:
    """(recipe name, manifest, shards hashed) of a prepared dataset whose shards check out."""
    from lumamba_bench.data.integrity import verify_shards
    from lumamba_bench.data.manifest import read_manifest
    from lumamba_bench.data.recipe import get_recipe
    from lumamba_bench.data.store import dataset_dir

    name = get_recipe(recipe).name
    folder = dataset_dir(name, data_root)
    manifest = read_manifest(folder, name)
    return name, manifest, verify_shards(folder, manifest, use_cache=use_cache)


@app.command()
def info(
    recipe: Annotated[str, typer.Argument(help="A prepared recipe.")],
    data_root: DataRoot = None,
) -> None:
    """Summarise a prepared dataset: counts per split / label / montage, skipped files."""
    name, manifest, _ = _verified_dataset(recipe, data_root)
    p = manifest["preprocessing"]
    console.print(Text(name, style="bold"), end="")
    console.print(
        f" v{manifest['recipe']['version']}  prepared {manifest['created']} "
        f"from {manifest['source_root']}\n"
        f"{p['sfreq']:g} Hz, {p['l_freq']:g}-{p['h_freq']:g} Hz band-pass, "
        f"notch {p['notch_freq']} Hz, {p['window_s']:g} s windows, {p['units']}"
    )
    _print_counts(manifest)
    table = manifest.get("split_table", {})
    if table:
        where = f"the split file {table['file']}" if table["from"] == "split-file" else "the recipe"
        console.print(f"splits from {where}; subject table sha256 {table['sha256']} (`lumamba-bench splits {name}`)")
    montages = Table(title="montages")
    for column in ("montage", "channels", "names"):
        montages.add_column(column, overflow="fold")
    for montage, entry in manifest["montages"].items():
        montages.add_row(Text(montage), str(len(entry["channels"])), Text(" ".join(entry["channels"])))
    console.print(montages)
    dropped = manifest["dropped_windows"]
    console.print(
        f"dropped windows: {dropped['flat']} flat, {dropped['nonfinite']} with NaN/Inf; "
        f"{len(manifest['shards'])} shards; {len(manifest['ignored_files'])} unrelated files ignored"
    )
    _print_skipped(manifest)


@app.command("demo-data")
def demo_data(
    directory: Annotated[Path, typer.Argument(help="Where to write the demo corpus.")],
    seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 0,
    pretrain: Annotated[
        bool, typer.Option("--pretrain", help="Write the unlabelled pre-training part (TUEG layout) instead.")
    ] = False,
) -> None:
    """Write the synthetic demo corpus as EDF files: the labelled part in the TUAB layout, or
    with --pretrain the unlabelled part in the TUEG layout."""
    from lumamba_bench.recipes.demo_corpus import write_demo_corpus, write_demo_pretrain_corpus

    write, recipe = (write_demo_pretrain_corpus, "demo-pretrain") if pretrain else (write_demo_corpus, "demo")
    with console.status("writing EDF files"):
        paths = write(directory, seed=seed)
    console.print(
        f"{len(paths)} EDF recordings in {directory}; prepare them with "
        f"`lumamba-bench prepare {recipe} --source {directory}`"
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
    from lumamba_bench.data.prepare import skipped_entries

    skipped = skipped_entries(manifest)
    if not skipped:
        return
    table = Table(title=f"{len(skipped)} skipped recordings", title_style="bold yellow")
    table.add_column("file", overflow="fold")
    table.add_column("reason", overflow="fold")
    for entry in skipped:
        table.add_row(Text(entry["path"]), Text(entry["reason"]))  # file names print literally
    console.print(table)
