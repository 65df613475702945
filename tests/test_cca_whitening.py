"""The Cholesky whitening of the CCA moments route equals the eigen whitening.

Full-rank, well-conditioned views are whitened by a Cholesky factor (cheap);
rank-deficient, ill-conditioned or truncated views by the eigenvectors. Both
give the same canonical correlations, rotations and loadings; the tests
compare them, and check which whitening each kind of view gets.
"""

import numpy as np
import pytest

import skrep._core.cca as cca_module
from skrep._core.cca import cca_from_covariances, fit_cca
from skrep._core.moments import Moments, raw_covariances


def _views(seed, n=400, p=12, q=9):
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, 4)
    X = latent @ rng.randn(4, p) + rng.randn(n, p) + 3.0
    Y = latent @ rng.randn(4, q) + 0.5 * rng.randn(n, q) - 1.0
    return X, Y


@pytest.fixture
def whitenings(monkeypatch):
    """Record the whitening chosen for each view, in order."""
    chosen = []
    for name in ("_CholeskyWhitening", "_EigenWhitening"):
        cls = getattr(cca_module, name)

        class Spy(cls):
            def __init__(self, *args, _name=name, **kwargs):
                chosen.append(_name)
                super().__init__(*args, **kwargs)

        monkeypatch.setattr(cca_module, name, Spy)
    return chosen


def _eigen_only(monkeypatch):
    monkeypatch.setattr(cca_module, "_certified_factor", lambda *args: None)
    monkeypatch.setattr(cca_module, "_well_conditioned", lambda s, k: False)


def _assert_same(a, b, rtol=1e-10):
    np.testing.assert_allclose(a.correlations, b.correlations, rtol=0, atol=rtol)
    for name in ("x_rotations", "y_rotations", "x_loadings", "y_loadings"):
        first, second = getattr(a, name), getattr(b, name)
        scale = np.abs(second).max()
        np.testing.assert_allclose(first, second, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(a.x_singular_values, b.x_singular_values, rtol=1e-12)
    assert (a.x_rank, a.y_rank) == (b.x_rank, b.y_rank)


@pytest.mark.parametrize("seed", range(5))
def test_cholesky_equals_eigen_whitening(seed, whitenings, monkeypatch):
    X, Y = _views(seed)
    raw = raw_covariances(X, Y)
    fast = cca_from_covariances(*raw, X.shape[0])
    assert whitenings == ["_CholeskyWhitening", "_CholeskyWhitening"]
    _eigen_only(monkeypatch)
    whitenings.clear()
    slow = cca_from_covariances(*raw, X.shape[0])
    assert whitenings == ["_EigenWhitening", "_EigenWhitening"]
    _assert_same(fast, slow)


@pytest.mark.parametrize("seed", range(3))
def test_cholesky_route_agrees_with_the_svd_route(seed, whitenings):
    X, Y = _views(seed)
    fast, _ = fit_cca(X, Y, algorithm="moments")
    assert "_CholeskyWhitening" in whitenings
    accurate, _ = fit_cca(X, Y, algorithm="svd")
    _assert_same(fast, accurate, rtol=1e-9)
    # The rotations give unit-variance, uncorrelated variates paired with
    # the correlations.
    n = X.shape[0]
    U = (X - fast.x_mean) @ fast.x_rotations
    V = (Y - fast.y_mean) @ fast.y_rotations
    np.testing.assert_allclose(U.T @ U / n, np.eye(U.shape[1]), atol=1e-10)
    np.testing.assert_allclose(np.diag(U.T @ V) / n, fast.correlations, atol=1e-10)


def test_rank_deficient_view_is_whitened_by_eigenvectors(whitenings):
    X, Y = _views(0)
    X = np.hstack([X, X[:, :1] + X[:, 1:2], np.full((X.shape[0], 1), 2.0)])
    with np.errstate(all="ignore"):
        result, _ = fit_cca(X, Y, algorithm="moments")
    assert whitenings == ["_EigenWhitening", "_CholeskyWhitening"]
    assert result.x_rank == X.shape[1] - 2
    accurate, _ = fit_cca(X, Y, algorithm="svd")
    np.testing.assert_allclose(result.correlations, accurate.correlations, atol=1e-9)


def test_ill_conditioned_view_is_whitened_by_eigenvectors(whitenings):
    X, Y = _views(1)
    # A direction at 1e-5 of the largest: kept (above rank_tol) but beyond
    # the Cholesky bound; the moments route is imprecise there, so "auto"
    # ends on the SVD route.
    X = X.copy()
    X[:, 0] = X[:, 1] + 1e-5 * np.random.RandomState(0).randn(X.shape[0])
    raw = raw_covariances(X, Y)
    cca_from_covariances(*raw, X.shape[0])
    assert whitenings[0] == "_EigenWhitening"
    result, _ = fit_cca(X, Y)
    assert result.route == "svd"


def test_truncated_view_is_whitened_by_eigenvectors(whitenings):
    X, Y = _views(2)
    result, _ = fit_cca(X, Y, x_components=5, y_components=None, algorithm="moments")
    assert whitenings == ["_EigenWhitening", "_CholeskyWhitening"]
    assert result.x_n_directions == 5
    accurate, _ = fit_cca(X, Y, x_components=5, algorithm="svd")
    _assert_same(result, accurate, rtol=1e-9)


@pytest.mark.parametrize("copy", [True, False])
def test_moments_from_covariances_fill_lazily_and_stream_on(copy):
    X, Y = _views(3)
    raw = raw_covariances(X[:300], Y[:300])
    kept = [a.copy() for a in raw]
    moments = Moments.from_covariances(300, *raw, copy=copy)
    for got, want in zip(moments.covariances(), kept, strict=True):
        np.testing.assert_array_equal(got, want)
    moments.update(X[300:], Y[300:])
    whole = Moments(X.shape[1], Y.shape[1]).update(X, Y)
    for got, want in zip(moments.covariances(), whole.covariances(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    # The caller's arrays are untouched either way.
    for got, want in zip(raw, kept, strict=True):
        np.testing.assert_array_equal(got, want)
    copied = moments.copy()
    copied.update(X[:5], Y[:5])
    assert moments.n_samples == X.shape[0]
