"""Commands that look at encoders: profile, analyze, doctor, models."""

from __future__ import annotations

import json
import math
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
    app,
    config_from,
    console,
    progress_bar,
)


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
    with progress_bar(None, console) as progress:
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


ModelToAnalyze = Annotated[str, typer.Option(help="A model name (lumamba-lejepa, lumamba-recon-scratch, ...).")]
Split = Annotated[str, typer.Option(help="train, val or test.")]
MaxWindows = Annotated[int | None, typer.Option(min=5, help="Embed at most this many windows.")]
SweepWeights = Annotated[
    str | None,
    typer.Option(
        help="Pre-train (short) and analyse one encoder per LeJEPA weight of the mixed objective, "
        "e.g. 0,0.05,0.5,inf (0: reconstruction only, inf: LeJEPA only); plots the dial."
    ),
]
SweepEpochs = Annotated[int, typer.Option(min=1, help="Pre-training epochs per point of the sweep.")]
SweepProtocol = Annotated[str, typer.Option(help="Fine-tuning protocol for the sweep's AUROC.")]
AnalysisFolder = Annotated[Path, typer.Option(help="Results folder.")]


@app.command()
def analyze(
    model: ModelToAnalyze,
    task: TaskOption = "demo",
    checkpoint: CheckpointOption = None,
    split: Split = "test",
    max_windows: MaxWindows = None,
    sweep_lejepa_weight: SweepWeights = None,
    pretrain_epochs: SweepEpochs = 2,
    sweep_protocol: SweepProtocol = "linear",
    out: AnalysisFolder = Path("results/analysis"),
    device: DeviceOption = None,
    precision: PrecisionOption = "fp32",
    workers: WorkersOption = 0,
    scan_backend: ScanBackendOption = "auto",
    data_root: DataRoot = None,
) -> None:
    """Embedding geometry of an encoder: isotropy figures, t-SNE by label, query-attention topomaps."""
    device = str(_compute_setup(device, precision, scan_backend))
    if sweep_lejepa_weight is not None:
        weights = _floats(sweep_lejepa_weight, "--sweep-lejepa-weight")
        if any(w < 0 or math.isnan(w) for w in weights):
            raise typer.BadParameter("LeJEPA weights must be >= 0 (inf: LeJEPA only)")
        _sweep(model, task, weights, pretrain_epochs, sweep_protocol, out, data_root, max_windows, device)
        return
    from lumamba_bench.analysis.analyze import AnalyzeConfig
    from lumamba_bench.analysis.analyze import analyze as run_analysis

    with console.status(f"embedding the {split} split of {task} with {model}"):
        report = run_analysis(config_from(AnalyzeConfig, locals()))
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


def _sweep(model, task, weights, pretrain_epochs, protocol, out, data_root, max_windows, device) -> None:
    """The objective dial: one short pre-training and probe per LeJEPA weight, as a table and a figure."""
    from lumamba_bench.analysis.dial import DialConfig, sweep

    config = DialConfig(
        architecture=model, task=task, weights=weights, pretrain_epochs=pretrain_epochs, protocol=protocol,
        out=out, data_root=data_root, max_windows=max_windows, device=device,
    )  # fmt: skip
    table = Table(title=f"the objective dial on {task} ({protocol} probe AUROC)")
    for column in ("LeJEPA weight", "final loss", "Epps-Pulley", "effective rank", "condition", "AUROC"):
        table.add_column(column, justify="right")
    with console.status("sweeping the dial") as status:

        def on_point(row: dict) -> None:
            status.update(f"done LeJEPA weight {row['lejepa_weight']:g}")
            table.add_row(*_dial_cells(row))

        report = sweep(config, on_point=on_point)
    console.print(table)
    console.print(f"figure: {report['figure']}")


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
    modules: Annotated[bool, typer.Option(help="Also list each encoder's parameters per module.")] = False,
    heads: Annotated[bool, typer.Option(help="Also list each encoder's parameters with every head.")] = False,
) -> None:
    """List the registered encoders: family, parameters (alone and with the family's own head),
    input normalisation, objectives, stored checkpoints, paper; `--heads`: with every head.
    Counts are exact, so they can be compared with the reference code's."""
    from lumamba_bench.harness.checkpoints import find_pretrained
    from lumamba_bench.models import list_encoders
    from lumamba_bench.models.registry import encoder_facts, encoder_spec, head_totals

    table = Table(title="encoders")
    for column in ("architecture", "parameters", "with its head", "input", "in the model store"):
        table.add_column(column, overflow="fold", no_wrap=column != "in the model store")
    about = Table(title="pre-training and papers")
    for column in ("architecture", "family", "pre-training", "paper", "published weights (licence)"):
        about.add_column(column, overflow="fold", no_wrap=column == "architecture")
    with_heads = Table(title="parameters with each head (two classes)")
    for column in ("architecture", "head", "encoder + head"):
        with_heads.add_column(column, justify="right" if column == "encoder + head" else "left", no_wrap=True)
    breakdown = Table(title="parameters per module")
    for column in ("architecture", "module", "parameters"):
        breakdown.add_column(column)
    for name in list_encoders():
        spec, facts = encoder_spec(name), encoder_facts(name)
        names = [f"{name}-{o}" for o in spec.objectives] or [name]
        stored = [n for n in names if find_pretrained(n, data_root)]
        if spec.objectives:
            objectives = ", ".join(spec.objectives)
        elif spec.pretrain_objective:
            objectives = f"{spec.pretrain_objective} (its paper's)"
        else:
            objectives = "none"
        for module, count in facts.modules:
            breakdown.add_row(name, module, f"{count:,}")
        for head, total in head_totals(name).items():
            mark = " (its own)" if head == facts.reference_head else ""
            with_heads.add_row(name, head + mark, "does not fit" if total is None else f"{total:,}")
        counts = (f"{facts.parameters:,}", f"{facts.parameters + facts.head_parameters:,}")
        table.add_row(name, *counts, facts.input_normalisation, ", ".join(stored) or "none")
        weights = f"{spec.weights} ({spec.licence})" if spec.weights else "-"
        about.add_row(name, spec.family, objectives + (f"; {spec.note}" if spec.note else ""), spec.paper, weights)
    console.print(table)
    console.print(about)
    if heads:
        console.print(with_heads)
    if modules:
        console.print(breakdown)


@app.command("check-model")
def check_model_command(
    model: Annotated[str, typer.Argument(help="A model name, a plugin's encoder, or package.module:factory.")],
    task: Annotated[
        list[str] | None, typer.Option("--task", help="Only this task's inputs (repeatable) [default: every recipe].")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Check an encoder's input contract in seconds, on synthetic microvolts, with no data: every
    recipe's montages and window lengths (and the unseen-montage channel sets) give finite output
    of the declared shape, gradients reach every parameter, the declared input normalisation is
    applied, channel names and positions are used, passes are deterministic. Exit 1 on a failure."""
    from lumamba_bench.api import check_model

    report = check_model(model, task or None, device=device)
    table = Table(title=f"{model}: input contract ({report.parameters:,} parameters)")
    for column in ("check", "result", "detail"):
        table.add_column(column, overflow="fold")
    styles = {"pass": "green", "fail": "bold red", "refuses": "yellow"}
    for check in report.checks:
        table.add_row(check.name, Text(check.status, style=styles[check.status]), check.detail)
    console.print(table)
    if report.refusals:
        console.print(f"{len(report.refusals)} input(s) refused with a reason: runs on those tasks stop there")
    if not report.ok:
        console.print(Text(f"{len(report.failures)} check(s) failed", style="bold red"))
        raise typer.Exit(1)
