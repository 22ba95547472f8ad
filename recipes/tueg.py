"""TUEG v2.0.1, the TUH EEG Corpus: the unlabelled pre-training corpus (~70k files).

Layout: ``edf/**/*.edf`` (``edf/000/aaaaaaaa/s001_2015/01_tcp_ar/aaaaaaaa_s001_t000.edf``);
the subject is the first token of the file name. Every recording goes to ``train`` with label
-1. Signals: the 22-channel TCP bipolar montage where it can be derived; a file missing some
electrodes (``03_tcp_ar_a`` has no A1/A2) is kept when at least 20 bipolar channels remain
(its montage gets its own shards), otherwise skipped with the reason.

``exclude_subjects_of`` (CLI ``--exclude-subjects-of tuab``) reads prepared evaluation corpora's
manifests and leaves their subjects out, so no evaluation subject is seen in pre-training; the
excluded files are listed in the manifest with the reason.

Scale: discovery walks the tree once (sorted, one path object per file), recordings are read
in worker processes with a bounded number in flight, shards are flushed every 2,048 windows,
and an interrupted run resumes from its journal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lumamba_bench.data.edf import read_edf
from lumamba_bench.data.manifest import read_manifest
from lumamba_bench.data.montages import derive_bipolar, tcp_electrodes
from lumamba_bench.data.recipe import Discovery, Recipe, Recording, register_recipe
from lumamba_bench.recipes.tuh_files import TUEG_CITATION, TUH_LICENCE, TUH_URL, tuh_files, tuh_subject

MIN_BIPOLAR_CHANNELS = 20


def subjects_of(recipe_name: str, data_root: Path) -> set[str]:
    """Every subject of a prepared corpus (all splits), from its manifest."""
    manifest = read_manifest(data_root / recipe_name, recipe_name)
    return set(manifest["subjects"])


@register_recipe
class TUEG(Recipe):
    name = "tueg"
    citation = TUEG_CITATION
    licence = TUH_LICENCE
    url = TUH_URL
    version = "1"
    summary = "unlabelled pre-training corpus: 22 TCP bipolar (>=20 derivable), 5 s windows, all train"
    source_layout = "edf/**/*.edf (TUEG v2.0.1)"
    label_names = ()
    file_level_labels = False

    def __init__(self) -> None:
        self.excluded_subjects: dict[str, str] = {}  # subject -> corpus it belongs to

    def exclude_subjects_of(self, recipe_names: list[str], data_root: Path) -> None:
        for recipe_name in recipe_names:
            for subject in subjects_of(recipe_name, data_root):
                self.excluded_subjects.setdefault(subject, recipe_name)

    def discover(self, source: Path) -> Discovery:
        discovery = Discovery([])
        for path in tuh_files(self, source):
            relative = str(path.relative_to(source))
            if path.suffix.lower() != ".edf":
                discovery.ignored.append(relative)
                continue
            subject = tuh_subject(path)
            if subject in self.excluded_subjects:
                discovery.excluded[relative] = f"subject {subject} is in {self.excluded_subjects[subject]}"
                continue
            recording_id = str(Path(relative).with_suffix(""))
            discovery.recordings.append(Recording(path, recording_id, subject, "train"))
        return discovery

    def read(self, recording: Recording) -> tuple[np.ndarray, float, list[str]]:
        raw = read_edf(recording.path, tcp_electrodes())
        data, names = derive_bipolar(raw.data, raw.ch_names, min_channels=MIN_BIPOLAR_CHANNELS)
        return data, raw.sfreq, names
