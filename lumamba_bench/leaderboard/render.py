"""Render the board as Markdown, CSV and one self-contained HTML page (deterministic bytes).

The page makes no network request: CSS, JavaScript and the charts (SVG) are inline. Every string
that came from a submission, a reference file or a model card goes through ``html.escape``; the
script reads cell text and data attributes, never inserts HTML.
"""

from __future__ import annotations

import csv
import io
import math
from html import escape
from importlib import resources

from lumamba_bench.harness.metrics import TASK_TYPES, board_columns, metric_range
from lumamba_bench.leaderboard.cards import RANKED_OVERLAPS, summary
from lumamba_bench.leaderboard.tables import (
    ALPHA,
    Agreement,
    Row,
    Standing,
    Table,
    file_level,
    fmt,
    fmt_ci,
    fmt_compute,
    fmt_params,
    fmt_row_ci,
    reported_vs_measured,
)

INTRO = (
    "Measured rows come from `lumamba-bench run` results submitted with `lumamba-bench leaderboard submit`; "
    "reported rows are numbers published in papers, not re-measured. Scores are mean ± sample std over seeds, "
    "with a 95% bootstrap interval [low, high] where predictions were submitted (2,000 resamples of test "
    "recordings for file-level tasks, of windows otherwise; seeds averaged inside each resample). "
    "p is a paired bootstrap p-value against the best ranked row with predictions on the same test set "
    f"(primary metric; p < {ALPHA} is a significant difference). Intervals and tests are withheld, shown as "
    "[too few test units], when a class has fewer than 5 resampling units. "
    "Overlap: `none` (pre-training data hold none of the task's recordings), `same corpus` (same corpus, "
    "test subjects excluded), `test subjects seen`. Only `none` and `same corpus` rows are ranked, and reported "
    "rows only where their protocol is ours; the others are listed after them, unranked (rows whose "
    "pre-training may have seen the test subjects are hidden on the page unless shown with the toggle). "
    "Compute: forward GFLOPs and training-step memory (MiB) of one 5 s, "
    "22-channel window, from the model card (`lumamba-bench leaderboard compute NAME`). "
    "Overall: mean rank over the standard-protocol tasks a model is ranked on (the synthetic demo "
    "excluded); more tasks first, so a model missing a task is never above one that has it."
)


PROCESS = [
    "## How to submit, and what CI checks",
    "",
    "1. `lumamba-bench run --model NAME --task TASK` (results and per-window predictions).",
    "2. `lumamba-bench compare results/TASK`: your runs side by side with the intervals and paired tests "
    "used here.",
    "3. `lumamba-bench leaderboard submit FILE --predictions FILE.predictions.parquet [--card CARD.json]`, "
    "then `lumamba-bench leaderboard build`.",
    "4. Open a pull request with the stored files. CI runs `lumamba-bench leaderboard validate`, "
    "`lumamba-bench leaderboard build --check` and `lumamba-bench leaderboard reproduce --all`, which "
    "re-runs every submission whose data are public (the demo) from what it records and compares every "
    "metric per seed.",
    "",
    "The details, and what each check refuses: `CONTRIBUTING.md` at the repository's root.",
    "",
]


def _headers(table: Table) -> list[str]:
    metrics = [*table.metrics]
    recording = [_metric_column(m, "recording") for m in table.metrics] if file_level(table.task) else []
    return ["#", "model", "source", "overlap", *metrics, *recording, "p", "seeds", "params", "GFLOPs 5 s",
            "step MiB 5 s", "checkpoint", "reference"]  # fmt: skip


def metric_text(row: Row, metric: str, level: str) -> str:
    """A metric cell: mean ± std, and its interval (or why it has none) where one was computed."""
    values = row.metrics if level == "window" else row.recording_metrics
    text = fmt(*values.get(metric, (None, None)))
    if (level, metric) in row.ci:
        text += " " + fmt_row_ci(row, level, metric)
    return text


def _metric_column(metric: str, level: str) -> str:
    return metric if level == "window" else f"{metric} (recording)"


