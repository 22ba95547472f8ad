"""Commands that train: pretrain and run (fine-tune and score)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from lumamba_bench.cli.common import (
    CheckpointOption,
    DataRoot,
    DeviceOption,
    PrecisionOption,
    ScanBackendOption,
    TaskOption,
    WorkersOption,
    _compute_setup,
    _positive_finite,
    app,
    progress_bar,
    reporting_console,
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

    from lumamba_bench.harness.pretrain import PretrainConfig
    from lumamba_bench.harness.pretrain import pretrain as run_pretrain

    out_console = reporting_console()  # under torchrun only rank 0 reports
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
    with progress_bar("losses", out_console) as progress:
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
    out_console = reporting_console()
    with progress_bar("status", out_console) as progress:
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
