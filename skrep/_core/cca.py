"""Canonical correlation analysis, optionally after SVD truncation (SVCCA).

Two routes give the same result:

- the *moments* route: the cross-products ``X^T X``, ``Y^T Y``, ``X^T Y``
  (from :class:`~skrep._core.moments.Moments`, or the raw products on the
  caller's float64 arrays with the means removed afterwards) and small
  ``d x d`` decompositions: one pass over the data at BLAS speed, and what
  streaming (``partial_fit``) uses;
- the *svd* route: SVD of the centred data, slower, as accurate as the data
  allow.

The moments route squares the condition number of the data. Directions
whose singular value lies below ``rank_tol`` times the largest are null
(:func:`~skrep._core.spectral.null_mask`); if a direction that is *kept* lies
below :data:`MOMENTS_MIN_RATIO` times the largest (or the subtraction of the
means cancelled too many digits), :func:`fit_cca` recomputes with the SVD.
Signs of the canonical pairs follow :func:`~skrep._core.spectral.flip_signs`,
so both routes give the same rotations.

On the moments route each view is whitened by the cheapest exact means.
When both views keep every direction, each gets a Cholesky factor and a
second factorisation of ``Xc^T Xc`` shifted down by ``MOMENTS_MIN_RATIO**2``
times a bound on its largest eigenvalue (:func:`_certified_factor`): if
both succeed, the view is proven full rank and well conditioned, needs no
eigendecomposition, and its singular values are computed only when read.
Otherwise its singular values decide: a full-rank view with a condition
number of ``Xc^T Xc`` at most ``1 / MOMENTS_MIN_RATIO**2`` is still whitened
by Cholesky; other views (null directions, ill-conditioned, truncated by
SVCCA) get their eigenvectors. Both whitenings give the same pairs to
round-off. The correlations are the square roots of the eigenvalues of a
Gram matrix of the whitened cross-product (:func:`_correlations_from_cross`
bounds the error), the directions come on first read.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.linalg
from scipy.linalg.blas import dtrmm, dtrsm

from skrep._core.backend import (
    concurrent_pairs,
    decomposition_threads,
    in_two_lanes,
)
from skrep._core.moments import (
    check_finite_products,
    fit_by_route,
    raw_covariances,
)
from skrep._core.spectral import (
    flip_signs,
    n_directions_to_keep,
    null_mask,
    singular_values_from_covariance,
    spectrum_from_covariance,
    spectrum_from_data,
)

__all__ = [
    "MOMENTS_MIN_RATIO",
    "CCAResult",
    "cca_from_moments",
    "fit_cca",
    "needs_accurate_route",
    "raw_covariances",
    "tied_groups",
]

#: Kept directions whose singular value is below this fraction of the largest
#: make the moments route imprecise (its error grows like eps / ratio**2);
#: :func:`fit_cca` then switches to the SVD route.
MOMENTS_MIN_RATIO = 1e-4


class CCAResult:
    """What a CCA fit learns. Rotations map centred data to variates.

    ``(X - x_mean) @ x_rotations`` are the canonical variates of X: zero
    mean, unit variance (1/n) on the fitted data, uncorrelated, and paired
    column by column with Y's, with correlations ``correlations``.
    ``x_loadings[i, j]`` is the inner product of the i-th canonical variate,
    scaled to unit norm, with the centred activations of X's unit j (the
    quantity PWCCA weights are built from).

    The moments route computes the correlations from the singular values of
    the whitened cross-covariance alone; the directions (rotations and
    loadings) come from its singular vectors, computed on first access of
    any of them (``pairs``, a :class:`_LazyPairs`) and then kept.
    """

    def __init__(
        self, x_mean, y_mean, x_rotations, y_rotations, correlations,
        x_singular_values, y_singular_values, x_loadings, y_loadings, x_rank,
        y_rank, x_n_directions, y_n_directions, n_samples, route, *, pairs=None,
        certificate=None,
    ):  # fmt: skip
        self.x_mean, self.y_mean = x_mean, y_mean
        self.correlations = correlations
        self._spectra = [x_singular_values, y_singular_values]
        self.x_rank, self.y_rank = x_rank, y_rank
        self.x_n_directions, self.y_n_directions = x_n_directions, y_n_directions
        self.n_samples, self.route = n_samples, route
        self.certificate = certificate
        self._early_loadings = {}
        if pairs is None:
            self._directions = (x_rotations, y_rotations, x_loadings, y_loadings)
        else:
            self._directions = None
            # A view's loadings computed in fit (PWCCA's weights) while the
            # other directions wait.
            for index, loadings in ((2, x_loadings), (3, y_loadings)):
                if loadings is not None:
                    self._early_loadings[index] = loadings
        self._pairs = pairs

    @property
    def directions_computed(self):
        """Whether the rotations and loadings have been computed."""
        return self._directions is not None

    @property
    def spectra_computed(self):
        """Whether both views' singular values have been computed."""
        return not any(isinstance(s, _FactorSpectrum) for s in self._spectra)

    def _direction(self, index):
        if index in self._early_loadings:
            return self._early_loadings[index]
        if self._directions is None:
            self._directions = self._pairs.compute()
            self._pairs = None  # the whitenings and the cross-product are done
        return self._directions[index]

    def _spectrum(self, index):
        spectrum = self._spectra[index]
        if isinstance(spectrum, _FactorSpectrum):
            spectrum = self._spectra[index] = spectrum.compute()
        return spectrum

    x_rotations = property(lambda self: self._direction(0))
    y_rotations = property(lambda self: self._direction(1))
    x_loadings = property(lambda self: self._direction(2))
    y_loadings = property(lambda self: self._direction(3))
    x_singular_values = property(lambda self: self._spectrum(0))
    y_singular_values = property(lambda self: self._spectrum(1))


