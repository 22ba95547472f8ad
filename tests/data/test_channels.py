import json
import warnings
from pathlib import Path

import mne
import numpy as np
import pytest

from lumamba_bench.data.channels import (
    UnknownChannelError,
    canonical_name,
    position,
    positions,
    referential_labels,
)


@pytest.mark.parametrize(
    "raw, canonical",
    [
        ("EEG FP1-REF", "Fp1"), ("fp1", "Fp1"), ("EEG T3-REF", "T7"), ("T4", "T8"), ("t5-le", "P7"),
        ("EEG T6-LE", "P8"), ("CZ", "Cz"), ("EEG A1-REF", "A1"), ("Oz", "Oz"), ("FP1-F7", "Fp1-F7"),
        ("EEG T3-T5", "T7-P7"), ("c3-cz", "C3-Cz"),
        # what real exports write: BCI2000 dot padding, Nihon Kohden's POL, spacing, case
        ("Fp1.", "Fp1"), ("Cz..", "Cz"), ("T10.", "T10"), ("Fcz.", "FCz"), ("POL Fp1", "Fp1"), ("pol t3", "T7"),
        ("  EEG  C3 ", "C3"), ("FP1 - F7", "Fp1-F7"), ("EEG O1-AR", "O1"), ("Fz-CAR", "Fz"), ("C4-A1A2", "C4"),
    ],
)  # fmt: skip
def test_aliases(raw, canonical):
    assert canonical_name(raw) == canonical


def _head_frame(names: list[str]) -> dict[str, np.ndarray]:
    """Positions as BioFoundation's ``get_channel_locations`` gets them: the template set on an
    ``Info`` (which moves it to the head frame), read back from the Info's montage."""
    info = mne.create_info(names, 256.0, "eeg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        info.set_montage(mne.channels.make_standard_montage("standard_1005"), match_case=False)
    return info.get_montage().get_positions()["ch_pos"]


def test_every_template_electrode_is_in_the_head_frame_within_a_micrometre():
    names = mne.channels.make_standard_montage("colin27_1005").ch_names
    reference = _head_frame(names)
    worst = max(np.abs(position(name) - reference[name]).max() for name in names)
    assert worst < 1e-6  # metres
    np.testing.assert_allclose(position("T3"), reference["T7"])


def test_bipolar_channel_sits_at_the_midpoint():
    reference = _head_frame(["Fp1", "F7", "T7", "C3"])
    np.testing.assert_allclose(position("FP1-F7"), (reference["Fp1"] + reference["F7"]) / 2)
    np.testing.assert_allclose(position("T3-C3"), (reference["T7"] + reference["C3"]) / 2)


def test_tuh_derivations_match_the_reference_code_within_1mm():
    """Coordinates the authors' ``get_channel_locations`` computed for TUH's 22 TCP derivations
    (stored with the LUNA conformance fixture)."""
    golden = Path(__file__).parents[1] / "models" / "golden"
    channels = json.loads((golden / "luna-base.json").read_text())["channels"]
    with np.load(golden / "luna-base.npz") as arrays:
        reference = arrays["coords"][0]
    assert np.abs(positions(channels) - reference).max() < 1e-3


def test_positions_shape_and_dtype():
    coords = positions(["FP1-F7", "Cz", "O2"])
    assert coords.shape == (3, 3) and coords.dtype == np.float32
    assert np.all(np.abs(coords) < 0.2)  # metres on a head


@pytest.mark.parametrize("name", ["EEG XYZ-REF", "PHOTIC-REF", "EKG1", "FP1-XX", ""])
def test_unknown_channel_is_an_error_naming_it(name):
    with pytest.raises(UnknownChannelError, match=repr(name).replace("(", r"\(")):
        canonical_name(name)


@pytest.mark.parametrize(
    "labels, expected",
    [
        # every pair ends in an ear or mastoid electrode: ear-referenced, each label is its electrode
        (["EEG Fp1-A1", "EEG Fp2-A2", "EEG C3-A1", "ECG"], ["Fp1", "Fp2", "C3", "ECG"]),
        (["Fp1-M1", "C4-M2", "Fz"], ["Fp1", "C4", "Fz"]),
        # a bipolar montage: T4-A2 sits among pairs that end elsewhere, so every label stays a pair
        (["FP1-F7", "T4-A2", "A1-T3"], ["FP1-F7", "T4-A2", "A1-T3"]),
        (["EEG FP1-REF", "EEG A1-REF"], ["EEG FP1-REF", "EEG A1-REF"]),
    ],
)  # fmt: skip
def test_ear_references_are_decided_by_the_files_other_channels(labels, expected):
    assert referential_labels(labels) == expected
