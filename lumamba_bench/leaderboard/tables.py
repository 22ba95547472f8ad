"""Leaderboard rows and tables: measured submissions and reported reference numbers, with their
model cards, pre-training overlap, bootstrap intervals, paired tests and an overall ranking.

A table is one task under one protocol track: the standard protocol, or an unseen-montage run
keyed by (train channels, test channels). Rows are ordered by the task's primary metric; only
rows whose overlap flag is ``none`` or ``same corpus``, and reported rows whose protocol is ours,
get a rank; the others are listed after them, unranked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lumamba_bench.errors import LumambaError
from lumamba_bench.harness.metrics import board_columns, higher_is_better
from lumamba_bench.leaderboard import cards as model_cards
from lumamba_bench.leaderboard import uncertainty
from lumamba_bench.leaderboard.references import read_reference, reference_files
from lumamba_bench.leaderboard.submission import content_hash, dataset_identity, load_stored_with_predictions

ALPHA = 0.05


def task_type(recipe_name: str) -> str | None:
    from lumamba_bench.data.recipe import get_recipe

    return get_recipe(recipe_name).task_type


def task_columns(task: str) -> tuple[str, ...]:
    """The board's metric columns for a task, its ranking metric first: the recipe's
    ``main_score`` where it declares one, else its task type's."""
    from lumamba_bench.data.recipe import get_recipe

    columns = board_columns(task_type(task))
    main = get_recipe(task).main_score
    return columns if main is None else (main, *(c for c in columns if c != main))


def file_level(task: str) -> bool:
    """Every window carries its recording's label: recording-level scores and resampling apply."""
    from lumamba_bench.data.recipe import get_recipe

    return task_type(task) == "binary" and get_recipe(task).file_level_labels


@dataclass
class Row:
    task: str
    model: str
    source: str  # "measured" | "reported"
    parameters: int | None
    metrics: dict[str, tuple[float | None, float | None]]  # name -> (mean, std), window level
    seeds: int | None = None
    checkpoint: str = ""  # short sha256, "scratch", or "" for reported rows
    citation: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)
    track: str = ""  # "" for the standard protocol, "train -> test" channels for unseen-montage runs
    recording_metrics: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    comparable: bool = True  # False: a reported number whose protocol differs from ours
    card: dict | None = None
    overlap: str = ""
    rank: int | None = None
    ci: dict[tuple[str, str], tuple[float, float] | None] = field(default_factory=dict)  # (level, metric)
    p_value: float | None = None
    p_note: str = ""
    ci_note: str = ""  # why no interval or test was computed (too few test units)
    predictions: uncertainty.Predictions | None = field(default=None, repr=False)

    def score(self, metric: str) -> float | None:
        return self.metrics.get(metric, (None, None))[0]

    @property
    def ranked(self) -> bool:
        """Ranked in the default view: no test subjects seen, and (reported rows) our protocol."""
        return self.overlap in model_cards.RANKED_OVERLAPS and self.comparable


@dataclass
class Table:
    task: str
    track: str
    metrics: tuple[str, ...]
    rows: list[Row]

    @property
    def key(self) -> str:
        """A slug for ids and anchors."""
        if not self.track:
            return self.task
        return self.task + "-montage-" + "".join(c if c.isalnum() else "-" for c in self.track).strip("-")

    @property
    def title(self) -> str:
        return self.task if not self.track else f"{self.task}, unseen montage: {self.track}"


def measured_rows(submissions: Path, cards: dict[str, dict] | None = None) -> list[Row]:
    rows = []
    for path in sorted(Path(submissions).glob("*/*.json")):
        results, table = load_stored_with_predictions(path, cards)
        rows.append(measured_row(results, table, path.name))
    return rows


def measured_row(results: dict, table: dict | None, file: str) -> Row:
    """A results file (and its predictions table, or None) as a board row."""
    task = results["task"]["recipe"]
    predictions = None
    if table is not None:
        predictions = uncertainty.from_table(table, results["task"]["type"], by_recording=file_level(task))
    model = results["model"]
    checkpoint = "scratch" if model["checkpoint"] is None else model["checkpoint"]["sha256"][:12]
    shift = results["protocol"].get("montage_shift")
    return Row(
        task=task,
        model=model["name"],
        source="measured",
        parameters=model["parameters"]["encoder"],
        metrics={k: (v["mean"], v["std"]) for k, v in results["summary"].items()},
        seeds=len(results["seeds"]),
        checkpoint=checkpoint,
        note=f"protocol {results['protocol']['name']}",
        extra={"file": file, "sha256": content_hash(results), "manifest": dataset_identity(results),
               "recipe": results["protocol"].get("recipe") or "-", "outside": _outside(model["architecture"])},
        track="" if shift is None else f"{shift['train_channels']} -> {shift['test_channels']}",
        recording_metrics=_recording_summary(results),
        predictions=predictions,
    )


