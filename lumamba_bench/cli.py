"""The ``lumamba-bench`` command line (typer + rich).

Exit codes: 0 success; 1 an error (one readable line, no traceback); 2 a usage error;
3 ``prepare`` finished but skipped at least one recording (listed in the summary and manifest).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lumamba_bench.errors import LumambaError

app = typer.Typer(
    help="Datasets, encoders and a leaderboard harness for EEG foundation models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# markup=False: user text (paths, labels, reasons) always prints literally; styles are Text objects.
console = Console(markup=False)


def _positive_finite(value: float | None) -> float | None:
    """Option check: a learning rate is a finite number above zero (NaN or -1 would train to NaN)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value} is not a finite number > 0")
    return value


err_console = Console(stderr=True, markup=False)

EXIT_SKIPPED = 3

TaskOption = Annotated[str, typer.Option(help="A prepared recipe (the demo is prepared on first use).")]
CheckpointOption = Annotated[Path | None, typer.Option(help="Encoder weights (.safetensors or .pt).")]

DataRoot = Annotated[
    Path | None,
    typer.Option("--data-root", help="Prepared data folder (default $LUMAMBA_BENCH_DATA or ~/.cache/lumamba-bench)."),
]


DeviceOption = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="cpu, cuda or cuda:N [default: cuda when available (cuda:LOCAL_RANK under torchrun), else cpu].",
    ),
]
PrecisionOption = Annotated[
    str, typer.Option("--precision", help="fp32 (TF32 matmuls on CUDA) or bf16 (autocast); recorded in the results.")
]
WorkersOption = Annotated[
    int, typer.Option("--workers", min=0, help="DataLoader processes decoding batches ahead (same order; 0: none).")
]
ScanBackendOption = Annotated[
    str,
    typer.Option(
        "--scan-backend",
        help="auto: mamba-ssm's kernel on CUDA when it imports, else the chunked PyTorch scan; "
        "mamba-ssm: the kernel or an error; chunked: the PyTorch scan everywhere. Recorded in the results.",
    ),
]


def _compute_setup(device: str | None, precision: str, scan_backend: str):
    """The device, scan backend and precision a command runs with (checked before any work);
    returns the device."""
    import torch

    from lumamba_bench.harness import precision as precisions
    from lumamba_bench.models.scan import scan_backend as backend_for
    from lumamba_bench.models.scan import set_scan_backend

    chosen = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise LumambaError(f"--device {device}: this torch build sees no CUDA device (torch {torch.__version__})")
    set_scan_backend(scan_backend)
    backend_for(chosen)  # demanding the kernel on a CPU run fails here, not mid-run
    precisions.configure(chosen, precision)
    return chosen


