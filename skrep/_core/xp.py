"""Namespace-generic numerics for array-API inputs (torch, CuPy, array-api-strict).

The NumPy core (:mod:`~skrep._core.cca`, :mod:`~skrep._core.moments`,
:mod:`~skrep._core.lasso`) is tuned for host BLAS and LAPACK; this module
computes the same quantities in the namespace of the inputs, on their device,
so that a fit on GPU tensors never copies the rows to the host. Only what is
small (singular values, a few per-unit flags, the ``d x d`` matrices of the
Lasso) ever crosses to the host, and every decision is taken there by the
same functions as the NumPy path (:func:`~skrep._core.spectral.null_mask`,
:func:`~skrep._core.spectral.n_directions_to_keep`, the constant-unit rule),
so both paths keep the same directions, drop the same units and choose the
same signs.

Products are accumulated in float64 (the widest float the device offers),
whatever the input dtype, over blocks of rows centred on the first block's
mean, as :class:`~skrep._core.moments.Moments` does on the host.

This module imports neither scikit-learn nor torch: namespaces are given by
the caller (``xp`` is an array-API namespace, e.g. from
``array_api_compat.array_namespace``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skrep._core.cca import MOMENTS_MIN_RATIO, CCAResult, _ranks_and_kept
from skrep._core.moments import CONSTANT_TOL, Moments
from skrep._core.spectral import null_mask

__all__ = [
    "ConstantFlags",
    "XpMoments",
    "cca_from_covariances_xp",
    "column_correlations_xp",
    "fit_cca_xp",
    "least_squares_xp",
    "to_numpy",
    "wide_float",
]

#: Bytes of one float64 block of rows: large enough for a GPU GEMM to run at
#: full speed, small enough to stay a fraction of a device's memory.
BLOCK_BYTES = 256 * 2**20


def to_numpy(array):
    """Return a NumPy copy (host) of a namespace array; NumPy arrays pass through.

    Parameters
    ----------
    array : array
        Any array-API array (torch tensor on any device, CuPy,
        array-api-strict) or a NumPy array.

    Returns
    -------
    array : ndarray
    """
    if isinstance(array, np.ndarray):
        return array
    module = type(array).__module__
    if module.startswith("torch"):
        return array.detach().cpu().numpy()
    if module.startswith("cupy"):  # pragma: no cover - needs CuPy
        return array.get()
    if module.startswith("array_api_strict"):
        import array_api_strict

        return np.asarray(
            array_api_strict.asarray(
                array, device=array_api_strict.Device("CPU_DEVICE")
            )
        )
    return np.asarray(array)


def wide_float(xp, device):
    """float64 when the device offers it (not all GPUs do), else float32."""
    info = getattr(xp, "__array_namespace_info__", None)
    if info is None:
        return xp.float64
    if "float64" in info().dtypes(kind="real floating", device=device):
        return xp.float64
    return xp.float32  # pragma: no cover - e.g. Apple MPS


def _block_rows(width):
    return max(1024, BLOCK_BYTES // (8 * max(width, 1)))


def _constant(xp, mean, variance):
    """Apply the one constant-unit rule in the namespace (``constant_units``)."""
    variance = xp.clip(variance, 0.0, None)
    return ~(variance > CONSTANT_TOL**2 * (mean * mean + variance))


def _check_finite(xp, *arrays):
    for array in arrays:
        if array is not None and not bool(xp.all(xp.isfinite(array))):
            raise ValueError(
                "The activations are so large that their squares overflow "
                "float64 (values above about 1e150). Divide them by a constant, "
                "e.g. their largest absolute value: the similarity measures are "
                "scale-invariant."
            )


class XpMoments:
    """Means and centred cross-products of two views, accumulated on a device.

    The array-API counterpart of :class:`~skrep._core.moments.Moments` for
    two views: rows are centred on the first block's mean, then their sums
    and products are added in float64; :meth:`covariances` removes the small
    remaining offset exactly. :meth:`to_moments` hands the totals to a host
    :class:`~skrep._core.moments.Moments` (to finish a fit, or to merge).

    Parameters
    ----------
    n_features_x, n_features_y : int
        Units of each view.
    xp : namespace
        Array-API namespace of the rows.
    device : device
        Where the rows (and the totals) live.
    products : {"all", "cross"}, default="all"
        "all" keeps ``Xc^T Xc``, ``Yc^T Yc`` and ``Xc^T Yc``; "cross" keeps
        ``Xc^T Yc`` and the per-unit sums of squares.
    track_range : bool, default=False
        Also keep each unit's minimum and maximum.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_strict as xp
    >>> from skrep._core.xp import XpMoments
    >>> rng = np.random.RandomState(0)
    >>> X, Y = rng.randn(50, 3), rng.randn(50, 2)
    >>> moments = XpMoments(3, 2, xp=xp, device=None)
    >>> _ = moments.update(xp.asarray(X[:20]), xp.asarray(Y[:20]))
    >>> _ = moments.update(xp.asarray(X[20:]), xp.asarray(Y[20:]))
    >>> cxy = moments.covariances()[4]
    >>> bool(np.allclose(np.asarray(cxy), (X - X.mean(0)).T @ (Y - Y.mean(0))))
    True
    """

    def __init__(self, n_features_x, n_features_y, *, xp, device, products="all",
                 track_range=False):  # fmt: skip
        if products not in ("all", "cross"):
            raise ValueError(f"products must be 'all' or 'cross', got {products!r}.")
        self.n_features_x, self.n_features_y = int(n_features_x), int(n_features_y)
        self.xp, self.device = xp, device
        self.products, self.track_range = products, track_range
        self.dtype = wide_float(xp, device)
        self.n_samples = 0
        self.shift = None
        p, q = self.n_features_x, self.n_features_y
        zeros = self._zeros
        self.sums = zeros((p + q,))
        if products == "all":
            self.xx, self.yy, self.xy = zeros((p, p)), zeros((q, q)), zeros((p, q))
        else:
            self.xy, self.squares_raw = zeros((p, q)), zeros((p + q,))
        self.minimum = self.maximum = None

    def _zeros(self, shape):
        return self.xp.zeros(shape, dtype=self.dtype, device=self.device)

    def update(self, X, Y):
        """Add rows of X and the matching rows of Y (namespace arrays).

        Parameters
        ----------
        X : array of shape (n_samples, n_features_x)
        Y : array of shape (n_samples, n_features_y)

        Returns
        -------
        self : XpMoments
        """
        xp, p = self.xp, self.n_features_x
        if X.ndim != 2 or X.shape[1] != p:
            raise ValueError(f"X must have {p} columns, got shape {tuple(X.shape)}.")
        if Y.ndim != 2 or Y.shape != (X.shape[0], self.n_features_y):
            raise ValueError(
                f"Y must have {X.shape[0]} rows and {self.n_features_y} columns, "
                f"got shape {tuple(Y.shape)}."
            )
        n = X.shape[0]
        if n == 0:
            return self
        step = _block_rows(p + self.n_features_y)
        if self.shift is None:
            first = min(n, step)
            self.shift = (
                xp.mean(xp.astype(X[:first, ...], self.dtype), axis=0),
                xp.mean(xp.astype(Y[:first, ...], self.dtype), axis=0),
            )
        for start in range(0, n, step):
            stop = min(n, start + step)
            Xb = xp.astype(X[start:stop, ...], self.dtype) - self.shift[0]
            Yb = xp.astype(Y[start:stop, ...], self.dtype) - self.shift[1]
            self.sums = self.sums + xp.concat([xp.sum(Xb, axis=0), xp.sum(Yb, axis=0)])
            self.xy = self.xy + xp.matmul(Xb.T, Yb)
            if self.products == "all":
                self.xx = self.xx + xp.matmul(Xb.T, Xb)
                self.yy = self.yy + xp.matmul(Yb.T, Yb)
            else:
                self.squares_raw = self.squares_raw + xp.concat(
                    [xp.sum(Xb * Xb, axis=0), xp.sum(Yb * Yb, axis=0)]
                )
        if self.track_range:
            low = xp.concat([xp.astype(xp.min(V, axis=0), self.dtype) for V in (X, Y)])
            high = xp.concat([xp.astype(xp.max(V, axis=0), self.dtype) for V in (X, Y)])
            if self.minimum is None:
                self.minimum, self.maximum = low, high
            else:
                self.minimum = xp.minimum(self.minimum, low)
                self.maximum = xp.maximum(self.maximum, high)
        self.n_samples += n
        return self

    def _check_samples(self):
        if self.n_samples == 0:
            raise ValueError("No samples were accumulated.")

    @property
    def mean(self):
        """Per-unit mean of ``[X, Y]``."""
        self._check_samples()
        xp = self.xp
        return xp.concat(list(self.shift)) + self.sums / self.n_samples

    def covariances(self):
        """Means and centred cross-products, in the namespace.

        Returns
        -------
        mean_x, mean_y : array
        cxx, cyy : array or None
            None with ``products="cross"``.
        cxy : array
        """
        self._check_samples()
        xp, n, p = self.xp, self.n_samples, self.n_features_x
        sx, sy = self.sums[:p], self.sums[p:]
        mean = self.mean
        cxy = self.xy - xp.matmul(sx[:, None], sy[None, :]) / n
        if self.products == "cross":
            _check_finite(xp, cxy)
            return mean[:p], mean[p:], None, None, cxy
        cxx = self.xx - xp.matmul(sx[:, None], sx[None, :]) / n
        cyy = self.yy - xp.matmul(sy[:, None], sy[None, :]) / n
        _check_finite(xp, cxx, cyy, cxy)
        return mean[:p], mean[p:], 0.5 * (cxx + cxx.T), 0.5 * (cyy + cyy.T), cxy

    @property
    def squares(self):
        """Per-unit centred sums of squares of ``[X, Y]``."""
        self._check_samples()
        xp = self.xp
        if self.products == "cross":
            raw = self.squares_raw
        else:
            raw = xp.concat([xp.linalg.diagonal(self.xx), xp.linalg.diagonal(self.yy)])
        return xp.clip(raw - self.sums * self.sums / self.n_samples, 0.0, None)

    @property
    def constant(self):
        """Constant (dead) units of ``[X, Y]``, as a NumPy bool array (host)."""
        xp = self.xp
        constant = _constant(xp, self.mean, self.squares / self.n_samples)
        if self.track_range:
            constant = constant | (self.minimum == self.maximum)
        return to_numpy(constant).astype(bool)

    def offset_energies(self):
        """``2 n ||mean - shift||^2`` per view: digits the final centring may cost."""
        xp, n, p = self.xp, self.n_samples, self.n_features_x
        offset = self.sums / n
        return (
            2.0 * n * float(xp.sum(offset[:p] * offset[:p])),
            2.0 * n * float(xp.sum(offset[p:] * offset[p:])),
        )

    def to_moments(self, template):
        """Fold these totals into a host :class:`Moments` shaped like ``template``.

        Parameters
        ----------
        template : Moments
            An empty or filled two-view host accumulator (``products`` and
            ``track_range`` are read from it); it is updated in place, as
            :meth:`Moments.merge` would with a host accumulator of these rows.

        Returns
        -------
        template : Moments
        """
        if not isinstance(template, Moments) or not template.two_views:
            raise TypeError("to_moments needs a two-view skrep Moments accumulator.")
        if (template.n_features_x, template.n_features_y) != (
            self.n_features_x,
            self.n_features_y,
        ):
            raise ValueError("The accumulators hold different units.")
        if self.n_samples == 0:
            return template
        mean_x, mean_y, cxx, cyy, cxy = (
            None if a is None else to_numpy(a).astype(np.float64)
            for a in self.covariances()
        )
        mean = np.concatenate([mean_x, mean_y])
        part = Moments(
            self.n_features_x,
            self.n_features_y,
            products=template.products,
            track_range=template.track_range,
        )
        if template.products == "all":
            if cxx is None:
                raise ValueError("products='all' needs the full co-moment.")
            comoment = np.block([[cxx, cxy], [cxy.T, cyy]])
            squares = None
        else:
            comoment = cxy
            squares = to_numpy(self.squares).astype(np.float64)
        part._combine(self.n_samples, mean, comoment, squares)
        if template.track_range:
            if self.minimum is None:
                raise ValueError("track_range needs the accumulated ranges.")
            part.minimum = to_numpy(self.minimum).astype(np.float64)
            part.maximum = to_numpy(self.maximum).astype(np.float64)
        return template.merge(part)


# --------------------------------------------------------------------------
# CCA
# --------------------------------------------------------------------------


def _spectrum_from_covariance(xp, cxx):
    eigenvalues, eigenvectors = xp.linalg.eigh(cxx)
    eigenvalues = xp.flip(eigenvalues, axis=0)
    return xp.sqrt(xp.clip(eigenvalues, 0.0, None)), xp.flip(eigenvectors, axis=1)


def flip_signs_xp(xp, loadings, columns=(), rows=()):
    """:func:`~skrep._core.spectral.flip_signs` in the namespace."""
    if loadings.shape[0] == 0:
        return loadings, list(columns), list(rows)
    top = xp.argmax(xp.abs(loadings), axis=1)
    picked = xp.take_along_axis(loadings, top[:, None], axis=1)[:, 0]
    signs = 1.0 - 2.0 * xp.astype(picked < 0, loadings.dtype)
    return (
        loadings * signs[:, None],
        [c * signs for c in columns],
        [r * signs[:, None] for r in rows],
    )


def _pairs_from_cross(xp, cross, x_basis, y_basis, n_samples, n_components):
    """SVD of the whitened cross-product (see the NumPy ``_pairs_from_cross``)."""
    a, rho, bt = xp.linalg.svd(cross, full_matrices=False)
    n_pairs = rho.shape[0] if n_components is None else min(n_components, rho.shape[0])
    scale = math.sqrt(n_samples)
    rotations, loadings = [], []
    for (s, v, k), pairs in (
        (x_basis, a[:, :n_pairs]),
        (y_basis, bt[:n_pairs, :].T),
    ):
        rotations.append(xp.matmul(v[:, :k] / s[:k], pairs) * scale)
        loadings.append(xp.matmul(pairs.T * s[:k], v[:, :k].T))
    x_load, (x_rot, y_rot), (y_load,) = flip_signs_xp(
        xp, loadings[0], columns=rotations, rows=(loadings[1],)
    )
    return xp.clip(rho[:n_pairs], 0.0, 1.0), x_rot, x_load, y_rot, y_load


def cca_from_covariances_xp(xp, mean_x, mean_y, cxx, cyy, cxy, n_samples, *,
                            x_components=None, y_components=None,
                            n_components=None, rank_tol=1e-6):  # fmt: skip
    """(SV)CCA from means and centred cross-products, in the namespace.

    Parameters
    ----------
    xp : namespace
    mean_x, mean_y, cxx, cyy, cxy : array
        As :func:`skrep._core.cca.cca_from_covariances` takes them.
    n_samples : int
    x_components, y_components, n_components, rank_tol
        As in :func:`skrep._core.cca.fit_cca`.

    Returns
    -------
    result : CCAResult
        Arrays in the namespace; ``route="moments"``.
    """
    device = cxx.device
    sx, vx = _spectrum_from_covariance(xp, cxx)
    sy, vy = _spectrum_from_covariance(xp, cyy)
    sx_host, sy_host = to_numpy(sx).copy(), to_numpy(sy).copy()
    rx, ry, kx, ky = _ranks_and_kept(
        sx_host, sy_host, rank_tol, x_components, y_components
    )
    sx = xp.asarray(sx_host, dtype=sx.dtype, device=device)
    sy = xp.asarray(sy_host, dtype=sy.dtype, device=device)
    wx, wy = vx[:, :kx] / sx[:kx], vy[:, :ky] / sy[:ky]
    cross = xp.matmul(xp.matmul(wx.T, cxy), wy)
    rho, x_rot, x_load, y_rot, y_load = _pairs_from_cross(
        xp, cross, (sx, vx, kx), (sy, vy, ky), n_samples, n_components
    )
    return CCAResult(
        mean_x, mean_y, x_rot, y_rot, rho, sx, sy, x_load, y_load, rx, ry, kx, ky,
        n_samples, "moments",
    )  # fmt: skip


def _cca_from_data(xp, X, Y, dtype, params):
    device = X.device
    mean_x = xp.mean(xp.astype(X, dtype), axis=0)
    mean_y = xp.mean(xp.astype(Y, dtype), axis=0)
    _check_finite(xp, mean_x, mean_y)
    ux, sx, vxt = xp.linalg.svd(xp.astype(X, dtype) - mean_x, full_matrices=False)
    uy, sy, vyt = xp.linalg.svd(xp.astype(Y, dtype) - mean_y, full_matrices=False)
    sx_host, sy_host = to_numpy(sx).copy(), to_numpy(sy).copy()
    rx, ry, kx, ky = _ranks_and_kept(
        sx_host, sy_host, params["rank_tol"], params["x_components"],
        params["y_components"],
    )  # fmt: skip
    # Singular values of rank-deficient wide data: pad to n_features.
    sx_host = np.concatenate([sx_host, np.zeros(X.shape[1] - sx_host.size)])
    sy_host = np.concatenate([sy_host, np.zeros(Y.shape[1] - sy_host.size)])
    sx = xp.asarray(sx_host, dtype=dtype, device=device)
    sy = xp.asarray(sy_host, dtype=dtype, device=device)
    rho, x_rot, x_load, y_rot, y_load = _pairs_from_cross(
        xp,
        xp.matmul(ux[:, :kx].T, uy[:, :ky]),
        (sx, vxt.T, kx),
        (sy, vyt.T, ky),
        X.shape[0],
        params["n_components"],
    )
    return CCAResult(
        mean_x, mean_y, x_rot, y_rot, rho, sx, sy, x_load, y_load, rx, ry, kx, ky,
        X.shape[0], "svd",
    )  # fmt: skip


def _imprecise(result, x_offset_energy=0.0, y_offset_energy=0.0):
    """:func:`skrep._core.cca.needs_accurate_route` on host copies."""
    for s, k, offset in (
        (result.x_singular_values, result.x_n_directions, x_offset_energy),
        (result.y_singular_values, result.y_n_directions, y_offset_energy),
    ):
        s = to_numpy(s)
        if s[k - 1] ** 2 < MOMENTS_MIN_RATIO**2 * (s[0] ** 2 + offset):
            return True
    return False


def fit_cca_xp(xp, X, Y, *, x_components=None, y_components=None,
               n_components=None, rank_tol=1e-6, algorithm="auto"):  # fmt: skip
    """Canonical correlation analysis of namespace arrays, on their device.

    The route policy of :func:`skrep._core.cca.fit_cca`: "svd" (or "auto"
    with fewer samples than units) decomposes the centred data; otherwise
    the products of blocks centred first (:class:`XpMoments`), with "auto"
    falling back to the data when a kept direction is too weak for them.

    Parameters
    ----------
    xp : namespace
    X, Y : array of shape (n_samples, n_features_x), (n_samples, n_features_y)
    x_components, y_components, n_components, rank_tol, algorithm
        As in :func:`skrep._core.cca.fit_cca`.

    Returns
    -------
    result : CCAResult
        Arrays in the namespace, on the device of X.
    moments : XpMoments or None
        The accumulated moments when the moments route ran.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_strict as xp
    >>> from skrep._core.xp import fit_cca_xp
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 4)
    >>> result, _ = fit_cca_xp(xp, xp.asarray(X), xp.asarray(X @ rng.randn(4, 4)))
    >>> np.round(np.asarray(result.correlations), 6)
    array([1., 1., 1., 1.])
    """
    if algorithm not in ("auto", "moments", "svd"):
        raise ValueError(f"Unknown algorithm {algorithm!r}.")
    params = {
        "x_components": x_components,
        "y_components": y_components,
        "n_components": n_components,
        "rank_tol": rank_tol,
    }
    n, p = X.shape
    q = Y.shape[1]
    dtype = wide_float(xp, X.device)
    if algorithm == "svd" or (algorithm == "auto" and n < max(p, q)):
        return _cca_from_data(xp, X, Y, dtype, params), None
    moments = XpMoments(p, q, xp=xp, device=X.device).update(X, Y)
    result = cca_from_covariances_xp(xp, *moments.covariances(), n, **params)
    if algorithm == "auto":
        x_offset, y_offset = moments.offset_energies()
        if _imprecise(result, x_offset, y_offset):
            return _cca_from_data(xp, X, Y, dtype, params), moments
    return result, moments


# --------------------------------------------------------------------------
# Correlations and least squares
# --------------------------------------------------------------------------


def column_stats_xp(xp, X):
    """Per-unit mean, ddof=0 standard deviation and deadness, in the namespace.

    Returns
    -------
    mean, std : array (float64 where the device has it)
    constant : array of bool
    """
    dtype = wide_float(xp, X.device)
    mean = xp.mean(xp.astype(X, dtype), axis=0)
    squares = xp.zeros(mean.shape, dtype=dtype, device=X.device)
    step = _block_rows(X.shape[1])
    for start in range(0, X.shape[0], step):
        block = xp.astype(X[start : min(start + step, X.shape[0]), ...], dtype) - mean
        squares = squares + xp.sum(block * block, axis=0)
    _check_finite(xp, squares)
    variance = squares / X.shape[0]
    return mean, xp.sqrt(variance), _constant(xp, mean, variance)


def column_correlations_xp(xp, U, V):
    """Pearson correlation of each column of U with the same column of V.

    The namespace version of
    :func:`skrep._core.correlation.column_correlations`: 0 where either
    column is constant (dead).

    Returns
    -------
    correlations : array
    constant : ndarray of bool (host)
    """
    mean_u, std_u, constant_u = column_stats_xp(xp, U)
    mean_v, std_v, constant_v = column_stats_xp(xp, V)
    constant = constant_u | constant_v
    dtype = mean_u.dtype
    cross = xp.zeros(mean_u.shape, dtype=dtype, device=U.device)
    step = _block_rows(2 * U.shape[1])
    for start in range(0, U.shape[0], step):
        ub = xp.astype(U[start : min(start + step, U.shape[0]), ...], dtype) - mean_u
        vb = xp.astype(V[start : min(start + step, V.shape[0]), ...], dtype) - mean_v
        cross = cross + xp.sum(ub * vb, axis=0)
    _check_finite(xp, cross)
    denominator = U.shape[0] * std_u * std_v
    safe = xp.where(constant, 1.0, denominator)
    corr = xp.where(constant, 0.0, cross / safe)
    return xp.clip(corr, -1.0, 1.0), to_numpy(constant).astype(bool)


def least_squares_xp(xp, gram, xy, rank_tol):
    """Minimum-norm least squares from the moments, in the namespace.

    An eigendecomposition of the Gram of the inputs with a non-zero
    diagonal, directions below ``rank_tol`` (the one rank rule, on
    singular values) being null: the solution of
    :func:`skrep._core.lasso.least_squares` (which takes a Cholesky shortcut
    when the Gram is well conditioned, equal to round-off).
    """
    inputs = to_numpy(xp.linalg.diagonal(gram) > 0).astype(bool)
    W = xp.zeros(xy.shape, dtype=xy.dtype, device=xy.device)
    if not inputs.any():
        return W
    index = xp.asarray(np.flatnonzero(inputs), device=xy.device)
    G = xp.take(xp.take(gram, index, axis=0), index, axis=1)
    eigenvalues, eigenvectors = xp.linalg.eigh(G)
    singular = np.sqrt(np.clip(to_numpy(eigenvalues), 0.0, None))
    keep = ~null_mask(singular[::-1], rank_tol)[::-1]
    kept = xp.asarray(np.flatnonzero(keep), device=xy.device)
    basis = xp.take(eigenvectors, kept, axis=1)
    values = xp.take(eigenvalues, kept, axis=0)
    solution = xp.matmul(
        basis, xp.matmul(basis.T, xp.take(xy, index, axis=0)) / values[:, None]
    )
    # Scatter the rows of the solution back among all the inputs.
    rows = np.full(inputs.size, -1)
    rows[inputs] = np.arange(int(inputs.sum()))
    pick = xp.asarray(np.where(rows < 0, 0, rows), device=xy.device)
    mask = xp.asarray(inputs, device=xy.device)
    return xp.where(mask[:, None], xp.take(solution, pick, axis=0), W)


@dataclass
class XpProblem:
    """The standardised prediction problem, in the namespace (see ``lasso``)."""

    x_mean: object
    x_scale: object
    x_constant: object
    y_mean: object
    y_scale: object
    y_constant: object
    gram: object
    xy: object
    yy: object
    n_samples: int

    @property
    def x_factor(self):
        """Multipliers that standardise X: 1 / scale, 0 for constant units."""
        return _factor(self._xp, self.x_scale, self.x_constant)


def _factor(xp, scale, constant):
    return xp.where(constant, 0.0, 1.0 / scale)


def problem_from_xp_moments(moments):
    """Standardise both views from :class:`XpMoments` (``track_range=True``).

    The namespace version of :func:`skrep._core.lasso.problem_from_moments`.
    """
    xp, n, p = moments.xp, moments.n_samples, moments.n_features_x
    mean_x, mean_y, cxx, _, cxy = moments.covariances()
    squares = moments.squares
    variance = squares / n
    constant = xp.asarray(moments.constant, device=moments.device)
    scale = xp.where(constant, 1.0, xp.sqrt(variance))
    exact = moments.minimum[p:] == moments.maximum[p:]
    mean_y = xp.where(exact, moments.minimum[p:], mean_y)
    x_factor = _factor(xp, scale[:p], constant[:p])
    y_factor = _factor(xp, scale[p:], constant[p:])
    gram = (cxx * x_factor[:, None] * x_factor) / n
    gram = 0.5 * (gram + gram.T)
    xy = (cxy * x_factor[:, None] * y_factor) / n
    yy = squares[p:] * y_factor**2 / n
    problem = XpProblem(
        mean_x, scale[:p], constant[:p], mean_y, scale[p:], constant[p:],
        gram, xy, yy, n,
    )  # fmt: skip
    problem._xp = xp
    return problem


def unit_losses_xp(xp, gram, xy, yy, W):
    """Half the mean squared standardised error per Y unit, from the moments."""
    fitted = xp.sum(W * xp.matmul(gram, W), axis=0)
    cross = xp.sum(W * xy, axis=0)
    return xp.clip(0.5 * (yy - 2.0 * cross + fitted), 0.0, None)


class ConstantFlags:
    """Host flags of the constant units of ``[X, Y]``, computed on first use.

    Stands in for a :class:`~skrep._core.moments.Moments` where only its
    ``constant`` is read (the dead-unit warnings), at the cost of one pass
    over the rows, and only when a warning needs it.
    """

    def __init__(self, xp, X, Y):
        self._views = (xp, X, Y)

    @property
    def constant(self):
        """Constant (dead) units of ``[X, Y]`` (NumPy bool array)."""
        xp, X, Y = self._views
        return np.concatenate(
            [to_numpy(column_stats_xp(xp, V)[2]).astype(bool) for V in (X, Y)]
        )
