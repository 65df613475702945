"""Certified Cholesky whitening and Gram-matrix correlations of the CCA moments route.

Views whose Cholesky factors prove them full rank and well conditioned skip
their eigendecompositions (their singular values wait until read); the
correlations come from the eigenvalues of a Gram matrix of the whitened
cross-product and PWCCA's weights from its eigenvectors. The tests hold
every shortcut to an independent answer: the SVD of the centred data, known
canonical correlations built into the data, and the exact spectrum behind
each certificate.
"""

import pickle

import numpy as np
import pytest

import skrep._core.cca as cca_module
from skrep import PWCCA, SVCCA
from skrep._core.cca import (
    MOMENTS_MIN_RATIO,
    _certified_factor,
    cca_from_covariances,
    fit_cca,
    needs_accurate_route,
)
from skrep._core.moments import raw_covariances
from skrep.exceptions import DeadUnitWarning


def _views(seed, n=1500, p=300, q=270, shift=2.0):
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, 8)
    X = latent @ rng.randn(8, p) + rng.randn(n, p) + shift
    Y = latent @ rng.randn(8, q) + 0.7 * rng.randn(n, q) - shift
    return X, Y


def _known_correlations(seed, rho, n=1200):
    """Views whose sample canonical correlations are exactly ``rho``.

    Orthonormal, centred sample directions ``Qx``, ``Qz``; ``Y``'s directions
    are ``rho Qx + sqrt(1 - rho^2) Qz``; each view is then mixed by an
    invertible matrix (CCA is invariant to it) and shifted.
    """
    rng = np.random.RandomState(seed)
    d = rho.size
    raw = rng.randn(n, 2 * d)
    raw -= raw.mean(axis=0)
    q, _ = np.linalg.qr(raw)
    qx, qz = q[:, :d], q[:, d:]
    qy = qx * rho + qz * np.sqrt(1.0 - rho**2)

    def mixing():  # invertible, condition number 10
        rotation, _ = np.linalg.qr(rng.randn(d, d))
        return rotation * np.geomspace(1.0, 10.0, d)

    X = qx @ mixing() + rng.randn(d)
    Y = qy @ mixing() + rng.randn(d)
    return X, Y