@app.command()
def prepare(
    recipe: Annotated[str, typer.Argument(help="Recipe name; see `lumamba-bench recipes`.")],
    source: Annotated[Path | None, typer.Option(help="Root folder of the raw corpus.")] = None,
    data_root: DataRoot = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes reading recordings.")] = 1,
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
) -> None:
    """Turn a raw corpus into windowed Parquet shards (resumes an interrupted run). A copy whose
    file counts differ from the corpus release the recipe declares is refused, unless --allow-partial."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from lumamba_bench.data.prepare import prepare as run_prepare
    from lumamba_bench.data.store import data_root as resolve_root
    from lumamba_bench.recipes import get_recipe

    chosen = get_recipe(recipe)
    root = resolve_root(data_root)
    if exclude_subjects_of:
        if not hasattr(chosen, "exclude_subjects_of"):
            raise LumambaError(f"--exclude-subjects-of applies to pre-training corpora (tueg), not {chosen.name}")
        chosen.exclude_subjects_of([get_recipe(name).name for name in exclude_subjects_of], root)
    if source is None:
        if not hasattr(chosen, "default_source"):
            raise LumambaError(f"`prepare {chosen.name}` needs --source: the folder holding {chosen.source_layout}")
        with console.status(f"writing the {chosen.name} corpus"):
            source = chosen.default_source(root)

    with Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[current]}", markup=False),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
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
        )
    completeness = summary.manifest["recipe"].get("completeness")
    if completeness and not completeness["complete"]:
        found, expected = sum(completeness["found"].values()), sum(completeness["expected"].values())
        console.print(Text(f"warning: a partial copy ({found:,} of {expected:,} files), as allowed", style="yellow"))
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
    from lumamba_bench.data.store import dataset_dir
    from lumamba_bench.recipes import get_recipe

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


@app.command()
def pretrain(
    model: Annotated[
        str, typer.Option(help="lumamba-recon, lumamba-lejepa, lumamba-mixed, luna-base or femba-tiny.")
    ] = "lumamba-mixed",
    corpus: Annotated[str, typer.Option(help="A prepared recipe (the demo is prepared on first use).")] = "demo",
    epochs: Annotated[int, typer.Option(min=1)] = 3,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    lr: Annotated[float, typer.Option(help="Peak AdamW learning rate.", callback=_positive_finite)] = 5e-4,
    warmup_epochs: Annotated[float, typer.Option(min=0)] = 1.0,
    lejepa_weight: Annotated[
        float, typer.Option(min=0, help="Weight of LeJEPA, in the mixed objective (the dial) and alone.")
    ] = 0.05,
    preset: Annotated[
        str,
        typer.Option(
            help="reference: the authors' configuration (masking 0.5, 128 SIGReg slices); "
            "paper-text: the published text's values (masking 0.6, 300 slices)."
        ),
    ] = "reference",
    mask_ratio: Annotated[
        float | None, typer.Option(min=0.01, max=0.99, help="Fraction of masked cells [default: the preset's].")
    ] = None,
    sigreg_weight: Annotated[float, typer.Option(min=0, max=1, help="LeJEPA lambda.")] = 0.002,
    num_slices: Annotated[
        int | None, typer.Option(min=1, help="SIGReg random directions per step [default: the preset's].")
    ] = None,
    seed: int = 0,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Steps between checkpoints.")] = 50,
    log_every: Annotated[
        int,
        typer.Option(min=1, help="Steps between reading losses back from the device (checked, logged)."),
    ] = 10,
    out: Annotated[Path | None, typer.Option(help="Run folder (default runs/pretrain/MODEL).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")] = False,
    resume_with_changes: Annotated[
        bool,
        typer.Option(
            "--resume-with-changes", help="Resume even though training settings differ (each change goes in the card)."
        ),
    ] = False,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Stop after this many steps (checkpointed).")] = None,
    device: DeviceOption = None,
    precision: PrecisionOption = "fp32",
    workers: WorkersOption = 0,
    scan_backend: ScanBackendOption = "auto",
    data_root: DataRoot = None,
) -> None:
    """Pre-train an encoder; the finished encoder goes into the local model store for `run`.

    Objective settings, the authors' configuration (`--preset reference`): one mask per batch over
    0.5 of the 1 channel x 40 sample cells; loss = SmoothL1 masked + 0.05 visible + 0.8 query
    specialisation; electrode jitter 0.02; LeJEPA views 4 local x 4 patches and 2 global x 16;
    SIGReg on 128 directions, lambda 0.002; LeJEPA weight 0.05 (mixed, and alone); dropout 0.1 in
    the channel-unification block. FEMBA: 0.6 of its 2 x 16 cells, SmoothL1 on masked samples.
    `--preset paper-text`: masking 0.6, 300 directions. The checkpoint card records every setting.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lumamba_bench.harness.pretrain import PretrainConfig
    from lumamba_bench.harness.pretrain import pretrain as run_pretrain

    is_main = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 reports
    out_console = console if is_main else Console(quiet=True)
    _compute_setup(device, precision, scan_backend)

    config = PretrainConfig(
        model=model,
        corpus=corpus,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        warmup_epochs=warmup_epochs,
        lejepa_weight=lejepa_weight,
        preset=preset,
        mask_ratio=mask_ratio,
        sigreg_weight=sigreg_weight,
        num_slices=num_slices,
        seed=seed,
        checkpoint_every=checkpoint_every,
        log_every=log_every,
        out=out,
        resume=resume,
        resume_with_changes=resume_with_changes,
        max_steps=max_steps,
        device=device,
        workers=workers,
        data_root=data_root,
    )
    with Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[losses]}"),
        TimeElapsedColumn(),
        console=out_console,
        disable=not is_main,
    ) as progress:
        task = progress.add_task(f"pretrain {model}", total=None, losses="")

        def on_step(record: dict, total: int) -> None:
            shown = " ".join(
                f"{k}={record[k]:.4g}" for k in record if k not in ("step", "epoch", "lr", "grad_norm", "seconds")
            )
            progress.update(task, total=total, completed=record["step"] + 1, losses=shown)

        result = run_pretrain(config, on_step=on_step)
    if result.history:
        first, last = result.history[0]["loss"], result.history[-1]["loss"]
        out_console.print(
            f"loss {first:.4f} -> {last:.4f} over steps {result.history[0]['step']}-{result.history[-1]['step']}"
        )
    out_console.print(f"checkpoints in {result.run_dir}")
    if result.registered:
        from lumamba_bench.leaderboard.cards import write_pretraining_card

        out_console.print(f"registered {model} in the model store: {result.registered}")
        out_console.print(
            f"model card (for `leaderboard submit`): {write_pretraining_card(result.registered, data_root)}"
        )


