"""``lumamba-bench profile``: parameters, forward FLOPs, training-step memory and throughput of
every encoder as a function of window length, with ratios against LuMamba at equal input.

Lengths are rounded to a multiple every profiled model can take (LuMamba's 40-sample patches,
LaBraM's whole seconds, FEMBA's 16-sample cells: 5 s for all four), so inputs are equal.

Every point builds the encoder for its input (FEMBA is built per montage and length; LaBraM's
temporal-embedding table, 16 s in the paper, is lengthened for longer windows: 200 parameters
a second, no change to the computation). FLOPs follow ``analysis.flops``; memory is one
forward + backward step on one window (``analysis.memory``); throughput is inference
(``no_grad``) windows per second at ``batch_size``, the models of one length taking turns call
by call (the median call of each). ``--memory-budget`` searches, by
measurement, the longest window whose training step fits the budget.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import torch

from lumamba_bench.analysis.flops import count_forward_flops
from lumamba_bench.analysis.memory import peak_step_memory
from lumamba_bench.data.preprocess import SFREQ
from lumamba_bench.errors import LumambaError
from lumamba_bench.models.registry import build_encoder, build_for_input, parse_model_name
from lumamba_bench.models.scan import scan_report

DEFAULT_MODELS = ("lumamba", "luna-base", "labram-base", "femba-tiny")
REFERENCE = "lumamba"
# What the LuMamba paper reports at equal sequence length (FLOPs; longest input in equal memory).
PAPER_FLOPS_RATIO = {"luna-base": 26.0, "labram-base": 377.0}
PAPER_LENGTH_RATIO = {"luna-base": 12.0, "labram-base": 501.0}


@dataclass
class ProfileConfig:
    models: tuple[str, ...] = DEFAULT_MODELS
    channels: int = 22
    seconds: tuple[float, ...] = (5.0, 10.0, 30.0, 60.0)
    batch_size: int = 8
    memory_budget_gib: float | None = None
    device: str = "cpu"
    min_time_s: float = 0.5  # per throughput measurement
    seed: int = 0
    measure_memory: bool = True
    measure_throughput: bool = True


@dataclass
class Point:
    model: str
    seconds: float
    samples: int
    gflops: float | None = None
    flops_scan_share: float | None = None
    memory_mib: float | None = None
    windows_per_s: float | None = None
    error: str | None = None
    flops_ratio: float | None = None  # this model's FLOPs / LuMamba's at the same input
    memory_ratio: float | None = None


@dataclass
class ModelSummary:
    model: str
    parameters: int
    longest_s: float | None = None  # in the memory budget
    longest_note: str = ""
    probes: list[dict] = field(default_factory=list)


def montage(channels: int) -> tuple[list[str], torch.Tensor]:
    """The channels the profile feeds: TUH's 22 TCP derivations, or the first ``channels``
    electrodes of the 10-05 template."""
    from lumamba_bench.data.channels import positions, template_names
    from lumamba_bench.data.montages import TCP_NAMES

    if channels == len(TCP_NAMES):
        names = list(TCP_NAMES)
    else:
        names = template_names()[:channels]
        if len(names) < channels:
            raise LumambaError(f"the electrode template has {len(names)} positions; asked for {channels} channels")
    return names, torch.from_numpy(positions(names))


@cache
def _on_meta(model: str) -> torch.nn.Module:
    """The encoder on the meta device: its shape and size without allocating (luna-huge is 303M)."""
    with torch.device("meta"):
        return build_encoder(model)


def parameter_count(model: str) -> int:
    return sum(p.numel() for p in _on_meta(model).parameters())


def granularity(model: str) -> int:
    """Samples a window length must be a multiple of for this encoder."""
    return int(_on_meta(model).input_granularity())


def common_granularity(models: list[str]) -> int:
    """Samples every model can take: ratios are only meaningful at exactly equal input."""
    return math.lcm(*(granularity(m) for m in models))


def samples_for(seconds: float, step: int) -> int:
    return max(step, int(round(seconds * SFREQ / step)) * step)


def build_for_length(model: str, channels: int, samples: int) -> torch.nn.Module:
    return build_for_input(model, channels, samples, **_on_meta(model).length_overrides(samples))


def _inputs(batch: int, channels: int, samples: int, coords: torch.Tensor, device, seed: int):
    generator = torch.Generator().manual_seed(seed)
    x = (20.0 * torch.randn(batch, channels, samples, generator=generator)).to(device)
    return x, coords.unsqueeze(0).expand(batch, -1, -1).contiguous().to(device)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def interleaved_throughput(encoders: dict[str, torch.nn.Module], x: torch.Tensor, coords: torch.Tensor,
                           min_time_s: float) -> dict[str, float]:  # fmt: skip
    """Windows per second of inference of each encoder on the same input: a warm-up call each,
    then rounds of one timed call of each encoder in turn, until every one has ``min_time_s`` of
    calls and at least five; the batch over each one's median call. Taking turns gives every
    encoder the same share of whatever else the machine is doing, and the median ignores a call
    that another process slowed."""
    for encoder in encoders.values():
        encoder.eval()
        encoder(x, coords)
    _synchronize(x.device)
    calls: dict[str, list[float]] = {name: [] for name in encoders}
    while any(len(c) < 5 or sum(c) < min_time_s for c in calls.values()):
        for name, encoder in encoders.items():
            began = time.perf_counter()
            encoder(x, coords)
            _synchronize(x.device)
            calls[name].append(time.perf_counter() - began)
    return {name: x.shape[0] / float(np.median(c)) for name, c in calls.items()}


def measure_throughputs(points: list[Point], config: ProfileConfig, coords, device) -> None:
    """``windows_per_s`` of every point that measured cleanly, the models of one length interleaved."""
    for samples in sorted({p.samples for p in points}):
        here = [p for p in points if p.samples == samples and p.error is None]
        encoders = {}
        for point in here:
            torch.manual_seed(config.seed)
            encoders[point.model] = build_for_length(point.model, config.channels, samples).to(device)
        x, c = _inputs(config.batch_size, config.channels, samples, coords, device, config.seed)
        try:
            rates = interleaved_throughput(encoders, x, c, config.min_time_s)
        except torch.OutOfMemoryError:
            for point in here:
                point.error = f"out of memory running {len(here)} encoders side by side at batch {config.batch_size}"
            continue
        finally:
            del encoders, x, c
        for point in here:
            point.windows_per_s = rates[point.model]


def measure_memory(model: str, channels: int, samples: int, coords, device, seed: int) -> int:
    torch.manual_seed(seed)
    encoder = build_for_length(model, channels, samples).to(device)
    x, c = _inputs(1, channels, samples, coords, device, seed)
    try:
        return peak_step_memory(encoder, x, c)
    finally:
        del encoder, x, c
        if device.type == "cuda":
            torch.cuda.empty_cache()


def profile_point(model: str, samples: int, config: ProfileConfig, coords, device) -> Point:
    point = Point(model, samples / SFREQ, samples)
    try:
        torch.manual_seed(config.seed)
        encoder = build_for_length(model, config.channels, samples)
        x, c = _inputs(1, config.channels, samples, coords, "cpu", config.seed)
        count = count_forward_flops(encoder, x, c)  # counted on CPU: the same on any device
        point.gflops = count.total / 1e9
        point.flops_scan_share = count.scan / count.total
        del encoder
        if config.measure_memory:
            point.memory_mib = measure_memory(model, config.channels, samples, coords, device, config.seed) / 2**20
    except (LumambaError, ValueError) as error:  # a length this architecture cannot take
        point.error = str(error)
    except torch.OutOfMemoryError:
        point.error = "out of memory"
    return point


def longest_in_budget(
    model: str, config: ProfileConfig, coords, device, measured: list[Point], tolerance: float = 0.02
) -> tuple[float | None, str, list[dict]]:
    """The longest window (seconds) whose training step fits ``memory_budget_gib``: extrapolate in
    log-log from the last two measurements, measure there, then bisect (every answer measured)."""
    budget = config.memory_budget_gib * 2**30
    step = granularity(model)
    probes: dict[int, float] = {p.samples: p.memory_mib * 2**20 for p in measured if p.memory_mib is not None}

    def probe(samples: int) -> float:
        if samples not in probes:
            try:
                probes[samples] = float(measure_memory(model, config.channels, samples, coords, device, config.seed))
            except torch.OutOfMemoryError:
                probes[samples] = math.inf
        return probes[samples]

    if not probes:
        probe(samples_for(config.seconds[0], step))
    for _ in range(40):  # grow until a measurement exceeds the budget
        fits = sorted(s for s, m in probes.items() if m <= budget)
        if not fits or any(m > budget for m in probes.values()):
            break
        top = fits[-1]
        below = [s for s in fits if s < top and probes[s] > 0]
        slope = 1.0
        if below and probes[top] > probes[below[-1]]:
            slope = max(0.5, math.log(probes[top] / probes[below[-1]]) / math.log(top / below[-1]))
        growth = min(4.0, max(1.25, (budget / max(probes[top], 1.0)) ** (1 / slope) * 1.1))
        probe(samples_for(top * growth / SFREQ, step))
    fits = sorted(s for s, m in probes.items() if m <= budget)
    over = sorted(s for s, m in probes.items() if m > budget)
    longest, note = None, ""
    if not fits:
        note = "even the shortest window exceeds the budget"
    elif not over:
        longest, note = fits[-1] / SFREQ, "no measured length exceeded the budget"
    else:
        low, high = max(s for s in fits if s < over[0]), over[0]
        while high - low > step and high / low > 1 + tolerance:
            middle = samples_for(math.sqrt(low * high) / SFREQ, step)
            if middle in (low, high):
                break
            low, high = (middle, high) if probe(middle) <= budget else (low, middle)
        longest = low / SFREQ
    return longest, note, [{"seconds": s / SFREQ, "memory_mib": m / 2**20} for s, m in sorted(probes.items())]


def add_ratios(points: list[Point]) -> None:
    reference = {p.seconds: p for p in points if p.model == REFERENCE}
    for p in points:
        ref = reference.get(p.seconds)
        if ref is None:
            continue
        if p.gflops and ref.gflops:
            p.flops_ratio = p.gflops / ref.gflops
        if p.memory_mib and ref.memory_mib:
            p.memory_ratio = p.memory_mib / ref.memory_mib


def flops_fit(points: list[Point], model: str) -> np.ndarray | None:
    """FLOPs(T) = c + a T + b T^2 (T in seconds, GFLOPs), least squares over the measured lengths
    (three or more): the encoders are linear in length (convolutions, MLPs, scans) plus quadratic
    (attention over time or over every channel x second), so the fit is exact up to rounding."""
    own = [p for p in points if p.model == model and p.gflops is not None]
    if len(own) < 3:
        return None
    t = np.array([p.seconds for p in own])
    coefficients, *_ = np.linalg.lstsq(np.stack([np.ones_like(t), t, t**2], 1), [p.gflops for p in own], rcond=None)
    return coefficients


def length_for_ratio(points: list[Point], model: str, ratio: float) -> float | None:
    """Window length (s) at which ``model``'s FLOPs reach ``ratio`` x LuMamba's, on the fits."""
    fit, ref = flops_fit(points, model), flops_fit(points, REFERENCE)
    if fit is None or ref is None:
        return None
    # (c1 - r c0) + (a1 - r a0) T + (b1 - r b0) T^2 = 0: the positive root past the measured lengths
    roots = np.roots((fit - ratio * ref)[::-1])
    shortest = min(p.seconds for p in points if p.model == model)
    found = sorted(r.real for r in roots if abs(r.imag) < 1e-9 and r.real > shortest / 2)
    return float(found[-1]) if found else None


def run_profile(config: ProfileConfig, on_point: Callable[[Point], None] | None = None) -> dict:
    device = torch.device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LumambaError("--device cuda: no CUDA device is available")
    models = list(dict.fromkeys(config.models))
    if REFERENCE not in models:
        models.insert(0, REFERENCE)
    for model in models:
        parse_model_name(model)  # unknown names fail before any work
    _, coords = montage(config.channels)
    step = common_granularity(models)
    lengths = sorted({samples_for(s, step) for s in config.seconds})
    points, summaries = [], []
    for model in models:
        own = []
        for samples in lengths:
            point = profile_point(model, samples, config, coords, device)
            own.append(point)
            if on_point is not None:
                on_point(point)
        points += own
        summary = ModelSummary(model, parameter_count(model))
        if config.memory_budget_gib is not None and config.measure_memory:
            summary.longest_s, summary.longest_note, summary.probes = longest_in_budget(
                model, config, coords, device, own
            )
        summaries.append(summary)
    if config.measure_throughput:
        measure_throughputs(points, config, coords, device)
    add_ratios(points)
    reference = next(s for s in summaries if s.model == REFERENCE)
    comparisons = {}
    for model, paper in PAPER_FLOPS_RATIO.items():
        if model not in models:
            continue
        comparisons[model] = {
            "paper_flops_ratio": paper,
            "measured_flops_ratio": {p.seconds: p.flops_ratio for p in points if p.model == model},
            "seconds_where_fit_reaches_paper_ratio": length_for_ratio(points, model, paper),
            "paper_longest_input_ratio": PAPER_LENGTH_RATIO[model],
        }
        other = next(s for s in summaries if s.model == model)
        if reference.longest_s and other.longest_s:
            comparisons[model]["measured_longest_input_ratio"] = reference.longest_s / other.longest_s
    return {
        "config": asdict(config),
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "scan_backend": scan_report(device),
        "points": [asdict(p) for p in points],
        "models": [asdict(s) for s in summaries],
        "lengths_rounded_to_s": step / SFREQ,
        "flops_fit_c_a_b": {m: (None if (f := flops_fit(points, m)) is None else f.tolist()) for m in models},
        "comparison_with_paper": comparisons,
    }


def write_profile(report: dict, out: Path) -> dict[str, Path]:
    """profile.json, profile.csv and the plots; returns what was written."""
    from lumamba_bench.analysis.plots import profile_plots

    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "profile.json", "csv": out / "profile.csv"}
    paths["json"].write_text(json.dumps(report, indent=2) + "\n")
    parameters = {m["model"]: m["parameters"] for m in report["models"]}
    with paths["csv"].open("w", newline="") as handle:
        fields = list(report["points"][0]) + ["parameters"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for point in report["points"]:
            writer.writerow(point | {"parameters": parameters[point["model"]]})
    paths |= profile_plots(report, out)
    return paths
