"""Numeric parameters refuse bools; the rank rule's floor; PWCCA's range."""

import warnings
from numbers import Integral, Real

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

import skrep
from skrep._cca import _weighted_mean
from skrep._core.spectral import RANK_TOL_FLOOR, null_mask
from skrep._params import Interval
from skrep.utils._testing import estimator_instances


def _numeric_parameters(estimator):
    """Names of parameters whose constraints include a numeric Interval."""
    constraints = getattr(type(estimator), "_parameter_constraints", {})
    return [
        name
        for name, options in constraints.items()
        if any(
            isinstance(option, Interval) and option.type in (Integral, Real)
            for option in options
        )
    ]


CASES = [
    (estimator, parameter)
    for estimator, _ in estimator_instances()
    for parameter in _numeric_parameters(estimator)
]


def test_every_numeric_constraint_is_skreps_interval():
    # A numeric constraint written with scikit-learn's own Interval would
    # accept True as 1 again.
    from sklearn.utils._param_validation import Interval as SklearnInterval

    for estimator, _ in estimator_instances():
        for name, options in type(estimator)._parameter_constraints.items():
            for option in options:
                if isinstance(option, SklearnInterval):
                    assert isinstance(option, Interval), (type(estimator), name)
    assert len(CASES) >= 10


@pytest.mark.parametrize(
    "estimator, parameter",
    CASES,
    ids=[f"{type(e).__name__}-{p}" for e, p in CASES],
)
@pytest.mark.parametrize("flag", [True, False, np.True_])
def test_bools_are_refused_as_numbers(estimator, parameter, flag):
    estimator = clone(estimator).set_params(**{parameter: flag})
    with pytest.raises(InvalidParameterError, match=parameter):
        estimator._validate_params()


def test_n_components_true_was_one_pair_and_is_now_refused():
    X = np.random.RandomState(0).randn(50, 3)
    for cls in (skrep.SVCCA, skrep.PWCCA):
        with pytest.raises(InvalidParameterError, match="n_components"):
            cls(n_components=True).fit(X, X)
        assert cls(n_components=1).fit(X, X).n_components_ == 1


def test_interval_keeps_ints_and_numpy_ints():
    count = Interval(Integral, 1, None, closed="left")
    assert count.is_satisfied_by(1) and count.is_satisfied_by(np.int64(7))
    assert not count.is_satisfied_by(0) and not count.is_satisfied_by(True)
    assert not count.is_satisfied_by(np.bool_(True))


def test_null_mask_floor():
    s = np.array([3.0, 1.0, 3.0 * RANK_TOL_FLOOR * 2, 3.0 * RANK_TOL_FLOOR / 2, 0.0])
    for tol in (0.0, 1e-20, RANK_TOL_FLOOR / 10):
        np.testing.assert_array_equal(
            null_mask(s, tol), [False, False, False, True, True]
        )
    # Above the floor, rank_tol decides.
    np.testing.assert_array_equal(null_mask(s, 0.5), [False, True, True, True, True])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rank_tol", [0.0, 1e-20, 1e-12])
def test_tiny_rank_tol_routes_agree_on_duplicate_units(seed, rank_tol):
    # A duplicate unit is round-off on every route: with rank_tol at or
    # below the floor, every route drops it (no division by ~0, no
    # spurious pair) and agrees with the data without the duplicate.
    rng = np.random.RandomState(seed)
    X = rng.randn(120, 4)
    Y = X[:, :3] @ rng.randn(3, 3) + rng.randn(120, 3)
    Xd = np.c_[X, X[:, 0], 2.0 * X[:, 1]]
    expected = skrep.SVCCA(svd_components=None).fit(X, Y).canonical_correlations_
    for algorithm in ("auto", "svd"):
        with pytest.warns(skrep.exceptions.DeadUnitWarning):
            est = skrep.SVCCA(
                svd_components=None, rank_tol=rank_tol, algorithm=algorithm
            ).fit(Xd, Y)
        assert est.x_rank_ == 4
        np.testing.assert_allclose(est.canonical_correlations_, expected, atol=1e-9)
    # The moments route resolves singular values only down to about 1e-8 of
    # the largest: there a duplicate may look like signal, and without the
    # fallback (forced, or streamed) it must say so.
    forced = skrep.SVCCA(svd_components=None, rank_tol=rank_tol, algorithm="moments")
    stream = skrep.SVCCA(svd_components=None, rank_tol=rank_tol)
    for fitted in (forced, stream):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if fitted is forced:
                fitted.fit(Xd, Y)
            else:
                for start in range(0, 120, 30):
                    fitted.partial_fit(Xd[start : start + 30], Y[start : start + 30])
                fitted.canonical_correlations_
        kinds = {type(w.message) for w in caught}
        assert skrep.exceptions.DeadUnitWarning in kinds
        assert fitted.x_rank_ == 4 or skrep.exceptions.PrecisionWarning in kinds
        assert np.all(np.isfinite(fitted.canonical_correlations_))
    np.testing.assert_allclose(stream.canonical_correlations_, expected, atol=1e-9)


def test_weighted_mean_stays_in_range():
    # Weights normalised to sum 1 may sum to 1 + ulp: the weighted mean of
    # perfect correlations then exceeds 1 before the clip.
    rng = np.random.RandomState(0)
    found = 0
    for _ in range(2000):
        w = rng.rand(7)
        w = w / w.sum()
        ones = np.ones(7)
        if w @ ones > 1.0:
            found += 1
            assert _weighted_mean(w, ones) == 1.0
            assert _weighted_mean(w, -ones) == -1.0
    assert found > 0
    assert _weighted_mean(np.array([0.25, 0.75]), np.array([0.2, 0.6])) == (
        pytest.approx(0.5, abs=1e-15)
    )


@pytest.mark.parametrize("seed", range(5))
def test_pwcca_scores_within_one(seed):
    rng = np.random.RandomState(seed)
    latent = rng.randn(300, 3)
    X = latent @ rng.randn(3, 4) + 0.01 * rng.randn(300, 4)
    Y = latent @ rng.randn(3, 4) + 0.01 * rng.randn(300, 4)
    est = skrep.PWCCA().fit(X[:200], Y[:200])
    assert -1.0 <= est.score(X[200:], Y[200:]) <= 1.0
    assert -1.0 <= est.score(X[:200], Y[:200]) <= 1.0