class _FactorSpectrum:
    """A view's singular values, from its Cholesky factor when first read.

    ``Xc^T Xc = L L^T`` has the eigenvalues of ``L^T L``; the factor is the
    view's own copy (the whitening's), so later updates of the moments
    (``partial_fit``) cannot change what a fitted result reports.
    """

    def __init__(self, factor):
        self.factor = factor

    def compute(self):
        """Return the singular values of the centred view, decreasing."""
        upper = self.factor.T
        with decomposition_threads(upper.shape[0]):
            return singular_values_from_covariance(upper @ upper.T)


class ConditionCertificate:
    """Proven bounds on one view's extreme eigenvalues of ``Xc^T Xc``.

    Made by :func:`_certified_factor` without an eigendecomposition:
    ``lambda_max <= upper``, the Frobenius norm of ``Xc^T Xc``, and
    ``lambda_min >= lower``, shown by a Cholesky factorisation of
    ``Xc^T Xc - shift * I`` that succeeds, ``shift`` being ``lower`` plus
    the factorisation's own rounding bound.

    Parameters
    ----------
    lower, upper : float
        ``lambda_min >= lower`` and ``lambda_max <= upper``.
    """

    def __init__(self, lower, upper):
        self.lower, self.upper = lower, upper

    def certifies(self, ratio, offset=0.0):
        """Whether ``lambda_min >= ratio**2 * (lambda_max + offset)`` is proven."""
        return self.lower >= ratio**2 * (self.upper + offset)


def _certified_factor(cxx, rank_tol, offset=0.0):
    """Cholesky factor of a view proven full rank and well conditioned, or None.

    Returns ``(factor, certificate)`` when ``Xc^T Xc`` has a Cholesky
    factor and a second factorisation succeeds too, of ``Xc^T Xc`` shifted
    down by ``ratio**2 * (||Xc^T Xc||_F + offset)`` plus a rounding margin
    of ``d**2 * eps * ||Xc^T Xc||_F`` (``d`` units; a floating-point
    Cholesky that succeeds has a positive definite neighbour within that
    margin). Then every eigenvalue is at least ``ratio**2`` times
    ``lambda_max + offset``, ``ratio`` the larger of
    :data:`MOMENTS_MIN_RATIO` and ``rank_tol``: the view has no null
    direction, Cholesky whitening is exact for it, and
    :func:`needs_accurate_route` holds for it with energy ``offset``
    removed after the products. Returns None otherwise; the view is then
    decided exactly, by its singular values. Both factorisations are
    :mod:`numpy.linalg` calls (the GIL is released), so the two views are
    certified concurrently.
    """
    try:
        factor = np.linalg.cholesky(cxx)
    except np.linalg.LinAlgError:
        return None
    with np.errstate(over="ignore"):
        upper = float(np.linalg.norm(cxx))
    if not np.isfinite(upper):
        # Entries whose squares overflow (activations of about 1e100): the
        # norm of the scaled matrix, scaled back.
        top = float(np.max(np.abs(cxx)))
        upper = top * float(np.linalg.norm(cxx / top))
    ratio = max(MOMENTS_MIN_RATIO, rank_tol)
    lower = ratio**2 * (upper + offset)
    shift = lower + cxx.shape[0] ** 2 * np.finfo(np.float64).eps * upper
    if not (np.isfinite(shift) and shift > 0.0):
        return None
    shifted = cxx.copy()
    shifted.flat[:: cxx.shape[0] + 1] -= shift
    try:
        np.linalg.cholesky(shifted)
    except np.linalg.LinAlgError:
        return None
    return factor, ConditionCertificate(lower, upper)


