"""How every TUH corpus (TUAB, TUAR, TUSL, TUEG) is walked: the files under ``edf/`` in sorted
order, streamed one folder at a time (TUEG has ~70k files), and the subject of a file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from lumamba_bench.data.recipe import Recipe
from lumamba_bench.errors import LumambaError

TUH_LICENCE = (
    "TUH EEG Corpus data-use agreement (free after signing), Neural Engineering Data Consortium, Temple University"
)
TUH_URL = "https://isip.piconepress.com/projects/nedc/html/tuh_eeg/"
TUEG_CITATION = "Obeid & Picone, The Temple University Hospital EEG Data Corpus, Front. Neurosci. 10:196, 2016"


def tuh_files(recipe: Recipe, source: Path) -> Iterator[Path]:
    """Every file under ``source/edf``, in sorted path order; an error naming the expected
    layout when there is no ``edf/`` folder."""
    edf_root = Path(source) / "edf"
    if not edf_root.is_dir():
        raise LumambaError(f"{source} has no edf/ folder: expected {recipe.source_layout}")
    yield from _walk(edf_root, {os.path.realpath(edf_root)})


def _walk(folder: Path, above: set[str]) -> Iterator[Path]:
    """Depth first, names sorted at each level (the same order as sorting the full paths). A link
    to a folder is followed (a class folder kept on another disk is part of the corpus), except
    one back to a folder above it, which would loop; a broken or looping link to a file is not a
    file (`prepare` lists it as unreadable)."""
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if _is_dir(entry):
            real = os.path.realpath(entry.path)
            if real not in above:
                yield from _walk(Path(entry.path), above | {real})
        elif _is_file(entry):
            yield Path(entry.path)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # through links
    except OSError:
        return False


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:  # a symbolic link loop
        return False


def tuh_subject(path: Path) -> str:
    """The subject of a TUH file: the first token of its name (``aaaaaaav_s004_t000.edf``)."""
    return path.stem.split("_")[0]