def _outside(architecture: str) -> bool:
    """An encoder this package does not register (a plugin's): its size is its card's word."""
    from lumamba_bench.models.registry import list_encoders

    return architecture not in list_encoders()


def _recording_summary(results: dict) -> dict:
    per_seed = [s.get("recording_metrics") for s in results["seeds"]]
    if not per_seed or any(not m for m in per_seed):
        return {}
    from lumamba_bench.harness.results import summarise

    return {k: (v["mean"], v["std"]) for k, v in summarise(per_seed).items()}


def reported_rows(reference: Path) -> list[Row]:
    """Published numbers: each file holds one paper's citation and its rows (``references.py``)."""
    rows = []
    for path in reference_files(reference):
        content = read_reference(path)
        for entry in content["entries"]:
            std = entry.get("std", {})
            verified = entry.get("verified", True)
            rows.append(
                Row(
                    task=entry["task"],
                    model=entry["model"],
                    source="reported",
                    parameters=entry.get("parameters"),
                    metrics={k: (float(v), std.get(k)) for k, v in entry["metrics"].items()},
                    seeds=entry.get("seeds"),
                    citation=f"{content['citation']}, {entry['source']}",
                    note=f"{entry['task_protocol']}{'' if verified else ' [protocol not verified]'}; "
                    f"{entry['metric_definition']}",
                    comparable=bool(entry.get("comparable", True)),
                    extra={"not_comparable_because": entry.get("not_comparable_because", ""),
                           "source_url": entry["source_url"], "verified": verified},
                )
            )
    return rows


def attach_cards(rows: list[Row], cards: dict[str, dict]) -> None:
    """Every row names a card by its model name; the overlap flag follows from card and task."""
    for row in rows:
        card = cards.get(row.model)
        if card is None:
            raise LumambaError(
                f"the {row.source} {row.task} row of {row.model!r} names no model card: "
                f"add leaderboard/models/{row.model}.json"
            )
        row.card, row.overlap = card, model_cards.overlap(card, row.task)


def _order_key(primary: str):
    sign = -1.0 if higher_is_better(primary) else 1.0

    def key(row: Row) -> tuple:
        score = row.score(primary)
        value = sign * (score or 0.0)
        return (not row.ranked, score is None, value, row.source, row.model, row.extra.get("sha256", ""))

    return key


def tables(rows: list[Row], baseline: Row | None = None) -> list[Table]:
    """Rows per (task, track), ordered, ranked, with intervals and paired tests (against the
    best ranked row, or against ``baseline`` in its own table)."""
    grouped: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        grouped.setdefault((row.task, row.track), []).append(row)
    out = []
    for task, track in sorted(grouped):
        metrics = task_columns(task)
        ordered = sorted(grouped[task, track], key=_order_key(metrics[0]))
        rank = 0
        for row in ordered:
            if row.ranked:
                rank += 1
                row.rank = rank
        table = Table(task, track, metrics, ordered)
        add_intervals(table)
        add_paired_tests(table, baseline if any(r is baseline for r in ordered) else None)
        out.append(table)
    return out


def add_intervals(table: Table) -> None:
    levels = ["window"] + (["recording"] if file_level(table.task) else [])
    for row in table.rows:
        if row.predictions is None:
            continue
        reason = uncertainty.too_few_units(row.predictions)
        if reason:
            row.ci_note = "too few test units"
            row.p_note = f"no interval or test: {reason}"
            row.ci = {(level, metric): None for level in levels for metric in table.metrics}
            continue
        for level in levels:
            for metric in table.metrics:
                try:
                    row.ci[level, metric] = uncertainty.confidence_interval(row.predictions, metric, level)
                except uncertainty.NoBootstrap:
                    row.ci[level, metric] = None  # shown as [n/a]


