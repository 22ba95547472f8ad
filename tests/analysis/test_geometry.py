import numpy as np
import pytest

from lumamba_bench.analysis.geometry import covariance_spectrum, effective_rank, isotropy


def test_isotropic_gaussian_scores_isotropic():
    z = np.random.default_rng(0).standard_normal((4000, 8))
    figures = isotropy(z, num_slices=100)
    assert figures["effective_rank"] > 7.9
    assert figures["condition_number"] == pytest.approx(np.linalg.cond(np.cov(z.T)), rel=1e-8)
    assert figures["condition_number"] < 1.3
    assert figures["epps_pulley"] < 0.5  # close to its null value


def test_stretched_cloud_is_less_isotropic_whatever_its_scale():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((2000, 8))
    stretched = z * np.array([10.0, 5, 1, 1, 1, 1, 1, 1])
    round_, flat = isotropy(z), isotropy(stretched)
    assert flat["epps_pulley"] > 10 * round_["epps_pulley"]
    assert flat["effective_rank"] < round_["effective_rank"] / 2
    # The isotropy statistic ignores overall scale; the raw SIGReg value does not.
    assert isotropy(stretched * 1e-3)["epps_pulley"] == pytest.approx(flat["epps_pulley"], rel=1e-6)
    assert isotropy(stretched * 1e-3)["sigreg_raw"] != pytest.approx(flat["sigreg_raw"], rel=0.1)


def test_effective_rank_and_spectrum_against_numpy():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))
    spectrum = covariance_spectrum(z)
    np.testing.assert_allclose(spectrum, np.sort(np.linalg.eigvalsh(np.cov(z.T)))[::-1], rtol=1e-8)
    p = spectrum / spectrum.sum()
    assert effective_rank(spectrum) == pytest.approx(np.exp(-np.sum(p * np.log(p))))
    assert effective_rank(np.array([3.0, 0, 0])) == pytest.approx(1.0)


def test_fewer_windows_than_dimensions_states_the_supported_rank():
    z = np.random.default_rng(3).standard_normal((20, 64))
    figures = isotropy(z)
    assert figures["condition_rank"] == 19 and np.isfinite(figures["condition_number"])
