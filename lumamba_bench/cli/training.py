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
    config_from,
    progress_bar,
    reporting_console,
)

ModelToPretrain = Annotated[
    str,
    typer.Option(help="lumamba-recon, lumamba-lejepa, lumamba-mixed, luna-base, femba-tiny, a plugin's encoder "
                 "or package.module:factory."),
]
NoCheck = Annotated[
    bool,
    typer.Option("--no-check", help="Skip the input-contract check (check-model on this task's inputs) run first."),
]
PretrainTask = Annotated[
    str,
    typer.Option(
        "--task",
        "--corpus",
        help="The recipe to pre-train on, its train split (demo-pretrain, the demo's unlabelled part, "
        "is prepared on first use).",
    ),
]
StoreName = Annotated[
    str | None,
    typer.Option(help="Register the encoder under this name (run --model NAME), so that it is not mistaken "
                 "for the published weights of --model, e.g. lumamba-mixed-demo [default: --model]."),
]
Epochs = Annotated[int, typer.Option(min=1)]
BatchSize = Annotated[int, typer.Option(min=1)]
PeakLr = Annotated[float, typer.Option(help="Peak AdamW learning rate.", callback=_positive_finite)]
WarmupEpochs = Annotated[float, typer.Option(min=0)]
LejepaWeight = Annotated[
    float, typer.Option(min=0, help="Weight of LeJEPA, in the mixed objective (the dial) and alone.")
]
Preset = Annotated[
    str,
    typer.Option(
        help="reference: the authors' configuration (masking 0.5, 128 SIGReg slices); "
        "paper-text: the published text's values (masking 0.6, 300 slices)."
    ),
]
MaskRatio = Annotated[
    float | None, typer.Option(min=0.01, max=0.99, help="Fraction of masked cells [default: the preset's].")
]
SigregWeight = Annotated[float, typer.Option(min=0, max=1, help="LeJEPA lambda.")]
NumSlices = Annotated[
    int | None, typer.Option(min=1, help="SIGReg random directions per step [default: the preset's].")
]
CheckpointEvery = Annotated[int, typer.Option(min=1, help="Steps between checkpoints.")]
LogEvery = Annotated[
    int, typer.Option(min=1, help="Steps between reading losses back from the device (checked, logged).")
]
RunFolder = Annotated[Path | None, typer.Option(help="Run folder (default runs/pretrain/MODEL).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")]
ResumeWithChanges = Annotated[
    bool,
    typer.Option(
        "--resume-with-changes", help="Resume even though training settings differ (each change goes in the card)."
    ),
]
MaxSteps = Annotated[int | None, typer.Option(min=1, help="Stop after this many steps (checkpointed).")]


@app.command()
def pretrain(
    model: ModelToPretrain = "lumamba-mixed",
    name: StoreName = None,
    task: PretrainTask = "demo-pretrain",
    epochs: Epochs = 3,
    batch_size: BatchSize = 16,
    lr: PeakLr = 5e-4,
    warmup_epochs: WarmupEpochs = 1.0,
    lejepa_weight: LejepaWeight = 0.05,
    preset: Preset = "reference",
    mask_ratio: MaskRatio = None,
    sigreg_weight: SigregWeight = 0.002,
    num_slices: NumSlices = None,
    seed: int = 0,
    checkpoint_every: CheckpointEvery = 50,
    log_every: LogEvery = 10,
    out: RunFolder = None,
    resume: Resume = False,
    resume_with_changes: ResumeWithChanges = False,
    max_steps: MaxSteps = None,
    device: DeviceOption = None,
    precision: PrecisionOption = "fp32",
    workers: WorkersOption = 0,
    scan_backend: ScanBackendOption = "auto",
    data_root: DataRoot = None,
    no_check: NoCheck = False,
) -> None:
    """Pre-train an encoder; the finished encoder goes into the local model store for `run`.

    Objective settings, the authors' configuration (`--preset reference`): one mask per batch over
    0.5 of the 1 channel x 40 sample cells; loss = SmoothL1 masked + 0.05 visible + 0.8 query
    specialisation; electrode jitter 0.02; LeJEPA views 4 local x 4 patches and 2 global x 16;
    SIGReg on 128 directions, lambda 0.002; LeJEPA weight 0.05 (mixed, and alone); dropout 0.1 in
    the channel-unification block. FEMBA: 0.6 of its 2 x 16 cells, SmoothL1 on masked samples.
    `--preset paper-text`: masking 0.6, 300 directions. The checkpoint card records every setting.
    """
    from dataclasses import asdict

    from lumamba_bench.api import pretrain as run_pretrain
    from lumamba_bench.harness.pretrain import PretrainConfig

    out_console = reporting_console()  # under torchrun only rank 0 reports
    _compute_setup(device, precision, scan_backend)
    settings = asdict(config_from(PretrainConfig, locals()))
    with progress_bar("losses", out_console) as progress:
        bar = progress.add_task(f"pretrain {model}", total=None, losses="")

        def on_step(record: dict, total: int) -> None:
            shown = " ".join(
                f"{k}={record[k]:.4g}" for k in record if k not in ("step", "epoch", "lr", "grad_norm", "seconds")
            )
            progress.update(bar, total=total, completed=record["step"] + 1, losses=shown)

        model_name, task_name, store_name = settings.pop("model"), settings.pop("task"), settings.pop("name")
        result = run_pretrain(model_name, task_name, name=store_name, check=not no_check, on_step=on_step, **settings)
    _report_pretraining(result, name or model, out_console)