class _EigenWhitening:
    """Whitening by the eigendecomposition of one view: ``V_k S_k^{-1}``.

    With ``Xc = U S V^T``, ``W = V_k S_k^{-1}`` maps centred units to the
    first ``k`` left singular vectors (unit norm, orthonormal); it keeps
    exactly the ``k`` leading directions, so it serves truncation (SVCCA)
    and rank-deficient views.
    """

    def __init__(self, singular_values, directions, k):
        self.s, self.v, self.k = singular_values, directions, k

    def whiten(self, cross):
        """``W^T @ cross``."""
        return (self.v[:, : self.k] / self.s[: self.k]).T @ cross

    def rotations(self, pairs):
        """``W @ pairs``: unit-norm variates ``Xc @ W @ pairs``."""
        return (self.v[:, : self.k] / self.s[: self.k]) @ pairs

    def loadings(self, pairs):
        """``(Xc^T Xc W pairs)^T``: inner products of the variates with the units."""
        return (pairs.T * self.s[: self.k]) @ self.v[:, : self.k].T


class _CholeskyWhitening:
    """Whitening by the Cholesky factor of ``Xc^T Xc = L L^T``: ``W = L^{-T}``.

    ``Xc L^{-T}`` has orthonormal columns, so it serves like
    :class:`_EigenWhitening` when every direction is kept; a Cholesky
    factorisation and triangular solves cost a fraction of an
    eigendecomposition with vectors. Used only for full-rank, well
    conditioned views (see :func:`_whitening_parts`).

    The factor is kept as its transpose ``U = L^T`` in Fortran order (the
    same memory as ``L`` in C order, as :func:`numpy.linalg.cholesky`
    returns it), and each product is taken on the operand or on its
    transpose (``(L^{-1} B)^T = B^T L^{-T}``), whichever is Fortran-ordered,
    so that BLAS gets its operands without copies.
    """

    def __init__(self, factor):
        self.factor = factor
        self._upper = factor.T  # U = L^T, Fortran-ordered when L is C-ordered

    def whiten(self, cross):
        """``L^{-1} @ cross = U^{-T} @ cross``."""
        if cross.flags.f_contiguous:
            return dtrsm(1.0, self._upper, cross, trans_a=1)
        return dtrsm(1.0, self._upper, cross.T, side=1).T

    def rotations(self, pairs):
        """``L^{-T} @ pairs = U^{-1} @ pairs``."""
        if pairs.flags.f_contiguous:
            return dtrsm(1.0, self._upper, pairs)
        return dtrsm(1.0, self._upper, pairs.T, side=1, trans_a=1).T

    def loadings(self, pairs):
        """``(L L^T L^{-T} pairs)^T = (L pairs)^T = pairs^T U``."""
        if pairs.flags.f_contiguous:
            return dtrmm(1.0, self._upper, pairs, trans_a=1).T
        return dtrmm(1.0, self._upper, pairs.T, side=1)


def _well_conditioned(singular_values, k):
    """Whether a view keeps every direction and is safe for Cholesky whitening.

    Every direction must be kept (no truncation, no null direction) and the
    condition number of ``Xc^T Xc`` at most ``1 / MOMENTS_MIN_RATIO**2``:
    then the Cholesky factorisation is backward stable at the same accuracy
    as the eigendecomposition (both are exact for ``Xc^T Xc + E`` with
    ``||E|| ~ eps ||Xc^T Xc||``) and cannot break down.
    """
    s = singular_values
    return k == s.size and s[-1] >= MOMENTS_MIN_RATIO * s[0] > 0.0


def _keeps_all(cxx, components):
    """Whether SVD truncation keeps every direction of a view."""
    return components is None or (
        not isinstance(components, bool)
        and (
            (isinstance(components, Integral) and components >= cxx.shape[0])
            or (not isinstance(components, Integral) and isinstance(components, Real)
                and components >= 1.0)
        )
    )  # fmt: skip


