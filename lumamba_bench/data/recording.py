"""One recording through the pipeline: read, preprocess, window and label it, or say why not
(``process_recording``: a bad file is a skip with its reason, never a crash of the corpus).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lumamba_bench.data.recipe import DROP, MULTILABEL, Recipe, Recording
from lumamba_bench.data.sources import not_a_file
from lumamba_bench.errors import RecordingError
from lumamba_bench.files import sha256_of

JOURNAL_ONLY = ("mtime_ns",)  # file facts the journal keeps and the manifest does not (they differ per machine)


@dataclass
class RecordingResult:
    """What processing one file produced: windows, or the reason it was skipped."""

    recording: Recording
    status: str  # "ok" | "skipped"
    reason: str = ""
    size: int = 0
    mtime_ns: int = 0  # journal only (machine-specific): a resume re-hashes a source whose size or mtime changed
    fingerprint: str = ""
    channels: list[str] = field(default_factory=list)
    source_sfreq: float = 0.0
    signal: np.ndarray | None = None
    start_s: np.ndarray | None = None
    labels: np.ndarray | None = None
    dropped_flat: int = 0
    dropped_nonfinite: int = 0
    notes: dict = field(default_factory=dict)  # what the recipe found while labelling (clipped events, ...)
    multi_hot: bool = False  # labels are one bit per class (their counts are per class, not per value)

    def entry(self, source: Path, montage: str = "", shard: str = "") -> dict:
        """The manifest / journal line for this file."""
        rec = self.recording
        return {
            "path": str(rec.path.relative_to(source)) if rec.path.is_relative_to(source) else str(rec.path),
            "recording_id": rec.recording_id,
            "subject_id": rec.subject_id,
            "split": rec.split,
            "label": rec.label,
            "status": self.status,
            "reason": self.reason,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "fingerprint": self.fingerprint,
            "source_sfreq": self.source_sfreq,
            "windows": 0 if self.signal is None else int(len(self.signal)),
            "dropped_flat": self.dropped_flat,
            "dropped_nonfinite": self.dropped_nonfinite,
            "label_counts": self.label_counts(),
            "notes": self.notes,
            "montage": montage,
            "shard": shard,
        }

    def label_counts(self) -> dict[str, int]:
        """Windows per label value (multi-hot labels: windows positive for each class index;
        one class per channel: channel-windows per class)."""
        if self.labels is None or len(self.labels) == 0:
            return {}
        if self.multi_hot:
            return {str(i): int(n) for i, n in enumerate(self.labels.sum(axis=0))}
        values, counts = np.unique(self.labels, return_counts=True)
        return {str(int(v)): int(n) for v, n in zip(values, counts, strict=False)}


def process_recording(recipe: Recipe, recording: Recording) -> RecordingResult:
    """Read, preprocess and label one file; any failure becomes a skip with its reason."""
    result = RecordingResult(recording, "skipped", multi_hot=recipe.task_type == MULTILABEL)
    try:
        problem = not_a_file(recording.path)
        if problem:
            raise RecordingError(f"{recording.path.name}: {problem} ({recording.path})")
        found = recording.path.stat()
        result.size, result.mtime_ns = found.st_size, found.st_mtime_ns
        result.fingerprint = "sha256:" + sha256_of(recording.path)
        data, sfreq, channels = recipe.read(recording)
        result.channels, result.source_sfreq = list(channels), float(sfreq)
        windows = recipe.windows(data, sfreq)
        result.dropped_flat, result.dropped_nonfinite = windows.dropped_flat, windows.dropped_nonfinite
        if len(windows.signal) == 0:
            result.reason = (
                f"no usable {recipe.preprocessing.window_s:g} s window "
                f"({windows.dropped_flat} flat, {windows.dropped_nonfinite} with NaN/Inf, "
                f"{data.shape[-1] * (data.shape[0] if data.ndim == 3 else 1) / sfreq:.1f} s long)"
            )
            return result
        duration_s = data.shape[-1] / sfreq
        result.labels, result.notes = recipe.window_labels(recording, windows, duration_s)
        result.signal, result.start_s = windows.signal, windows.start_s
        if recipe.drops_windows:
            _drop_windows(result)
            if len(result.labels) == 0:
                dropped = result.notes.get("dropped_windows", {})
                result.reason = f"{recording.path.name}: no window belongs to the task ({_counts_text(dropped)})"
                return result
        result.status = "ok"
    except Exception as error:  # one bad file must never stop a corpus: record why, go on
        message = str(error)
        name = recording.path.name
        result.reason = message if message.startswith(name) else f"{name}: {type(error).__name__}: {message}"
    return result


def _drop_windows(result: RecordingResult) -> None:
    """Remove the windows a recipe labelled DROP (the recipe notes why, with counts)."""
    labels = result.labels
    keep = labels != DROP if labels.ndim == 1 else (labels != DROP).all(axis=1)
    result.labels, result.signal, result.start_s = labels[keep], result.signal[keep], result.start_s[keep]


def _counts_text(counts: dict) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items())) or "no windows"