def _report_pretraining(result, model: str, out_console) -> None:
    if result.history:
        first, last = result.history[0]["loss"], result.history[-1]["loss"]
        out_console.print(
            f"loss {first:.4f} -> {last:.4f} over steps {result.history[0]['step']}-{result.history[-1]['step']}"
        )
    out_console.print(f"checkpoints in {result.run_dir}")
    if result.registered:
        out_console.print(f"registered {model} in the model store: {result.registered}")
        out_console.print(f"model card (for `leaderboard submit`): {result.card}")


ModelToRun = Annotated[
    str,
    typer.Option(help="A model name (lumamba-mixed, lumamba-mixed-scratch, a plugin's encoder) or "
                 "package.module:factory (built as the factory returns it; --checkpoint loads weights onto it)."),
]
Protocol = Annotated[
    str,
    typer.Option(
        help="full (fine-tune everything), linear (frozen encoder) or eval (score a fine-tuned --checkpoint, "
        "encoder and head, as it is)."
    ),
]
FinetuneRecipe = Annotated[
    str | None,
    typer.Option(
        help="reference: each family fine-tuned as its authors did (head, batch, schedule, layer decay, loss, "
        "selection); common: one recipe for every encoder. The task's exceptions and these options apply on top "
        "[default: reference; common for an encoder the authors did not fine-tune (a plugin's)]."
    ),
]
HeadOption = Annotated[
    str | None,
    typer.Option(help="reference (the family's own), luna-query, mamba, linear, mean-pool or attention-pool "
                 "[default: the recipe's]."),
]
MicroBatch = Annotated[
    int | None, typer.Option(min=1, help="Windows per forward/backward; gradients accumulate up to --batch-size.")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Any other fine-tuning setting, KEY=VALUE (e.g. warmup_epochs=2, clip_grad=none); "
                 "recorded as an override."),
]
Seeds = Annotated[int, typer.Option(min=1, help="Seeds 0..N-1; metrics are mean +- std over them.")]
TaskEpochs = Annotated[int | None, typer.Option(min=1, help="Default: the task's.")]
HeadBatch = Annotated[int | None, typer.Option(min=2, help="Windows per optimiser step [default: the recipe's].")]
HeadLr = Annotated[
    float | None, typer.Option(help="Peak learning rate [default: the recipe's].", callback=_positive_finite)
]
Patience = Annotated[int | None, typer.Option(min=1, help="Early-stopping patience in epochs.")]
ResultsFolder = Annotated[Path, typer.Option(help="Results folder.")]
SavePredictions = Annotated[
    bool,
    typer.Option(
        "--save-predictions/--no-predictions",
        help="Write per-window test predictions beside the results (small; `compare` and the "
        "leaderboard's intervals and paired tests need them).",
    ),
]
TrainChannels = Annotated[
    str | None,
    typer.Option(help="Unseen-montage protocol: fine-tune on this channel set (all, 10-20-16ch, ... or A,B,C)."),
]
TestChannels = Annotated[
    str | None, typer.Option(help="Unseen-montage protocol: test on this channel set (e.g. 10-20-16ch).")
]