def _view_spectrum(cxx, components):
    """Singular values of one view, and its directions where truncation needs them.

    A view that may keep every direction (no truncation asked) first gets
    its singular values alone (a third of the cost of the vectors): if it
    turns out full rank and well conditioned, Cholesky whitens it.
    """
    if _keeps_all(cxx, components):
        return singular_values_from_covariance(cxx), None
    return spectrum_from_covariance(cxx)


def _whitened_cross(cxy, x_whitening, y_whitening):
    """``Wx^T @ cxy @ Wy``: the cross-product of the two whitened views."""
    return y_whitening.whiten(x_whitening.whiten(cxy).T).T


def _whitening_parts(cxx, singular_values, directions, k):
    """Return what the cheapest exact whitening of one view needs (on a thread).

    Returns ``("cholesky", factor)`` for a full-rank, well-conditioned view
    whose Cholesky factorisation succeeds, else ``("eigen", directions)``.
    Only :mod:`numpy.linalg` is called, which releases the GIL, so the two
    views' parts are computed concurrently.
    """
    if directions is None:
        if _well_conditioned(singular_values, k):
            try:
                return "cholesky", np.linalg.cholesky(cxx)
            except np.linalg.LinAlgError:
                pass
        # Rank-deficient or ill-conditioned: the eigenvectors. Their
        # spectrum agrees with the values-only one to round-off; keep the
        # first, already passed through the rank rule.
        directions = spectrum_from_covariance(cxx)[1]
    return "eigen", directions


def _whitening(kind, part, singular_values, k):
    """Return the whitening object of one view from :func:`_whitening_parts`."""
    if kind == "cholesky":
        return _CholeskyWhitening(part)
    return _EigenWhitening(singular_values, part, k)


#: From this many units (the larger view) on, the two views' decompositions
#: run concurrently on two threads, one BLAS thread each, where
#: :func:`~skrep._core.backend.concurrent_pairs` says it pays. Below, the
#: start of a thread costs more than it saves (two eigendecompositions of
#: 64 units took 0.46 ms in turn and 0.54 ms on two threads; of 128 units
#: 1.9 ms and 1.4 ms).
CONCURRENT_MIN_UNITS = 128


def _concurrent(n_units):
    """Whether the views' decompositions run on two threads (see above).

    Asked before any :func:`~skrep._core.backend.decomposition_threads`
    limit is taken, so that it sees the BLAS threads the caller allows.
    """
    return CONCURRENT_MIN_UNITS <= n_units and concurrent_pairs(n_units)


def _both(first, second, concurrent):
    """Run two independent decompositions, concurrently if ``concurrent``.

    The functions call :mod:`numpy.linalg` alone (it releases the GIL) on
    one BLAS thread each, so the two use two cores; otherwise they run in
    turn. ``concurrent`` is :func:`_concurrent`'s answer.
    """
    if not concurrent:
        return first(), second()
    return in_two_lanes(first, second)


class _LazyPairs:
    """The singular vectors of the whitened cross-product, when first read.

    Holds the whitened cross-product and both whitenings (units squared of
    memory) until :meth:`compute` runs.
    """

    def __init__(self, cross, x_whitening, y_whitening, n_samples, n_components):
        self.cross = cross
        self.whitenings = (x_whitening, y_whitening)
        self.n_samples, self.n_components = n_samples, n_components

    def compute(self):
        """Return ``(x_rotations, y_rotations, x_loadings, y_loadings)``."""
        with decomposition_threads(max(self.cross.shape)):
            _, x_rot, x_load, y_rot, y_load = _pairs_from_cross(
                self.cross, *self.whitenings, self.n_samples, self.n_components
            )
        return x_rot, y_rot, x_load, y_load


