"""APAVA: Alzheimer's disease vs healthy, 23 subjects, 16-channel EEG in 5 s trials.

Layout: a folder of ``.mat`` files, one per subject, each holding a MATLAB struct ``data`` with
a field ``label`` (the 16 channel names) and the trials (a cell array, each 16 x 1280 at
256 Hz). The trials are the field named ``trial`` when present, else the struct's third field
(as the reference reads them). The sampling rate is ``fsample`` when present, else 256 Hz.

Participant number = rank (1-based) of the naturally sorted file name (``2.mat`` before
``10.mat``). Alzheimer's: participants 1,3,6,8,9,11,12,13,15,17,19,21; val = {15,16,19,20},
test = {1,2,17,18}, the rest train (the reference protocol, deterministic here because the
order is sorted, not ``os.listdir``'s).

Trials are separate recordings in time, so each is filtered on its own (0.1-75 Hz, 50 Hz
notch: European mains) and gives one 5 s window; concatenating them would filter across the
cuts between trials.

Units: the release is in microvolts. A copy whose amplitudes look like volts or millivolts (the
median channel standard deviation below 0.001 or 0.5) would lose every window as flat; it is
refused instead, naming the file and the scale found.

Source: the raw files are on OSF (https://osf.io/jbysn/, the link Medformer's README gives).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import scipy.io

from lumamba_bench.data.preprocess import Preprocessing, Windows, process
from lumamba_bench.data.recipe import Discovery, Recipe, Recording, register_recipe
from lumamba_bench.errors import LumambaError, RecordingError

ALZHEIMER = frozenset({1, 3, 6, 8, 9, 11, 12, 13, 15, 17, 19, 21})
VAL = frozenset({15, 16, 19, 20})
TEST = frozenset({1, 2, 17, 18})
CHANNELS = ("C3", "C4", "F3", "F4", "F7", "F8", "Fp1", "Fp2", "O1", "O2", "P3", "P4", "T3", "T4", "T5", "T6")
DEFAULT_SFREQ = 256.0
MICROVOLT_SCALE = 0.5  # a median channel standard deviation below this is not microvolt EEG
VOLT_SCALE = 1e-3  # ... and below this, volts (1e-3 to 0.5: millivolts)


def natural_key(name: str) -> list:
    """``s2.mat`` < ``s10.mat``: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def split_of(participant: int) -> str:
    return "val" if participant in VAL else "test" if participant in TEST else "train"


def read_apava_mat(path: Path) -> tuple[np.ndarray, float, list[str]]:
    """(trials, C, N) microvolts, sampling rate, channel names from one APAVA ``.mat`` file."""
    try:
        content = scipy.io.loadmat(path, simplify_cells=True)
    except Exception as error:
        raise RecordingError(f"{path.name}: not a readable MATLAB file ({error})") from None
    layout = "a struct `data` with fields `label` and `trial` (or the trials as its third field)"
    struct = content.get("data")
    if not isinstance(struct, dict) or "label" not in struct:
        found = sorted(k for k in content if not k.startswith("__"))
        raise RecordingError(f"{path.name}: expected {layout}; found variables {found}")
    fields = list(struct)
    if "trial" in struct:
        trials = struct["trial"]
    elif len(fields) >= 3:
        trials = struct[fields[2]]
    else:
        raise RecordingError(f"{path.name}: expected {layout}; struct fields are {fields}")
    names = [str(n).strip() for n in np.atleast_1d(struct["label"])]
    if isinstance(trials, np.ndarray) and trials.dtype != object:
        trials = [trials] if trials.ndim == 2 else list(trials)
    try:
        stacked = np.stack([np.asarray(t, dtype=np.float64) for t in trials])
    except (ValueError, TypeError):
        shapes = sorted({np.shape(t) for t in trials}, key=str)
        raise RecordingError(f"{path.name}: trials differ in shape {shapes}; expected {layout}") from None
    if stacked.ndim != 3 or stacked.shape[1] != len(names):
        raise RecordingError(
            f"{path.name}: trials have shape {stacked.shape[1:]} but there are {len(names)} channel labels"
        )
    sfreq = float(struct.get("fsample", DEFAULT_SFREQ))
    check_microvolts(path, stacked)
    return stacked.astype(np.float32), sfreq, names