@app.command()
def run(
    model: Annotated[str, typer.Option(help="A model name, e.g. lumamba-mixed or lumamba-mixed-scratch.")],
    task: TaskOption = "demo",
    checkpoint: CheckpointOption = None,
    protocol: Annotated[str, typer.Option(help="full (fine-tune everything) or linear (frozen encoder).")] = "full",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds 0..N-1; metrics are mean +- std over them.")] = 3,
    epochs: Annotated[int | None, typer.Option(min=1, help="Default: the task's.")] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=2, help="At least 2: the head batch-normalises each batch.")
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help="Peak learning rate of the head (default 5e-4).", callback=_positive_finite)
    ] = None,
    patience: Annotated[int | None, typer.Option(min=1, help="Early-stopping patience in epochs.")] = None,
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("results"),
    save_predictions: Annotated[
        bool, typer.Option("--save-predictions", help="Also write per-window test predictions.")
    ] = False,
    train_channels: Annotated[
        str | None,
        typer.Option(help="Unseen-montage protocol: fine-tune on this channel set (all, 10-20-16ch, ... or A,B,C)."),
    ] = None,
    test_channels: Annotated[
        str | None, typer.Option(help="Unseen-montage protocol: test on this channel set (e.g. 10-20-16ch).")
    ] = None,
    device: DeviceOption = None,
    precision: PrecisionOption = "fp32",
    workers: WorkersOption = 0,
    scan_backend: ScanBackendOption = "auto",
    data_root: DataRoot = None,
) -> None:
    """Fine-tune an encoder on a task with several seeds and write a results file.

    With --train-channels / --test-channels the encoder is fine-tuned (and selected on val) with
    one channel set and tested on another: montage shift, e.g. TUAB's 22 TCP derivations ->
    the 16 double-banana ones (--test-channels 10-20-16ch)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lumamba_bench.harness.run import RunConfig, resolve_model, run_benchmark
    from lumamba_bench.recipes import get_recipe

    config = RunConfig(
        model=model,
        task=task,
        checkpoint=checkpoint,
        protocol=protocol,
        seeds=seeds,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience,
        out=out,
        save_predictions=save_predictions,
        data_root=data_root,
        train_channels=train_channels,
        test_channels=test_channels,
        device=device,
        workers=workers,
    )
    _compute_setup(device, precision, scan_backend)
    resolve_model(model, checkpoint, data_root)  # fail before any work when the weights are missing
    get_recipe(task)
    is_main = os.environ.get("RANK", "0") == "0"
    out_console = console if is_main else Console(quiet=True)
    with Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=out_console,
        disable=not is_main,
    ) as progress:
        bar = progress.add_task(f"{model} on {task}", total=None, status="preparing")

        def on_epoch(seed: int, record: dict) -> None:
            auroc = record["val_auroc"]
            progress.update(
                bar,
                description=f"{model} on {task}, seed {seed}",
                completed=record["epoch"] + 1,
                status=f"train loss {record['train_loss']:.4f}  val loss {record['val_loss']:.4f}  "
                f"val AUROC {'n/a' if auroc is None else f'{auroc:.3f}'}",
            )

        results, path = run_benchmark(config, on_epoch=on_epoch)
    shift = results["protocol"].get("montage_shift")
    channels = "" if shift is None else f", channels {shift['train_channels']} -> {shift['test_channels']}"
    table = Table(
        title=f"{model} on {task} ({results['protocol']['name']}{channels}, {len(results['seeds'])} seeds, test split)"
    )
    table.add_column("metric")
    table.add_column("mean +- std", justify="right")
    for name, stats in results["summary"].items():
        value = "undefined" if stats["mean"] is None else f"{stats['mean']:.4f} +- {stats['std']:.4f}"
        table.add_row(name, value)
    out_console.print(table)
    reasons = {r for s in results["seeds"] for r in s["undefined"].values()}
    for reason in sorted(reasons):
        out_console.print(Text.assemble(("undefined: ", "yellow"), str(reason)))
    out_console.print(f"results: {path}")


def _floats(text: str, option: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"{option} takes comma-separated numbers, got {text!r}") from None
    if not values:
        raise typer.BadParameter(f"{option} needs at least one value")
    return values


@app.command()
def profile(
    models: Annotated[
        str, typer.Option(help="Comma-separated encoders; lumamba is always added as the reference.")
    ] = "lumamba,luna-base,labram-base,femba-tiny",
    channels: Annotated[int, typer.Option(min=2, help="Channels per window (22: the TUH TCP montage).")] = 22,
    seconds: Annotated[str, typer.Option(help="Window lengths in seconds, comma-separated.")] = "5,10,30,60",
    batch_size: Annotated[int, typer.Option(min=1, help="Windows per batch for the throughput figure.")] = 8,
    memory_budget: Annotated[
        float | None, typer.Option(min=0.01, help="GiB: search the longest window whose training step fits.")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    scan_backend: ScanBackendOption = "auto",
    no_memory: Annotated[bool, typer.Option("--no-memory", help="Skip the memory measurements.")] = False,
    out: Annotated[Path, typer.Option(help="Folder for profile.json, profile.csv and the plots.")] = Path(
        "results/profile"
    ),
) -> None:
    """FLOPs, memory and throughput of every encoder against window length, as ratios to LuMamba."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lumamba_bench.analysis.profile import ProfileConfig, run_profile, write_profile

    _compute_setup(device, "fp32", scan_backend)

    config = ProfileConfig(
        models=tuple(m.strip() for m in models.split(",") if m.strip()),
        channels=channels,
        seconds=_floats(seconds, "--seconds"),
        batch_size=batch_size,
        memory_budget_gib=memory_budget,
        device=device,
        measure_memory=not no_memory,
    )
    total = len(set(config.models) | {"lumamba"}) * len(config.seconds)
    with Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task("profile", total=total)

        def on_point(point) -> None:
            progress.update(bar, advance=1, description=f"profile {point.model} {point.seconds:g} s")

        report = run_profile(config, on_point=on_point)
    _print_profile(report)
    paths = write_profile(report, out)
    console.print("wrote " + ", ".join(str(p) for p in paths.values()))