def _pairs_from_cross(
    cross, x_whitening, y_whitening, n_samples, n_components, svd=None
):  # fmt: skip
    """SVD of the whitened cross-product: correlations, rotations, loadings.

    With ``W`` a view's whitening (``Xc W`` orthonormal), the unit-norm
    variates are ``Xc W a_i``, so their inner products with the centred
    units are ``a_i^T W^T Xc^T Xc`` and the rotations giving unit-variance
    variates are ``sqrt(n) W a_i``. ``svd``, when given, is the thin SVD
    ``(a, rho, bt)`` of ``cross`` already computed.
    """
    if svd is None:
        svd = scipy.linalg.svd(
            cross, full_matrices=False, check_finite=False, lapack_driver="gesdd"
        )
    a, rho, bt = svd
    n_pairs = rho.size if n_components is None else min(n_components, rho.size)
    scale = np.sqrt(n_samples)
    rotations, loadings = [], []
    for whitening, pairs in (
        (x_whitening, a[:, :n_pairs]),
        (y_whitening, bt[:n_pairs].T),
    ):
        rotations.append(whitening.rotations(pairs) * scale)
        loadings.append(whitening.loadings(pairs))
    x_load, (x_rot, y_rot), (y_load,) = flip_signs(
        loadings[0], columns=rotations, rows=(loadings[1],), copy=False
    )
    return np.clip(rho[:n_pairs], 0.0, 1.0), x_rot, x_load, y_rot, y_load


def _ranks_and_kept(sx, sy, rank_tol, x_components, y_components):
    """Non-null directions per view and how many of them SVCCA keeps.

    Null singular values are set to exactly 0 (in place), so that every
    route reports the same spectrum: what lies below the rank rule is
    round-off of a route, not a property of the data.
    """
    ranks = []
    for s, name in ((sx, "X"), (sy, "Y")):
        null = null_mask(s, rank_tol)
        s[null] = 0.0
        rank = int(np.count_nonzero(~null))
        if rank == 0:
            raise ValueError(
                f"Every unit of {name} is constant (dead): there is no direction "
                "to correlate."
            )
        ranks.append(rank)
    kx = n_directions_to_keep(sx, ranks[0], x_components)
    ky = n_directions_to_keep(sy, ranks[1], y_components)
    return ranks[0], ranks[1], kx, ky


def cca_from_covariances(
    mean_x, mean_y, cxx, cyy, cxy, n_samples, *, x_components=None,
    y_components=None, n_components=None, rank_tol=1e-6, eager_directions=False,
    x_offset_energy=0.0, y_offset_energy=0.0,
):  # fmt: skip
    """(SV)CCA from means and centred cross-products (the moments route).

    Parameters
    ----------
    mean_x, mean_y : ndarray
        Per-unit means.
    cxx, cyy, cxy : ndarray
        ``Xc^T Xc``, ``Yc^T Yc``, ``Xc^T Yc`` (not divided by n).
    n_samples : int
        Rows behind the products.
    x_components, y_components : int, float or None
        SVD truncation of each view (see
        :func:`~skrep._core.spectral.n_directions_to_keep`).
    n_components : int or None
        Cap on the number of canonical pairs.
    rank_tol : float
        Relative singular-value tolerance for null directions.
    eager_directions : bool or {"x", "y"}, default=False
        True: compute the directions (one SVD with vectors, the
        correlations from it) now, for a caller that reads them at once.
        "x" or "y": compute that view's loadings now (PWCCA's weights, from
        the eigenvectors of one Gram matrix of the whitened cross-product,
        see :func:`_weighting_loadings`) and the other directions on first
        read. False: the correlations alone (singular values, or
        Gram eigenvalues, see :func:`_correlations_from_cross`), the
        directions on first read.
    x_offset_energy, y_offset_energy : float, default=0.0
        Energy removed from each view after its products (as for
        :func:`needs_accurate_route`): the certificate that lets a view skip
        its eigendecomposition is asked to cover it, so that the route
        check then needs no singular values either.

    Returns
    -------
    result : CCAResult
        With ``route="moments"``.
    """
    n_units = max(cxx.shape[0], cyy.shape[0])
    concurrent = _concurrent(n_units)
    parts = None
    with decomposition_threads(n_units):
        if _keeps_all(cxx, x_components) and _keeps_all(cyy, y_components):
            # Usually both views are full rank and well conditioned; when
            # their Cholesky factors prove it, no eigendecomposition of a
            # view is needed (the singular values wait until read).
            certified = _both(
                lambda: _certified_factor(cxx, rank_tol, x_offset_energy),
                lambda: _certified_factor(cyy, rank_tol, y_offset_energy),
                concurrent,
            )
            if certified[0] is not None and certified[1] is not None:
                parts = _certified_parts(certified, cxy)
        if parts is None:
            parts = _exact_parts(
                cxx, cyy, cxy, x_components, y_components, rank_tol, concurrent
            )
    # The Gram matrix's decomposition, the only one running then, takes the
    # BLAS threads as the caller set them (see _result_from_cross).
    return _result_from_cross(
        mean_x, mean_y, *parts, n_samples, n_components, eager_directions
    )