def add_paired_tests(table: Table, baseline: Row | None = None) -> None:
    """Each measured row with predictions against the best ranked one (or ``baseline``) on the
    same test set."""
    primary = table.metrics[0]
    with_predictions = [r for r in table.rows if r.predictions is not None and not r.ci_note]
    top = baseline if baseline is not None else next((r for r in with_predictions if r.ranked), None)
    if top is None or top.predictions is None or top.ci_note:
        return
    for row in with_predictions:
        if row is top:
            row.p_note = "reference of the tests"
            continue
        same = row.extra.get("manifest") == top.extra.get("manifest") and np.array_equal(
            row.predictions.units, top.predictions.units
        )
        if not same:
            row.p_note = "another test set: not compared"
            continue
        row.p_value = uncertainty.paired_p_value(top.predictions, row.predictions, primary)
        if row.p_value is None:
            row.p_note = "undefined on too many resamples"
        else:
            verdict = "significantly different" if row.p_value < ALPHA else "not significantly different"
            row.p_note = f"{verdict} from {top.model} (p = {row.p_value:.3f})"


@dataclass
class Agreement:
    """A published number beside the measured rows of the same model, task and protocol."""

    task: str
    track: str
    model: str
    metric: str
    published: float
    citation: str
    measured: tuple[float | None, float | None]  # mean, std over seeds
    interval: tuple[float, float] | None  # the measured row's 95% bootstrap interval
    file: str

    @property
    def inside(self) -> bool | None:
        """Whether the published value lies inside the measured interval (None: no interval)."""
        if self.interval is None:
            return None
        return self.interval[0] <= self.published <= self.interval[1]


def reported_vs_measured(board: list[Table]) -> list[Agreement]:
    """For each (model, task, protocol track) with a published and a measured row: every metric
    both report, the published value against the measured mean and window-level interval."""
    out = []
    for table in board:
        reported = [r for r in table.rows if r.source == "reported"]
        measured = [r for r in table.rows if r.source == "measured"]
        for published in reported:
            for row in (r for r in measured if r.model == published.model):
                for metric in (m for m in table.metrics if published.score(m) is not None and row.score(m) is not None):
                    out.append(Agreement(
                        table.task, table.track, row.model, metric, published.score(metric), published.citation,
                        row.metrics[metric], row.ci.get(("window", metric)), row.extra.get("file", ""),
                    ))  # fmt: skip
    return out


@dataclass
class Standing:
    model: str
    source: str
    tasks: int
    mean_rank: float
    ranks: dict[str, int]


def overall(board: list[Table]) -> list[Standing]:
    """Mean rank over the standard-protocol tasks a model has (ranked rows only; a model's best
    row per task; synthetic tasks such as the demo left out), ordered by the number of tasks
    first, so a model missing a task is never above one that has it, then by mean rank."""
    from lumamba_bench.data.recipe import get_recipe

    ranks: dict[tuple[str, str], dict[str, int]] = {}
    for table in board:
        if table.track or get_recipe(table.task).synthetic:
            continue
        for row in table.rows:
            if row.rank is not None:
                ranks.setdefault((row.model, row.source), {}).setdefault(table.task, row.rank)
    standings = [
        Standing(model, source, len(r), float(np.mean(list(r.values()))), r) for (model, source), r in ranks.items()
    ]
    return sorted(standings, key=lambda s: (-s.tasks, s.mean_rank, s.model, s.source))


def build_board(root: Path) -> tuple[list[Table], list[Standing], dict[str, dict]]:
    """Everything the generated files show, from a leaderboard folder."""
    root = Path(root)
    cards = model_cards.load_cards(root / "models")
    rows = measured_rows(root / "submissions", cards) + reported_rows(root / "reference")
    attach_cards(rows, cards)
    board = tables(rows)
    return board, overall(board), cards


def fmt(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"


def fmt_ci(interval: tuple[float, float] | None) -> str:
    return "[n/a]" if interval is None else f"[{interval[0]:.4f}, {interval[1]:.4f}]"


def fmt_row_ci(row: Row, level: str, metric: str) -> str:
    """A row's interval, or why it has none."""
    return f"[{row.ci_note}]" if row.ci_note else fmt_ci(row.ci.get((level, metric)))


def fmt_params(parameters: int | None) -> str:
    return "-" if parameters is None else f"{parameters / 1e6:.1f}M"


def fmt_compute(card: dict | None) -> tuple[str, str]:
    """(forward GFLOPs, training-step MiB) at 5 s, from the card."""
    compute = (card or {}).get("compute")
    if not compute:
        return "-", "-"
    return f"{compute['gflops_forward_5s']:.3f}", f"{compute['train_step_memory_mib_5s']:.0f}"