def _print_profile(report: dict) -> None:
    table = Table(title=f"encoders at equal input ({report['config']['channels']} channels, {report['device']})")
    for column in ("model", "params", "window", "GFLOPs", "x LuMamba", "step memory", "x LuMamba", "windows/s"):
        table.add_column(column, justify="right")
    params = {m["model"]: m["parameters"] for m in report["models"]}
    for p in report["points"]:
        if p["error"]:
            table.add_row(p["model"], f"{params[p['model']] / 1e6:.2f}M", f"{p['seconds']:g} s", p["error"])
            continue
        table.add_row(
            p["model"],
            f"{params[p['model']] / 1e6:.2f}M",
            f"{p['seconds']:g} s",
            f"{p['gflops']:.3g}",
            "" if p["flops_ratio"] is None else f"{p['flops_ratio']:.2f}x",
            "" if p["memory_mib"] is None else f"{p['memory_mib']:.0f} MiB",
            "" if p["memory_ratio"] is None else f"{p['memory_ratio']:.2f}x",
            "" if p["windows_per_s"] is None else f"{p['windows_per_s']:.3g}",
        )
    console.print(table)
    for model in report["models"]:
        if model["longest_s"] is not None or model["longest_note"]:
            longest = "" if model["longest_s"] is None else f"{model['longest_s']:g} s"
            console.print(
                f"longest window in {report['config']['memory_budget_gib']} GiB: {model['model']} {longest} "
                f"{model['longest_note']}"
            )
    for model, c in report["comparison_with_paper"].items():
        measured = ", ".join(f"{r:.2f}x at {s:g} s" for s, r in c["measured_flops_ratio"].items() if r is not None)
        reach = c["seconds_where_fit_reaches_paper_ratio"]
        console.print(
            f"{model} / lumamba FLOPs: measured {measured}; paper {c['paper_flops_ratio']:g}x"
            + ("" if reach is None else f" (reached at ~{reach:.0f} s on the exact fit c + a*T + b*T^2)")
        )