@pytest.mark.parametrize("seed", range(3))
def test_certified_route_equals_the_svd_route(seed):
    X, Y = _views(seed)
    fast, _ = fit_cca(X, Y)
    assert fast.route == "moments"
    assert fast.certificate is not None  # no eigendecomposition of a view
    assert not fast.spectra_computed
    accurate, _ = fit_cca(X, Y, algorithm="svd")
    np.testing.assert_allclose(
        fast.correlations, accurate.correlations, rtol=0, atol=1e-10
    )
    # The spectra, computed on first read from the factors, and the
    # directions agree with the SVD of the centred data.
    np.testing.assert_allclose(
        fast.x_singular_values, accurate.x_singular_values, rtol=1e-9
    )
    np.testing.assert_allclose(
        fast.y_singular_values, accurate.y_singular_values, rtol=1e-9
    )
    assert fast.spectra_computed
    n = X.shape[0]
    U = (X - fast.x_mean) @ fast.x_rotations
    V = (Y - fast.y_mean) @ fast.y_rotations
    np.testing.assert_allclose(U.T @ U / n, np.eye(U.shape[1]), atol=1e-9)
    np.testing.assert_allclose(np.diag(U.T @ V) / n, fast.correlations, atol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_gram_correlations_keep_their_digits(seed):
    # Known correlations from 1 down to exact 0, over 300 pairs: those from
    # 1e-4 up are exact to ~1e-12, and none is off by more than sqrt(eps)
    # (the documented bound).
    d = 300
    rng = np.random.RandomState(seed)
    rho = np.sort(
        np.concatenate(
            [
                [0.999999, 0.99, 0.5, 1e-3, 1e-4, 1e-6, 0.0, 0.0],
                rng.uniform(0, 1, d - 8),
            ]
        )
    )[::-1]
    X, Y = _known_correlations(seed, rho)
    result, _ = fit_cca(X, Y)
    assert result.route == "moments" and result.certificate is not None
    error = np.abs(result.correlations - rho)
    assert error.max() < np.sqrt(np.finfo(float).eps)
    assert error[rho >= 1e-4].max() < 1e-11
    # The SVD of the whitened cross-product gives the same, as a check of
    # the construction.
    accurate, _ = fit_cca(X, Y, algorithm="svd")
    assert np.abs(accurate.correlations - rho).max() < 1e-11


@pytest.mark.parametrize("kappa", [1e2, 1e5, 1e7, 1e9, 1e12])
@pytest.mark.parametrize("seed", range(3))
def test_certificate_is_sound_and_tight(kappa, seed):
    # Known spectra: what a certificate proves must hold, and views well
    # inside the bound are certified.
    rng = np.random.RandomState(seed)
    d = 60
    q, _ = np.linalg.qr(rng.randn(d, d))
    eigenvalues = np.geomspace(1.0, 1.0 / kappa, d) * 1e3
    cxx = (q * eigenvalues) @ q.T
    cxx = 0.5 * (cxx + cxx.T)
    for offset in (0.0, 1e4):
        certified = _certified_factor(cxx, 1e-6, offset)
        proven = eigenvalues.min() >= MOMENTS_MIN_RATIO**2 * (
            eigenvalues.max() + offset
        ) * (1 - 1e-6)
        if certified is not None:
            factor, certificate = certified
            assert proven
            assert certificate.upper >= eigenvalues.max()
            assert certificate.lower <= eigenvalues.min() * (1 + 1e-6)
            np.testing.assert_allclose(factor @ factor.T, cxx, rtol=0, atol=1e-9)
        # The bounds are loose by at most sqrt(d) (Frobenius norm) and the
        # rounding margin: a view 100 x inside them is certified.
        if eigenvalues.min() >= 100 * MOMENTS_MIN_RATIO**2 * (
            np.sqrt(d) * eigenvalues.max() + offset
        ):
            assert certified is not None


def test_rank_tol_raises_the_bar():
    rng = np.random.RandomState(0)
    q, _ = np.linalg.qr(rng.randn(30, 30))
    cxx = (q * np.geomspace(1.0, 1e-5, 30)) @ q.T
    cxx = 0.5 * (cxx + cxx.T)
    assert _certified_factor(cxx, 1e-6) is not None
    # With rank_tol=1e-2 the smallest direction (1e-5 of the variance,
    # singular value ~3e-3 of the largest) is null: not certified.
    assert _certified_factor(cxx, 1e-2) is None
    X = rng.randn(2000, 30) @ np.diag(np.geomspace(1.0, 1e-3, 30))
    Y = X @ rng.randn(30, 30) + rng.randn(2000, 30)
    with pytest.warns(DeadUnitWarning):
        model = SVCCA(svd_components=None, rank_tol=1e-2).fit(X, Y)
    assert model.x_rank_ < 30  # decided exactly, by the singular values


def test_uncertified_views_are_decided_exactly():
    # A nearly collinear pair of units: beyond the certificate's bound, so
    # the views are decided by their singular values, and "auto" keeps the
    # digits (the SVD route where the moments would lose them).
    X, Y = _views(1, n=800, p=12, q=9)
    X = X.copy()
    X[:, 0] = X[:, 1] + 1e-5 * np.random.RandomState(0).randn(X.shape[0])
    raw = raw_covariances(X, Y)
    result = cca_from_covariances(*raw, X.shape[0])
    assert result.certificate is None
    assert result.spectra_computed
    fitted, _ = fit_cca(X, Y)
    assert fitted.route == "svd"
    accurate, _ = fit_cca(X, Y, algorithm="svd")
    np.testing.assert_allclose(
        fitted.correlations, accurate.correlations, rtol=0, atol=1e-12
    )


def test_route_check_falls_back_to_the_spectra_when_offsets_are_large():
    X, Y = _views(2, n=900, p=40, q=30)
    raw = raw_covariances(X, Y)
    result = cca_from_covariances(*raw, X.shape[0])
    assert result.certificate is not None
    assert not needs_accurate_route(result)
    assert not result.spectra_computed  # the certificate was enough
    # An offset the certificate does not cover: the exact check, from the
    # singular values, decides (here: the digits are lost).
    huge = 1e12 * result.certificate[0].upper
    assert needs_accurate_route(result, x_offset_energy=huge)
    assert result.spectra_computed


def test_large_means_still_end_on_an_accurate_route():
    # Means 1e6 times the spread: subtracting them after the products
    # cancels digits. The certificate (asked to cover the offset) fails,
    # and the fit ends on a route that keeps its digits.
    X, Y = _views(3, n=900, p=30, q=20, shift=0.0)
    X = X + 1e6
    model = SVCCA(svd_components=None).fit(X, Y)
    reference = SVCCA(svd_components=None, algorithm="svd").fit(X, Y)
    np.testing.assert_allclose(
        model.canonical_correlations_,
        reference.canonical_correlations_,
        rtol=0,
        atol=1e-9,
    )


@pytest.mark.parametrize("weights_from", ["x", "y"])
@pytest.mark.parametrize("seed", range(3))
def test_pwcca_weights_from_one_gram_equal_the_svd_route(weights_from, seed):
    X, Y = _views(seed, p=290, q=266)
    X_test, Y_test = _views(seed + 10, n=400, p=290, q=266)
    fast = PWCCA(weights_from=weights_from).fit(X, Y)
    result = fast._cca_result
    assert result.certificate is not None
    assert not result.directions_computed  # one view's loadings alone
    accurate = PWCCA(weights_from=weights_from, algorithm="svd").fit(X, Y)
    np.testing.assert_allclose(fast.weights_, accurate.weights_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        fast.canonical_correlations_,
        accurate.canonical_correlations_,
        rtol=0,
        atol=1e-10,
    )
    assert fast._in_sample_score() == pytest.approx(
        accurate._in_sample_score(), abs=1e-10
    )
    # Held-out: the rotations, computed on first read, agree too.
    assert fast.score(X_test, Y_test) == pytest.approx(
        accurate.score(X_test, Y_test), abs=1e-9
    )
    assert result.directions_computed


def test_lazy_singular_values_on_the_estimator():
    X, Y = _views(4, n=700, p=50, q=40)
    model = SVCCA(svd_components=None).fit(X, Y)
    assert "x_singular_values_" not in model.__dict__
    state = dict(model.__dict__)
    unread = pickle.loads(pickle.dumps(model))
    accurate = SVCCA(svd_components=None, algorithm="svd").fit(X, Y)
    for fitted in (model, unread):
        np.testing.assert_allclose(
            fitted.x_singular_values_, accurate.x_singular_values_, rtol=1e-10
        )
        np.testing.assert_allclose(
            fitted.y_singular_values_, accurate.y_singular_values_, rtol=1e-10
        )
    assert model.__dict__ == state  # reading left the attributes as fit did
    # partial_fit refits from the moments: the spectrum follows the data.
    model.partial_fit(X[:200] * 2.0, Y[:200])
    both = SVCCA(svd_components=None, algorithm="svd").fit(
        np.vstack([X, X[:200] * 2.0]), np.vstack([Y, Y[:200]])
    )
    np.testing.assert_allclose(
        model.x_singular_values_, both.x_singular_values_, rtol=1e-9
    )


def test_eigen_path_equals_certified_path(monkeypatch):
    X, Y = _views(5)
    raw = raw_covariances(X, Y)
    certified = cca_from_covariances(*raw, X.shape[0])
    assert certified.certificate is not None
    monkeypatch.setattr(cca_module, "_certified_factor", lambda *args: None)
    exact = cca_from_covariances(*raw, X.shape[0])
    assert exact.certificate is None
    np.testing.assert_allclose(
        certified.correlations, exact.correlations, rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        certified.x_singular_values, exact.x_singular_values, rtol=1e-11
    )


@pytest.mark.parametrize(
    "layout",
    [
        lambda A: A,
        np.asfortranarray,
        lambda A: np.repeat(A, 2, axis=1)[:, ::2],  # strided columns
    ],
)
def test_raw_covariances_are_exactly_symmetric(layout):
    rng = np.random.RandomState(0)
    X = layout(rng.randn(300, 40) + 5.0)
    Y = layout(rng.randn(300, 25) - 2.0)
    mean_x, mean_y, cxx, cyy, cxy = raw_covariances(X, Y)
    np.testing.assert_array_equal(cxx, cxx.T)
    np.testing.assert_array_equal(cyy, cyy.T)
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    np.testing.assert_allclose(cxx, Xc.T @ Xc, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(cxy, Xc.T @ Yc, rtol=1e-10, atol=1e-8)


@pytest.mark.parametrize("shape", [(300, 260), (260, 300), (600, 10), (10, 600)])
@pytest.mark.parametrize("threads", [1, 2, 8])
def test_products_in_two_lanes_equal_the_plain_products(
    shape, threads, monkeypatch, spy_lanes
):
    # Two lanes only where BLAS runs two threads; same products either way.
    import skrep._core.moments as moments_module

    rng = np.random.RandomState(sum(shape))
    X = rng.randn(700, shape[0]) + 1.0
    Y = rng.randn(700, shape[1]) - 2.0
    monkeypatch.setattr(moments_module, "blas_threads", lambda: threads)
    lanes = spy_lanes(moments_module)
    got = raw_covariances(X, Y)
    assert bool(lanes) == (threads == 2)
    monkeypatch.setattr(moments_module, "LANES_MIN_UNITS", 10**9)
    expected = raw_covariances(X, Y)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-9)
    np.testing.assert_array_equal(got[2], got[2].T)
    np.testing.assert_array_equal(got[3], got[3].T)


def test_two_lanes_run_on_two_threads_with_one_blas_thread_each():
    import threading

    from skrep._core.backend import blas_threads, in_two_lanes

    seen = []

    def work(tag):
        seen.append((tag, threading.get_ident(), blas_threads()))
        return tag

    before = blas_threads()
    assert in_two_lanes(lambda: work("a"), lambda: work("b")) == ("a", "b")
    lanes = {tag: (ident, n) for tag, ident, n in seen}
    assert lanes["a"][0] == threading.get_ident() != lanes["b"][0]
    assert lanes["a"][1] == lanes["b"][1] == 1
    assert blas_threads() == before  # the limit is lifted afterwards


@pytest.mark.parametrize(
    "threads, units, expected",
    [(1, 300, False), (1, 2048, False), (2, 300, True), (2, 2048, True),
     (8, 300, True), (8, 2048, False)],
)  # fmt: skip
def test_concurrent_pairs_respect_the_callers_blas_threads(
    threads, units, expected, monkeypatch
):
    # Two lanes use two cores: never where the caller limited BLAS to one
    # thread (a joblib worker); above 768 units only on exactly two threads.
    import skrep._core.backend as backend

    monkeypatch.setattr(backend, "blas_threads", lambda: threads)
    assert backend.concurrent_pairs(units) is expected


def test_a_one_thread_caller_gets_no_second_lane(monkeypatch, spy_lanes):
    from threadpoolctl import threadpool_limits

    lanes = spy_lanes(cca_module)
    X, Y = _views(0, n=900, p=300, q=280)
    raw = raw_covariances(X, Y)
    with threadpool_limits(1, user_api="blas"):
        limited = cca_from_covariances(*raw, X.shape[0])
    assert not lanes
    monkeypatch.setattr(cca_module, "concurrent_pairs", lambda n_units: True)
    free = cca_from_covariances(*raw, X.shape[0])
    assert lanes
    np.testing.assert_allclose(
        limited.correlations, free.correlations, rtol=0, atol=1e-13
    )
