"""Held-out scores from the moments of the rows equal ``score`` on the rows.

Streaming consumers (dask arrays, ``compare_models`` on a GPU) never hold
the test rows: they accumulate their moments and call the estimator's
``_score_from_moments``. It must give what ``score`` gives on the rows, with
the same warnings and the same refusals.
"""

import warnings

import numpy as np
import pytest

from conftest import make_views
from skrep import (
    CKA,
    PWCCA,
    RSA,
    SVCCA,
    Procrustes,
    SparseLayerPredictor,
    UnitMatcher,
)
from skrep.exceptions import DeadUnitWarning, SkrepWarning

HOOKED = [
    SVCCA(),
    SVCCA(svd_components=None),
    PWCCA(),
    PWCCA(weights_from="y"),
    UnitMatcher(),
    UnitMatcher(method="semi-matching"),
    CKA(),
    CKA(debiased=True),
    CKA(algorithm="gram"),
    Procrustes(),
    Procrustes(alpha=0.3),
]


def fitted(estimator, X, Y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkrepWarning)
        return estimator.__class__(**estimator.get_params()).fit(X, Y)


def from_moments(est, X, Y):
    moments = est._held_out_accumulator(X.shape[1], Y.shape[1])
    return est._score_from_moments(moments.update(X, Y))


def scores_and_warnings(est, X, Y):
    """(score, from_moments) and the warnings (category, message) of each."""
    results, caught = [], []
    for how in (lambda: est.score(X, Y), lambda: from_moments(est, X, Y)):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            results.append(how())
        caught.append(sorted((w.category.__name__, str(w.message)) for w in record))
    return results, caught


def assert_same_score(est, X, Y):
    """Equal scores (1e-10) and the same warnings; return the warnings."""
    (expected, got), (warned, warned_too) = scores_and_warnings(est, X, Y)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-10)
    assert warned_too == warned
    return warned


def split(seed, n_test=200, shift=0.0):
    X, Y = make_views(seed, n_samples=500 + n_test, n_x=12, n_y=9)
    X = X + shift
    return (X[:500], Y[:500]), (X[500:], Y[500:])


@pytest.mark.parametrize("estimator", HOOKED, ids=repr)
@pytest.mark.parametrize("shift", [0.0, 50.0], ids=["centred", "large-means"])
def test_score_from_moments_equals_score(seed, estimator, shift):
    (X, Y), (X_test, Y_test) = split(seed, shift=shift)
    est = fitted(estimator, X, Y)
    assert_same_score(est, X_test, Y_test)
    # float32 rows, accumulated in float64 as score computes
    assert_same_score(est, X_test.astype(np.float32), Y_test.astype(np.float32))


@pytest.mark.parametrize("estimator", HOOKED, ids=repr)
def test_dead_units_on_the_test_rows(seed, estimator):
    (X, Y), (X_test, Y_test) = split(seed)
    est = fitted(estimator, X, Y)
    X_test, Y_test = X_test.copy(), Y_test.copy()
    X_test[:, 3] = 7.0  # dead on these rows only
    Y_test[:, [0, 5]] = 0.0
    assert_same_score(est, X_test, Y_test)


@pytest.mark.parametrize("estimator", HOOKED, ids=repr)
def test_a_view_dead_on_every_unit(estimator):
    (X, Y), (X_test, Y_test) = split(4)
    est = fitted(estimator, X, Y)
    # Constant rows; Procrustes measures about the fitted means, so its
    # dead view sits at them.
    level = getattr(est, "y_mean_", np.full(Y.shape[1], 3.0))
    dead = np.tile(level, (len(Y_test), 1))
    (expected, got), (warned, warned_too) = scores_and_warnings(est, X_test, dead)
    assert got == expected == 0.0
    assert warned_too == warned
    assert any(category == DeadUnitWarning.__name__ for category, _ in warned)


@pytest.mark.parametrize("estimator", HOOKED, ids=repr)
def test_fewer_test_rows_than_units(estimator):
    # CKA scores these rows through their Gram matrices; the moments agree.
    (X, Y), (X_test, Y_test) = split(5, n_test=6)
    assert_same_score(fitted(estimator, X, Y), X_test, Y_test)


@pytest.mark.parametrize("estimator", HOOKED, ids=repr)
def test_one_row_is_refused_like_score(estimator):
    (X, Y), (X_test, Y_test) = split(6)
    est = fitted(estimator, X, Y)
    with pytest.raises(ValueError, match="minimum of 2"):
        est.score(X_test[:1], Y_test[:1])
    with pytest.raises(ValueError, match="minimum of 2"):
        from_moments(est, X_test[:1], Y_test[:1])


def test_debiased_cka_needs_four_rows_like_score():
    (X, Y), (X_test, Y_test) = split(7)
    est = fitted(CKA(debiased=True), X, Y)
    for score in (est.score, lambda A, B: from_moments(est, A, B)):
        with pytest.raises(ValueError, match="at least 4 samples"):
            score(X_test[:3], Y_test[:3])


def test_moments_of_other_units_are_refused():
    (X, Y), (X_test, Y_test) = split(8)
    est = fitted(SVCCA(), X, Y)
    moments = est._held_out_accumulator(11, 9).update(X_test[:, :11], Y_test)
    with pytest.raises(ValueError, match="11 and 9 units"):
        est._score_from_moments(moments)


def test_unfitted_is_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SVCCA()._score_from_moments(None)


@pytest.mark.parametrize(
    "estimator",
    [
        SparseLayerPredictor(decay=1e-3),
        RSA(),
        UnitMatcher(metric="mutual_info", n_bins=4),
        CKA(kernel="rbf"),
    ],
    ids=repr,
)
def test_scores_that_need_the_rows_have_no_moments(estimator):
    (X, Y), (X_test, Y_test) = split(9)
    est = fitted(estimator, X, Y)
    assert est._held_out_accumulator(12, 9) is None
    with pytest.raises(NotImplementedError, match="needs the rows"):
        est._score_from_moments(None)


def test_partial_fit_then_score_from_moments():
    # A streamed fit, then a streamed score: both through moments alone.
    (X, Y), (X_test, Y_test) = split(10)
    for estimator in HOOKED:
        est = estimator.__class__(**estimator.get_params())
        if estimator.get_params().get("algorithm") == "gram":
            continue  # CKA(algorithm="gram") does not stream
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkrepWarning)
            est.partial_fit(X[:250], Y[:250]).partial_fit(X[250:], Y[250:])
            moments = est._held_out_accumulator(12, 9)
            for rows in (slice(0, 70), slice(70, None)):
                moments.update(X_test[rows], Y_test[rows])
            got = est._score_from_moments(moments)
            expected = est.score(X_test, Y_test)
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-10), repr(est)
