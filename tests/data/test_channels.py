import mne
import numpy as np
import pytest

from lumamba_bench.data.channels import UnknownChannelError, canonical_name, position, positions


@pytest.mark.parametrize(
    "raw, canonical",
    [
        ("EEG FP1-REF", "Fp1"), ("fp1", "Fp1"), ("EEG T3-REF", "T7"), ("T4", "T8"), ("t5-le", "P7"),
        ("EEG T6-LE", "P8"), ("CZ", "Cz"), ("EEG A1-REF", "A1"), ("Oz", "Oz"), ("FP1-F7", "Fp1-F7"),
        ("EEG T3-T5", "T7-P7"), ("c3-cz", "C3-Cz"),
    ],
)  # fmt: skip
def test_aliases(raw, canonical):
    assert canonical_name(raw) == canonical


def test_positions_come_from_the_mne_template():
    template = mne.channels.make_standard_montage("colin27_1005").get_positions()["ch_pos"]
    np.testing.assert_allclose(position("EEG CZ-REF"), template["Cz"])
    np.testing.assert_allclose(position("T3"), template["T7"])


def test_bipolar_channel_sits_at_the_midpoint():
    template = mne.channels.make_standard_montage("colin27_1005").get_positions()["ch_pos"]
    np.testing.assert_allclose(position("FP1-F7"), (template["Fp1"] + template["F7"]) / 2)
    np.testing.assert_allclose(position("T3-C3"), (template["T7"] + template["C3"]) / 2)


def test_positions_shape_and_dtype():
    coords = positions(["FP1-F7", "Cz", "O2"])
    assert coords.shape == (3, 3) and coords.dtype == np.float32
    assert np.all(np.abs(coords) < 0.2)  # metres on a head


@pytest.mark.parametrize("name", ["EEG XYZ-REF", "PHOTIC-REF", "EKG1", "FP1-XX", ""])
def test_unknown_channel_is_an_error_naming_it(name):
    with pytest.raises(UnknownChannelError, match=repr(name).replace("(", r"\(")):
        canonical_name(name)
