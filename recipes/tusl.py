"""TUSL v2.0.1, the TUH Slowing Corpus: background vs seizure vs slowing in 5 s windows.

Layout: ``edf/**/*.edf`` with a ``.csv`` annotation beside each EDF (the TUAR syntax).
Per-sample label: the event covering that sample on any channel; where channels disagree the
more specific event wins (seiz > slow > bckg), and a sample no event covers is
``unannotated``. The window label is the majority of its per-sample labels (ties go the same
way: seiz > slow > bckg > unannotated). TUH seizure-type codes (fnsz, gnsz, cpsz, ...) count as
``seiz``; any other code is counted in the manifest and not used. Split 80/10/10 by subject.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lumamba_bench.data.preprocess import Windows
from lumamba_bench.recipes import tuh_csv
from lumamba_bench.recipes.base import Discovery, Recipe, Recording, register_recipe
from lumamba_bench.recipes.tuar import discover_tuh_annotated
from lumamba_bench.recipes.tuh_files import TUH_LICENCE, TUH_URL

LABELS = ("unannotated", "bckg", "seiz", "slow")
SEIZURE_CODES = ("seiz", "fnsz", "gnsz", "spsz", "cpsz", "absz", "tnsz", "cnsz", "tcsz", "atsz", "mysz", "nesz")
CODES: dict[str, str | None] = {"bckg": "bckg", "slow": "slow", **{code: "seiz" for code in SEIZURE_CODES}}
PRIORITY = ("seiz", "slow", "bckg")  # most specific first


@register_recipe
class TUSL(Recipe):
    name = "tusl"
    citation = (
        "von Weltin et al., Electroencephalographic slowing: a primary source of error in automatic seizure "
        "detection, IEEE SPMB 2017"
    )
    licence = TUH_LICENCE
    url = TUH_URL
    version = "1"
    part_of = ("tueg",)  # TUH corpora are drawn from the TUH EEG Corpus
    summary = "22 TCP bipolar, 5 s windows, majority label of unannotated/bckg/seiz/slow; 80/10/10 by subject"
    source_layout = "edf/**/*.edf with a .csv annotation beside each EDF (TUSL v2.0.1)"
    label_names = LABELS
    file_level_labels = False
    split_salt = "lumamba-bench/tusl/v1"

    def discover(self, source: Path) -> Discovery:
        return discover_tuh_annotated(self, source, self.split_salt)

    def window_labels(self, recording: Recording, windows: Windows, duration_s: float) -> tuple[np.ndarray, dict]:
        sfreq, size = self.preprocessing.sfreq, self.preprocessing.window_samples
        events = tuh_csv.read_events(tuh_csv.annotation_path(recording.path))
        n_samples = int(round(duration_s * sfreq))
        masks, notes = tuh_csv.event_masks(events, CODES, n_samples, sfreq)
        per_sample = np.full(n_samples, LABELS.index("unannotated"), dtype=np.int16)
        for name in reversed(PRIORITY):  # later writes win: seiz is written last
            if name in masks:
                per_sample[masks[name]] = LABELS.index(name)
        counts = np.stack(
            [tuh_csv.window_fractions(per_sample == LABELS.index(n), windows.start_s, size, sfreq) for n in PRIORITY]
            + [tuh_csv.window_fractions(per_sample == 0, windows.start_s, size, sfreq)],
            axis=1,
        )
        order = np.array([LABELS.index(n) for n in PRIORITY] + [0], dtype=np.int16)
        return order[counts.argmax(axis=1)], notes
