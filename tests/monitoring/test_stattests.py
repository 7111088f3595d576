"""Each drift test against SciPy's reference functions on fixed data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from keel.monitoring import METHODS
from keel.monitoring._sides import categorical_side, numeric_side
from keel.monitoring._stattests import run_method

RNG = np.random.default_rng(20240611)
REF = RNG.normal(0, 1, 800)
CUR = RNG.normal(0.2, 1.1, 600)


def cat(values: np.ndarray):
    keys, counts = np.unique(values, return_counts=True)
    return categorical_side(keys.tolist(), counts)


def test_ks_small_samples_match_scipy_exact_p_value() -> None:
    result = run_method(METHODS["ks"], numeric_side(REF), numeric_side(CUR), None)
    expected = stats.ks_2samp(REF, CUR)
    assert result.score == pytest.approx(expected.pvalue, rel=1e-12)
    assert result.details["statistic"] == pytest.approx(expected.statistic)
    assert result.drifted == (expected.pvalue <= 0.05)


def test_ks_large_samples_match_scipy_asymptotic_p_value() -> None:
    ref, cur = RNG.normal(0, 1, 20_000), RNG.normal(0.03, 1, 15_000)
    result = run_method(METHODS["ks"], numeric_side(ref), numeric_side(cur), None)
    expected = stats.ks_2samp(ref, cur)
    assert result.details["statistic"] == pytest.approx(expected.statistic, abs=1e-12)
    assert result.score == pytest.approx(expected.pvalue, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(-5, 5), min_size=1, max_size=60),
    st.lists(st.integers(-5, 5), min_size=1, max_size=60),
)
def test_ks_statistic_with_ties_matches_scipy(ref: list[int], cur: list[int]) -> None:
    # the merged-CDF path (used past 10,000 values) must agree with scipy on tied data too
    a, b = np.array(ref, float), np.array(cur, float)
    side_a, side_b = numeric_side(a), numeric_side(b)
    object.__setattr__(side_a, "exact", False)  # force the merged path
    result = run_method(METHODS["ks"], side_a, side_b, None)
    with warnings.catch_warnings():  # scipy's own p-value warns on one-value samples
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = stats.ks_2samp(a, b).statistic
    assert result.details["statistic"] == pytest.approx(expected)


def test_wasserstein_is_scipy_distance_over_reference_std() -> None:
    result = run_method(METHODS["wasserstein"], numeric_side(REF), numeric_side(CUR), None)
    expected = stats.wasserstein_distance(REF, CUR) / np.std(REF)
    assert result.score == pytest.approx(expected, rel=1e-12)
    assert result.drifted == (expected >= 0.1)
    assert result.details["max_error"] == 0.0


def test_wasserstein_on_a_compressed_reference_stays_within_its_stated_error() -> None:
    ref = RNG.lognormal(0, 1, 50_000)
    cur = RNG.lognormal(0.05, 1, 30_000)
    side = numeric_side(ref, max_points=1000)
    assert not side.exact
    assert len(side.values) == 1000
    result = run_method(METHODS["wasserstein"], side, numeric_side(cur), None)
    exact = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert 0 < result.details["max_error"] < 0.01
    assert abs(result.score - exact) <= result.details["max_error"] + 1e-12
    assert side.mean == pytest.approx(ref.mean())
    assert side.std == pytest.approx(np.std(ref))


def test_wasserstein_floor_on_a_constant_reference() -> None:
    result = run_method(
        METHODS["wasserstein"], numeric_side(np.full(50, 2.0)), numeric_side(np.full(50, 2.5)), None
    )
    assert result.score == pytest.approx(0.5 / 0.001)


def test_chisquare_matches_scipy_with_expected_counts_scaled_from_the_reference() -> None:
    ref = RNG.choice(["a", "b", "c", "d"], 900, p=[0.4, 0.3, 0.2, 0.1])
    cur = RNG.choice(["a", "b", "c", "d"], 400, p=[0.3, 0.3, 0.25, 0.15])
    result = run_method(METHODS["chisquare"], cat(ref), cat(cur), None)
    keys = ["a", "b", "c", "d"]
    f_obs = [np.sum(cur == k) for k in keys]
    f_exp = [np.sum(ref == k) * len(cur) / len(ref) for k in keys]
    expected = stats.chisquare(f_obs, f_exp)
    assert result.score == pytest.approx(expected.pvalue, rel=1e-10)
    assert result.details["statistic"] == pytest.approx(expected.statistic)
    assert result.details["dof"] == 3


def test_chisquare_new_category_is_drift_and_named() -> None:
    result = run_method(
        METHODS["chisquare"],
        cat(np.array(["a", "b"] * 50)),
        cat(np.array(["a", "b", "z"] * 30)),
        None,
    )
    assert result.score == 0.0
    assert result.drifted
    assert result.details["new_values"] == ["z"]


def test_z_test_matches_the_two_by_two_chi_square_without_correction() -> None:
    ref = RNG.choice(["no", "yes"], 700, p=[0.7, 0.3])
    cur = RNG.choice(["no", "yes"], 500, p=[0.62, 0.38])
    result = run_method(METHODS["z"], cat(ref), cat(cur), None)
    table = [
        [np.sum(ref == "no"), np.sum(ref == "yes")],
        [np.sum(cur == "no"), np.sum(cur == "yes")],
    ]
    expected = stats.chi2_contingency(table, correction=False).pvalue
    assert result.score == pytest.approx(expected, rel=1e-9)
    assert result.drifted == (expected < 0.05)


def test_z_test_on_one_shared_value_is_no_drift() -> None:
    result = run_method(METHODS["z"], cat(np.array(["a"] * 10)), cat(np.array(["a"] * 5)), None)
    assert (result.score, result.drifted) == (1.0, False)


def test_jensenshannon_categorical_matches_scipy() -> None:
    ref = RNG.choice(list("abcdefghij"), 5000)
    cur = RNG.choice(list("abcdefghik"), 4000)  # j gone, k new
    result = run_method(METHODS["jensenshannon"], cat(ref), cat(cur), None)
    keys = list("abcdefghijk")
    p = [np.mean(ref == k) for k in keys]
    q = [np.mean(cur == k) for k in keys]
    assert result.score == pytest.approx(distance.jensenshannon(p, q), rel=1e-12)
    assert result.details["new_values"] == ["k"]
    assert result.details["missing_values"] == ["j"]


def sturges_shares(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    return np.histogram(ref, edges)[0] / len(ref), np.histogram(cur, edges)[0] / len(cur)


def test_jensenshannon_numeric_uses_sturges_bins_over_both_sides() -> None:
    result = run_method(METHODS["jensenshannon"], numeric_side(REF), numeric_side(CUR), None)
    p, q = sturges_shares(REF, CUR)
    assert result.details["bins"] == len(p)
    assert result.score == pytest.approx(distance.jensenshannon(p, q), rel=1e-12)


def fill(shares: np.ndarray) -> np.ndarray:
    small = shares[shares > 0].min()
    return np.where(shares == 0, small / 1e6 if small <= 1e-4 else 1e-4, shares)


def test_psi_numeric_matches_the_textbook_formula_on_sturges_bins() -> None:
    ref, cur = RNG.exponential(1.0, 3000), RNG.exponential(1.3, 2000)
    result = run_method(METHODS["psi"], numeric_side(ref), numeric_side(cur), None)
    p, q = sturges_shares(ref, cur)
    p, q = fill(p), fill(q)
    assert result.score == pytest.approx(np.sum((p - q) * np.log(p / q)), rel=1e-12)
    assert result.drifted == (result.score >= 0.1)


def test_psi_categorical_by_value() -> None:
    ref = RNG.choice(list("abc"), 1000, p=[0.5, 0.3, 0.2])
    cur = RNG.choice(list("abc"), 1000, p=[0.2, 0.3, 0.5])
    result = run_method(METHODS["psi"], cat(ref), cat(cur), None)
    p = np.array([np.mean(ref == k) for k in "abc"])
    q = np.array([np.mean(cur == k) for k in "abc"])
    assert result.score == pytest.approx(np.sum((p - q) * np.log(p / q)))
    assert result.drifted


def test_a_given_threshold_replaces_the_default() -> None:
    lenient = run_method(METHODS["wasserstein"], numeric_side(REF), numeric_side(CUR), 10.0)
    assert (lenient.threshold, lenient.drifted) == (10.0, False)
