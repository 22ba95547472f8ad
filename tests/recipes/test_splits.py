"""Subject-level split assignment: stable, salted, and in the stated proportions."""

import numpy as np
import pytest

from lumamba_bench.recipes.splits import assign_split, hash_fraction


def test_split_proportions_follow_the_fractions():
    fractions = {"train": 0.8, "val": 0.1, "test": 0.1}
    splits = [assign_split(f"subject{i:05d}", "salt", fractions) for i in range(20_000)]
    shares = {name: splits.count(name) / len(splits) for name in fractions}
    for name, fraction in fractions.items():  # binomial sd at n=20,000: <= 0.003
        assert shares[name] == pytest.approx(fraction, abs=0.01)


def test_assignment_is_stable_salted_and_follows_the_cumulative_order():
    fractions = {"train": 0.5, "test": 0.5}
    assert assign_split("s1", "a", fractions) == assign_split("s1", "a", fractions)
    points = np.array([hash_fraction(f"s{i}", "a") for i in range(2000)])
    assert 0 <= points.min() and points.max() < 1
    for i in range(200):  # below the first cumulative bound -> the first split
        expected = "train" if points[i] < 0.5 else "test"
        assert assign_split(f"s{i}", "a", fractions) == expected
    other = [hash_fraction(f"s{i}", "b") for i in range(200)]
    assert not np.allclose(points[:200], other)  # another salt, another assignment


def test_fractions_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        assign_split("s1", "a", {"train": 0.8, "test": 0.1})
