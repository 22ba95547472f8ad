"""TUAR v3.0.1, the TUH Artifact Corpus: artifact detection in 5 s windows, under each protocol
the papers report (LUNA, FEMBA, LuMamba).

Layout: ``edf/<montage>/*.edf`` (``01_tcp_ar``, ``02_tcp_le``, ``03_tcp_ar_a``) with a ``.csv``
annotation file beside each EDF (TUH ``csv_v1.0.0``: ``#`` comment lines, then
``channel,start_time,stop_time,label,confidence``; one row per event and bipolar channel). The
release also ships ``<name>_seiz.csv`` seizure annotations beside some EDFs: they are not artifact
annotations and are ignored (listed in the manifest). The subject is the first token of the file
name. Files whose montage lacks an electrode of the 22-channel TCP montage are skipped with the
reason (``03_tcp_ar_a`` has no A1/A2).

Protocols (the reference's modes in BioFoundation's ``make_datasets/process_raw_eeg.py``):
- ``tuar`` (BC): artifact when the union of artifact events over all channels covers >= 30% of
  the window (the reference's ``Binary``).
- ``tuar-mc`` (MC): 22 bits, one per TCP channel, set when artifact events on that channel cover
  >= 30% of the window (``MultiBinary``).
- ``tuar-mmc`` (MMC): 22 classes, one per channel: none, chew, elec, eyem, musc or shiv, the class
  covering the most of the window among those covering >= 30%, ties to the lowest code, none
  when no class reaches 30% (``MultiLabel``). Events are written in file order, so a later row
  replaces an earlier one on its channel, a code with no class (``elpp``, ``bckg``) included.
- ``tuar-mcc`` (MCC): one of the 5 artifact classes per window: the class of any artifact sample
  on any channel, without the 30% rule (LUNA's and LuMamba's TUAR task). Windows with no artifact
  or with two or more classes are dropped and counted in the manifest
  (``label_notes.dropped_windows``).
Classes (MMC, MCC): a joined code counts for its first family (``eyem_musc`` is eyem); the
electrode-pop code ``elpp`` and the seizure codes have no class. In MC they count as artifacts,
as in the reference. Any other code is counted in the manifest (``notes.unknown_labels``).

``tuar-ours-multilabel`` is this package's own task, not a published protocol: one bit per class
over all channels, each at >= 30%, a joined code counting for every part, ``elpp`` as elec.

Split: 80/10/10 by subject (salted sha256), the same for every protocol. The reference scripts
split TUAR by file, which puts one patient's recordings in both train and test (subject leakage);
ours never does, so numbers are not directly comparable to the published ones.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from lumamba_bench.data.montages import TCP_NAMES
from lumamba_bench.data.preprocess import Windows
from lumamba_bench.data.recipe import DROP, Discovery, Recipe, Recording, register_recipe
from lumamba_bench.recipes import tuh_csv
from lumamba_bench.recipes.splits import assign_split
from lumamba_bench.recipes.tuh_files import TUH_LICENCE, TUH_URL, tuh_files, tuh_subject

ARTIFACT_CLASSES = ("chew", "elec", "eyem", "musc", "shiv")
CODES: dict[str, str | None] = {
    "chew": "chew", "eyem": "eyem", "musc": "musc", "shiv": "shiv",
    "elec": "elec", "elpp": "elec", "elst": "elec", "elsp": "elec",
    "bckg": None, "null": None,
}  # fmt: skip
COVERAGE = 0.30  # a window is labelled with an artifact that covers at least this fraction of it

# The codes the reference counts as an artifact on a channel (MC, and BC in its Binary mode).
REFERENCE_ARTIFACT_CODES = frozenset({
    "chew", "chew_elec", "chew_musc", "elec", "elpp", "eyem", "eyem_chew", "eyem_elec", "eyem_musc",
    "eyem_shiv", "musc", "musc_elec", "shiv", "shiv_elec", "cpsz", "fnsz", "gnsz", "tcsz",
})  # fmt: skip
# Class code (1..5, the index in ARTIFACT_CLASSES + 1) of each artifact code: its first family.
CLASS_CODES = {
    code: ARTIFACT_CLASSES.index(code.split("_")[0]) + 1
    for code in sorted(REFERENCE_ARTIFACT_CODES)
    if code.split("_")[0] in ARTIFACT_CLASSES
}
KNOWN_CODES = REFERENCE_ARTIFACT_CODES | set(CODES)


def discover_tuh_annotated(recipe: Recipe, source: Path, salt: str) -> Discovery:
    """EDF files anywhere under ``edf/``, split 80/10/10 by subject."""
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
    corpus = "tuar"  # every TUAR protocol uses the same recordings (a card's exclusions name the corpus)
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
class TUAROursMultilabel(TUAR):
    name = "tuar-ours-multilabel"
    summary = "ours, not a published protocol: one bit per artifact class over all channels, >=30% of window"
    label_names = ARTIFACT_CLASSES
    n_classes_multilabel = len(ARTIFACT_CLASSES)
    split_salt = TUAR.split_salt  # same subjects in the same splits as the binary task

    def window_labels(self, recording: Recording, windows: Windows, duration_s: float) -> tuple[np.ndarray, dict]:
        fractions, notes = self.class_fractions(recording, windows, duration_s)
        bits = np.stack([fractions[name] >= COVERAGE for name in ARTIFACT_CLASSES], axis=1)
        return bits.astype(np.int16), notes


def _codes(recipe: Recipe, recording: Recording, duration_s: float, overwrite: bool, code_of: dict):
    """Per-channel codes on the shard grid, the window slices, and the notes (unknown codes)."""
    sfreq = recipe.preprocessing.sfreq
    events = tuh_csv.read_events(tuh_csv.annotation_path(recording.path))
    n_samples = int(round(duration_s * sfreq))
    codes, notes = tuh_csv.channel_codes(events, code_of, list(TCP_NAMES), n_samples, sfreq, overwrite)
    unknown = Counter(e.label for e in events if e.label not in KNOWN_CODES)
    notes["events"] = len(events)
    if unknown:
        notes["unknown_labels"] = dict(sorted(unknown.items()))
    return codes, notes


@register_recipe
class TUARMC(TUAR):
    name = "tuar-mc"
    summary = "TUAR MC: 22 per-channel bits, artifact >=30% of the window on that channel; 80/10/10 by subject"
    label_names = TCP_NAMES
    n_classes_multilabel = len(TCP_NAMES)
    split_salt = TUAR.split_salt

    def window_labels(self, recording: Recording, windows: Windows, duration_s: float) -> tuple[np.ndarray, dict]:
        size, sfreq = self.preprocessing.window_samples, self.preprocessing.sfreq
        present = {code: 1 for code in REFERENCE_ARTIFACT_CODES}
        codes, notes = _codes(self, recording, duration_s, overwrite=False, code_of=present)
        slices = tuh_csv.window_slices(windows.start_s, size, sfreq, codes.shape[1])
        bits = np.stack([codes[:, part].sum(axis=1) / size >= COVERAGE for part in slices])
        return bits.astype(np.int16), notes


@register_recipe
class TUARMMC(TUAR):
    name = "tuar-mmc"
    summary = "TUAR MMC: per channel one of none/chew/elec/eyem/musc/shiv (>=30%, most covered); 80/10/10 by subject"
    label_names = ("none", *ARTIFACT_CLASSES)
    output_channels = len(TCP_NAMES)
    split_salt = TUAR.split_salt

    def window_labels(self, recording: Recording, windows: Windows, duration_s: float) -> tuple[np.ndarray, dict]:
        size, sfreq = self.preprocessing.window_samples, self.preprocessing.sfreq
        codes, notes = _codes(self, recording, duration_s, overwrite=True, code_of=CLASS_CODES)
        slices = tuh_csv.window_slices(windows.start_s, size, sfreq, codes.shape[1])
        classes = np.arange(len(self.label_names))
        labels = []
        for part in slices:
            counts = (codes[:, part, None] == classes).sum(axis=1)  # (channels, classes)
            eligible = np.where(counts / size >= COVERAGE, counts, -1)
            labels.append(np.where(eligible.max(axis=1) >= 0, eligible.argmax(axis=1), 0))  # ties: lowest code
        return np.asarray(labels, dtype=np.int16), notes


@register_recipe
class TUARMCC(TUAR):
    name = "tuar-mcc"
    summary = "TUAR MCC: one of 5 artifact classes per window (any sample); no-artifact and mixed windows dropped"
    label_names = ARTIFACT_CLASSES
    drops_windows = True
    split_salt = TUAR.split_salt

    def window_labels(self, recording: Recording, windows: Windows, duration_s: float) -> tuple[np.ndarray, dict]:
        size, sfreq = self.preprocessing.window_samples, self.preprocessing.sfreq
        codes, notes = _codes(self, recording, duration_s, overwrite=True, code_of=CLASS_CODES)
        slices = tuh_csv.window_slices(windows.start_s, size, sfreq, codes.shape[1])
        labels, dropped = [], Counter()
        for part in slices:
            present = np.unique(codes[:, part])
            present = present[present > 0]
            if len(present) == 1:
                labels.append(int(present[0]) - 1)
            else:
                labels.append(DROP)
                dropped["no artifact" if len(present) == 0 else "several artifact classes"] += 1
        notes["dropped_windows"] = dict(sorted(dropped.items()))
        return np.asarray(labels, dtype=np.int16), notes