def check_microvolts(path: Path, trials: np.ndarray) -> None:
    """Refuse amplitudes that look like volts or millivolts (every window would be dropped as
    flat, without a word of why); an all-zero recording is left to the flat-window count."""
    with np.errstate(invalid="ignore"):
        spread = np.nanstd(trials.transpose(1, 0, 2).reshape(trials.shape[1], -1), axis=1)
    scale = float(np.nanmedian(spread)) if np.isfinite(spread).any() else 0.0
    if 0.0 < scale < MICROVOLT_SCALE:
        unit, factor = ("volts", "1e6") if scale < VOLT_SCALE else ("millivolts", "1e3")
        raise RecordingError(
            f"{path.name}: amplitudes look like {unit} (median channel standard deviation {scale:.3g}); "
            f"APAVA is in microvolts: convert the copy (x {factor}) or use the original release"
        )


@register_recipe
class APAVA(Recipe):
    name = "apava"
    citation = (
        "Smith, Abasolo & Escudero, Accounting for the complex hierarchical topology of EEG phase-based "
        "functional connectivity in network binarisation, PLOS ONE 12(10), 2017"
    )
    licence = "the authors' public release used by Medformer (terms as stated there)"
    url = "https://osf.io/jbysn/"  # the raw .mat files, as Medformer's README names them
    # 23 participants; they are numbered by file order, so a partial copy would mislabel them
    expected_files = {"all": 23}
    version = "1"
    summary = "16 channels, 5 s trials, Alzheimer's vs healthy (23 subjects); fixed subject split val 4, test 4"
    source_layout = "a folder of .mat files, one per subject (struct `data`: label, trial), from osf.io/jbysn"
    label_names = ("healthy", "alzheimer")
    preprocessing = Preprocessing(notch_freq=50.0)
    recording_suffix = ".mat"
    montage_names = {CHANNELS: "apava16"}
    # 23 subjects, ~5k windows: a small task; the common recipe runs fewer epochs than on TUAB (the
    # reference recipes keep their authors' epochs).
    finetune_defaults = {"common": {"epochs": 30, "patience": 10}}

    def discover(self, source: Path) -> Discovery:
        files = sorted((p for p in source.iterdir() if p.is_file()), key=lambda p: natural_key(p.name))
        mats = [p for p in files if p.suffix.lower() == ".mat"]
        ignored = [p.name for p in files if p.suffix.lower() != ".mat"]
        if not mats:
            raise LumambaError(f"no .mat files in {source}: expected {self.source_layout}")
        recordings = []
        for participant, path in enumerate(mats, start=1):
            recordings.append(
                Recording(
                    path=path,
                    recording_id=path.stem,
                    subject_id=f"{participant:02d}",
                    split=split_of(participant),
                    label=int(participant in ALZHEIMER),
                    extra={"participant": participant},
                )
            )
        return Discovery(recordings, ignored)

    def read(self, recording: Recording) -> tuple[np.ndarray, float, list[str]]:
        return read_apava_mat(recording.path)

    def windows(self, data: np.ndarray, sfreq: float) -> Windows:
        """Each trial filtered and windowed on its own; start times count trials back to back."""
        parts = [process(trial, sfreq, self.preprocessing) for trial in data]
        trial_s = data.shape[-1] / sfreq
        return Windows(
            signal=np.concatenate([p.signal for p in parts]),
            start_s=np.concatenate([p.start_s + i * trial_s for i, p in enumerate(parts)]).astype(np.float32),
            dropped_nonfinite=sum(p.dropped_nonfinite for p in parts),
            dropped_flat=sum(p.dropped_flat for p in parts),
        )
