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

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import scipy.linalg

#: Kept directions whose singular value is below this fraction of the largest
#: make the moments route imprecise (its error grows like eps / ratio**2);
#: :func:`fit_cca` then switches to the SVD route.
MOMENTS_MIN_RATIO = 1e-4

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
        self._shift_x = None
        self._shift_y = None
        self._sum_x = np.zeros(n_features_x)
        self._xx = np.zeros((n_features_x, n_features_x))
        if n_features_y is not None:
            self._sum_y = np.zeros(n_features_y)
            self._yy = np.zeros((n_features_y, n_features_y))
            self._xy = np.zeros((n_features_x, n_features_y))

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
        if X.shape[0] == 0:
            return self
        if self._shift_x is None:
            self._shift_x = X.mean(axis=0, dtype=np.float64)
            if self.two_views:
                self._shift_y = Y.mean(axis=0, dtype=np.float64)
        width = self.n_features_x + (self.n_features_y or 0)
        step = _block_rows(width)
        for start in range(0, X.shape[0], step):
            stop = start + step
            xb = np.subtract(X[start:stop], self._shift_x, dtype=np.float64)
            self._sum_x += xb.sum(axis=0)
            self._xx += xb.T @ xb
            if self.two_views:
                yb = np.subtract(Y[start:stop], self._shift_y, dtype=np.float64)
                self._sum_y += yb.sum(axis=0)
                self._yy += yb.T @ yb
                self._xy += xb.T @ yb
        self.n_samples += X.shape[0]
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
        dx = self._sum_x / n
        mean_x = self._shift_x + dx
        cxx = self._xx - n * np.outer(dx, dx)
        if not self.two_views:
            return mean_x, None, _symmetrize(cxx), None, None
        dy = self._sum_y / n
        mean_y = self._shift_y + dy
        cyy = self._yy - n * np.outer(dy, dy)
        cxy = self._xy - n * np.outer(dx, dy)
        return mean_x, mean_y, _symmetrize(cxx), _symmetrize(cyy), cxy


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


def _check_rank(rank, name):
    if rank == 0:
        raise ValueError(
            f"Every unit of {name} is constant (dead): there is no direction "
            "to correlate."
        )


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
    mean_x, mean_y, cxx, cyy, cxy = moments.covariances()
    sx, vx = spectrum_from_covariance(cxx)
    sy, vy = spectrum_from_covariance(cyy)
    rx = int(np.count_nonzero(~null_mask(sx, rank_tol)))
    ry = int(np.count_nonzero(~null_mask(sy, rank_tol)))
    _check_rank(rx, "X")
    _check_rank(ry, "Y")
    kx = n_directions_to_keep(sx, rx, x_components)
    ky = n_directions_to_keep(sy, ry, y_components)
    wx, wy = vx[:, :kx] / sx[:kx], vy[:, :ky] / sy[:ky]
    rho, x_rot, x_load, y_rot, y_load = _pairs_from_cross(
        wx.T @ cxy @ wy, (sx, vx, kx), (sy, vy, ky), moments.n_samples, n_components
    )
    return CCAResult(
        mean_x, mean_y, x_rot, y_rot, rho, sx, sy, x_load, y_load, rx, ry, kx, ky,
        moments.n_samples, "moments",
    )  # fmt: skip


def needs_accurate_route(result):
    """Whether a moments-route result kept an ill-conditioned direction."""
    for s, k in (
        (result.x_singular_values, result.x_n_directions),
        (result.y_singular_values, result.y_n_directions),
    ):
        if s[k - 1] < MOMENTS_MIN_RATIO * s[0]:
            return True
    return False


def _cca_from_data(X, Y, x_components, y_components, n_components, rank_tol):
    mean_x = X.mean(axis=0, dtype=np.float64)
    mean_y = Y.mean(axis=0, dtype=np.float64)
    ux, sx, vx = spectrum_from_data(np.subtract(X, mean_x, dtype=np.float64))
    uy, sy, vy = spectrum_from_data(np.subtract(Y, mean_y, dtype=np.float64))
    rx = int(np.count_nonzero(~null_mask(sx, rank_tol)))
    ry = int(np.count_nonzero(~null_mask(sy, rank_tol)))
    _check_rank(rx, "X")
    _check_rank(ry, "Y")
    kx = n_directions_to_keep(sx, rx, x_components)
    ky = n_directions_to_keep(sy, ry, y_components)
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
        over the data and BLAS-speed; "svd": SVD of the centred data,
        slower but as accurate as the data allow; "auto": moments when
        there are at least as many samples as units in each view, falling
        back to "svd" when a kept direction is ill-conditioned.

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