@app.command()
def analyze(
    model: Annotated[str, typer.Option(help="A model name (lumamba-lejepa, lumamba-recon-scratch, ...).")],
    task: TaskOption = "demo",
    checkpoint: CheckpointOption = None,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    max_windows: Annotated[int | None, typer.Option(min=5, help="Embed at most this many windows.")] = None,
    sweep_lejepa_weight: Annotated[
        str | None,
        typer.Option(
            help="Pre-train (short) and analyse one encoder per LeJEPA weight of the mixed objective, "
            "e.g. 0,0.05,0.5,inf (0: reconstruction only, inf: LeJEPA only); plots the dial."
        ),
    ] = None,
    pretrain_epochs: Annotated[int, typer.Option(min=1, help="Pre-training epochs per point of the sweep.")] = 2,
    sweep_protocol: Annotated[str, typer.Option(help="Fine-tuning protocol for the sweep's AUROC.")] = "linear",
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("results/analysis"),
    device: DeviceOption = None,
    precision: PrecisionOption = "fp32",
    workers: WorkersOption = 0,
    scan_backend: ScanBackendOption = "auto",
    data_root: DataRoot = None,
) -> None:
    """Embedding geometry of an encoder: isotropy figures, t-SNE by label, query-attention topomaps."""
    import math

    device = str(_compute_setup(device, precision, scan_backend))

    if sweep_lejepa_weight is not None:
        from lumamba_bench.analysis.dial import DialConfig, sweep

        weights = _floats(sweep_lejepa_weight, "--sweep-lejepa-weight")
        if any(w < 0 or math.isnan(w) for w in weights):
            raise typer.BadParameter("LeJEPA weights must be >= 0 (inf: LeJEPA only)")
        config = DialConfig(
            architecture=model,
            task=task,
            weights=weights,
            pretrain_epochs=pretrain_epochs,
            protocol=sweep_protocol,
            out=out,
            data_root=data_root,
            max_windows=max_windows,
            device=device,
        )
        table = Table(title=f"the objective dial on {task} ({sweep_protocol} probe AUROC)")
        for column in ("LeJEPA weight", "final loss", "Epps-Pulley", "effective rank", "condition", "AUROC"):
            table.add_column(column, justify="right")
        with console.status("sweeping the dial") as status:

            def on_point(row: dict) -> None:
                status.update(f"done LeJEPA weight {row['lejepa_weight']:g}")
                table.add_row(*_dial_cells(row))

            report = sweep(config, on_point=on_point)
        console.print(table)
        console.print(f"figure: {report['figure']}")
        return

    from lumamba_bench.analysis.analyze import AnalyzeConfig
    from lumamba_bench.analysis.analyze import analyze as run_analysis

    with console.status(f"embedding the {split} split of {task} with {model}"):
        report = run_analysis(
            AnalyzeConfig(
                model=model,
                task=task,
                checkpoint=checkpoint,
                split=split,
                max_windows=max_windows,
                out=out,
                data_root=data_root,
                device=device,
                workers=workers,
            )
        )
    iso = report["isotropy"]
    table = Table(title=f"{model} on {task}: {iso['windows']} windows x {iso['dimensions']} dimensions")
    table.add_column("isotropy figure")
    table.add_column("value", justify="right")
    table.add_row(
        "Epps-Pulley (SIGReg) on unit-variance embeddings, lower = more isotropic", f"{iso['epps_pulley']:.4g}"
    )
    table.add_row("effective rank of the covariance", f"{iso['effective_rank']:.4g}")
    table.add_row(f"condition number (top {iso['condition_rank']} eigenvalues)", f"{iso['condition_number']:.4g}")
    table.add_row("largest eigenvalue's share of the variance", f"{iso['top_eigenvalue_share']:.3f}")
    console.print(table)
    for name, path in report.get("figures", {}).items():
        console.print(f"{name.split(':')[0]}: {path}")


def _dial_cells(row: dict) -> list[str]:
    weight = row["lejepa_weight"]
    return [
        "LeJEPA only" if weight == float("inf") else f"{weight:g}",
        f"{row['final_loss']:.4g}",
        f"{row['epps_pulley']:.4g}",
        f"{row['effective_rank']:.4g}",
        f"{row['condition_number']:.3g}",
        "undefined" if row["auroc"] is None else f"{row['auroc']:.4f}",
    ]


