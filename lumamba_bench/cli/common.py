"""What every command module shares: the typer app, the consoles, the option types and their
checks, and the compute setup (device, scan backend, precision)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Datasets, encoders and a leaderboard harness for EEG foundation models.\n\n"
    "Every command also takes --plugin MODULE_OR_FILE (repeatable; also $LUMAMBA_BENCH_PLUGINS): a module "
    "or .py file imported first, registering encoders, recipes or metrics (docs/extending.md).",
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

def _capped_workers(value: int) -> int:
    """Option check: more worker processes than CPUs only crowd the machine (100,000 would fork
    until the system refuses); the count is capped at the CPU count, and the cap is said."""
    cpus = os.cpu_count() or 1
    if value > cpus:
        err_console.print(f"note: --workers {value} is more than the {cpus} CPUs here; using {cpus}")
        return cpus
    return value


TaskOption = Annotated[str, typer.Option(help="A prepared recipe (the demo is prepared on first use).")]
CheckpointOption = Annotated[
    str | None,
    typer.Option(help="Encoder weights: a .safetensors or .pt file, or hf://ORG/REPO/FILE[@REVISION] "
                 "(published weights through the Hugging Face cache; the hub extra)."),
]

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
    int,
    typer.Option(
        "--workers", min=0, callback=_capped_workers,
        help="DataLoader processes decoding batches ahead (same order; 0: none; at most the CPU count).",
    ),
]
ScanBackendOption = Annotated[
    str,
    typer.Option(
        "--scan-backend",
        help="auto: mamba-ssm's kernel on CUDA and the numba kernel on the CPU, where each loads, else the "
        "chunked PyTorch scan (said once); mamba-ssm / numba: that kernel or an error; chunked: the PyTorch scan "
        "everywhere. Recorded in the results.",
    ),
]


def _compute_setup(device: str | None, precision: str, scan_backend: str):
    """The device, scan backend and precision a command runs with (checked before any work);
    returns the device."""
    from lumamba_bench.harness.compute import apply

    return apply(device, precision, scan_backend)


def reporting_console() -> Console:
    """The console of the process that reports: every process when alone, rank 0 under torchrun
    (the other ranks print nothing)."""
    from lumamba_bench.ranks import rank_and_world

    rank = int(os.environ.get("RANK", rank_and_world()[0]))  # torchrun sets RANK before any process group
    return console if rank == 0 else Console(quiet=True)


def progress_bar(status_field: str | None, out: Console, remaining: bool = False):
    """The one progress bar of every long command: description, bar, done/total, an optional
    status text field, and elapsed (or remaining) time."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn()]
    if status_field:
        columns.append(TextColumn(f"{{task.fields[{status_field}]}}", markup=False))
    columns.append(TimeRemainingColumn() if remaining else TimeElapsedColumn())
    return Progress(*columns, console=out, disable=out.quiet)


def config_from(cls, values: dict):
    """A config dataclass from a command's options (its locals): the fields it has, by name."""
    from dataclasses import fields

    return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})