def _exact_parts(
    cxx, cyy, cxy, x_components, y_components, rank_tol, concurrent
):  # fmt: skip
    """Whitenings decided by the views' singular values (or eigenvectors).

    Returns ``(cross, x_whitening, y_whitening, common, None)`` for
    :func:`_result_from_cross`.
    """
    (sx, vx), (sy, vy) = _both(
        lambda: _view_spectrum(cxx, x_components),
        lambda: _view_spectrum(cyy, y_components),
        concurrent,
    )
    rx, ry, kx, ky = _ranks_and_kept(sx, sy, rank_tol, x_components, y_components)
    x_parts, y_parts = _both(
        lambda: _whitening_parts(cxx, sx, vx, kx),
        lambda: _whitening_parts(cyy, sy, vy, ky),
        concurrent,
    )
    x_whitening = _whitening(*x_parts, sx, kx)
    y_whitening = _whitening(*y_parts, sy, ky)
    cross = _whitened_cross(cxy, x_whitening, y_whitening)
    return cross, x_whitening, y_whitening, (sx, sy, rx, ry, kx, ky), None


def _certified_parts(certified, cxy):
    """Whitenings of two views certified well conditioned.

    Each view is whitened by its Cholesky factor; its singular values
    (reported, not needed for the correlations) are computed on first read,
    and the certificates stand in for them in :func:`needs_accurate_route`.
    Returns ``(cross, x_whitening, y_whitening, common, certificates)`` for
    :func:`_result_from_cross`.
    """
    (factor_x, certificate_x), (factor_y, certificate_y) = certified
    x_whitening = _CholeskyWhitening(factor_x)
    y_whitening = _CholeskyWhitening(factor_y)
    cross = _whitened_cross(cxy, x_whitening, y_whitening)
    p, q = cross.shape
    common = (_FactorSpectrum(factor_x), _FactorSpectrum(factor_y), p, q, p, q)
    return cross, x_whitening, y_whitening, common, (certificate_x, certificate_y)


def _correlations_from_cross(cross):
    """Canonical correlations: the singular values of the whitened cross-product.

    The square roots of the eigenvalues of ``cross cross^T`` (or
    ``cross^T cross``, the smaller): a symmetric tridiagonal reduction of
    half the matrix against a bidiagonal reduction of all of it, a third of
    the time of the singular values at 2048 units (0.46 s against 1.29 s on
    2 cores), and less at every size measured down to 64 units. The
    eigenvalues ``rho_i**2`` carry an absolute error of order ``eps`` (the
    whitened cross-product has norm at most 1), so a correlation ``rho`` is
    exact to about ``eps / rho``: to 1e-12 from ``rho = 1e-4`` up, and to
    ``sqrt(eps) = 1.5e-8`` at worst for a correlation near 0, within the
    error the moments route already accepts (``eps / MOMENTS_MIN_RATIO**2``,
    about 2e-8).
    """
    gram = cross @ cross.T if cross.shape[0] <= cross.shape[1] else cross.T @ cross
    eigenvalues = np.linalg.eigvalsh(gram)[::-1]
    return np.sqrt(np.clip(eigenvalues, 0.0, None))


def _weighting_loadings(cross, whitening, view, n_pairs):
    """Correlations and one view's loadings, from its Gram eigenvectors.

    The left (``view="x"``) or right singular vectors of the whitened
    cross-product are the eigenvectors of ``cross cross^T`` (``cross^T
    cross``); PWCCA's weights need one view's alone, at a third of the cost
    of the full SVD. Within a group of tied correlations the basis is
    LAPACK's, as for the SVD (the measure depends on it there, and PWCCA
    warns); signs are arbitrary (the weights take absolute values).
    """
    gram = cross @ cross.T if view == "x" else cross.T @ cross
    eigenvalues, vectors = np.linalg.eigh(gram)
    eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]
    rho = np.sqrt(np.clip(eigenvalues[: min(cross.shape)], 0.0, None))
    with decomposition_threads(max(cross.shape)):
        return rho, whitening.loadings(vectors[:, :n_pairs])


