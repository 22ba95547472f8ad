"""TUAR v3.0.1, the TUH Artifact Corpus: artifact detection in 5 s windows.

Layout: ``edf/<montage>/*.edf`` (``01_tcp_ar``, ``02_tcp_le``, ...) with a ``.csv`` annotation
file beside each EDF (TUH ``csv_v1.0.0``: ``#`` comment lines, then
``channel,start_time,stop_time,label,confidence``). The subject is the first token of the file
name. Files whose montage lacks an electrode of the 22-channel TCP montage are skipped with
the reason.

Labels (per window, over all channels): ``tuar`` is binary, artifact when the union of artifact
events covers >= 30% of the window; ``tuar-multilabel`` has one bit per artifact class (chew,
elec, eyem, musc, shiv), set when that class covers >= 30% of the window. Electrode codes
(``elec``, ``elpp`` pop, ``elst`` static, ``elsp``) all count as ``elec``; joined codes
(``eyem_musc``) count for each part; ``bckg``/``null`` mark no artifact. Any other code is
counted in the manifest (``notes.unknown_labels``) and not used.

Split: 80/10/10 by subject (salted sha256). The reference scripts split TUAR by file, which
puts one patient's recordings in both train and test (subject leakage); ours never does, so
numbers are not directly comparable to the reported 0.914 AUROC.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lumamba_bench.data.preprocess import Windows
from lumamba_bench.recipes import tuh_csv
from lumamba_bench.recipes.base import Discovery, Recipe, Recording, register_recipe
from lumamba_bench.recipes.splits import assign_split
from lumamba_bench.recipes.tuh_files import TUH_LICENCE, TUH_URL, tuh_files, tuh_subject

ARTIFACT_CLASSES = ("chew", "elec", "eyem", "musc", "shiv")
CODES: dict[str, str | None] = {
    "chew": "chew", "eyem": "eyem", "musc": "musc", "shiv": "shiv",
    "elec": "elec", "elpp": "elec", "elst": "elec", "elsp": "elec",
    "bckg": None, "null": None,
}  # fmt: skip
COVERAGE = 0.30  # a window is labelled with an artifact that covers at least this fraction of it


def discover_tuh_annotated(recipe: Recipe, source: Path, salt: str) -> Discovery:
    """EDF files anywhere under ``edf/``, split 80/10/10 by subject (shared by TUAR and TUSL)."""
    recordings, ignored = [], []
    for path in tuh_files(recipe, source):
        if path.suffix.lower() != ".edf":
            if path.suffix.lower() != ".csv" or not path.with_suffix(".edf").exists():
                ignored.append(str(path.relative_to(source)))
            continue
        subject = tuh_subject(path)
        recordings.append(
            Recording(
                path=path,
                recording_id=str(path.relative_to(source).with_suffix("")),
                subject_id=subject,
                split=assign_split(subject, salt, {"train": 0.8, "val": 0.1, "test": 0.1}),
            )
        )
    return Discovery(recordings, ignored)


@register_recipe
class TUAR(Recipe):
    name = "tuar"
    citation = (
        "Hamid et al., The Temple University Artifact Corpus: an annotated corpus of EEG artifacts, IEEE SPMB 2020"
    )
    licence = TUH_LICENCE
    url = TUH_URL
    corpus_version = "v3.0.1"
    expected_files = {"all": 310}  # EDF files of the release (213 patients)
    version = "1"
    part_of = ("tueg",)  # TUH corpora are drawn from the TUH EEG Corpus
    summary = "22 TCP bipolar, 5 s windows, artifact (>=30% of window) vs clean; 80/10/10 by subject (ref.: by file)"
    source_layout = "edf/<montage>/*.edf with a .csv annotation beside each EDF (TUAR v3.0.1)"
    label_names = ("clean", "artifact")
    file_level_labels = False
    split_salt = "lumamba-bench/tuar/v1"

    def discover(self, source: Path) -> Discovery:
        return discover_tuh_annotated(self, source, self.split_salt)

    def class_fractions(self, recording: Recording, windows: Windows, duration_s: float):
        """(fraction of each window covered, per artifact class and in union) and the notes."""
        sfreq, size = self.preprocessing.sfreq, self.preprocessing.window_samples
        csv_path = tuh_csv.annotation_path(recording.path)
        events = tuh_csv.read_events(csv_path)
        n_samples = int(round(duration_s * sfreq))
        masks, notes = tuh_csv.event_masks(events, CODES, n_samples, sfreq)
        any_artifact = np.zeros(n_samples, dtype=bool)
        fractions = {}
        for name in ARTIFACT_CLASSES:
            mask = masks.get(name, np.zeros(n_samples, dtype=bool))
            any_artifact |= mask
            fractions[name] = tuh_csv.window_fractions(mask, windows.start_s, size, sfreq)
        fractions["any"] = tuh_csv.window_fractions(any_artifact, windows.start_s, size, sfreq)
        return fractions, notes

    def window_labels(self, recording: Recording, windows: Windows, duration_s: float) -> tuple[np.ndarray, dict]:
        fractions, notes = self.class_fractions(recording, windows, duration_s)
        return (fractions["any"] >= COVERAGE).astype(np.int16), notes


@register_recipe
class TUARMultilabel(TUAR):
    name = "tuar-multilabel"
    summary = "as tuar, one bit per artifact class (chew, elec, eyem, musc, shiv), >=30% of window"
    label_names = ARTIFACT_CLASSES
    n_classes_multilabel = len(ARTIFACT_CLASSES)
    split_salt = TUAR.split_salt  # same subjects in the same splits as the binary task

    def window_labels(self, recording: Recording, windows: Windows, duration_s: float) -> tuple[np.ndarray, dict]:
        fractions, notes = self.class_fractions(recording, windows, duration_s)
        bits = np.stack([fractions[name] >= COVERAGE for name in ARTIFACT_CLASSES], axis=1)
        return bits.astype(np.int16), notes