def _cells_by_column(row: Row, table: Table) -> dict[str, str]:
    """Plain-text cells by column name (``_headers``): every renderer reads a cell by its name."""
    levels = ["window"] + (["recording"] if file_level(table.task) else [])
    gflops, memory = fmt_compute(row.card)
    reference = row.citation or row.note
    if row.source == "reported" and row.note and row.citation:
        reference = f"{row.citation}; {row.note}"
    if not row.comparable:
        reference += f" [not comparable: {row.extra.get('not_comparable_because') or 'protocol differs'}]"
    if row.source == "measured" and row.predictions is None:
        reference += " [no predictions: mean ± std only]"
    if row.extra.get("outside"):
        reference += " [encoder outside this package: its size is its card's]"
    p = "-" if row.p_value is None else f"{row.p_value:.3f}" + (" (n.s.)" if row.p_value >= ALPHA else "")
    cells = {"#": str(row.rank) if row.rank else "–", "model": row.model, "source": row.source, "overlap": row.overlap}
    cells |= {_metric_column(m, level): metric_text(row, m, level) for level in levels for m in table.metrics}
    return cells | {"p": p, "seeds": "-" if row.seeds is None else str(row.seeds), "params": fmt_params(row.parameters),
                    "GFLOPs 5 s": gflops, "step MiB 5 s": memory, "checkpoint": row.checkpoint or "-",
                    "reference": reference}  # fmt: skip


def _cells(row: Row, table: Table) -> list[str]:
    """Plain-text cells in ``_headers`` order (a column without a cell is a KeyError, not a shift)."""
    by_column = _cells_by_column(row, table)
    return [by_column[column] for column in _headers(table)]


def table_rows(table: Table) -> tuple[list[str], list[tuple[Row, list[str]]]]:
    """Header and plain-text cells of one table (the terminal's `leaderboard show`)."""
    return _headers(table), [(row, _cells(row, table)) for row in table.rows]


def markdown(board: list[Table], standings: list[Standing]) -> str:
    lines = ["# lumamba-bench leaderboard", "", "Generated by `lumamba-bench leaderboard build`. Do not edit by hand.",
             "", INTRO, "", *PROCESS]  # fmt: skip
    lines += _markdown_overall(standings)
    lines += _markdown_agreement(reported_vs_measured(board))
    for table in board:
        lines += [f"## {table.title}", ""]
        header = _headers(table)
        lines.append("| " + " | ".join(header) + " |")
        lines.append("| " + " | ".join("---" for _ in header) + " |")
        for row in table.rows:
            lines.append("| " + " | ".join(markdown_cell(c) for c in _cells(row, table)) + " |")
        lines.append("")
        lines += [f"- {markdown_cell(r.model)}: {markdown_cell(r.p_note)}" for r in table.rows if r.p_value is not None]
        if any(r.p_value is not None for r in table.rows):
            lines.append("")
    return "\n".join(lines)


def _markdown_overall(standings: list[Standing]) -> list[str]:
    lines = [
        "## overall",
        "",
        "| # | model | source | tasks | mean rank | ranks |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i, s in enumerate(standings, 1):
        ranks = ", ".join(f"{task} {rank}" for task, rank in sorted(s.ranks.items()))
        lines.append(f"| {i} | {markdown_cell(s.model)} | {s.source} | {s.tasks} | {s.mean_rank:.2f} | {ranks} |")
    return lines + [""]


AGREEMENT_INTRO = (
    "Where a model has both a published row and measured rows on the same task and protocol: the "
    "published value, the measured mean ± std with its 95% bootstrap interval, and whether the "
    "published value lies inside that interval."
)
AGREEMENT_HEADER = ("task", "model", "metric", "published", "measured", "published inside the interval", "source")


def _agreement_cells(a: Agreement) -> list[str]:
    inside = {True: "yes", False: "no", None: "no interval (no predictions)"}[a.inside]
    title = a.task if not a.track else f"{a.task} ({a.track})"
    return [title, a.model, a.metric, f"{a.published:.4f}", f"{fmt(*a.measured)} {fmt_ci(a.interval)}", inside,
            f"{a.citation}; measured: {a.file}"]  # fmt: skip


def _markdown_agreement(agreements: list[Agreement]) -> list[str]:
    lines = ["## reported vs measured", "", AGREEMENT_INTRO, ""]
    if not agreements:
        return lines + ["No model has both a published and a measured row on the same task and protocol yet.", ""]
    lines += ["| " + " | ".join(AGREEMENT_HEADER) + " |", "|" + " --- |" * len(AGREEMENT_HEADER)]
    lines += ["| " + " | ".join(markdown_cell(c) for c in _agreement_cells(a)) + " |" for a in agreements]
    return lines + [""]


def _html_agreement(agreements: list[Agreement]) -> list[str]:
    out = ['<h2 id="reported-vs-measured">reported vs measured</h2>', f"<p>{escape(AGREEMENT_INTRO)}</p>"]
    if not agreements:
        return out + ["<p>No model has both a published and a measured row on the same task and protocol yet.</p>"]
    out.append('<div class="scroll"><table class="board" id="table-agreement"><thead><tr>')
    out += [f"<th>{escape(h)}</th>" for h in AGREEMENT_HEADER]
    out.append("</tr></thead><tbody>")
    for a in agreements:
        out.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in _agreement_cells(a)) + "</tr>")
    return out + ["</tbody></table></div>"]


