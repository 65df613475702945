"""Spectra of one view, the one rank rule, SVD truncation and sign conventions."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.linalg

__all__ = [
    "flip_signs",
    "n_directions_to_keep",
    "RANK_TOL_FLOOR",
    "null_mask",
    "singular_values_from_covariance",
    "spectrum_from_covariance",
    "spectrum_from_data",
]


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
    # numpy.linalg (LAPACK syevd, like scipy's driver="evd") releases the
    # GIL, so the two views can be decomposed on two threads.
    eigenvalues, eigenvectors = np.linalg.eigh(cxx)
    order = np.argsort(eigenvalues)[::-1]
    singular_values = np.sqrt(np.clip(eigenvalues[order], 0.0, None))
    return singular_values, eigenvectors[:, order]


def singular_values_from_covariance(cxx):
    """Singular values of Xc from ``Xc.T @ Xc``, without the directions.

    About a third of the cost of :func:`spectrum_from_covariance` (the
    tridiagonal reduction alone, no back-transformation).

    Parameters
    ----------
    cxx : ndarray of shape (n_features, n_features)
        Centred cross-product matrix of one view.

    Returns
    -------
    singular_values : ndarray of shape (n_features,)
        Singular values of the centred data, in decreasing order.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.spectral import singular_values_from_covariance
    >>> singular_values_from_covariance(np.diag([1.0, 9.0, 4.0]))
    array([3., 2., 1.])
    """
    eigenvalues = np.linalg.eigvalsh(cxx)
    return np.sqrt(np.clip(eigenvalues[::-1], 0.0, None))


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


#: The least relative tolerance the rank rule applies, whatever ``rank_tol``
#: asks (0 included). A duplicate unit leaves a singular value of about
#: 1e-16 to 1e-14 of the largest in an SVD of the centred data (measured up
#: to a million rows), and of about 1e-8 (the square root of round-off) in
#: the eigendecomposition of its cross-products; centring data whose mean is
#: 1e6 times their spread leaves about 1e-10. Below this floor a direction
#: is round-off on some route, and counting it as signal would make the
#: routes disagree, or divide by zero when whitening: it is null, as
#: :func:`numpy.linalg.matrix_rank` treats values below its own floor.
RANK_TOL_FLOOR = 1e-10


def null_mask(singular_values, rank_tol):
    """Apply the one rank rule: which directions are null.

    A direction is null (it comes from constant, dead, duplicate or exactly
    collinear units, or lies beyond what the samples span) when its singular
    value is below ``max(rank_tol, RANK_TOL_FLOOR)`` times the largest, or
    the largest is 0 (see :data:`RANK_TOL_FLOOR`).

    Parameters
    ----------
    singular_values : ndarray
        Decreasing singular values of a centred view.
    rank_tol : float
        Relative tolerance.

    Returns
    -------
    mask : ndarray of bool
        True for the null directions.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.spectral import null_mask
    >>> null_mask(np.array([2.0, 1.0, 1e-9]), 1e-6)
    array([False, False,  True])
    >>> null_mask(np.array([2.0, 1e-9, 1e-15]), 0.0)  # the floor still holds
    array([False, False,  True])
    """
    top = singular_values[0] if singular_values.size else 0.0
    if top <= 0.0:
        return np.ones(singular_values.shape, dtype=bool)
    return singular_values < max(rank_tol, RANK_TOL_FLOOR) * top


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
        None: keep every non-null direction. A bool is refused.

    Returns
    -------
    k : int
        Number of directions kept, ``1 <= k <= rank`` when ``rank >= 1``.
    """
    if isinstance(svd_components, bool):
        raise TypeError(
            f"svd_components must be an int, a float or None, got {svd_components!r}."
        )
    if rank == 0:
        return 0
    if svd_components is None:
        return rank
    if isinstance(svd_components, Integral):
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


def flip_signs(loadings, *, columns=(), rows=(), copy=True):
    """Deterministic signs for paired directions, like scikit-learn's ``svd_flip``.

    Row i of ``loadings`` (one canonical direction's inner products with
    each unit) is made to have its largest-magnitude entry positive; the
    same sign is applied to column i of each array in ``columns`` and to
    row i of each array in ``rows``, so pairs stay paired and correlations
    stay positive. The rule depends only on the direction itself, not on
    the route that computed it, so every route gives the same ``transform``.

    Parameters
    ----------
    loadings : ndarray of shape (n_pairs, n_units)
        Decides the signs.
    columns : tuple of ndarray of shape (n, n_pairs), default=()
        Arrays whose columns are directions (rotations).
    rows : tuple of ndarray of shape (n_pairs, m), default=()
        Arrays whose rows are directions (other loadings).
    copy : bool, default=True
        False flips every array in place (they must be writeable) and
        returns them, which saves allocating units x units arrays anew.

    Returns
    -------
    loadings : ndarray
        Flipped (a new array unless ``copy`` is False).
    columns : list of ndarray
    rows : list of ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.spectral import flip_signs
    >>> rotation = np.ones((3, 1))
    >>> load, (rot,), _ = flip_signs(np.array([[0.5, -2.0]]), columns=(rotation,))
    >>> load.tolist(), rot.ravel().tolist()
    ([[-0.5, 2.0]], [-1.0, -1.0, -1.0])
    """
    n_pairs = loadings.shape[0]
    if n_pairs == 0:
        if not copy:
            return loadings, list(columns), list(rows)
        return loadings.copy(), [c.copy() for c in columns], [r.copy() for r in rows]
    top = np.argmax(np.abs(loadings), axis=1)
    signs = np.sign(loadings[np.arange(n_pairs), top])
    signs[signs == 0] = 1.0
    if not copy:
        loadings *= signs[:, None]
        for c in columns:
            c *= signs
        for r in rows:
            r *= signs[:, None]
        return loadings, list(columns), list(rows)
    return (
        loadings * signs[:, None],
        [c * signs for c in columns],
        [r * signs[:, None] for r in rows],
    )
