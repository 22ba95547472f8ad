"""TDBrain: Parkinson's disease vs healthy from resting-state eyes-closed EEG.

Layout: ``TDBRAIN_participants_V2.tsv`` (columns ``participants_ID``, ``indication``, ``EC``,
...), at the root or inside ``derivatives/`` (where Medformer's download has it), and
``derivatives/<id>/ses-1/eeg/<id>_ses-1_task-restEC_eeg.csv`` per subject: 500 Hz, one column per
channel in microvolts, EOG/EMG columns included (dropped here).

The real table is messy, and is read as Medformer reads it: ids and indications are stripped of
stray spaces and indications upper-cased (``Parkinson `` is PARKINSON); rows with an empty id are
skipped (counted in the manifest's excluded list); a participant listed twice keeps its first row.

Subjects: indication PARKINSON (PD) or HEALTHY with ``EC == 1``. Ids are assigned over the
sorted participant IDs: PD 1-25, healthy 26 onwards. Split (the reference protocol): val
{18-21, 46-49}, test {22-25, 50-53}, train 1-17 and 29-45. The reference leaves ids 26-28 and
anything past 53 out of every split; so do we, and the manifest lists them as excluded with the
reason. A participant listed twice keeps its first row (later rows are listed as excluded); one
listed with conflicting indications is excluded.

Signals: the 26 EEG channels below, 256 Hz, 0.1-75 Hz, 50 Hz notch, 1.25 s windows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv

from lumamba_bench.data.preprocess import Preprocessing
from lumamba_bench.data.recipe import Discovery, Recipe, Recording, register_recipe
from lumamba_bench.errors import LumambaError, RecordingError

PARTICIPANTS = "TDBRAIN_participants_V2.tsv"
CHANNELS = (
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "FC3", "FCz", "FC4", "T7", "C3", "Cz", "C4", "T8",
    "CP3", "CPz", "CP4", "P7", "P3", "Pz", "P4", "P8", "O1", "Oz", "O2",
)  # fmt: skip
SFREQ = 500.0
FIRST_HEALTHY_ID = 26
VAL = frozenset({18, 19, 20, 21, 46, 47, 48, 49})
TEST = frozenset({22, 23, 24, 25, 50, 51, 52, 53})
TRAIN = frozenset(range(1, 18)) | frozenset(range(29, 46))
GROUPS = {"PARKINSON": 1, "HEALTHY": 0}


def split_of(number: int) -> str | None:
    return "val" if number in VAL else "test" if number in TEST else "train" if number in TRAIN else None


def recording_path(source: Path, participant: str) -> Path:
    return source / "derivatives" / participant / "ses-1" / "eeg" / f"{participant}_ses-1_task-restEC_eeg.csv"


def participants_table(source: Path) -> Path | None:
    """The participants table: at the root, else in ``derivatives/`` (Medformer's download)."""
    for table in (source / PARTICIPANTS, source / "derivatives" / PARTICIPANTS):
        if table.is_file():
            return table
    return None


def _indication(row: dict) -> str:
    return (row.get("indication") or "").strip().upper()


def _eyes_closed(value: str | None) -> bool:
    try:
        return float(value or "") == 1.0
    except ValueError:
        return False


@register_recipe
class TDBrain(Recipe):
    name = "tdbrain"
    citation = (
        "van Dijk et al., The two decades brainclinics research archive for insights in neurophysiology "
        "(TDBRAIN) database, Scientific Data 9:333, 2022"
    )
    licence = "Brainclinics Foundation data-use terms (after registering)"
    url = "https://brainclinics.com/resources/"
    version = "1"
    summary = "26 channels, 1.25 s windows, Parkinson's vs healthy (eyes closed); reference id split"
    source_layout = f"{PARTICIPANTS} + derivatives/<id>/ses-1/eeg/<id>_ses-1_task-restEC_eeg.csv"
    label_names = ("healthy", "parkinson")
    preprocessing = Preprocessing(notch_freq=50.0, window_s=1.25)
    recording_suffix = "_eeg.csv"
    montage_names = {CHANNELS: "tdbrain26"}

    def discover(self, source: Path) -> Discovery:
        table = participants_table(source)
        if table is None:
            raise LumambaError(f"{source} has no {PARTICIPANTS} (at its root or in derivatives/): "
                               f"expected {self.source_layout}")  # fmt: skip
        discovery = Discovery([])
        with open(table, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        needed = {"participants_ID", "indication", "EC"}
        if rows and not needed <= set(rows[0]):
            raise LumambaError(f"{table} lacks columns {sorted(needed - set(rows[0]))}")
        first: dict[str, tuple[int, dict]] = {}
        conflicting: set[str] = set()
        for line, row in enumerate(rows, start=2):
            participant = (row["participants_ID"] or "").strip()
            if not participant:
                discovery.excluded[f"{PARTICIPANTS}:{line}"] = f"{PARTICIPANTS}:{line}: row without a participant id"
                continue
            if participant in first:
                where = f"{PARTICIPANTS}:{line}"
                reason = f"{where}: duplicate row of {participant} (first at line {first[participant][0]})"
                if _indication(row) != _indication(first[participant][1]):
                    conflicting.add(participant)
                    reason += " with a different indication"
                discovery.excluded[f"{PARTICIPANTS}:{line}"] = reason
                continue
            first[participant] = (line, row)
        groups: dict[int, list[str]] = {0: [], 1: []}
        for participant, (_, row) in sorted(first.items()):
            group = GROUPS.get(_indication(row))
            if group is None or not _eyes_closed(row["EC"]):
                continue  # neither PD nor healthy with eyes-closed data: not part of this task
            if participant in conflicting:
                discovery.excluded[participant] = "listed with conflicting indications"
                continue
            groups[group].append(participant)
        numbered = [(n, p, 1) for n, p in enumerate(groups[1], start=1)]
        numbered += [(n, p, 0) for n, p in enumerate(groups[0], start=FIRST_HEALTHY_ID)]
        for number, participant, label in numbered:
            path = recording_path(source, participant)
            split = split_of(number) if label == 0 or number < FIRST_HEALTHY_ID else None
            if split is None:
                group = "PD" if label else "healthy"
                discovery.excluded[str(path.relative_to(source))] = (
                    f"{participant} ({group}) has id {number}, outside the reference split"
                )
                continue
            recording = Recording(path, participant, participant, split, label, extra={"number": number})
            discovery.recordings.append(recording)
        return discovery

    def read(self, recording: Recording) -> tuple[np.ndarray, float, list[str]]:
        path = recording.path
        try:
            table = pacsv.read_csv(path)
        except Exception as error:
            raise RecordingError(f"{path.name}: not a readable CSV ({error})") from None
        columns = {name.strip(): name for name in table.column_names}
        missing = [c for c in CHANNELS if c not in columns]
        if missing:
            raise RecordingError(f"{path.name}: missing EEG columns {', '.join(missing)}")
        data = np.stack([table.column(columns[c]).to_numpy(zero_copy_only=False) for c in CHANNELS])
        return data.astype(np.float32), SFREQ, list(CHANNELS)