MARKDOWN_PUNCTUATION = "\\`*_|~"  # what can open emphasis, code or strike-through, or end a cell


def markdown_cell(text: str) -> str:
    """Markdown table cell: HTML escaped, Markdown's emphasis and code punctuation backslash-escaped
    and every "](" broken, so a name from a submission or card can neither break the table nor
    become a link, an image or a tag (our own "[low, high]" intervals stay as they are)."""
    escaped = "".join("\\" + c if c in MARKDOWN_PUNCTUATION else c for c in escape(str(text)))
    return escaped.replace("](", "\\](").replace("\n", " ")


def to_csv(board: list[Table]) -> str:
    metrics = sorted({m for kind in TASK_TYPES for m in board_columns(kind)})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    stats = ("mean", "std", "ci_low", "ci_high", "recording_mean", "recording_ci_low", "recording_ci_high")
    per_metric = [f"{m}_{s}" for m in metrics for s in stats]
    writer.writerow(["task", "track", "rank", "model", "source", "overlap", *per_metric, "p_value", "seeds",
                     "parameters", "gflops_forward_5s", "train_step_memory_mib_5s", "checkpoint", "comparable",
                     "citation"])  # fmt: skip
    number = lambda v, digits=6: "" if v is None else f"{v:.{digits}f}"  # noqa: E731
    for table in board:
        for row in table.rows:
            values = []
            for m in metrics:
                mean, std = row.metrics.get(m, (None, None))
                ci = row.ci.get(("window", m)) or (None, None)
                rec_mean = row.recording_metrics.get(m, (None, None))[0]
                rec_ci = row.ci.get(("recording", m)) or (None, None)
                values += [number(mean), number(std), number(ci[0]), number(ci[1]), number(rec_mean),
                           number(rec_ci[0]), number(rec_ci[1])]  # fmt: skip
            compute = (row.card or {}).get("compute") or {}
            writer.writerow(
                [table.task, table.track, row.rank or "", row.model, row.source, row.overlap, *values,
                 number(row.p_value), row.seeds or "", row.parameters or "", number(compute.get("gflops_forward_5s")),
                 number(compute.get("train_step_memory_mib_5s"), 1), row.checkpoint, row.comparable, row.citation]
            )  # fmt: skip
    return out.getvalue()


def _page_file(name: str) -> str:
    """The page's CSS or JavaScript (``leaderboard/page/``: package data, edited and linted as the
    files they are), inlined so that the page makes no network request."""
    return (resources.files("lumamba_bench.leaderboard") / "page" / name).read_text(encoding="utf-8")


def html(board: list[Table], standings: list[Standing], cards: dict[str, dict]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">",
        "<title>lumamba-bench leaderboard</title>",
        f"<style>{_page_file('board.css')}</style></head><body>",
        "<h1>lumamba-bench leaderboard</h1>",
        f"<p>{escape(INTRO).replace('`', '')} Click a column to sort.</p>",
        '<p><label><input type="checkbox" id="show-all"> show rows whose pre-training may have seen the test '
        "subjects (unranked, highlighted)</label></p>",
    ]
    parts += _html_overall(standings)
    parts += _html_agreement(reported_vs_measured(board))
    for table in board:
        parts += _html_table(table)
    parts += _html_cards(cards)
    parts.append(f"<script>{_page_file('board.js')}</script></body></html>")
    return "\n".join(parts) + "\n"


