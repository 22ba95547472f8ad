"""The recipe contract, and the registry of recipes: what a recipe declares (where recordings
are, their labels, subjects, splits and channels) and how one is found by name.

The signal pipeline, shard writing, resume and reporting are shared (``lumamba_bench.data``);
a recipe holds only what is specific to its corpus. The concrete recipes live in ``recipes/``
(installed as ``lumamba_bench.recipes``), each declared under the ``lumamba_bench.recipes``
entry points (``pyproject.toml``; ``plugins.py``), as a third-party package declares its own.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lumamba_bench import plugins
from lumamba_bench.data.edf import read_edf
from lumamba_bench.data.montages import TCP_NAMES, derive_bipolar, tcp_electrodes
from lumamba_bench.data.preprocess import Preprocessing, Windows, process
from lumamba_bench.errors import LumambaError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Recording:
    """One source file and everything known about it before reading it."""

    path: Path
    recording_id: str  # unique and stable: the path relative to the source root, no suffix
    subject_id: str
    split: str
    label: int = -1  # file-level label; -1 when labels are per window or absent
    extra: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass
class Discovery:
    """The recordings a recipe found, and the files it looked at but does not use."""

    recordings: list[Recording]
    ignored: list[str] = field(default_factory=list)  # files that are not recordings of this corpus
    excluded: dict[str, str] = field(default_factory=dict)  # recordings left out on purpose: path -> reason
    completeness: dict | None = None  # files found against the recipe's expected counts (prepare fills it)
    split_source: dict | None = None  # where the splits came from: the recipe, or a split file (prepare fills it)


BINARY, MULTICLASS, MULTILABEL = "binary", "multiclass", "multilabel"  # the task types
MULTIOUTPUT = "multioutput"  # one class per output channel (TUAR MMC: per channel, one of the artifact classes)
DROP = -1  # a window label that drops the window (recipes with ``drops_windows``: TUAR MCC)
REGISTERED: dict[str, type[Recipe]] = {}


def register_recipe(cls: type[Recipe]) -> type[Recipe]:
    """Class decorator: make a recipe available to ``get_recipe`` under its ``name``; a name
    another class holds is refused, naming both."""
    if not cls.name or cls.name != cls.name.lower():
        raise plugins.PluginError(f"recipe {plugins.provider_of(cls)} needs a lower-case name, not {cls.name!r}")
    taken = REGISTERED.get(cls.name)
    plugins.refuse_taken("recipe", cls.name, None if taken is None else plugins.provider_of(taken),
                         plugins.provider_of(cls))  # fmt: skip
    REGISTERED[cls.name] = cls
    return cls


class Recipe(ABC):
    """Base class: a corpus recorded referentially, read from EDF, derived to a montage."""

    name: str = ""
    version: str = "1"
    summary: str = ""  # one line for the `recipes` table: channels, window, labels, split
    source_layout: str = ""  # what --source must point at
    recording_suffix: str = ".edf"  # how recording files end; anything so named that is not a file is reported
    label_names: tuple[str, ...] = ()
    n_classes_multilabel: int | None = None  # set for multi-hot labels
    output_channels: int | None = None  # set for one class per channel (``label_names`` are the classes)
    drops_windows: bool = False  # window_labels may return DROP for windows outside the task (counted in notes)
    preprocessing: Preprocessing = Preprocessing()
    montage_names: dict[tuple[str, ...], str] = {TCP_NAMES: "tcp22"}
    file_level_labels: bool = True  # every window carries its recording's label (recording-level metrics apply)
    # The task's exceptions to the fine-tuning recipes: {"all" | "reference" | "common": {setting: value}}
    # (e.g. the demo's laptop budget); recorded in each results file as the task's overrides.
    finetune_defaults: dict = {}
    part_of: tuple[str, ...] = ()  # larger corpora that hold this one's recordings (TUAB's are in TUEG)
    corpus: str = ""  # the corpus several tasks share (TUAR's protocols: "tuar"); "" = the recipe's name
    synthetic: bool = False  # generated data (the demo): never counted in the overall ranking
    corpus_version: str = ""  # the release the layout and the expected counts are for
    citation: str = ""  # the corpus's paper
    licence: str = ""  # the terms it is distributed under
    url: str = ""  # where to get it
    main_score: str | None = None  # the metric that ranks the task (None: its task type's, harness/metrics.py)
    expected_files: dict[str, int] = {}  # recording files per count_group in a complete copy; {} = not declared

    @property
    def task_type(self) -> str | None:
        """binary, multiclass, multilabel or multioutput: the one derivation of a task's type (None
        for an unlabelled pre-training corpus such as TUEG)."""
        if self.n_classes_multilabel:
            return MULTILABEL
        if self.output_channels:
            return MULTIOUTPUT
        if len(self.label_names) < 2:
            return None
        return BINARY if len(self.label_names) == 2 else MULTICLASS

    @property
    def outputs(self) -> int:
        """How many outputs a classifier head needs: one per class (binary: two, softmax); one
        per class and channel for a multi-output task."""
        if self.task_type is None:
            raise LumambaError(f"{self.name} has no labels to fine-tune on")
        return len(self.label_names) * (self.output_channels or 1)

    @property
    def label_width(self) -> int | None:
        """Values per window label: None for one integer, else the length of the label list."""
        return self.n_classes_multilabel or self.output_channels

    def default_source(self, data_root: Path) -> Path | None:
        """Where a corpus this package generates lives (the demo, written on first use); None:
        the user's own copy is needed (``--source``)."""
        return None

    def exclude_subjects_of(self, recipe_names: list[str], data_root: Path) -> None:
        """Leave out the subjects of prepared recipes (pre-training corpora only: TUEG)."""
        raise LumambaError(f"--exclude-subjects-of applies to pre-training corpora (tueg), not {self.name}")

    def count_group(self, recording: Recording) -> str:
        """The group of ``expected_files`` a recording counts in (e.g. TUAB's ``train/normal``)."""
        return "all"

    @abstractmethod
    def discover(self, source: Path) -> Discovery:
        """Find the recordings under ``source``, with their subjects, labels and splits."""

    def read(self, recording: Recording) -> tuple[np.ndarray, float, list[str]]:
        """(C, N) microvolts, sampling rate, channel names in the recipe's montage."""
        raw = read_edf(recording.path, tcp_electrodes())
        data, names = derive_bipolar(raw.data, raw.ch_names)
        return data, raw.sfreq, names

    def windows(self, data: np.ndarray, sfreq: float) -> Windows:
        """Preprocess and cut one recording; epoched corpora (APAVA) override this."""
        return process(data, sfreq, self.preprocessing)

    def window_labels(self, recording: Recording, windows: Windows, duration_s: float) -> tuple[np.ndarray, dict]:
        """Labels of the kept windows and notes for the manifest (annotation problems found).

        By default every window carries the file's label."""
        return np.full(len(windows.signal), recording.label, dtype=np.int16), {}

    def montage_name(self, channels: list[str]) -> str:
        """A stable name per channel list, so two different lists never share a shard."""
        known = self.montage_names.get(tuple(channels))
        if known:
            return known
        digest = hashlib.sha1(",".join(channels).encode()).hexdigest()[:6]
        return f"c{len(channels)}-{digest}"


def _register_entry_point(name: str, provided, where: str) -> None:
    if not (isinstance(provided, type) and issubclass(provided, Recipe)):
        raise plugins.PluginError(f"{where} is not a Recipe subclass")
    register_recipe(provided)


def _load_all() -> None:
    plugins.load_group("recipes", _register_entry_point)


def list_recipes() -> list[str]:
    _load_all()
    return sorted(REGISTERED)


def get_recipe(name: str) -> Recipe:
    _load_all()
    try:
        return REGISTERED[name.lower()]()
    except KeyError:
        raise LumambaError(f"unknown recipe {name!r}; known recipes: {', '.join(list_recipes())}") from None
