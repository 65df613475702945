"""The generalised shape metric: Procrustes, CCA and everything in between."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from skrep._core.moments import Moments
from skrep._core.procrustes import (
    fit_shape_metric,
    needs_accurate_route,
    shape_from_moments,
)
from skrep._params import Interval
from skrep.base import SkrepTags, StreamingMixin, both_views, host_arrays
from skrep.exceptions import (
    DeadUnitWarning,
    InSampleBiasWarning,
    warn,
    warn_imprecise_moments,
)

__all__ = ["Procrustes"]


class Procrustes(
    StreamingMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    r"""The generalised shape metric of Williams et al. (2021).

    Each layer's activations are centred and partially whitened, then
    aligned to the other's by the best orthogonal map; the similarity is the
    cosine of the angle between the aligned layers and the angle itself,
    :meth:`distance`, is a metric (symmetric, zero between a layer and any
    rotation, scaling or shift of it, and satisfying the triangle
    inequality). ``alpha=1`` is orthogonal Procrustes, ``alpha=0`` is CCA
    (any invertible linear map aligns), values in between interpolate.
    netrep's ``LinearMetric`` in scikit-learn's conventions.

    Parameters
    ----------
    alpha : float in [0, 1], default=1.0
        How much whitening the alignment allows: 1 compares the layers as
        they are, up to rotations, reflections, one scale factor and
        shifts (orthogonal Procrustes); 0 whitens both first, so any
        invertible linear map aligns them (the score is then the sum of the
        canonical correlations over :math:`\sqrt{r_x r_y}`, see Notes);
        values in between weigh the two (see Notes).
    rank_tol : float, default=1e-6
        Directions whose singular value is below ``rank_tol`` times the
        largest are null: constant (dead), duplicate or collinear units, or
        beyond what the samples span. They are dropped (with a warning) and
        nothing is whitened along them, so ``alpha=0`` never divides by 0.
        The tolerance is never below 1e-10, whatever is asked (0 included):
        a direction below that is round-off, not signal.
    algorithm : {"auto", "moments", "svd"}, default="auto"
        "moments" forms the cross-products X^T X, Y^T Y, X^T Y in one pass
        (in float64) and decomposes unit x unit matrices: near the speed of
        the products themselves. "svd" decomposes the centred data: slower,
        as accurate as the data allow. "auto" uses "moments" when each view
        has at least as many samples as units, and falls back to "svd" when
        a direction that counts is too weak for it (``algorithm_`` records
        which ran). `partial_fit` always takes the moments route.

    Attributes
    ----------
    similarity_ : float
        :math:`\cos\theta` on the fitted data, in [0, 1] (what `score`
        returns on them).
    distance_ : float
        The angular distance :math:`\theta = \arccos(\text{similarity\_})`
        on the fitted data, in [0, pi/2]: the metric of the paper (what
        :meth:`distance` returns on them).
    x_mean_ : ndarray of shape (n_units_x,)
        Per-unit mean of X.
    y_mean_ : ndarray of shape (n_units_y,)
        Per-unit mean of Y.
    x_whitening_ : ndarray of shape (n_units_x, n_units_x)
        The partial whitening :math:`W_x`: ``(X - x_mean_) @ x_whitening_``
        is :math:`\phi(X)` (symmetric; zero along X's null directions).
    y_whitening_ : ndarray of shape (n_units_y, n_units_y)
        The partial whitening :math:`W_y` of Y.
    alignment_ : ndarray of shape (n_units_x, n_units_y)
        The orthogonal alignment :math:`Q` from X's whitened unit space to
        Y's (orthonormal on X's non-null directions when X has no more of
        them than Y).
    alignment_singular_values_ : ndarray of shape (n_pairs,)
        Singular values of :math:`\phi(X)^T \phi(Y)` divided by
        :math:`\|\phi(X)\|_F \|\phi(Y)\|_F`, decreasing; they sum to
        ``similarity_``. ``n_pairs = min(x_rank_, y_rank_)``.
    x_scale_ : float
        Root mean variance of X over its non-null directions,
        :math:`\bar\sigma_x`.
    y_scale_ : float
        Root mean variance of Y over its non-null directions.
    x_singular_values_ : ndarray of shape (n_units_x,)
        Singular values of centred X, decreasing; null directions are
        reported as exactly 0.
    y_singular_values_ : ndarray of shape (n_units_y,)
        Singular values of centred Y, likewise.
    x_rank_ : int
        Number of non-null directions of X.
    y_rank_ : int
        Number of non-null directions of Y.
    n_dropped_units_ : ndarray of shape (2,)
        Unit dimensions of X and Y without independent signal (constant,
        duplicate or collinear units, or beyond what the samples span).
    algorithm_ : str
        The route that ran, "moments" or "svd".
    n_samples_seen_ : int
        Rows seen by `fit`, or by all `partial_fit` calls since.
    n_features_in_ : int
        Number of units of X.
    n_features_y_ : int
        Number of units of Y.
    feature_names_in_ : ndarray of shape (n_units_x,)
        Unit names of X, when X has string column names.

    See Also
    --------
    SVCCA : Mean canonical correlation (``alpha=0`` up to the rank factor).
    UnitMatcher : Alignment by a permutation of single units.

    Notes
    -----
    With :math:`X_c` the centred view (:math:`n` rows), its covariance
    :math:`C_x = X_c^T X_c / n = V \Lambda V^T` over the :math:`r_x`
    non-null directions, :math:`\sigma_i = \sqrt{\lambda_i}` and
    :math:`\bar\sigma^2 = \frac{1}{r_x} \sum_i \sigma_i^2`,

    .. math::

        \phi_\alpha(X) = \alpha \frac{X_c}{\bar\sigma}
            + (1 - \alpha)\, X_c C_x^{-1/2}
          = X_c V \operatorname{diag}\!\left(\frac{\alpha}{\bar\sigma}
            + \frac{1-\alpha}{\sigma_i}\right) V^T ,

    the convex combination of the view at unit mean variance and the
    whitened view, two matrices of equal norm :math:`\sqrt{n r_x}`. Then

    .. math::

        \cos\theta = \max_{Q^T Q = I}
            \frac{\langle \phi(X) Q, \phi(Y) \rangle_F}
                 {\|\phi(X)\|_F \|\phi(Y)\|_F}
          = \frac{\|\phi(X)^T \phi(Y)\|_*}{\|\phi(X)\|_F \|\phi(Y)\|_F},
        \qquad \theta = \arccos(\cos\theta),

    where :math:`\|\cdot\|_*` sums the singular values. Views of different
    widths are compared as if the narrower were zero-padded (as netrep
    does): the nuclear norm of the rectangular cross-product is the padded
    problem's optimum, so no padding is formed. The maximiser is the polar
    factor of :math:`\phi(X)^T \phi(Y) = A S B^T`, :math:`Q = A B^T`
    (``alignment_``). At :math:`\alpha = 1`, :math:`\cos\theta =
    \|X_c^T Y_c\|_* / (\|X_c\|_F \|Y_c\|_F)`; at :math:`\alpha = 0`,
    :math:`\phi(X)^T \phi(Y)/n` holds the canonical correlations
    :math:`\rho_i`, so :math:`\cos\theta = \sum_i \rho_i / \sqrt{r_x r_y}`,
    the mean canonical correlation when the ranks are equal.

    Because :math:`\phi` depends on each view alone and :math:`\theta` is
    the angle between the orbits of two points of a sphere under the
    orthogonal group, :math:`\theta` is a metric on the fitted data: fit
    each pair on its own rows, ``Procrustes(alpha).fit(X, y).distance(X,
    y)``. It is invariant to shifts, one scale factor, permutations and
    orthogonal maps of either view for every ``alpha``, and to every
    invertible linear map at ``alpha=0``.

    Scale of the mixture. netrep mixes :math:`\alpha I + (1-\alpha)
    (X_c^T X_c)^{-1/2}` on the raw cross-product, so its metric for
    :math:`0 < \alpha < 1` changes when the activations are multiplied by
    a constant or when there are more samples (with many samples it tends
    to Procrustes whatever :math:`\alpha`); skrep mixes at unit mean
    variance, which equals netrep's on views scaled to
    :math:`\|X_c\|_F^2 = r_x`, and keeps :math:`\alpha` meaning the same at
    any scale and sample size. Both agree at :math:`\alpha \in \{0, 1\}`.

    `fit` learns the means, the whitening maps and the alignment; `score`
    applies them to the data it is given (held-out data give a held-out
    similarity, which can be negative) and returns

    .. math::

        \frac{\langle \phi(X) Q, \phi(Y) \rangle_F}
             {\|\phi(X)\|_F \|\phi(Y)\|_F} \in [-1, 1],

    dividing by all of :math:`\phi(X)` as the zero-padded problem does
    (`transform` gives :math:`\phi(X) Q` and :math:`\phi(Y)`, in Y's
    whitened unit space). Near 0 the distance carries about eight digits:
    it is the arccos of a cosine.
    In-sample, the alignment is biased upwards when the units are many
    relative to the samples (at ``alpha=0`` some canonical correlations are
    then 1 whatever the data); score held-out data. `partial_fit`
    accumulates the means and cross-products exactly and decomposes once,
    when a fitted attribute, `transform` or `score` is first used.

    References
    ----------
    .. [1] A. H. Williams, E. Kunz, S. Kornblith, S. W. Linderman.
       "Generalized Shape Metrics on Neural Representations". NeurIPS 2021.
    .. [2] I. L. Dryden, K. V. Mardia. "Statistical Shape Analysis, with
       Applications in R". Wiley, 2nd edition, 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import ortho_group
    >>> from skrep import Procrustes
    >>> rng = np.random.RandomState(0)
    >>> layer_a = rng.randn(300, 8)
    >>> rotated = 2.0 * layer_a @ ortho_group.rvs(8, random_state=0) + 1.0
    >>> mixed = layer_a @ rng.randn(8, 8)
    >>> round(Procrustes().fit(layer_a, rotated).distance_, 6)
    0.0
    >>> round(Procrustes(alpha=1.0).fit(layer_a, mixed).distance_, 2)
    0.58
    >>> round(Procrustes(alpha=0.0).fit(layer_a, mixed).distance_, 6)
    0.0

    Fit on some rows, score others:

    >>> noisy = rotated + rng.randn(300, 8)
    >>> est = Procrustes(alpha=0.5).fit(layer_a[:200], noisy[:200])
    >>> round(est.score(layer_a[200:], noisy[200:]), 2)
    0.89
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, 1, closed="both")],
        "rank_tol": [Interval(Real, 0, 1, closed="left")],
        "algorithm": [StrOptions({"auto", "moments", "svd"})],
    }

    def __init__(self, alpha=1.0, *, rank_tol=1e-6, algorithm="auto"):
        self.alpha = alpha
        self.rank_tol = rank_tol
        self.algorithm = algorithm

    def __skrep_tags__(self):
        maps = ["shift", "isotropic_scaling", "unit_permutation", "orthogonal"]
        if self.alpha == 0:
            maps += ["unit_scaling", "invertible_linear"]
        return SkrepTags(maximum=1.0, invariances=both_views(*maps))

    @property
    def _n_features_out(self):
        """Output width for ``get_feature_names_out``: Y's units."""
        return self.n_features_y_

    def _params(self):
        return {"alpha": float(self.alpha), "rank_tol": self.rank_tol}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the means, the partial whitening of each view and the alignment.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer: rows are samples, columns units.
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            Activations of the second layer on the same samples (a 1-D
            array is one unit).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._start_fit()
        X, Y = self._validate_views(X, y)
        result, moments = fit_shape_metric(
            X, Y, algorithm=self.algorithm, **self._params()
        )
        self._accumulator = moments
        self.n_samples_seen_ = X.shape[0]
        self._set_result(result)
        if result.route == "moments" and needs_accurate_route(
            result, float(self.alpha)
        ):
            # Only where algorithm="moments" was forced: "auto" falls back.
            _warn_imprecise_moments("fit with algorithm='auto' or 'svd'")
        self._warn_degenerate(X, Y)
        return self

    def _new_accumulator(self, n_units_x, n_units_y):
        # Streaming always takes the moments route: the rows are not kept.
        return Moments(n_units_x, n_units_y)

    def _fit_accumulator(self, accumulator):
        result = shape_from_moments(accumulator, **self._params())
        self._set_result(result)
        if needs_accurate_route(result, float(self.alpha)):
            _warn_imprecise_moments(
                "fit on all rows at once (algorithm='auto' or 'svd')"
            )
        self._warn_degenerate(None, None, moments=accumulator)

    def _set_result(self, result):
        self.x_mean_, self.y_mean_ = result.x_mean, result.y_mean
        self.x_whitening_, self.y_whitening_ = result.x_whitening, result.y_whitening
        self.alignment_ = result.alignment
        self.similarity_ = result.similarity
        self.distance_ = float(np.arccos(result.similarity))
        self.alignment_singular_values_ = result.alignment_singular_values
        self.x_scale_, self.y_scale_ = result.x_scale, result.y_scale
        self.x_singular_values_ = result.x_singular_values
        self.y_singular_values_ = result.y_singular_values
        self.x_rank_, self.y_rank_ = result.x_rank, result.y_rank
        self.n_dropped_units_ = np.array(
            [
                result.x_whitening.shape[0] - result.x_rank,
                result.y_whitening.shape[0] - result.y_rank,
            ]
        )
        self.algorithm_ = result.route

    def _warn_degenerate(self, X, Y, moments=None):
        """Warn once per fit about dropped units and in-sample bias."""
        n = self.n_samples_seen_
        ranks = (self.x_rank_, self.y_rank_)
        self._warn_null_directions(
            X,
            Y,
            ranks,
            moments=moments,
            outcome="nothing is whitened along them, and {name} keeps {rank} "
            "direction(s).",
        )
        excess = self.x_rank_ + self.y_rank_ - (n - 1)
        if self.alpha < 1 and excess > 0:
            warn(
                f"More units than samples: {self.x_rank_} + {self.y_rank_} "
                f"non-null directions exceed the {n - 1} dimensions that {n} "
                "centred samples span, so the whitened part of the alignment "
                f"fits noise (at alpha=0, at least {min(excess, *ranks)} canonical "
                "correlation(s) are trivially 1) and the in-sample similarity is "
                "biased upwards. Score held-out data (score on a test split, or "
                "cross_val_score), or raise alpha.",
                InSampleBiasWarning,
            )

    def transform(self, X, y=None):
        r"""Map onto the aligned, partially whitened space of the fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer.
        y : array-like of shape (n_samples, n_units_y), optional
            Activations of the second layer on the same samples.

        Returns
        -------
        X_aligned : ndarray of shape (n_samples, n_units_y)
            :math:`\phi(X) Q`: X centred, partially whitened and aligned
            to Y's whitened unit space.
        Y_whitened : ndarray of shape (n_samples, n_units_y)
            :math:`\phi(Y)`: Y centred and partially whitened, returned as
            ``(X_aligned, Y_whitened)`` only when `y` is given.
        """
        self._finalize()
        check_is_fitted(self)
        (X,) = host_arrays(X)  # computed in NumPy (no array-API support)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        X_aligned = (X - self.x_mean_) @ (self.x_whitening_ @ self.alignment_)
        if y is None:
            return X_aligned
        Y = self._validate_second_view(y, X.shape[0])
        return X_aligned, (Y - self.y_mean_) @ self.y_whitening_

    def distance(self, X, y):
        r"""Angular distance of the two views with the fitted alignment.

        ``fit(X, y).distance(X, y)`` is the shape metric of Williams et al.
        (2021), which satisfies the triangle inequality; on held-out data it
        is the angle after the alignment learned in `fit`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer.
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            Activations of the second layer on the same samples.

        Returns
        -------
        distance : float
            :math:`\theta = \arccos(\text{score}(X, y))`, in [0, pi]
            (lower is more similar).
        """
        return float(np.arccos(np.clip(self.score(X, y), -1.0, 1.0)))

    _scores_from_fit = True

    def _in_sample_score(self):
        return float(self.similarity_)

    def _score(self, X, Y):
        """Cosine of the angle between phi(X) Q and phi(Y) on this data."""
        Xc = np.subtract(X, self.x_mean_, dtype=np.float64)
        Yc = np.subtract(Y, self.y_mean_, dtype=np.float64)
        X_whitened = Xc @ self.x_whitening_
        Y_whitened = Yc @ self.y_whitening_
        norms = np.linalg.norm(X_whitened) * np.linalg.norm(Y_whitened)
        return _cosine(np.vdot(X_whitened @ self.alignment_, Y_whitened), norms)

    def _held_out_accumulator(self, n_units_x, n_units_y):
        return Moments(n_units_x, n_units_y)

    def _score_moments(self, moments):
        """`_score` from the moments of the rows.

        The products about the fitted means are ``C + n d d^T`` (``C`` the
        centred ones, ``d`` the shift of the means); the whitened views'
        inner products follow from them.
        """
        n = moments.n_samples
        mean_x, mean_y, cxx, cyy, cxy = moments.covariances()
        dx, dy = mean_x - self.x_mean_, mean_y - self.y_mean_
        sxx = cxx + n * np.outer(dx, dx)
        syy = cyy + n * np.outer(dy, dy)
        sxy = cxy + n * np.outer(dx, dy)
        Wx, Wy = self.x_whitening_, self.y_whitening_
        x_norm2 = max(float(np.sum(Wx * (sxx @ Wx))), 0.0)
        y_norm2 = max(float(np.sum(Wy * (syy @ Wy))), 0.0)
        inner = float(np.sum((Wx @ self.alignment_) * (sxy @ Wy)))
        return _cosine(inner, np.sqrt(x_norm2 * y_norm2))


def _cosine(inner, norms):
    """``inner / norms`` in [-1, 1]; 0, with a warning, when a view is dead."""
    if not norms > 0:
        warn(
            "One view is constant (dead) on this data along every direction "
            "learned in fit; its similarity counts as 0.",
            DeadUnitWarning,
        )
        return 0.0
    return float(np.clip(inner / norms, -1.0, 1.0))


def _warn_imprecise_moments(remedy):
    """Warn that the moments route may have lost digits (no fallback taken)."""
    warn_imprecise_moments(
        "Some directions that count are so weak (singular value below 1e-4 of "
        "the largest; with alpha < 1 every direction is whitened and counts)",
        remedy,
    )