@app.command()
def run(
    model: ModelToRun,
    task: TaskOption = "demo",
    checkpoint: CheckpointOption = None,
    protocol: Protocol = "full",
    recipe: FinetuneRecipe = None,
    head: HeadOption = None,
    seeds: Seeds = 3,
    epochs: TaskEpochs = None,
    batch_size: HeadBatch = None,
    micro_batch: MicroBatch = None,
    lr: HeadLr = None,
    patience: Patience = None,
    overrides: SetOption = None,
    out: ResultsFolder = Path("results"),
    save_predictions: SavePredictions = True,
    train_channels: TrainChannels = None,
    test_channels: TestChannels = None,
    device: DeviceOption = None,
    precision: PrecisionOption = "fp32",
    workers: WorkersOption = 0,
    scan_backend: ScanBackendOption = "auto",
    data_root: DataRoot = None,
    no_check: NoCheck = False,
) -> None:
    """Fine-tune an encoder on a task with several seeds and write a results file.

    With --train-channels / --test-channels the encoder is fine-tuned (and selected on val) with
    one channel set and tested on another: montage shift, e.g. TUAB's 22 TCP derivations ->
    the 16 double-banana ones (--test-channels 10-20-16ch)."""
    from lumamba_bench.api import require_checked
    from lumamba_bench.data.recipe import get_recipe
    from lumamba_bench.harness.resolve import resolve_model
    from lumamba_bench.harness.run import RunConfig, run_benchmark

    config = config_from(RunConfig, locals() | {"settings": parse_settings(overrides or [])})
    _compute_setup(device, precision, scan_backend)
    if protocol != "eval":
        resolve_model(model, checkpoint, data_root)  # fail before any work when the weights are missing
    get_recipe(task)
    if protocol != "eval" and not no_check:  # the input contract, in seconds, before hours of training
        require_checked(model, [task], [c for c in (train_channels, test_channels) if c], device, data_root)
    out_console = reporting_console()
    with progress_bar("status", out_console) as progress:
        bar = progress.add_task(f"{model} on {task}", total=None, status="preparing")

        def on_epoch(seed: int, record: dict) -> None:
            ranking = next(k for k in record if k.startswith("val_") and k not in ("val_loss", "val_accuracy"))
            value = record[ranking]  # the task's ranking metric on val (the metric registry's choice)
            progress.update(
                bar,
                description=f"{model} on {task}, seed {seed}",
                completed=record["epoch"] + 1,
                status=f"train loss {record['train_loss']:.4f}  val loss {record['val_loss']:.4f}  "
                f"val {ranking[4:]} {'n/a' if value is None else f'{value:.3f}'}",
            )

        result = run_benchmark(config, on_epoch=on_epoch)
    _report_results(result.results, result.path, model, task, out_console)


def parse_settings(items: list[str]) -> dict:
    """``KEY=VALUE`` pairs: a VALUE that reads as JSON is that (numbers, true/false), ``none`` is
    None, anything else a string."""
    import json

    settings = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--set takes KEY=VALUE, got {item!r}")
        try:
            settings[key.strip()] = None if value.strip().lower() == "none" else json.loads(value)
        except json.JSONDecodeError:
            settings[key.strip()] = value
    return settings


def _report_results(results: dict, path, model: str, task: str, out_console) -> None:
    shift = results["protocol"].get("montage_shift")
    channels = "" if shift is None else f", channels {shift['train_channels']} -> {shift['test_channels']}"
    recipe = results["protocol"].get("recipe")
    how = results["protocol"]["name"] + ("" if recipe is None else f", {recipe} recipe")
    table = Table(title=f"{model} on {task} ({how}{channels}, {len(results['seeds'])} seeds, test split)")
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