def _html_overall(standings: list[Standing]) -> list[str]:
    out = ['<h2 id="overall">overall</h2>', '<div class="scroll"><table class="board" id="table-overall"><thead><tr>']
    out += [f"<th>{h}</th>" for h in ("#", "model", "source", "tasks", "mean rank", "ranks")]
    out.append("</tr></thead><tbody>")
    for i, s in enumerate(standings, 1):
        ranks = ", ".join(f"{task} {rank}" for task, rank in sorted(s.ranks.items()))
        out.append(
            f"<tr>{_num(i, str(i))}<td>{escape(s.model)}</td><td>{s.source}</td>{_num(s.tasks, str(s.tasks))}"
            f"{_num(s.mean_rank, f'{s.mean_rank:.2f}')}<td>{escape(ranks)}</td></tr>"
        )
    return out + ["</tbody></table></div>"]


def _html_table(table: Table) -> list[str]:
    key = escape(table.key)
    out = [f'<h2 id="{key}">{escape(table.title)}</h2>', chart(table)]
    out.append(f'<div class="scroll"><table class="board" id="table-{key}"><thead><tr>')
    out += [f"<th>{escape(h)}</th>" for h in _headers(table)]
    out.append("</tr></thead><tbody>")
    levels = ["window"] + (["recording"] if file_level(table.task) else [])
    for row in table.rows:
        text = _cells_by_column(row, table)
        cells = [_num(row.rank, text["#"])]
        title = summary(row.card) if row.card else ""
        cells.append(f'<td><a href="#card-{escape(row.model)}" title="{escape(title)}">{escape(row.model)}</a></td>')
        cells += [f"<td>{row.source}</td>", f"<td>{escape(row.overlap)}</td>"]
        for level in levels:
            values = row.metrics if level == "window" else row.recording_metrics
            for metric in table.metrics:
                mean, std = values.get(metric, (None, None))
                shown = (level, metric) in row.ci
                extra = f"<small>{escape(fmt_row_ci(row, level, metric))}</small>" if shown else ""
                cells.append(_num(mean, fmt(mean, std), extra))
        compute = (row.card or {}).get("compute") or {}
        cells += [
            _num(row.p_value, text["p"], title=row.p_note),
            _num(row.seeds, text["seeds"]),
            _num(row.parameters, text["params"]),
            _num(compute.get("gflops_forward_5s"), text["GFLOPs 5 s"]),
            _num(compute.get("train_step_memory_mib_5s"), text["step MiB 5 s"]),
            f"<td><code>{escape(text['checkpoint'])}</code></td>",
            _reference_cell(row, text["reference"]),
        ]
        classes = [row.source] + ([] if row.overlap in RANKED_OVERLAPS else ["seen"])
        out.append(f'<tr class="{" ".join(classes)}">' + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    notes = [f"<li>{escape(r.model)}: {escape(r.p_note)}</li>" for r in table.rows if r.p_value is not None]
    if notes:
        out.append('<ul class="notes">' + "".join(notes) + "</ul>")
    return out


def _reference_cell(row: Row, text: str) -> str:
    """The reference text; a reported row's source opens its table (``source_url``: https only)."""
    url = row.extra.get("source_url", "")
    if not url.startswith("https://"):
        return f'<td class="ref">{escape(text)}</td>'
    return f'<td class="ref"><a href="{escape(url, quote=True)}" rel="noopener">{escape(text)}</a></td>'


def _html_cards(cards: dict[str, dict]) -> list[str]:
    out = ['<h2 id="cards">model cards</h2>']
    for name, card in sorted(cards.items()):
        weights, pre = card["weights"], card["pretraining"]
        compute = card.get("compute")
        fields = [
            ("family / architecture", f"{card['family']} / {card['architecture']}"),
            ("encoder parameters", "-" if card["parameters"] is None else f"{card['parameters']:,}"),
            ("weights", f"{weights['source']} (licence: {weights['licence']})"),
            ("weights sha256", weights["sha256"] or "-"),
            ("pre-training corpora", ", ".join(pre["corpora"]) or "none"),
            ("test subjects excluded for", ", ".join(pre["test_subjects_excluded_for"]) or "-"),
            ("pre-training notes", pre["notes"]),
            ("input normalisation", card["input_normalisation"]),
            ("code revision", card["code_revision"]),
            ("citation", card.get("citation", "-")),
            ("compute (5 s, 22 ch)", "-" if not compute else
             f"{compute['gflops_forward_5s']:.3f} GFLOPs forward, {compute['train_step_memory_mib_5s']:.0f} MiB "
             f"training step ({compute['device']}, torch {compute['torch']}): {compute['command']}"),
        ]  # fmt: skip
        body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in fields)
        out.append(f'<details id="card-{escape(name)}"><summary>{escape(name)}</summary><dl>{body}</dl></details>')
    return out