def _result_from_cross(
    mean_x, mean_y, cross, x_whitening, y_whitening, common, certificate,
    n_samples, n_components, eager_directions,
):  # fmt: skip
    """Return the CCAResult of a whitened cross-product.

    ``common`` is ``(sx, sy, rx, ry, kx, ky)``. ``eager_directions``: True
    computes every direction now (SVD with vectors); "x" or "y" computes
    that view's loadings now (PWCCA's weights) and leaves the rest to first
    read; False computes the correlations alone.

    The eigendecomposition of the Gram matrix, the only decomposition
    running at that moment, takes the BLAS threads as the caller set them
    rather than :func:`~skrep._core.backend.decomposition_threads`' one
    thread: on a quiet 2-core machine at 512 units PWCCA's eigenvectors
    took 18 ms on two threads against 23-27 ms on one (its fit 1.53-1.59x
    the products against 1.63-1.66x in two interleaved comparisons). The
    triangular products around it (SciPy's BLAS) keep the one-thread rule,
    so that SciPy's idle workers do not spin beside NumPy's.
    """
    sx, sy, rx, ry, kx, ky = common
    n_pairs = min(cross.shape)
    n_pairs = n_pairs if n_components is None else min(n_components, n_pairs)
    if eager_directions is True:
        with decomposition_threads(max(cross.shape)):
            rho, x_rot, x_load, y_rot, y_load = _pairs_from_cross(
                cross, x_whitening, y_whitening, n_samples, n_components
            )
        return CCAResult(
            mean_x, mean_y, x_rot, y_rot, rho, sx, sy, x_load, y_load, rx, ry,
            kx, ky, n_samples, "moments", certificate=certificate,
        )  # fmt: skip
    early = {"x_loadings": None, "y_loadings": None}
    if eager_directions in ("x", "y"):
        whitening = x_whitening if eager_directions == "x" else y_whitening
        rho, early[f"{eager_directions}_loadings"] = _weighting_loadings(
            cross, whitening, eager_directions, n_pairs
        )
    else:
        # The correlations need the singular values alone (a fraction of the
        # cost of the vectors); the directions wait until read.
        rho = _correlations_from_cross(cross)
    pairs = _LazyPairs(cross, x_whitening, y_whitening, n_samples, n_components)
    return CCAResult(
        mean_x, mean_y, None, None, np.clip(rho[:n_pairs], 0.0, 1.0), sx, sy,
        early["x_loadings"], early["y_loadings"], rx, ry, kx, ky, n_samples,
        "moments", pairs=pairs, certificate=certificate,
    )  # fmt: skip


def cca_from_moments(moments, **params):
    """(SV)CCA from accumulated :class:`~skrep._core.moments.Moments` alone.

    Parameters
    ----------
    moments : Moments
        Two-view moments with ``products="all"``.
    **params
        ``x_components``, ``y_components``, ``n_components``, ``rank_tol``
        as in :func:`cca_from_covariances`.

    Returns
    -------
    result : CCAResult
        With ``route="moments"``; precise while :func:`needs_accurate_route`
        is False.
    """
    return cca_from_covariances(*moments.covariances(), moments.n_samples, **params)


def needs_accurate_route(result, *, x_offset_energy=0.0, y_offset_energy=0.0):
    """Whether a moments-route result may have lost digits.

    The cross-product route's error, relative to the smallest kept
    direction, grows like ``eps * (s_max**2 + offset) / s_k**2`` where
    ``offset`` is the energy of what was subtracted after the products
    (``2 n ||mean||**2`` when the means are removed afterwards, about 0 when
    the rows were centred before). The result is kept only while that ratio
    stays below ``1 / MOMENTS_MIN_RATIO**2``.

    Parameters
    ----------
    result : CCAResult
        A moments-route result.
    x_offset_energy, y_offset_energy : float, default=0.0
        Energy removed after the products, per view.

    Returns
    -------
    bool
        True when the result should be recomputed more accurately.
    """
    certificate = getattr(result, "certificate", None)
    if certificate is not None and all(
        view.certifies(MOMENTS_MIN_RATIO, offset)
        for view, offset in zip(certificate, (x_offset_energy, y_offset_energy))
    ):
        return False  # proven without the singular values
    for s, k, offset in (
        (result.x_singular_values, result.x_n_directions, x_offset_energy),
        (result.y_singular_values, result.y_n_directions, y_offset_energy),
    ):
        if s[k - 1] ** 2 < MOMENTS_MIN_RATIO**2 * (s[0] ** 2 + offset):
            return True
    return False


