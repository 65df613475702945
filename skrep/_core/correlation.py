"""Per-unit statistics and Pearson correlations, dead units included.

Every function here decides deadness with the one rule,
:func:`~skrep._core.moments.constant_units`, and gives constant units a
correlation of 0 (never NaN).
"""

from __future__ import annotations

import numpy as np

from skrep._core.backend import block_rows
from skrep._core.moments import Moments, check_finite_products, constant_units

__all__ = [
    "SAFE_EXPONENT",
    "column_correlations",
    "correlation_from_moments",
    "correlation_matrix",
    "into_safe_range",
    "unit_stats",
]

#: Columns whose largest magnitude lies outside ``[2**-SAFE_EXPONENT,
#: 2**SAFE_EXPONENT]`` have squares that overflow or underflow float64.
SAFE_EXPONENT = 400


def into_safe_range(V):
    """V, or a copy with each column scaled by a power of two into range.

    Only columns whose largest magnitude is beyond ``2**±SAFE_EXPONENT``
    force the copy; every column of it is then scaled to a largest magnitude
    in [0.5, 1). Scaling by a power of two is exact, so correlations, the
    constant-unit rule and ranks are unchanged, and an underflowed variance
    no longer makes a varying unit look constant. Measures that are
    scale-free per unit (rank-based ones, counts of dead units) use it.

    Parameters
    ----------
    V : ndarray of shape (n_samples, n_units)

    Returns
    -------
    V : ndarray of shape (n_samples, n_units)
        The input itself when every column is in range.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.correlation import into_safe_range, unit_stats
    >>> V = np.array([[1e-200], [2e-200], [3e-200]])
    >>> unit_stats(V)[2].tolist(), unit_stats(into_safe_range(V))[2].tolist()
    ([True], [False])
    """
    if V.size == 0:
        return V
    largest = np.maximum(V.max(axis=0), -V.min(axis=0))
    exponent = np.frexp(largest)[1]
    in_range = (np.abs(exponent) <= SAFE_EXPONENT) | (largest == 0)
    if np.all(in_range):
        return V
    return np.ldexp(V, -exponent)


def unit_stats(X):
    """Per-unit mean, standard deviation (ddof=0) and deadness.

    Two passes over blocks of rows (the mean, then the centred squares), in
    float64.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    mean : ndarray of shape (n_features,)
    std : ndarray of shape (n_features,)
    constant : ndarray of bool, shape (n_features,)
        By :func:`~skrep._core.moments.constant_units`, or exactly constant.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.correlation import unit_stats
    >>> X = np.array([[1.0, 5.0], [3.0, 5.0]])
    >>> mean, std, constant = unit_stats(X)
    >>> mean.tolist(), std.tolist(), constant.tolist()
    ([2.0, 5.0], [1.0, 0.0], [False, True])
    """
    mean = X.mean(axis=0, dtype=np.float64)
    squares = np.zeros(X.shape[1])
    step = block_rows(X.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, X.shape[0], step):
            block = np.subtract(X[start : start + step], mean, dtype=np.float64)
            squares += np.einsum("ij,ij->j", block, block)
    check_finite_products(squares)
    variance = squares / X.shape[0]
    return mean, np.sqrt(variance), constant_units(mean, variance)


def column_correlations(U, V):
    """Pearson correlation of each column of U with the same column of V.

    Parameters
    ----------
    U, V : ndarray of shape (n_samples, k)

    Returns
    -------
    correlations : ndarray of shape (k,)
        0 where either column is constant.
    constant : ndarray of bool, shape (k,)
        Pairs in which a column is constant (dead).

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.correlation import column_correlations
    >>> U = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    >>> corr, constant = column_correlations(U, -U)
    >>> corr.tolist(), constant.tolist()
    ([-1.0, 0.0], [False, True])
    """
    mean_u, std_u, constant_u = unit_stats(U)
    mean_v, std_v, constant_v = unit_stats(V)
    constant = constant_u | constant_v
    cross = np.zeros(U.shape[1])
    step = block_rows(2 * U.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, U.shape[0], step):
            ub = np.subtract(U[start : start + step], mean_u, dtype=np.float64)
            vb = np.subtract(V[start : start + step], mean_v, dtype=np.float64)
            cross += np.einsum("ij,ij->j", ub, vb)
    check_finite_products(cross)
    corr = np.zeros(U.shape[1])
    ok = ~constant
    corr[ok] = cross[ok] / (U.shape[0] * std_u[ok] * std_v[ok])
    return np.clip(corr, -1.0, 1.0), constant


def correlation_from_moments(moments):
    """Correlation of every X unit with every Y unit from two-view moments.

    Parameters
    ----------
    moments : Moments
        Two views, either ``products``.

    Returns
    -------
    correlation : ndarray of shape (n_features_x, n_features_y)
    x_constant : ndarray of bool, shape (n_features_x,)
    y_constant : ndarray of bool, shape (n_features_y,)
    """
    p = moments.n_features_x
    cxy = moments.covariances()[4]
    norms = np.sqrt(moments.squares)
    constant = moments.constant
    norms[constant] = 1.0
    corr = cxy / np.outer(norms[:p], norms[p:])
    corr[constant[:p], :] = 0.0
    corr[:, constant[p:]] = 0.0
    return np.clip(corr, -1.0, 1.0), constant[:p], constant[p:]


def correlation_matrix(X, Y):
    """Pearson correlation of every unit of X with every unit of Y.

    One blocked pass of :class:`~skrep._core.moments.Moments` (cross
    products only), then a normalisation. Constant (dead) units get
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
    >>> from skrep._core.correlation import correlation_matrix
    >>> X = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    >>> corr, x_dead, _ = correlation_matrix(X, -2 * X[:, :1])
    >>> corr.ravel().tolist(), x_dead.tolist()
    ([-1.0, 0.0], [False, True])
    """
    moments = Moments(X.shape[1], Y.shape[1], products="cross").update(X, Y)
    return correlation_from_moments(moments)
