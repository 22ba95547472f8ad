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

from lumamba_bench.recipes.base import Discovery, Recipe, Recording
from lumamba_bench.recipes.splits import assign_split

from lumamba_bench.errors import LumambaError

LABELS = {"normal": 0, "abnormal": 1}
FOLDER_SPLIT = {"eval": "test"}


class TUAB(Recipe):
    name = "tuab"
    version = "1"
    part_of = ("tueg",)  # TUH corpora are drawn from the TUH EEG Corpus
    summary = "22 TCP bipolar, 5 s windows, normal/abnormal per file; eval=test, train 80/20 by subject"
    source_layout = "edf/{train,eval}/{normal,abnormal}/01_tcp_ar/*.edf (TUAB v3.0.1)"
    label_names = ("normal", "abnormal")
    split_salt = "lumamba-bench/tuab/v1"

    def discover(self, source: Path) -> Discovery:
        edf_root = source / "edf"
        recordings, ignored = [], []
        if not edf_root.is_dir():
            raise LumambaError(f"{source} has no edf/ folder: expected {self.source_layout}")
        for path in sorted(p for p in edf_root.rglob("*") if p.is_file()):
            parts = path.relative_to(edf_root).parts
            if (
                path.suffix.lower() != ".edf"
                or len(parts) != 4
                or parts[0] not in ("train", "eval")
                or parts[1] not in LABELS
            ):
                ignored.append(str(path.relative_to(source)))
                continue
            subject = path.stem.split("_")[0]
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
