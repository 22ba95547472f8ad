"""TUAB v3.0.1, the TUH Abnormal EEG Corpus: normal vs abnormal, file-level labels.

Layout: ``edf/{train,eval}/{normal,abnormal}/01_tcp_ar/*.edf``; the subject is the first token
of the file name (``aaaaaaav_s004_t000.edf`` -> ``aaaaaaav``). ``eval`` is the test split; the
``train`` folder is split 80/20 by subject into train/val with a salted sha256 of the subject
id (the reference scripts split without a seed, so their val set cannot be reproduced).
Signals: the 22-channel TCP bipolar montage, 256 Hz, 0.1-75 Hz band-pass, 60 Hz notch, 5 s
non-overlapping windows.
"""

from __future__ import annotations

from pathlib import Path

from lumamba_bench.data.recipe import Discovery, Recipe, Recording, register_recipe
from lumamba_bench.recipes.splits import assign_split
from lumamba_bench.recipes.tuh_files import TUEG_CITATION, TUH_LICENCE, TUH_URL, tuh_files, tuh_subject

LABELS = {"normal": 0, "abnormal": 1}
FOLDER_SPLIT = {"eval": "test"}


@register_recipe
class TUAB(Recipe):
    name = "tuab"
    citation = (
        "Lopez de Diego, Automated interpretation of abnormal adult electroencephalograms, MS thesis, "
        "Temple University, 2017; " + TUEG_CITATION
    )
    licence = TUH_LICENCE
    url = TUH_URL
    version = "1"
    part_of = ("tueg",)  # TUH corpora are drawn from the TUH EEG Corpus
    summary = "22 TCP bipolar, 5 s windows, normal/abnormal per file; eval=test, train 80/20 by subject"
    source_layout = "edf/{train,eval}/{normal,abnormal}/01_tcp_ar/*.edf (TUAB v3.0.1)"
    label_names = ("normal", "abnormal")
    split_salt = "lumamba-bench/tuab/v1"
    corpus_version = "v3.0.1"
    # TUAB v3.0.1 as released (2,993 EDF files; braindecode's TUHAbnormal checks the same total)
    expected_files = {"train/normal": 1371, "train/abnormal": 1346, "eval/normal": 150, "eval/abnormal": 126}

    def count_group(self, recording: Recording) -> str:
        return "/".join(Path(recording.recording_id).parts[1:3])  # edf/<train|eval>/<label>/...

    def discover(self, source: Path) -> Discovery:
        recordings, ignored = [], []
        for path in tuh_files(self, source):
            parts = path.relative_to(source / "edf").parts
            if (
                path.suffix.lower() != ".edf"
                or len(parts) != 4
                or parts[0] not in ("train", "eval")
                or parts[1] not in LABELS
            ):
                ignored.append(str(path.relative_to(source)))
                continue
            subject = tuh_subject(path)
            split = FOLDER_SPLIT.get(parts[0]) or assign_split(subject, self.split_salt, {"train": 0.8, "val": 0.2})
            recordings.append(
                Recording(
                    path=path,
                    recording_id=str(path.relative_to(source).with_suffix("")),
                    subject_id=subject,
                    split=split,
                    label=LABELS[parts[1]],
                )
            )
        return Discovery(recordings, ignored)