def _cca_from_data(X, Y, x_components, y_components, n_components, rank_tol):
    mean_x = X.mean(axis=0, dtype=np.float64)
    mean_y = Y.mean(axis=0, dtype=np.float64)
    check_finite_products(mean_x, mean_y)
    ux, sx, vx = spectrum_from_data(np.subtract(X, mean_x, dtype=np.float64))
    uy, sy, vy = spectrum_from_data(np.subtract(Y, mean_y, dtype=np.float64))
    rx, ry, kx, ky = _ranks_and_kept(sx, sy, rank_tol, x_components, y_components)
    rho, x_rot, x_load, y_rot, y_load = _pairs_from_cross(
        ux[:, :kx].T @ uy[:, :ky],
        _EigenWhitening(sx, vx, kx),
        _EigenWhitening(sy, vy, ky),
        X.shape[0],
        n_components,
    )
    # Singular values of rank-deficient wide data: pad to n_features.
    sx = np.concatenate([sx, np.zeros(X.shape[1] - sx.size)])
    sy = np.concatenate([sy, np.zeros(Y.shape[1] - sy.size)])
    return CCAResult(
        mean_x, mean_y, x_rot, y_rot, rho, sx, sy, x_load, y_load, rx, ry, kx, ky,
        X.shape[0], "svd",
    )  # fmt: skip


def fit_cca(
    X, Y, *, x_components=None, y_components=None, n_components=None,
    rank_tol=1e-6, algorithm="auto", keep_moments=True, eager_directions=False,
):  # fmt: skip
    """Canonical correlation analysis, optionally after SVD truncation.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
        First view, rows are samples. Not modified.
    Y : ndarray of shape (n_samples, n_features_y)
        Second view.
    x_components, y_components : int, float in (0, 1] or None
        SVD truncation per view (see
        :func:`~skrep._core.spectral.n_directions_to_keep`); None keeps every
        non-null direction, which is plain CCA.
    n_components : int or None
        Cap on the number of canonical pairs.
    rank_tol : float, default=1e-6
        Directions with singular value below ``rank_tol`` times the largest
        are null and dropped.
    algorithm : {"auto", "moments", "svd"}, default="auto"
        "moments": cross-products plus small eigendecompositions, one pass
        over the data at BLAS speed (float64 input: the raw products on the
        caller's arrays with the means removed afterwards, or, where large
        means would cost digits, a pass over blocks centred first);
        "svd": SVD of the centred data, slower but as accurate as the data
        allow; "auto": moments when there are at least as many samples as
        units in each view, falling back to "svd" when a kept direction is
        ill-conditioned.
    keep_moments : bool, default=True
        Also return the :class:`~skrep._core.moments.Moments` of the data
        (so that streaming can continue from this fit); the SVD route then
        forms them in one extra pass.
    eager_directions : bool or {"x", "y"}, default=False
        See :func:`cca_from_covariances`; the SVD route computes the
        directions at once anyway.

    Returns
    -------
    result : CCAResult
        Means, rotations, canonical correlations (decreasing, in [0, 1]),
        spectra, ranks, kept dimensions and the route taken.
    moments : Moments or None
        The moments of ``(X, Y)``, None when ``keep_moments`` is False.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.cca import fit_cca
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 4)
    >>> result, _ = fit_cca(X, X @ rng.randn(4, 4))
    >>> np.round(result.correlations, 6)
    array([1., 1., 1., 1.])
    """
    params = {
        "x_components": x_components,
        "y_components": y_components,
        "n_components": n_components,
        "rank_tol": rank_tol,
    }
    return fit_by_route(
        X,
        Y,
        algorithm=algorithm,
        keep_moments=keep_moments,
        from_data=lambda X, Y: _cca_from_data(X, Y, **params),
        from_covariances=lambda *covs, **offsets: cca_from_covariances(
            *covs, eager_directions=eager_directions, **offsets, **params
        ),
        imprecise=needs_accurate_route,
    )


def tied_groups(correlations, tol=1e-9):
    """Count canonical correlations tied within ``tol``, and distinct values.

    Parameters
    ----------
    correlations : ndarray
        Decreasing canonical correlations.
    tol : float, default=1e-9
        Absolute tolerance.

    Returns
    -------
    n_tied : int
        Correlations that share their value with another one.
    n_groups : int
        Distinct values.
    """
    if correlations.size == 0:
        return 0, 0
    breaks = np.abs(np.diff(correlations)) > tol
    sizes = np.diff(np.flatnonzero(np.r_[True, breaks, True]))
    return int(sizes[sizes > 1].sum()), int(sizes.size)
