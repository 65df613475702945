r"""The generalised shape metric (Williams et al. 2021) from moments.

Each view is centred and *partially whitened*, then the two are compared
after the best orthogonal alignment. With :math:`X_c` the centred view
(:math:`n` rows), :math:`C = X_c^T X_c / n = V \Lambda V^T` its covariance
restricted to its :math:`r` non-null directions (the one rank rule,
:func:`~skrep._core.spectral.null_mask`), :math:`\sigma_i = \sqrt{\lambda_i}`
and :math:`\bar\sigma^2 = \frac1r \sum_i \sigma_i^2` the mean variance,

.. math::

    \phi_\alpha(X) = X_c W, \qquad
    W = V \,\mathrm{diag}\!\left(\frac{\alpha}{\bar\sigma}
        + \frac{1 - \alpha}{\sigma_i}\right) V^T ,

the convex combination of the view scaled to unit mean variance
(:math:`\alpha = 1`) and the whitened view (:math:`\alpha = 0`), two
matrices of equal Frobenius norm :math:`\sqrt{n r}`. The similarity is the
cosine of the angle between the aligned views,

.. math::

    \cos\theta = \max_{Q} \frac{\langle \phi(X) Q, \phi(Y) \rangle_F}
        {\|\phi(X)\|_F \, \|\phi(Y)\|_F}
      = \frac{\|\phi(X)^T \phi(Y)\|_*}{\|\phi(X)\|_F \, \|\phi(Y)\|_F},

with :math:`Q` orthogonal (the narrower view zero-padded: the nuclear norm
of the rectangular cross-product is the padded problem's optimum, so no
padding is ever formed) and :math:`\|\cdot\|_*` the sum of singular values.
The maximiser restricted to the views' spans is the polar factor
:math:`Q = V_x A B^T V_y^T` of :math:`\phi(X)^T \phi(Y) = V_x (A S B^T)
V_y^T`, unique when the cross-product has full rank.

Everything comes from the means and the cross-products ``X^T X``, ``Y^T Y``,
``X^T Y`` (:class:`~skrep._core.moments.Moments`, so it streams exactly) and
``d x d`` decompositions: an ``eigh`` per view and one SVD. The moments
route squares the condition number; where that could cost digits (see
:func:`needs_accurate_route`), :func:`fit_shape_metric` takes the SVD of the
centred data instead, as the CCA core does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from skrep._core.backend import decomposition_threads
from skrep._core.cca import MOMENTS_MIN_RATIO
from skrep._core.moments import check_finite_products, fit_by_route
from skrep._core.spectral import (
    null_mask,
    spectrum_from_covariance,
    spectrum_from_data,
)

__all__ = [
    "ShapeResult",
    "fit_shape_metric",
    "needs_accurate_route",
    "partial_whitening",
    "shape_from_covariances",
    "shape_from_moments",
]


@dataclass
class ShapeResult:
    r"""What a shape-metric fit learns.

    ``(X - x_mean) @ x_whitening`` is :math:`\phi(X)` in X's unit space,
    ``(Y - y_mean) @ y_whitening`` is :math:`\phi(Y)`; ``alignment`` (of
    shape ``(n_units_x, n_units_y)``) maps :math:`\phi(X)` onto
    :math:`\phi(Y)`. ``similarity`` is :math:`\cos\theta` on the fitted
    data and ``alignment_singular_values`` the singular values of
    :math:`\phi(X)^T \phi(Y)` divided by the two norms (they sum to
    ``similarity``).
    """

    x_mean: np.ndarray
    y_mean: np.ndarray
    x_whitening: np.ndarray
    y_whitening: np.ndarray
    alignment: np.ndarray
    similarity: float
    alignment_singular_values: np.ndarray
    x_singular_values: np.ndarray
    y_singular_values: np.ndarray
    x_rank: int
    y_rank: int
    x_scale: float
    y_scale: float
    n_samples: int
    route: str


def partial_whitening(singular_values, n_samples, alpha, rank_tol, name="X"):
    """Weights of the partial whitening along each non-null direction.

    Parameters
    ----------
    singular_values : ndarray of shape (k,)
        Decreasing singular values of the centred view. Null ones (by
        :func:`~skrep._core.spectral.null_mask`) are set to exactly 0, in
        place.
    n_samples : int
        Rows behind them.
    alpha : float in [0, 1]
        1: no whitening; 0: full whitening.
    rank_tol : float
        Relative singular-value tolerance of the rank rule.
    name : str, default="X"
        The view's name, for the error message.

    Returns
    -------
    weights : ndarray of shape (rank,)
        ``alpha / scale + (1 - alpha) / sigma_i`` with ``sigma_i`` the
        standard deviation (``1/n``) along direction i.
    rank : int
        Number of non-null directions.
    scale : float
        Root mean variance over the non-null directions.

    Raises
    ------
    ValueError
        If every direction is null (every unit is constant).

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.procrustes import partial_whitening
    >>> s = np.array([4.0, 2.0, 0.0])  # singular values of a centred view
    >>> weights, rank, scale = partial_whitening(s, 4, 0.0, 1e-6)
    >>> weights.tolist(), rank  # whitened: each direction to unit variance
    ([0.5, 1.0], 2)
    """
    null = null_mask(singular_values, rank_tol)
    singular_values[null] = 0.0
    rank = int(np.count_nonzero(~null))
    if rank == 0:
        raise ValueError(
            f"Every unit of {name} is constant (dead): there is no direction to "
            "compare."
        )
    sigma = singular_values[:rank] / np.sqrt(n_samples)
    scale = float(np.sqrt(np.mean(sigma**2)))
    weights = alpha / scale + (1.0 - alpha) / sigma
    return weights, rank, scale


def _align(cross, x_directions, y_directions, x_norm, y_norm):
    """Polar factor of the whitened cross-product, in unit space, and the cosine."""
    a, singular_values, bt = scipy.linalg.svd(
        cross, full_matrices=False, check_finite=False
    )
    alignment = (x_directions @ a) @ (bt @ y_directions.T)
    normalised = singular_values / (x_norm * y_norm)
    similarity = float(np.clip(normalised.sum(), 0.0, 1.0))
    return alignment, normalised, similarity


def _result(means, spectra, directions, weights, ranks, scales, cross, n, route):
    (mean_x, mean_y), (sx, sy), (vx, vy) = means, spectra, directions
    (wx, wy), (rx, ry) = weights, ranks
    x_dirs, y_dirs = vx[:, :rx], vy[:, :ry]
    x_norm = float(np.sqrt(np.sum((sx[:rx] * wx) ** 2)))
    y_norm = float(np.sqrt(np.sum((sy[:ry] * wy) ** 2)))
    alignment, normalised, similarity = _align(cross, x_dirs, y_dirs, x_norm, y_norm)
    return ShapeResult(
        x_mean=mean_x,
        y_mean=mean_y,
        x_whitening=(x_dirs * wx) @ x_dirs.T,
        y_whitening=(y_dirs * wy) @ y_dirs.T,
        alignment=alignment,
        similarity=similarity,
        alignment_singular_values=normalised,
        x_singular_values=sx,
        y_singular_values=sy,
        x_rank=rx,
        y_rank=ry,
        x_scale=scales[0],
        y_scale=scales[1],
        n_samples=n,
        route=route,
    )


def shape_from_covariances(
    mean_x, mean_y, cxx, cyy, cxy, n_samples, *, alpha=1.0, rank_tol=1e-6
):
    """Compute the shape metric from means and centred cross-products.

    Parameters
    ----------
    mean_x, mean_y : ndarray
        Per-unit means.
    cxx, cyy, cxy : ndarray
        ``Xc^T Xc``, ``Yc^T Yc``, ``Xc^T Yc`` (not divided by n).
    n_samples : int
        Rows behind the products.
    alpha : float in [0, 1], default=1.0
        1: orthogonal Procrustes; 0: CCA; in between, partial whitening.
    rank_tol : float, default=1e-6
        Relative singular-value tolerance for null directions.

    Returns
    -------
    result : ShapeResult
        With ``route="moments"``.
    """
    with decomposition_threads(max(cxx.shape[0], cyy.shape[0])):
        sx, vx = spectrum_from_covariance(cxx)
        sy, vy = spectrum_from_covariance(cyy)
        wx, rx, scale_x = partial_whitening(sx, n_samples, alpha, rank_tol, "X")
        wy, ry, scale_y = partial_whitening(sy, n_samples, alpha, rank_tol, "Y")
        # the whitened cross-product in the eigenbases: W_x^T cxy W_y
        cross = (vx[:, :rx].T @ cxy @ vy[:, :ry]) * wx[:, None] * wy
        return _result(
            (mean_x, mean_y), (sx, sy), (vx, vy), (wx, wy), (rx, ry),
            (scale_x, scale_y), cross, n_samples, "moments",
        )  # fmt: skip


def shape_from_moments(moments, **params):
    """Compute the shape metric from accumulated :class:`~skrep._core.moments.Moments`.

    Parameters
    ----------
    moments : Moments
        Two-view moments with ``products="all"``.
    **params
        ``alpha`` and ``rank_tol``, as in :func:`shape_from_covariances`.

    Returns
    -------
    result : ShapeResult
        With ``route="moments"``; precise while :func:`needs_accurate_route`
        is False.
    """
    return shape_from_covariances(*moments.covariances(), moments.n_samples, **params)


def needs_accurate_route(result, alpha, *, x_offset_energy=0.0, y_offset_energy=0.0):
    """Whether a moments-route result may have lost digits that matter.

    The cross-products carry an absolute error of about
    ``eps * (s_max**2 + offset)`` (``offset`` being the energy subtracted
    after the products, ``2 n ||mean||**2`` when the means are removed
    afterwards); a direction of singular value ``s`` then has a relative
    error of about that over ``s**2``. With ``alpha < 1`` every non-null
    direction is whitened towards unit variance and weighs in, so the
    smallest one decides; with ``alpha = 1`` each direction weighs in with
    its own variance, so only the largest does. The result is kept while
    that ratio stays below ``1 / MOMENTS_MIN_RATIO**2``.

    Parameters
    ----------
    result : ShapeResult
        A moments-route result.
    alpha : float
        The whitening parameter it was computed with.
    x_offset_energy, y_offset_energy : float, default=0.0
        Energy removed after the products, per view.

    Returns
    -------
    bool
        True when the result should be recomputed from the data.
    """
    for s, rank, offset in (
        (result.x_singular_values, result.x_rank, x_offset_energy),
        (result.y_singular_values, result.y_rank, y_offset_energy),
    ):
        decisive = s[rank - 1] if alpha < 1.0 else s[0]
        if decisive**2 < MOMENTS_MIN_RATIO**2 * (s[0] ** 2 + offset):
            return True
    return False


def _shape_from_data(X, Y, alpha, rank_tol):
    """Compute the shape metric by the accurate route: SVDs of the centred views."""
    n = X.shape[0]
    mean_x = X.mean(axis=0, dtype=np.float64)
    mean_y = Y.mean(axis=0, dtype=np.float64)
    check_finite_products(mean_x, mean_y)
    ux, sx, vx = spectrum_from_data(np.subtract(X, mean_x, dtype=np.float64))
    uy, sy, vy = spectrum_from_data(np.subtract(Y, mean_y, dtype=np.float64))
    wx, rx, scale_x = partial_whitening(sx, n, alpha, rank_tol, "X")
    wy, ry, scale_y = partial_whitening(sy, n, alpha, rank_tol, "Y")
    # phi(X) = U_x diag(s_x w_x) V_x^T, so W_x^T cxy W_y in the right
    # singular bases is diag(s_x w_x) U_x^T U_y diag(s_y w_y)
    cross = (ux[:, :rx].T @ uy[:, :ry]) * (sx[:rx] * wx)[:, None] * (sy[:ry] * wy)
    # singular values of rank-deficient wide data: pad to n_features
    sx = np.concatenate([sx, np.zeros(X.shape[1] - sx.size)])
    sy = np.concatenate([sy, np.zeros(Y.shape[1] - sy.size)])
    return _result(
        (mean_x, mean_y), (sx, sy), (vx, vy), (wx, wy), (rx, ry),
        (scale_x, scale_y), cross, n, "svd",
    )  # fmt: skip


def fit_shape_metric(
    X, Y, *, alpha=1.0, rank_tol=1e-6, algorithm="auto", keep_moments=True
):
    """Fit the generalised shape metric of two views.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
        First view, rows are samples. Not modified.
    Y : ndarray of shape (n_samples, n_features_y)
        Second view.
    alpha : float in [0, 1], default=1.0
        1: orthogonal Procrustes; 0: CCA; in between, partial whitening.
    rank_tol : float, default=1e-6
        Directions with singular value below ``rank_tol`` times the largest
        are null and dropped.
    algorithm : {"auto", "moments", "svd"}, default="auto"
        "moments": the cross-products (for float64 input, the raw products
        on the caller's arrays with the means removed afterwards, or a pass
        over blocks centred first where large means would cost digits) and
        ``d x d`` decompositions; "svd": thin SVDs of the centred views;
        "auto": moments when there are at least as many samples as units
        in each view, the SVD when :func:`needs_accurate_route` says so.
    keep_moments : bool, default=True
        Also return the :class:`~skrep._core.moments.Moments` of the data,
        so that streaming can continue from this fit.

    Returns
    -------
    result : ShapeResult
        Means, whitening maps, alignment, similarity, spectra, ranks and
        the route taken.
    moments : Moments or None
        The moments of ``(X, Y)``, None when ``keep_moments`` is False.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import ortho_group
    >>> from skrep._core.procrustes import fit_shape_metric
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 4)
    >>> rotated = 3.0 * X @ ortho_group.rvs(4, random_state=0) + 1.0
    >>> result, _ = fit_shape_metric(X, rotated, alpha=1.0)
    >>> round(result.similarity, 12)
    1.0
    """
    params = {"alpha": alpha, "rank_tol": rank_tol}
    return fit_by_route(
        X,
        Y,
        algorithm=algorithm,
        keep_moments=keep_moments,
        from_data=lambda X, Y: _shape_from_data(X, Y, **params),
        from_covariances=lambda *covs, **_: shape_from_covariances(*covs, **params),
        imprecise=lambda result, **offsets: needs_accurate_route(
            result, alpha, **offsets
        ),
    )