def _num(value, text: str, extra: str = "", title: str = "") -> str:
    data = "" if value is None else repr(float(value))
    tip = f' title="{escape(title)}"' if title else ""
    return f'<td class="num" data-value="{data}"{tip}>{escape(text)}{extra}</td>'


def chart(table: Table, width: int = 640, height: int = 260) -> str:
    """Primary metric against encoder parameters (log scale), one dot per ranked row with a score,
    with its 95% interval as a whisker where there is one."""
    metric = table.metrics[0]
    points = [
        (r.parameters, r.score(metric), r)
        for r in table.rows
        if r.parameters and r.score(metric) is not None and r.overlap in RANKED_OVERLAPS
    ]
    if not points:
        return ""
    left, right, top, bottom = 60, 20, 20, 40
    xs = [math.log10(p) for p, _, _ in points]
    ys = [s for _, s, _ in points] + [v for _, _, r in points for v in (r.ci.get(("window", metric)) or ())]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs) + 1e-9)
    low, high = metric_range(metric)  # the registry's range bounds the axis
    y0, y1 = max(low, math.floor(min(ys) * 10) / 10 - 0.05), min(high, math.ceil(max(ys) * 10) / 10 + 0.02)
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def py(y: float) -> float:
        return height - bottom - (y - y0) / (y1 - y0 or 1) * (height - top - bottom)

    label = escape(f"{table.title}: {metric} vs parameters")
    out = [f'<svg role="img" aria-label="{label}" width="{width}" height="{height}">']
    out.append(
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#57606a"/>'
    )
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#57606a"/>')
    for e in range(x0, x1 + 1):
        out.append(f'<text x="{px(e):.1f}" y="{height - bottom + 16}" text-anchor="middle">{10**e / 1e6:g}M</text>')
    for k in range(5):
        y = y0 + k * (y1 - y0) / 4
        out.append(f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
    out.append(f'<text x="{(width + left) / 2:.0f}" y="{height - 6}" text-anchor="middle">encoder parameters</text>')
    out.append(f'<text x="14" y="{(height - bottom + top) / 2:.0f}" transform="rotate(-90 14 '
               f'{(height - bottom + top) / 2:.0f})" text-anchor="middle">{metric}</text>')  # fmt: skip
    for x, (_, score, row) in zip(xs, points, strict=True):
        colour = "#0969da" if row.source == "measured" else "#bf8700"
        interval = row.ci.get(("window", metric))
        if interval is not None:
            out.append(
                f'<line class="whisker" x1="{px(x):.1f}" y1="{py(interval[0]):.1f}" x2="{px(x):.1f}" '
                f'y2="{py(interval[1]):.1f}" stroke="{colour}" stroke-width="2"/>'
            )
        out.append(
            f'<circle cx="{px(x):.1f}" cy="{py(score):.1f}" r="5" fill="{colour}"><title>{escape(row.model)} '
            f"({row.source}): {score:.4f} {escape(fmt_ci(interval))}</title></circle>"
        )
        out.append(f'<text x="{px(x) + 7:.1f}" y="{py(score) - 6:.1f}">{escape(row.model)}</text>')
    out.append("</svg>")
    legend = (
        '<p class="legend"><span style="color:#0969da">● measured</span>'
        '<span style="color:#bf8700">● reported</span><span>| 95% bootstrap interval</span></p>'
    )
    return "\n".join(out) + legend
