"""TUSL v2.0.1, the TUH Slowing Corpus: background vs seizure vs slowing in 5 s windows.

Layout: ``edf/**/*.edf`` with a ``.csv`` annotation beside each EDF (the TUAR syntax; the real
files repeat each event on every channel that shows it).

Labels, as the reference labels them (BioFoundation ``make_datasets/process_raw_eeg.py``): one
label per sample, written row by row in file order whatever the channel, so a later row
overwrites an earlier one; ``bckg``, ``seiz`` and ``slow`` write their code, any other code
writes nothing (and is counted in the manifest, ``notes.unknown_labels``); a sample no row covers
is ``unannotated``. A window's label is the most frequent of its samples' labels, a tie going to
the lowest code (unannotated < bckg < seiz < slow).

Split: by subject into exactly 30 / 4 / 4 of the release's 38 subjects, as the reference does
(its draw is unseeded; ours ranks subjects by a salted sha256 of their id, so it is the same on
every machine). A copy with another number of subjects keeps the proportions: val and test
each get round(n x 4 / 38) subjects, at least one, and train the rest.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from lumamba_bench.data.preprocess import Windows
from lumamba_bench.data.recipe import Discovery, Recipe, Recording, register_recipe
from lumamba_bench.errors import LumambaError
from lumamba_bench.recipes import tuh_csv
from lumamba_bench.recipes.splits import ranked_split
from lumamba_bench.recipes.tuh_files import TUH_LICENCE, TUH_URL, tuh_files, tuh_subject

LABELS = ("unannotated", "bckg", "seiz", "slow")
CODES = {"bckg": 1, "seiz": 2, "slow": 3}
SPLIT_SIZES = {"train": 30, "val": 4, "test": 4}  # subjects of the 38 in v2.0.1


def split_sizes(n_subjects: int) -> dict[str, int]:
    """30 / 4 / 4 for the release's 38 subjects; the same proportions for another count."""
    if n_subjects < 3:
        raise LumambaError(f"TUSL needs at least 3 subjects for its train/val/test split; found {n_subjects}")
    total = sum(SPLIT_SIZES.values())
    held_out = {s: max(1, round(n_subjects * SPLIT_SIZES[s] / total)) for s in ("val", "test")}
    return {"train": n_subjects - sum(held_out.values()), **held_out}


@register_recipe
class TUSL(Recipe):
    name = "tusl"
    citation = (
        "von Weltin et al., Electroencephalographic slowing: a primary source of error in automatic seizure "
        "detection, IEEE SPMB 2017"
    )
    licence = TUH_LICENCE
    url = TUH_URL
    corpus_version = "v2.0.1"
    version = "2"  # 2: the reference's labelling (row order, ties to the lowest code) and its 30/4/4 split
    part_of = ("tueg",)  # TUH corpora are drawn from the TUH EEG Corpus
    summary = "22 TCP bipolar, 5 s windows, majority of unannotated/bckg/seiz/slow; 30/4/4 subjects"
    source_layout = "edf/**/*.edf with a .csv annotation beside each EDF (TUSL v2.0.1)"
    label_names = LABELS
    file_level_labels = False
    split_salt = "lumamba-bench/tusl/v2"

    def discover(self, source: Path) -> Discovery:
        paths, ignored = [], []
        for path in tuh_files(self, source):
            if path.suffix.lower() == ".edf":
                paths.append(path)
            elif path.suffix.lower() != ".csv" or not path.with_suffix(".edf").exists():
                ignored.append(str(path.relative_to(source)))
        subjects = sorted({tuh_subject(p) for p in paths})
        split_of = ranked_split(subjects, self.split_salt, split_sizes(len(subjects))) if subjects else {}
        recordings = [
            Recording(path, str(path.relative_to(source).with_suffix("")), tuh_subject(path),
                      split_of[tuh_subject(path)])
            for path in paths
        ]  # fmt: skip
        return Discovery(recordings, ignored)

    def window_labels(self, recording: Recording, windows: Windows, duration_s: float) -> tuple[np.ndarray, dict]:
        sfreq, size = self.preprocessing.sfreq, self.preprocessing.window_samples
        events = tuh_csv.read_events(tuh_csv.annotation_path(recording.path))
        n_samples = int(round(duration_s * sfreq))
        per_sample = np.zeros(n_samples, dtype=np.int16)
        unknown: Counter = Counter()
        clipped = past_end = 0
        for event in events:  # file order: a later row overwrites an earlier one
            code = CODES.get(event.label)
            if code is None:
                unknown[event.label] += 1
                continue
            first, last = int(round(event.start * sfreq)), min(n_samples, int(round(event.stop * sfreq)))
            past_end += first >= n_samples
            clipped += event.stop > duration_s and first < n_samples
            per_sample[first:last] = code
        labels = []
        for part in tuh_csv.window_slices(windows.start_s, size, sfreq, n_samples):
            counts = np.bincount(per_sample[part], minlength=len(LABELS))
            labels.append(int(counts.argmax()))  # argmax takes the first maximum: ties go to the lowest code
        notes = {"events": len(events), "events_clipped": int(clipped), "events_past_end": int(past_end)}
        if unknown:
            notes["unknown_labels"] = dict(sorted(unknown.items()))
        return np.asarray(labels, dtype=np.int16), notes
