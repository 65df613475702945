"""The shared numerical core of skrep.

Everything here works on plain NumPy arrays, rows are samples and columns are
units. It imports neither scikit-learn nor torch, so every estimator (and any
future ``partial_fit``) can lean on it:

- :class:`Moments` accumulates means and centred cross-products of one or two
  views block by block (streaming-ready: feed it batches of rows).
- :func:`spectrum_from_covariance` and :func:`spectrum_from_data` give the
  rank-aware principal directions of a view; :func:`null_mask` and
  :func:`n_directions_to_keep` decide which of them count.
- :func:`fit_cca` runs (SV)CCA from raw data, choosing between the fast
  moments route and the accurate SVD route; :func:`cca_from_moments` does it
  from accumulated :class:`Moments` alone.
- :func:`column_correlations` and :func:`correlation_matrix` give Pearson
  correlations that are 0, never NaN, for constant (dead) units.

Notes
-----
The moments route forms ``Xc.T @ Xc`` and so squares the condition number of
the data. It is used only where that is harmless: directions whose singular
value lies below ``rank_tol`` times the largest are null (constant or exactly
collinear units), and if any direction that is *kept* lies below
``MOMENTS_MIN_RATIO`` times the largest, :func:`fit_cca` recomputes on the
data with a singular value decomposition instead of returning imprecise
digits.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import scipy.linalg
from threadpoolctl import ThreadpoolController

#: Kept directions whose singular value is below this fraction of the largest
#: make the moments route imprecise (its error grows like eps / ratio**2);
#: :func:`fit_cca` then switches to the SVD route.
MOMENTS_MIN_RATIO = 1e-4

#: Up to this many units per view, the unit x unit decompositions run on one
#: BLAS thread: measured on 2 cores at 512 units, one thread took 0.18 s
#: against 0.23-0.37 s for two; from 1024 units on, two threads are faster.
SINGLE_THREAD_MAX_UNITS = 768

_controller = None


def _decomposition_threads(n_units):
    """Return a context limiting BLAS to one thread for small decompositions."""
    global _controller
    if n_units > SINGLE_THREAD_MAX_UNITS:
        return nullcontext()
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


#: Rows per block when accumulating moments: large enough for BLAS to run at
#: full speed, small enough that the centred float64 copy of a block stays
#: a few tens of megabytes.
_BLOCK_BYTES = 32 * 2**20


def _block_rows(n_columns):
    return max(256, _BLOCK_BYTES // (8 * max(n_columns, 1)))


class Moments:
    """Streaming sums and centred cross-products of one or two views.

    Rows are shifted by the mean of the first block seen before their
    products are accumulated, so large means (as after a ReLU) cost no
    digits; :meth:`covariances` corrects for the shift exactly. All
    accumulation is in float64 whatever the input dtype.

    Parameters
    ----------
    n_features_x : int
        Number of units (columns) of the first view.
    n_features_y : int or None, default=None
        Number of units of the second view, or None for a single view.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._linalg import Moments
    >>> rng = np.random.RandomState(0)
    >>> X, Y = rng.randn(100, 3), rng.randn(100, 2)
    >>> m = Moments(3, 2).update(X[:60], Y[:60]).update(X[60:], Y[60:])
    >>> mean_x, mean_y, cxx, cyy, cxy = m.covariances()
    >>> bool(np.allclose(cxy, (X - X.mean(0)).T @ (Y - Y.mean(0))))
    True
    """

    def __init__(self, n_features_x, n_features_y=None):
        self.n_features_x = n_features_x
        self.n_features_y = n_features_y
        self.n_samples = 0
        width = n_features_x + (n_features_y or 0)
        self._shift = None
        self._sum = np.zeros(width)
        # One symmetric accumulator for [X, Y]: a single syrk per block costs
        # no more than X^T X, Y^T Y and X^T Y apart, and runs faster.
        self._cross = np.zeros((width, width))

    @property
    def two_views(self):
        """Whether a second view is accumulated."""
        return self.n_features_y is not None

    def update(self, X, Y=None):
        """Add rows of X (and the matching rows of Y).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features_x)
            New rows of the first view.
        Y : ndarray of shape (n_samples, n_features_y), optional
            The same samples in the second view.

        Returns
        -------
        self : Moments
            The accumulator, updated.
        """
        if self.two_views and (Y is None or Y.shape[0] != X.shape[0]):
            raise ValueError("Y must be given with as many rows as X.")
        n, p = X.shape[0], self.n_features_x
        if n == 0:
            return self
        views = [X] if not self.two_views else [X, Y]
        if self._shift is None:
            self._shift = np.concatenate(
                [
                    V[: _block_rows(V.shape[1])].mean(axis=0, dtype=np.float64)
                    for V in views
                ]
            )
        step = min(n, _block_rows(self._sum.size))
        block = np.empty((step, self._sum.size))
        for start in range(0, n, step):
            rows = min(step, n - start)
            out = block[:rows]
            np.subtract(X[start : start + rows], self._shift[:p], out=out[:, :p])
            if self.two_views:
                np.subtract(Y[start : start + rows], self._shift[p:], out=out[:, p:])
            self._sum += out.sum(axis=0)
            self._cross += out.T @ out
        self.n_samples += n
        return self

    def covariances(self):
        """Means and centred cross-product matrices of what was seen.

        Returns
        -------
        mean_x : ndarray of shape (n_features_x,)
        mean_y : ndarray of shape (n_features_y,) or None
        cxx : ndarray of shape (n_features_x, n_features_x)
            ``Xc.T @ Xc`` with ``Xc`` the column-centred rows (not divided
            by the number of samples).
        cyy : ndarray of shape (n_features_y, n_features_y) or None
        cxy : ndarray of shape (n_features_x, n_features_y) or None
        """
        n = self.n_samples
        if n == 0:
            raise ValueError("No samples were accumulated.")
        offset = self._sum / n
        mean = self._shift + offset
        cross = self._cross - n * np.outer(offset, offset)
        p = self.n_features_x
        cxx = _symmetrize(cross[:p, :p])
        if not self.two_views:
            return mean, None, cxx, None, None
        return mean[:p], mean[p:], cxx, _symmetrize(cross[p:, p:]), cross[:p, p:]


def _symmetrize(C):
    return 0.5 * (C + C.T)


def spectrum_from_covariance(cxx):
    """Singular values and right singular vectors of Xc from ``Xc.T @ Xc``.

    Parameters
    ----------
    cxx : ndarray of shape (n_features, n_features)
        Centred cross-product matrix of one view.

    Returns
    -------
    singular_values : ndarray of shape (n_features,)
        Singular values of the centred data, in decreasing order.
    directions : ndarray of shape (n_features, n_features)
        The matching directions in unit space (columns, orthonormal).
    """
    eigenvalues, eigenvectors = scipy.linalg.eigh(cxx, check_finite=False, driver="evd")
    order = np.argsort(eigenvalues)[::-1]
    singular_values = np.sqrt(np.clip(eigenvalues[order], 0.0, None))
    return singular_values, eigenvectors[:, order]


def spectrum_from_data(Xc):
    """Thin SVD of centred data, the accurate route.

    Parameters
    ----------
    Xc : ndarray of shape (n_samples, n_features)
        Column-centred data.

    Returns
    -------
    left : ndarray of shape (n_samples, k)
        Left singular vectors (orthonormal columns), ``k = min(shape)``.
    singular_values : ndarray of shape (k,)
        Decreasing singular values.
    directions : ndarray of shape (n_features, k)
        Right singular vectors (columns).
    """
    try:
        left, singular_values, vt = scipy.linalg.svd(
            Xc, full_matrices=False, check_finite=False, lapack_driver="gesdd"
        )
    except np.linalg.LinAlgError:  # pragma: no cover - gesdd rarely fails
        left, singular_values, vt = scipy.linalg.svd(
            Xc, full_matrices=False, check_finite=False, lapack_driver="gesvd"
        )
    return left, singular_values, vt.T


def null_mask(singular_values, rank_tol):
    """Which directions are null (constant, dead or exactly collinear units).

    Parameters
    ----------
    singular_values : ndarray
        Decreasing singular values of a centred view.
    rank_tol : float
        A direction is null when its singular value is below
        ``rank_tol`` times the largest (or the largest is 0).

    Returns
    -------
    mask : ndarray of bool
        True for the null directions.
    """
    top = singular_values[0] if singular_values.size else 0.0
    if top <= 0.0:
        return np.ones(singular_values.shape, dtype=bool)
    return singular_values < rank_tol * top


def n_directions_to_keep(singular_values, rank, svd_components):
    """How many leading SVD directions to keep, with PCA-like semantics.

    Parameters
    ----------
    singular_values : ndarray
        Decreasing singular values of the centred view.
    rank : int
        Number of non-null directions (never more are kept).
    svd_components : int, float in (0, 1] or None
        int: keep that many (at most ``rank``); float: the fewest
        directions whose cumulative share of the variance (squared singular
        values) reaches the value, 1.0 keeping every non-null direction;
        None: keep every non-null direction.

    Returns
    -------
    k : int
        Number of directions kept, ``1 <= k <= rank`` when ``rank >= 1``.
    """
    if rank == 0:
        return 0
    if svd_components is None:
        return rank
    if isinstance(svd_components, Integral) and not isinstance(svd_components, bool):
        return int(min(svd_components, rank))
    if isinstance(svd_components, Real):
        if svd_components >= 1.0:
            return rank
        variance = singular_values[:rank] ** 2
        share = np.cumsum(variance) / variance.sum()
        # Guard against round-off just below the threshold.
        k = int(np.searchsorted(share, svd_components - 1e-12, side="left")) + 1
        return min(k, rank)
    raise TypeError(
        f"svd_components must be an int, a float or None, got {svd_components!r}."
    )


@dataclass
class CCAResult:
    """What :func:`fit_cca` learns. Rotations map centred data to variates.

    ``(X - x_mean) @ x_rotations`` are the canonical variates of X: zero
    mean, unit variance (1/n) on the fitted data, uncorrelated, and paired
    column by column with Y's, with correlations ``correlations``.
    ``x_loadings[i, j]`` is the inner product of the i-th canonical variate,
    scaled to unit norm, with the centred activations of X's unit j (the
    quantity PWCCA weights are built from).
    """

    x_mean: np.ndarray
    y_mean: np.ndarray
    x_rotations: np.ndarray
    y_rotations: np.ndarray
    correlations: np.ndarray
    x_singular_values: np.ndarray
    y_singular_values: np.ndarray
    x_loadings: np.ndarray
    y_loadings: np.ndarray
    x_rank: int
    y_rank: int
    x_n_directions: int
    y_n_directions: int
    n_samples: int
    route: str


def _pairs_from_cross(cross, x_basis, y_basis, n_samples, n_components):
    """SVD of the whitened cross-product: correlations, rotations, loadings.

    ``x_basis`` is ``(singular_values, directions, k)`` of the centred X;
    with ``Xc = U S V^T``, the unit-norm variates are ``U_k a_i``, so their
    inner products with the centred units are ``a_i^T S_k V_k^T`` and the
    rotations giving unit-variance variates are ``sqrt(n) V_k S_k^{-1} a_i``.
    """
    a, rho, bt = scipy.linalg.svd(cross, full_matrices=False, check_finite=False)
    n_pairs = rho.size if n_components is None else min(n_components, rho.size)
    scale = np.sqrt(n_samples)
    out = [np.clip(rho[:n_pairs], 0.0, 1.0)]
    for (s, v, k), pairs in ((x_basis, a[:, :n_pairs]), (y_basis, bt[:n_pairs].T)):
        out.append((v[:, :k] / s[:k]) @ pairs * scale)
        out.append((pairs.T * s[:k]) @ v[:, :k].T)
    return out


def _ranks_and_kept(sx, sy, rank_tol, x_components, y_components):
    """Non-null directions per view and how many of them SVCCA keeps."""
    ranks = []
    for s, name in ((sx, "X"), (sy, "Y")):
        rank = int(np.count_nonzero(~null_mask(s, rank_tol)))
        if rank == 0:
            raise ValueError(
                f"Every unit of {name} is constant (dead): there is no direction "
                "to correlate."
            )
        ranks.append(rank)
    kx = n_directions_to_keep(sx, ranks[0], x_components)
    ky = n_directions_to_keep(sy, ranks[1], y_components)
    return ranks[0], ranks[1], kx, ky


def cca_from_moments(
    moments, *, x_components=None, y_components=None, n_components=None, rank_tol=1e-6
):
    """(SV)CCA from accumulated :class:`Moments` alone.

    Parameters
    ----------
    moments : Moments
        Two-view moments.
    x_components, y_components : int, float or None
        SVD truncation of each view (see :func:`n_directions_to_keep`).
    n_components : int or None
        Cap on the number of canonical pairs.
    rank_tol : float
        Relative singular-value tolerance for null directions.

    Returns
    -------
    result : CCAResult
        With ``route="moments"``. Precise while the kept directions of each
        view have singular values above ``MOMENTS_MIN_RATIO`` times the
        largest (see :func:`needs_accurate_route`).
    """
    return _cca_from_covariances(
        *moments.covariances(),
        moments.n_samples,
        x_components=x_components,
        y_components=y_components,
        n_components=n_components,
        rank_tol=rank_tol,
    )


def _cca_from_covariances(
    mean_x, mean_y, cxx, cyy, cxy, n_samples, *, x_components, y_components,
    n_components, rank_tol,
):  # fmt: skip
    with _decomposition_threads(max(cxx.shape[0], cyy.shape[0])):
        return _cca_from_covariances_body(
            mean_x, mean_y, cxx, cyy, cxy, n_samples, x_components, y_components,
            n_components, rank_tol,
        )  # fmt: skip


def _cca_from_covariances_body(
    mean_x, mean_y, cxx, cyy, cxy, n_samples, x_components, y_components,
    n_components, rank_tol,
):  # fmt: skip
    sx, vx = spectrum_from_covariance(cxx)
    sy, vy = spectrum_from_covariance(cyy)
    rx, ry, kx, ky = _ranks_and_kept(sx, sy, rank_tol, x_components, y_components)
    wx, wy = vx[:, :kx] / sx[:kx], vy[:, :ky] / sy[:ky]
    rho, x_rot, x_load, y_rot, y_load = _pairs_from_cross(
        wx.T @ cxy @ wy, (sx, vx, kx), (sy, vy, ky), n_samples, n_components
    )
    return CCAResult(
        mean_x, mean_y, x_rot, y_rot, rho, sx, sy, x_load, y_load, rx, ry, kx, ky,
        n_samples, "moments",
    )  # fmt: skip


def _raw_covariances(X, Y):
    """Centred cross-products from the raw products, without copying the data.

    ``Xc^T Xc = X^T X - n m m^T``: the three BLAS products on the caller's
    arrays and a rank-one correction. The correction cancels digits in
    proportion to the means' energy ``n ||m||^2``, which
    :func:`needs_accurate_route` takes into account.
    """
    n = X.shape[0]
    mean_x, mean_y = X.mean(axis=0), Y.mean(axis=0)
    cxx = _symmetrize(X.T @ X - n * np.outer(mean_x, mean_x))
    cyy = _symmetrize(Y.T @ Y - n * np.outer(mean_y, mean_y))
    cxy = X.T @ Y - n * np.outer(mean_x, mean_y)
    return mean_x, mean_y, cxx, cyy, cxy


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
    ux, sx, vx = spectrum_from_data(np.subtract(X, mean_x, dtype=np.float64))
    uy, sy, vy = spectrum_from_data(np.subtract(Y, mean_y, dtype=np.float64))
    rx, ry, kx, ky = _ranks_and_kept(sx, sy, rank_tol, x_components, y_components)
    rho, x_rot, x_load, y_rot, y_load = _pairs_from_cross(
        ux[:, :kx].T @ uy[:, :ky], (sx, vx, kx), (sy, vy, ky), X.shape[0], n_components
    )
    # Singular values of rank-deficient wide data: pad to n_features.
    sx = np.concatenate([sx, np.zeros(X.shape[1] - sx.size)])
    sy = np.concatenate([sy, np.zeros(Y.shape[1] - sy.size)])
    return CCAResult(
        mean_x, mean_y, x_rot, y_rot, rho, sx, sy, x_load, y_load, rx, ry, kx, ky,
        X.shape[0], "svd",
    )  # fmt: skip


def fit_cca(
    X,
    Y,
    *,
    x_components=None,
    y_components=None,
    n_components=None,
    rank_tol=1e-6,
    algorithm="auto",
):
    """Canonical correlation analysis, optionally after SVD truncation.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
        First view, rows are samples. Not modified.
    Y : ndarray of shape (n_samples, n_features_y)
        Second view.
    x_components, y_components : int, float in (0, 1] or None
        SVD truncation per view (see :func:`n_directions_to_keep`); None
        keeps every non-null direction, which is plain CCA.
    n_components : int or None
        Cap on the number of canonical pairs.
    rank_tol : float, default=1e-6
        Directions with singular value below ``rank_tol`` times the largest
        are null and dropped.
    algorithm : {"auto", "moments", "svd"}, default="auto"
        "moments": cross-products plus small eigendecompositions, one pass
        over the data at BLAS speed (float64 input: the raw products on the
        caller's arrays with the means removed afterwards, or, where large
        means would cost digits, a second pass over blocks centred first);
        "svd": SVD of the centred data, slower but as accurate as the data
        allow; "auto": moments when there are at least as many samples as
        units in each view, falling back to "svd" when a kept direction is
        ill-conditioned.

    Returns
    -------
    result : CCAResult
        Means, rotations, canonical correlations (decreasing, in [0, 1]),
        spectra, ranks, kept dimensions and the route taken.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._linalg import fit_cca
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 4)
    >>> result = fit_cca(X, X @ rng.randn(4, 4))
    >>> np.round(result.correlations, 6)
    array([1., 1., 1., 1.])
    """
    n, p = X.shape
    q = Y.shape[1]
    if algorithm not in ("auto", "moments", "svd"):
        raise ValueError(f"Unknown algorithm {algorithm!r}.")
    params = {
        "x_components": x_components,
        "y_components": y_components,
        "n_components": n_components,
        "rank_tol": rank_tol,
    }
    if algorithm == "svd" or (algorithm == "auto" and n < max(p, q)):
        return _cca_from_data(X, Y, **params)
    if X.dtype == np.float64 and Y.dtype == np.float64:
        # Fastest: the raw products on the caller's arrays, kept only when
        # subtracting the means afterwards cost no digits that matter.
        raw = _raw_covariances(X, Y)
        result = _cca_from_covariances(*raw, n, **params)
        offsets = {
            "x_offset_energy": 2 * n * (raw[0] @ raw[0]),
            "y_offset_energy": 2 * n * (raw[1] @ raw[1]),
        }
        if not needs_accurate_route(result, **offsets):
            return result
    result = cca_from_moments(Moments(p, q).update(X, Y), **params)
    if algorithm == "auto" and needs_accurate_route(result):
        return _cca_from_data(X, Y, **params)
    return result


#: Relative size of a centred column below which it counts as constant.
CONSTANT_TOL = 1e-10


def _is_constant(centred_norms, data):
    magnitude = np.sqrt(np.einsum("ij,ij->j", data, data))
    return ~(centred_norms > CONSTANT_TOL * magnitude)


def column_correlations(U, V):
    """Pearson correlation of each column of U with the same column of V.

    Constant columns have correlation 0 (not NaN). A column counts as
    constant when its centred norm is at most ``CONSTANT_TOL`` times its
    root-mean-square magnitude, so that round-off left by centring a
    constant column is not mistaken for signal.

    Parameters
    ----------
    U, V : ndarray of shape (n_samples, k)

    Returns
    -------
    correlations : ndarray of shape (k,)
    n_constant : int
        Number of pairs in which a column was constant.
    """
    Uc = U - U.mean(axis=0)
    Vc = V - V.mean(axis=0)
    nu = np.sqrt(np.einsum("ij,ij->j", Uc, Uc))
    nv = np.sqrt(np.einsum("ij,ij->j", Vc, Vc))
    denominator = nu * nv
    constant = _is_constant(nu, U) | _is_constant(nv, V)
    corr = np.zeros(U.shape[1])
    ok = ~constant
    corr[ok] = np.einsum("ij,ij->j", Uc[:, ok], Vc[:, ok]) / denominator[ok]
    return np.clip(corr, -1.0, 1.0), int(np.count_nonzero(constant))


def standardize_stats(X, *, dead_tol=1e-12):
    """Per-unit mean and standard deviation (ddof=0) with dead units flagged.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    dead_tol : float, default=1e-12
        A unit whose standard deviation is at most ``dead_tol`` times its
        largest absolute value (or exactly 0) is constant.

    Returns
    -------
    mean : ndarray of shape (n_features,)
    scale : ndarray of shape (n_features,)
        The standard deviation, replaced by 1 for constant units, so that
        ``(X - mean) / scale`` is 0 there instead of NaN.
    constant : ndarray of bool, shape (n_features,)
    """
    mean = X.mean(axis=0, dtype=np.float64)
    squares = np.zeros(X.shape[1])
    step = _block_rows(X.shape[1])
    for start in range(0, X.shape[0], step):
        block = np.subtract(X[start : start + step], mean, dtype=np.float64)
        squares += np.einsum("ij,ij->j", block, block)
    return _scale_and_constant(X, mean, squares, dead_tol)


def _scale_and_constant(X, mean, squares, dead_tol):
    """Turn centred sums of squares into scales, flagging dead units."""
    std = np.sqrt(squares / X.shape[0])
    magnitude = np.maximum(np.abs(X.max(axis=0)), np.abs(X.min(axis=0)))
    magnitude = np.maximum(magnitude.astype(np.float64), np.finfo(float).tiny)
    constant = ~(std > dead_tol * magnitude)
    return mean, np.where(constant, 1.0, std), constant


def correlation_matrix(X, Y):
    """Pearson correlation of every unit of X with every unit of Y.

    One BLAS product over centred, unit-norm columns, blocked by rows so
    that only a block is copied at a time. Constant (dead) units get
    correlation 0 with everything.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
    Y : ndarray of shape (n_samples, n_features_y)

    Returns
    -------
    correlation : ndarray of shape (n_features_x, n_features_y)
    x_constant : ndarray of bool, shape (n_features_x,)
    y_constant : ndarray of bool, shape (n_features_y,)

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._linalg import correlation_matrix
    >>> X = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    >>> corr, x_dead, _ = correlation_matrix(X, -2 * X[:, :1])
    >>> corr.ravel().tolist(), x_dead.tolist()
    ([-1.0, 0.0], [False, True])
    """
    mean_x = X.mean(axis=0, dtype=np.float64)
    mean_y = Y.mean(axis=0, dtype=np.float64)
    n = X.shape[0]
    corr = np.zeros((X.shape[1], Y.shape[1]))
    squares_x, squares_y = np.zeros(X.shape[1]), np.zeros(Y.shape[1])
    step = _block_rows(X.shape[1] + Y.shape[1])
    for start in range(0, n, step):
        xb = np.subtract(X[start : start + step], mean_x, dtype=np.float64)
        yb = np.subtract(Y[start : start + step], mean_y, dtype=np.float64)
        corr += xb.T @ yb
        squares_x += np.einsum("ij,ij->j", xb, xb)
        squares_y += np.einsum("ij,ij->j", yb, yb)
    _, scale_x, x_constant = _scale_and_constant(X, mean_x, squares_x, 1e-12)
    _, scale_y, y_constant = _scale_and_constant(Y, mean_y, squares_y, 1e-12)
    corr /= n * np.outer(scale_x, scale_y)
    corr[x_constant, :] = 0.0
    corr[:, y_constant] = 0.0
    return np.clip(corr, -1.0, 1.0), x_constant, y_constant