@app.command()
def doctor(
    device: DeviceOption = None,
    scan_backend: ScanBackendOption = "auto",
    length: Annotated[int, typer.Option(min=8, help="Sequence length of the parity check.")] = 256,
) -> None:
    """What this machine runs (torch, CUDA, GPU, driver, mamba-ssm, the scan backend) and a parity
    check of that backend against the step-by-step scan on the device. Exit 1 when the requested
    backend is unavailable or the check fails."""

    from lumamba_bench.harness.doctor import environment, parity

    chosen = _compute_setup(device, "fp32", scan_backend)
    table = Table(title="lumamba-bench doctor")
    table.add_column("item")
    table.add_column("value", overflow="fold")
    for key, value in environment(chosen).items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)
    check = parity(chosen, length=length)
    worst = check["relative_errors"][check["worst"]]
    verdict = "PASS" if check["passed"] else "FAIL"
    console.print(
        Text.assemble(
            (f"{verdict} ", "bold green" if check["passed"] else "bold red"),
            f"{check['backend']} scan vs the step-by-step reference on {chosen} (L={length}, float32): "
            f"worst relative error {worst:.2e} ({check['worst']}), tolerance {check['tolerance']:.0e}, "
            f"{check['seconds']:.1f} s",
        )
    )
    if not check["passed"]:
        raise typer.Exit(1)


@app.command()
def models(
    data_root: DataRoot = None,
    modules: Annotated[bool, typer.Option("--modules", help="Also list each encoder's parameters per module.")] = False,
) -> None:
    """List the registered encoders: family, parameters, input normalisation, objectives, stored
    checkpoints, paper. Counts are exact, so they can be compared with the reference code's."""
    import torch

    from lumamba_bench.harness.checkpoints import find_pretrained
    from lumamba_bench.models import build_encoder, list_encoders
    from lumamba_bench.models.heads import AttentionPoolingHead
    from lumamba_bench.models.registry import encoder_spec

    table = Table(title="encoders")
    for column in ("architecture", "parameters", "with head", "input", "in the model store"):
        table.add_column(column, overflow="fold", no_wrap=column != "in the model store")
    about = Table(title="pre-training and papers")
    for column in ("architecture", "family", "pre-training", "paper", "published weights (licence)"):
        about.add_column(column, overflow="fold", no_wrap=column == "architecture")
    breakdown = Table(title="parameters per module")
    for column in ("architecture", "module", "parameters"):
        breakdown.add_column(column)
    for name in list_encoders():
        spec = encoder_spec(name)
        with torch.device("meta"):  # counts without allocating (luna-huge is 311M parameters)
            encoder = build_encoder(name)
            head = AttentionPoolingHead(encoder.embed_dim, 2)
        params = sum(p.numel() for p in encoder.parameters())
        head_params = sum(p.numel() for p in head.parameters())
        names = [f"{name}-{o}" for o in spec.objectives] or [name]
        stored = [n for n in names if find_pretrained(n, data_root)]
        if spec.objectives:
            objectives = ", ".join(spec.objectives)
        elif spec.pretrain_objective:
            objectives = f"{spec.pretrain_objective} (its paper's)"
        else:
            objectives = "none"
        for module, count in parameters_per_module(encoder):
            breakdown.add_row(name, module, f"{count:,}")
        counts = (f"{params:,}", f"{params + head_params:,}")
        table.add_row(name, *counts, encoder.config.input_normalisation, ", ".join(stored) or "none")
        weights = f"{spec.weights} ({spec.licence})" if spec.weights else "-"
        about.add_row(name, spec.family, objectives + (f"; {spec.note}" if spec.note else ""), spec.paper, weights)
    console.print(table)
    console.print(about)
    if modules:
        console.print(breakdown)


def parameters_per_module(encoder, depth: int = 2) -> list[tuple[str, int]]:
    """(module path cut at ``depth`` with layer indices folded into ``*``, parameters), in order."""
    import re

    counts: dict[str, int] = {}
    for name, parameter in encoder.named_parameters():
        module = name.split(".")[:-1]
        parts = module[:depth] if len(module) >= depth else name.split(".")  # a shallow parameter stands alone
        path = re.sub(r"\.\d+(?=\.|$)", ".*", ".".join(parts))
        counts[path] = counts.get(path, 0) + parameter.numel()
    return list(counts.items())


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
    """Check every model card and stored submission against the rules `submit` applies."""
    from lumamba_bench.leaderboard.cards import load_cards
    from lumamba_bench.leaderboard.submission import load_stored

    cards = load_cards(root / "models")
    files = sorted((root / "submissions").glob("*/*.json"))
    for path in files:
        load_stored(path, cards)
    console.print(f"{len(cards)} model cards and {len(files)} submissions valid")


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


def main() -> None:
    try:
        app()
    except LumambaError as error:
        err_console.print(Text.assemble(("error: ", "bold red"), str(error)), highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err_console.print(Text.assemble(("interrupted", "yellow"), ": re-run the same command to resume"))
        raise SystemExit(130) from None
