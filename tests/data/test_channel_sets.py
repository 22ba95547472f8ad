import numpy as np
import pytest

from lumamba_bench.data.channel_sets import NAMED_SETS, select_channels
from lumamba_bench.data.montages import TCP_NAMES
from lumamba_bench.errors import LumambaError

REFERENTIAL = "Fp1 Fp2 F7 F3 Fz F4 F8 T3 C3 Cz C4 T4 T5 P3 Pz P4 T6 O1 O2 A1 A2".split()


def test_sixteen_channel_set_is_the_double_banana_on_tcp():
    keep = [TCP_NAMES[i] for i in select_channels("10-20-16ch", list(TCP_NAMES))]
    assert len(keep) == 16
    transverse = {"A1-T3", "T3-C3", "C3-CZ", "CZ-C4", "C4-T4", "T4-A2"}
    assert set(TCP_NAMES) - set(keep) == transverse
    assert keep == [n for n in TCP_NAMES if n in keep]  # the montage's own order


def test_named_sets_on_a_referential_montage():
    assert [REFERENTIAL[i] for i in select_channels("10-20-16ch", REFERENTIAL)] == [
        n for n in REFERENTIAL if n not in ("Fz", "Cz", "Pz", "A1", "A2")
    ]
    assert len(select_channels("10-20-19ch", REFERENTIAL)) == 19
    left = {REFERENTIAL[i] for i in select_channels("left-8ch", REFERENTIAL)}
    right = {REFERENTIAL[i] for i in select_channels("right-8ch", REFERENTIAL)}
    assert len(left) == len(right) == 8 and not left & right


def test_lists_all_and_aliases():
    assert select_channels(None, REFERENTIAL) == select_channels("all", REFERENTIAL) == list(range(21))
    # Old temporal names and case are matched canonically; the result keeps the montage's order.
    assert select_channels("o2,t7,FP1", REFERENTIAL) == [0, 7, 18]
    assert select_channels("fp1-f7,T5-O1", list(TCP_NAMES)) == [0, 3]


def test_bad_sets_are_clear_errors():
    with pytest.raises(LumambaError, match="lacks"):
        select_channels("10-20-19ch", REFERENTIAL[:10])
    with pytest.raises(LumambaError, match="no bipolar form"):
        select_channels("10-20-19ch", list(TCP_NAMES))
    with pytest.raises(LumambaError, match="no referential form"):
        select_channels("tcp-22", REFERENTIAL)
    with pytest.raises(LumambaError, match="unknown channel set"):
        select_channels("banana", REFERENTIAL)
    with pytest.raises(LumambaError, match="XYZ"):
        select_channels("Fp1,XYZ", REFERENTIAL)
    assert set(NAMED_SETS) >= {"10-20-16ch", "tcp-22"}


def test_dataset_keeps_only_the_set_with_matching_coordinates(tmp_path):
    from lumamba_bench.data.channels import positions
    from lumamba_bench.data.loader import ShardDataset
    from lumamba_bench.data.shards import ShardBuffer, write_table_atomic
    from lumamba_bench.files import write_json_atomic

    (tmp_path / "shards").mkdir()
    names = list(TCP_NAMES)
    meta = {"channels": names, "coords": positions(names).tolist(), "montage": "tcp", "n_samples": 4}
    meta |= {"sfreq": 256.0, "units": "uV"}
    buffer = ShardBuffer("test", "tcp", meta, n_values=22 * 4)
    signal = np.arange(3 * 22 * 4, dtype=np.float32).reshape(3, 22, 4)
    buffer.add("rec", "subj", signal, np.zeros(3), np.arange(3) % 2)
    sha = write_table_atomic(buffer.to_table(), tmp_path / "shards" / "test-tcp-00000.parquet")
    shard = {"file": "test-tcp-00000.parquet", "split": "test", "montage": "tcp", "rows": 3, "sha256": sha}
    from corpora import manifest_around

    montage = {"tcp": {"channels": names, "coords": meta["coords"]}}
    write_json_atomic(tmp_path / "manifest.json", manifest_around([shard], montage))

    full = ShardDataset(tmp_path, "test")
    subset = ShardDataset(tmp_path, "test", channels="10-20-16ch")
    rows = select_channels("10-20-16ch", names)
    assert subset.channel_names["tcp"] == [names[i] for i in rows]
    np.testing.assert_array_equal(subset[1]["signal"].numpy(), full[1]["signal"].numpy()[rows])
    np.testing.assert_array_equal(subset[1]["coords"].numpy(), positions([names[i] for i in rows]))
    with pytest.raises(LumambaError, match="montage tcp"):
        ShardDataset(tmp_path, "test", channels="10-20-19ch")
