"""Lazy canonical directions and concurrent decompositions of the CCA moments route.

On the moments route the correlations come from the singular values of the
whitened cross-product alone; the rotations and loadings are computed on
first read. The tests hold the lazy results to the eager ones, the estimator
behaviour (pickling, cloning, partial_fit, transform) to what it was, and the
two-thread decompositions to the sequential ones.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

import skrep._core.cca as cca_module
from skrep import PWCCA, SVCCA
from skrep._core.cca import cca_from_covariances, fit_cca
from skrep._core.moments import raw_covariances


def _views(seed, n=500, p=12, q=9, rank_x=None):
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, 4)
    X = latent @ rng.randn(4, p) + rng.randn(n, p) + 2.0
    Y = latent @ rng.randn(4, q) + 0.5 * rng.randn(n, q) - 1.0
    if rank_x is not None:  # collinear units: X keeps rank_x directions
        X = X[:, :rank_x] @ rng.randn(rank_x, p)
    return X, Y


CASES = [
    {"p": 12, "q": 9},
    {"p": 10, "q": 10},
    {"p": 7, "q": 15},
    {"p": 12, "q": 9, "rank_x": 5},
]


def _assert_directions_equal(a, b, tol=1e-10):
    np.testing.assert_allclose(a.correlations, b.correlations, rtol=0, atol=1e-12)
    for name in ("x_rotations", "y_rotations", "x_loadings", "y_loadings"):
        first, second = getattr(a, name), getattr(b, name)
        assert first.shape == second.shape
        scale = np.abs(second).max()
        np.testing.assert_allclose(first, second, rtol=0, atol=tol * scale)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("components", [None, 0.99, 3])
def test_lazy_directions_equal_eager(seed, case, components):
    X, Y = _views(seed, **case)
    raw = raw_covariances(X, Y)
    params = {"x_components": components, "y_components": components}
    lazy = cca_from_covariances(*raw, X.shape[0], **params)
    assert not lazy.directions_computed
    eager = cca_from_covariances(*raw, X.shape[0], eager_directions=True, **params)
    assert eager.directions_computed
    _assert_directions_equal(lazy, eager)
    assert lazy.directions_computed
    # Both agree with the accurate route on the data.
    accurate, _ = fit_cca(X, Y, algorithm="svd", **params)
    _assert_directions_equal(lazy, accurate, tol=1e-9)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    "case, components, whitening",
    [
        ({}, None, "_CholeskyWhitening"),  # concurrent spectra, Cholesky kept
        ({"rank_x": 20}, None, "_EigenWhitening"),  # Cholesky tried, then dropped
        ({}, 0.9, "_EigenWhitening"),  # truncation: both views' eigh on threads
    ],
)
@pytest.mark.parametrize("eager", [False, True])
def test_concurrent_decompositions_equal_sequential(
    seed, case, components, whitening, eager, monkeypatch, spy_lanes
):
    X, Y = _views(seed, n=800, p=40, q=30, **case)
    raw = raw_covariances(X, Y)
    params = {
        "x_components": components,
        "y_components": components,
        "eager_directions": eager,
    }
    monkeypatch.setattr(cca_module, "CONCURRENT_MIN_UNITS", 10**9)
    sequential = cca_from_covariances(*raw, X.shape[0], **params)
    monkeypatch.setattr(cca_module, "CONCURRENT_MIN_UNITS", 0)
    monkeypatch.setattr(cca_module, "concurrent_pairs", lambda n_units: True)
    threads, chosen = spy_lanes(cca_module), []
    original_class = getattr(cca_module, whitening)

    class Spy(original_class):
        def __init__(self, *args, **kwargs):
            chosen.append(whitening)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(cca_module, whitening, Spy)
    concurrent = cca_from_covariances(*raw, X.shape[0], **params)
    assert threads  # the views' work ran on a second thread
    assert chosen[0] == whitening
    _assert_directions_equal(concurrent, sequential, tol=1e-12)
    for name in ("x_singular_values", "y_singular_values"):
        np.testing.assert_allclose(
            getattr(concurrent, name), getattr(sequential, name), rtol=1e-14
        )
    assert (concurrent.x_rank, concurrent.y_rank) == (
        sequential.x_rank,
        sequential.y_rank,
    )


def test_svcca_fit_leaves_directions_to_first_use():
    X, Y = _views(0)
    model = SVCCA(svd_components=None).fit(X, Y)
    assert model.algorithm_ == "moments"
    assert not model._cca_result.directions_computed
    state = dict(model.__dict__)
    U, V = model.transform(X, Y)
    assert model._cca_result.directions_computed
    # Reading the directions leaves the estimator's attributes as fit left them.
    assert model.__dict__ == state
    eager = cca_from_covariances(
        *raw_covariances(X, Y), X.shape[0], eager_directions=True
    )
    np.testing.assert_allclose(model.x_rotations_, eager.x_rotations, atol=1e-10)
    np.testing.assert_allclose(U, (X - model.x_mean_) @ eager.x_rotations, atol=1e-8)
    # In-sample: the variates' correlations are the canonical correlations.
    n = X.shape[0]
    np.testing.assert_allclose(
        np.sum(U * V, axis=0) / n, model.canonical_correlations_, atol=1e-10
    )


@pytest.mark.parametrize("weights_from", ["x", "y"])
def test_pwcca_computes_its_weights_in_fit(weights_from):
    # The weighting view's loadings (from one Gram matrix of the whitened
    # cross-product) are computed in fit; the rotations on first read.
    X, Y = _views(1)
    model = PWCCA(weights_from=weights_from).fit(X, Y)
    result = model._cca_result
    assert list(result._early_loadings) == [2 if weights_from == "x" else 3]
    assert not result.directions_computed
    eager = cca_from_covariances(
        *raw_covariances(X, Y), X.shape[0], eager_directions=True
    )
    loadings = getattr(eager, f"{weights_from}_loadings")
    np.testing.assert_allclose(
        np.abs(getattr(result, f"{weights_from}_loadings")),
        np.abs(loadings),
        rtol=0,
        atol=1e-10 * np.abs(loadings).max(),
    )
    model.transform(X)
    assert result.directions_computed


@pytest.mark.filterwarnings("ignore::skrep.exceptions.DeadUnitWarning")
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("case", CASES)
def test_pwcca_and_svcca_scores_match_the_svd_route(seed, case):
    X, Y = _views(seed, **case)
    X_test, Y_test = _views(seed + 100, n=200, **case)
    for cls in (PWCCA, SVCCA):
        fast = cls(algorithm="moments").fit(X, Y)
        accurate = cls(algorithm="svd").fit(X, Y)
        np.testing.assert_allclose(
            fast._in_sample_score(), accurate._in_sample_score(), rtol=0, atol=1e-10
        )
        np.testing.assert_allclose(
            fast.score(X_test, Y_test), accurate.score(X_test, Y_test), atol=1e-10
        )


@pytest.mark.parametrize("cls", [SVCCA, PWCCA])
def test_pickle_before_and_after_the_directions(cls):
    X, Y = _views(2)
    X_test, Y_test = _views(3, n=100)
    model = cls(svd_components=None).fit(X, Y)
    unread = pickle.loads(pickle.dumps(model))
    expected = model.transform(X_test)
    read = pickle.loads(pickle.dumps(model))
    for other in (unread, read):
        np.testing.assert_allclose(other.transform(X_test), expected, atol=1e-12)
        assert other.score(X_test, Y_test) == pytest.approx(
            model.score(X_test, Y_test), abs=1e-12
        )


def test_clone_and_refit_forget_the_directions():
    X, Y = _views(4)
    X2, Y2 = _views(5)
    model = SVCCA(svd_components=None).fit(X, Y)
    fresh = clone(model)
    with pytest.raises(AttributeError):
        fresh.x_rotations_
    first = model.x_rotations_.copy()
    model.fit(X2, Y2)
    assert not model._cca_result.directions_computed
    expected = SVCCA(svd_components=None).fit(X2, Y2).x_rotations_
    np.testing.assert_allclose(model.x_rotations_, expected, atol=1e-12)
    assert not np.allclose(model.x_rotations_, first)


@pytest.mark.parametrize("read_before", [False, True])
def test_partial_fit_after_fit_recomputes_the_directions(read_before):
    X, Y = _views(6, n=600)
    model = SVCCA(svd_components=None).fit(X[:400], Y[:400])
    if read_before:
        model.x_rotations_
    model.partial_fit(X[400:], Y[400:])
    whole = SVCCA(svd_components=None).fit(X, Y)
    np.testing.assert_allclose(
        model.canonical_correlations_, whole.canonical_correlations_, atol=1e-10
    )
    for name in ("x_rotations_", "y_rotations_"):
        np.testing.assert_allclose(
            getattr(model, name), getattr(whole, name), atol=1e-8
        )


def test_unfitted_rotations_raise_attribute_error():
    with pytest.raises(AttributeError, match="x_rotations_"):
        SVCCA().x_rotations_


@pytest.mark.parametrize("order", ["C", "F"])
def test_cholesky_whitening_products_in_either_memory_order(order):
    rng = np.random.RandomState(7)
    A = rng.randn(60, 8)
    factor = np.linalg.cholesky(A.T @ A)
    whitening = cca_module._CholeskyWhitening(factor)
    B = np.asarray(rng.randn(8, 5), order=order)
    inverse = np.linalg.inv(factor)
    np.testing.assert_allclose(whitening.whiten(B), inverse @ B, atol=1e-12)
    np.testing.assert_allclose(whitening.rotations(B), inverse.T @ B, atol=1e-12)
    np.testing.assert_allclose(whitening.loadings(B), (factor @ B).T, atol=1e-12)
    # A factor in Fortran order gives the same products.
    other = cca_module._CholeskyWhitening(np.asfortranarray(factor))
    np.testing.assert_allclose(other.whiten(B), inverse @ B, atol=1e-12)
    np.testing.assert_allclose(other.rotations(B), inverse.T @ B, atol=1e-12)
    np.testing.assert_allclose(other.loadings(B), (factor @ B).T, atol=1e-12)


def test_flip_signs_in_place_equals_copy():
    from skrep._core.spectral import flip_signs

    rng = np.random.RandomState(8)
    loadings, columns, rows = rng.randn(4, 6), rng.randn(5, 4), rng.randn(4, 3)
    expected = flip_signs(loadings, columns=(columns,), rows=(rows,))
    got = flip_signs(
        loadings.copy(), columns=(columns.copy(),), rows=(rows.copy(),), copy=False
    )
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1][0], expected[1][0])
    np.testing.assert_array_equal(got[2][0], expected[2][0])
