"""TUH annotation files (``csv_v1.0.0``), as shipped beside each EDF in TUAR and TUSL.

The syntax: comment lines starting with ``#`` (version, bname, duration, ...), one header line
``channel,start_time,stop_time,label,confidence``, then one event per line on one bipolar
channel (``FP1-F7``) or ``TERM`` (all channels). Labels are lower-case codes; TUAR writes
co-occurring artifacts as one joined code (``eyem_musc``).

Labelling works on a time grid: ``event_masks`` turns the events into per-sample masks at the
shard rate, so a window's label is a plain count over its samples. Events are clipped to the
recording; how many were clipped or lay wholly past its end goes into the manifest.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lumamba_bench.errors import RecordingError

HEADER = ("channel", "start_time", "stop_time", "label", "confidence")


@dataclass(frozen=True)
class Event:
    channel: str
    start: float
    stop: float
    label: str
    confidence: float


def annotation_path(edf_path: Path) -> Path:
    return edf_path.with_suffix(".csv")


def read_events(path: Path) -> list[Event]:
    """Parse one annotation file; any syntax problem is a ``RecordingError`` naming file and line."""
    if not path.exists():
        raise RecordingError(f"{path.name}: annotation file missing (expected beside the EDF)")
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.startswith("#")]
    if not lines:
        raise RecordingError(f"{path.name}: no header line {','.join(HEADER)!r}")
    header_no, header = lines[0]
    columns = tuple(c.strip().lower() for c in header.split(","))
    if columns[: len(HEADER)] != HEADER:
        raise RecordingError(f"{path.name}:{header_no}: expected header {','.join(HEADER)!r}, found {header!r}")
    events = []
    for number, line in lines[1:]:
        row = next(csv.reader(io.StringIO(line)))
        try:
            channel, start, stop, label, confidence = (cell.strip() for cell in row[:5])
            event = Event(channel.upper(), float(start), float(stop), label.lower(), float(confidence))
        except ValueError:
            raise RecordingError(f"{path.name}:{number}: malformed event line {line!r}") from None
        if not (np.isfinite(event.start) and np.isfinite(event.stop)) or event.stop < event.start or event.start < 0:
            raise RecordingError(f"{path.name}:{number}: invalid times {start}..{stop}")
        events.append(event)
    return events


def event_masks(
    events: list[Event], groups: dict[str, str | None], n_samples: int, sfreq: float
) -> tuple[dict[str, np.ndarray], dict]:
    """Per-sample masks, one per group, over all channels.

    ``groups`` maps each known label code to the group it counts for (``None``: known but not
    an event of interest, such as ``bckg`` in TUAR). Joined codes (``eyem_musc``) count for each
    of their parts. Returns the masks and notes: events clipped at the end of the recording,
    events wholly past it, and unknown codes with their counts.
    """
    masks = {g: np.zeros(n_samples, dtype=bool) for g in dict.fromkeys(v for v in groups.values() if v)}
    duration = n_samples / sfreq
    clipped = past_end = 0
    unknown: Counter = Counter()
    for event in events:
        parts = [event.label] if event.label in groups else event.label.split("_")
        if any(part not in groups for part in parts):
            unknown[event.label] += 1
            continue
        if event.start >= duration:
            past_end += 1
            continue
        if event.stop > duration:
            clipped += 1
        first, last = int(round(event.start * sfreq)), min(n_samples, int(round(event.stop * sfreq)))
        for part in parts:
            if groups[part]:
                masks[groups[part]][first:last] = True
    notes = {"events": len(events), "events_clipped": clipped, "events_past_end": past_end}
    if unknown:
        notes["unknown_labels"] = dict(sorted(unknown.items()))
    return masks, notes


def window_fractions(mask: np.ndarray, start_s: np.ndarray, window_samples: int, sfreq: float) -> np.ndarray:
    """Fraction of each window's samples where ``mask`` is set."""
    count = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
    starts = np.clip(np.round(start_s * sfreq).astype(np.int64), 0, len(mask))
    stops = np.clip(starts + window_samples, 0, len(mask))
    return (count[stops] - count[starts]) / window_samples


def channel_codes(
    events: list[Event], code_of: dict[str, int], channels: list[str], n_samples: int, sfreq: float, overwrite: bool
) -> tuple[np.ndarray, dict]:
    """(channels, samples) integer codes written event by event, in file order, as the reference
    scripts write them: an event sets its channel's samples to ``code_of[label]`` (0 for a code
    absent from ``code_of``). With ``overwrite`` every event writes, so a later row replaces an
    earlier one, 0 included (the reference's per-channel classes); without it only non-zero
    codes write (per-channel presence). Events on a channel outside ``channels`` (``TERM``) are
    skipped and counted, as are events wholly past the end."""
    codes = np.zeros((len(channels), n_samples), dtype=np.int8)
    row = {name.upper(): i for i, name in enumerate(channels)}
    other_channel = past_end = 0
    for event in events:
        if event.channel not in row:
            other_channel += 1
            continue
        first, last = int(round(event.start * sfreq)), min(n_samples, int(round(event.stop * sfreq)))
        if first >= n_samples:
            past_end += 1
            continue
        code = code_of.get(event.label, 0)
        if code or overwrite:
            codes[row[event.channel], first:last] = code
    return codes, {"events_other_channels": other_channel, "events_past_end": past_end}


def window_slices(start_s: np.ndarray, window_samples: int, sfreq: float, n_samples: int) -> list[slice]:
    """The sample range of each window on the annotation grid (clipped to the recording)."""
    starts = np.clip(np.round(start_s * sfreq).astype(np.int64), 0, n_samples)
    return [slice(int(a), int(min(a + window_samples, n_samples))) for a in starts]
