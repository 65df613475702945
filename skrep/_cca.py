"""SVCCA and PWCCA: canonical correlation between two layers' activations."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._array_api import check_same_namespace
from sklearn.utils._param_validation import (
    InvalidParameterError,
    RealNotInt,
    StrOptions,
)
from sklearn.utils.validation import check_is_fitted, validate_data

from skrep._core.cca import cca_from_moments, fit_cca, needs_accurate_route, tied_groups
from skrep._core.correlation import column_correlations
from skrep._core.moments import Moments, constant_units
from skrep._core.xp import (
    ConstantFlags,
    column_correlations_xp,
    fit_cca_xp,
    to_numpy,
)
from skrep._params import Interval
from skrep.base import SkrepTags, StreamingMixin, array_api_namespace, both_views
from skrep.exceptions import (
    DeadUnitWarning,
    InSampleBiasWarning,
    TiedCorrelationsWarning,
    warn,
    warn_imprecise_moments,
)

__all__ = ["PWCCA", "SVCCA", "pwcca", "svcca"]

#: Fitted attributes read from the CCAResult on first use: the moments route
#: computes the directions, and (for views certified well conditioned) the
#: singular values, only then.
_LAZY_ROTATIONS = (
    "x_rotations_", "y_rotations_", "x_singular_values_", "y_singular_values_",
)  # fmt: skip


class _BaseCCA(
    StreamingMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Shared fit / transform / score of the CCA family.

    Subclasses set the SVD truncation default and define how the canonical
    correlations are averaged (:meth:`_similarity`).
    """

    _parameter_constraints: dict = {
        "svd_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="right"),
            None,
        ],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "rank_tol": [Interval(Real, 0, 1, closed="left")],
        "algorithm": [StrOptions({"auto", "moments", "svd"})],
    }

    def __init__(
        self, svd_components=None, n_components=None, *, rank_tol=1e-6, algorithm="auto"
    ):
        self.svd_components = svd_components
        self.n_components = n_components
        self.rank_tol = rank_tol
        self.algorithm = algorithm

    def __skrep_tags__(self):
        maps = ["shift", "isotropic_scaling", "unit_permutation", "orthogonal"]
        if self.svd_components is None or (
            not isinstance(self.svd_components, bool)
            and isinstance(self.svd_components, Real)
            and not isinstance(self.svd_components, Integral)
            and self.svd_components >= 1.0
        ):
            maps += ["invertible_linear", "unit_scaling"]
        return SkrepTags(maximum=1.0, invariances=both_views(*maps))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        return tags

    def _check_svd_components(self):
        if isinstance(self.svd_components, bool):
            raise InvalidParameterError(
                "The 'svd_components' parameter of "
                f"{type(self).__name__} must be an int in [1, inf), a float in "
                f"(0, 1] or None. Got {self.svd_components!r} instead."
            )

    @property
    def _n_features_out(self):
        """Output width for ``get_feature_names_out`` (finalises lazily)."""
        return self.n_components_

    def _cca_params(self):
        return {
            "x_components": self.svd_components,
            "y_components": self.svd_components,
            "n_components": self.n_components,
            "rank_tol": self.rank_tol,
        }

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the SVD truncation and canonical directions of both views.

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
        self._check_svd_components()
        self._start_fit()
        X, Y = self._validate_views(X, y)
        xp = array_api_namespace(X, Y)
        if xp is not None:
            return self._fit_xp(xp, X, Y)
        result, moments = fit_cca(
            X,
            Y,
            algorithm=self.algorithm,
            eager_directions=self._eager_directions,
            **self._cca_params(),
        )
        self._accumulator = moments
        self.n_samples_seen_ = X.shape[0]
        self._set_result(result, X.shape[1], Y.shape[1])
        if result.route == "moments" and needs_accurate_route(result):
            # Only where algorithm="moments" was forced: "auto" falls back.
            _warn_imprecise_moments("fit on all rows with algorithm='auto' or 'svd'")
        self._warn_degenerate(X, Y)
        return self

    def _fit_xp(self, xp, X, Y):
        """`fit` on array-API inputs: every product on their device."""
        result, moments = fit_cca_xp(
            xp, X, Y, algorithm=self.algorithm, **self._cca_params()
        )
        self._accumulator = None  # partial_fit does not continue on a device
        self.n_samples_seen_ = X.shape[0]
        self._set_result(result, X.shape[1], Y.shape[1])
        self.n_dropped_units_ = xp.asarray(self.n_dropped_units_, device=X.device)
        flags = moments if moments is not None else ConstantFlags(xp, X, Y)
        self._warn_degenerate(None, None, moments=flags)
        return self

    def _new_accumulator(self, n_units_x, n_units_y):
        # Streaming always takes the moments route, whatever `algorithm`
        # says: the rows are not kept.
        self._check_svd_components()
        return Moments(n_units_x, n_units_y)

    def _fit_accumulator(self, accumulator):
        result = cca_from_moments(
            accumulator, eager_directions=self._eager_directions, **self._cca_params()
        )
        self._set_result(result, accumulator.n_features_x, accumulator.n_features_y)
        if needs_accurate_route(result):
            _warn_imprecise_moments(
                "fit on all rows at once (algorithm='auto' or 'svd')"
            )
        self._warn_degenerate(None, None, moments=accumulator)

    def _set_result(self, result, n_units_x, n_units_y):
        self.x_mean_, self.y_mean_ = result.x_mean, result.y_mean
        # The rotations are read from the result on first use (__getattr__):
        # the moments route computes them only then.
        self._cca_result = result
        self.canonical_correlations_ = result.correlations
        self.n_components_ = result.correlations.size
        self.x_rank_, self.y_rank_ = result.x_rank, result.y_rank
        self.x_n_directions_ = result.x_n_directions
        self.y_n_directions_ = result.y_n_directions
        self.n_dropped_units_ = np.array(
            [n_units_x - result.x_rank, n_units_y - result.y_rank]
        )
        self.algorithm_ = result.route
        self._set_weights(result)

    #: Whether fit needs the canonical directions at once (PWCCA's weights);
    #: otherwise the moments route computes them on first read.
    _eager_directions = False

    def __getattr__(self, name):
        # x_rotations_ and y_rotations_ come from the fitted CCAResult, which
        # computes the canonical directions on first access and keeps them
        # (not stored on the estimator, so reading them leaves its __dict__
        # as fit left it).
        if name in _LAZY_ROTATIONS:
            state = self.__dict__
            if state.get("_pending", False):
                self._finalize()
            result = state.get("_cca_result")
            if result is not None and "n_components_" in state:
                return getattr(result, name[:-1])
        return super().__getattr__(name)

    def _set_weights(self, result):
        """Store what the similarity needs from fit (a hook for PWCCA)."""

    def _warn_degenerate(self, X, Y, moments=None):
        """Warn once per fit about dropped units and in-sample bias."""
        n = self.n_samples_seen_
        self._warn_null_directions(
            X,
            Y,
            (self.x_rank_, self.y_rank_),
            moments=moments,
            outcome=self._null_outcome,
        )
        excess = self.x_n_directions_ + self.y_n_directions_ - (n - 1)
        if excess > 0:
            warn(
                f"More units than samples: {self.x_n_directions_} + "
                f"{self.y_n_directions_} kept directions exceed the "
                f"{n - 1} dimensions that {n} centred samples span, so at least "
                f"{min(excess, self.n_components_)} in-sample canonical "
                "correlation(s) are trivially 1. Score held-out data (score on "
                "a test split, or cross_val_score) for a meaningful similarity.",
                InSampleBiasWarning,
            )
        self._warn_ties()

    def _null_outcome(self, name, rank):
        """Say what the fit kept of a view with null directions (for the warning)."""
        kept = self.x_n_directions_ if name == "X" else self.y_n_directions_
        if kept < rank:
            text = (
                f"{name} has {rank} non-null direction(s), of which "
                f"svd_components={self.svd_components!r} keeps {kept}"
            )
        else:
            text = f"{name} keeps its {rank} non-null direction(s)"
        return f"{text}, and {self.n_components_} canonical pair(s) are formed."

    def _warn_ties(self):
        """Warn where the measure depends on the basis of tied pairs (a hook)."""

    def transform(self, X, y=None):
        """Project onto the canonical directions learned in `fit`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer.
        y : array-like of shape (n_samples, n_units_y), optional
            Activations of the second layer on the same samples.

        Returns
        -------
        U : ndarray of shape (n_samples, n_components)
            X's canonical variates (unit variance on the fitted data).
        V : ndarray of shape (n_samples, n_components)
            Y's canonical variates, returned as ``(U, V)`` only when `y`
            is given.
        """
        self._finalize()
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_dtype_for(X))
        check_same_namespace(X, self, attribute="x_rotations_", method="transform")
        U = (X - self.x_mean_) @ self.x_rotations_
        if y is None:
            return U
        Y = self._validate_second_view(y, X.shape[0])
        return U, (Y - self.y_mean_) @ self.y_rotations_

    def _score(self, X, Y):
        """Correlations of the fitted pairs of variates on this data."""
        check_same_namespace(X, self, attribute="x_rotations_", method="score")
        U = (X - self.x_mean_) @ self.x_rotations_
        V = (Y - self.y_mean_) @ self.y_rotations_
        xp = array_api_namespace(U, V)
        if xp is None:
            correlations, constant = column_correlations(U, V)
        else:
            correlations, constant = column_correlations_xp(xp, U, V)
        _warn_dead_variates(constant)
        if xp is not None:
            return self._similarity_xp(xp, correlations, U, V, X, Y)
        return self._similarity(correlations, U, V, X, Y)

    def _held_out_accumulator(self, n_units_x, n_units_y):
        return Moments(n_units_x, n_units_y)

    def _score_moments(self, moments):
        """`_score` from the moments of the rows: the variates' moments.

        With ``R`` the rotations, the variates' centred cross-products are
        ``R_x^T C_xy R_y`` (and likewise for each view), their means
        ``(mean - fitted mean) R``.
        """
        n = moments.n_samples
        mean_x, mean_y, cxx, cyy, cxy = moments.covariances()
        Rx, Ry = self.x_rotations_, self.y_rotations_
        squares_u = np.maximum(np.sum(Rx * (cxx @ Rx), axis=0), 0.0)
        squares_v = np.maximum(np.sum(Ry * (cyy @ Ry), axis=0), 0.0)
        cross = np.sum(Rx * (cxy @ Ry), axis=0)
        constant = constant_units(
            (mean_x - self.x_mean_) @ Rx, squares_u / n
        ) | constant_units((mean_y - self.y_mean_) @ Ry, squares_v / n)
        correlations = np.zeros(cross.shape)
        ok = ~constant
        correlations[ok] = cross[ok] / np.sqrt(squares_u[ok] * squares_v[ok])
        correlations = np.clip(correlations, -1.0, 1.0)
        _warn_dead_variates(constant)
        return self._similarity_from_moments(
            correlations, (cxx, cyy), (squares_u, squares_v)
        )

    def _similarity(self, correlations, U, V, X, Y):
        raise NotImplementedError

    def _similarity_xp(self, xp, correlations, U, V, X, Y):
        raise NotImplementedError

    def _similarity_from_moments(self, correlations, comoments, variate_squares):
        """`_similarity` from the views' co-moments and the variates' squares."""
        raise NotImplementedError


class SVCCA(_BaseCCA):
    r"""Singular Vector Canonical Correlation Analysis (Raghu et al. 2017).

    Each view is reduced to its top SVD directions, then CCA pairs the
    reduced views; the similarity is the mean canonical correlation.

    Parameters
    ----------
    svd_components : int, float in (0, 1] or None, default=0.99
        SVD directions kept per view, like PCA's ``n_components``: an int
        keeps that many; a float keeps the fewest directions whose cumulative
        share of the variance (squared singular values) reaches it, 1.0
        keeping every non-null direction; None keeps all (plain CCA).
    n_components : int or None, default=None
        Keep at most this many canonical pairs (None: all,
        ``min(x_n_directions_, y_n_directions_)``).
    rank_tol : float, default=1e-6
        Directions whose singular value is below ``rank_tol`` times the
        largest are null: constant (dead), duplicate or collinear units.
        They are dropped with a warning. The tolerance is never below
        1e-10, whatever is asked (0 included): a direction below that is
        round-off of the numerical route, not signal.
    algorithm : {"auto", "moments", "svd"}, default="auto"
        "moments" forms the cross-products X^T X, Y^T Y, X^T Y in one
        blocked pass (in float64) and decomposes small matrices: near the
        speed of the products themselves. "svd" decomposes the centred data:
        slower, as accurate as the data allow. "auto" uses "moments" when each
        view has at least as many samples as units and falls back to "svd"
        when a kept direction is too ill-conditioned for it
        (``algorithm_`` records which ran). `partial_fit` always takes the
        moments route (the rows are not kept). Where "moments" runs without
        that fallback (asked for, or `partial_fit`) and a kept direction is
        that ill-conditioned, a :class:`~skrep.exceptions.PrecisionWarning`
        says so.

    Attributes
    ----------
    canonical_correlations_ : ndarray of shape (n_components,)
        Decreasing canonical correlations on the fitted data, in [0, 1].
    x_mean_ : ndarray of shape (n_units_x,)
        Per-unit mean of X.
    y_mean_ : ndarray of shape (n_units_y,)
        Per-unit mean of Y.
    x_rotations_ : ndarray of shape (n_units_x, n_components)
        Maps centred X to its canonical variates (unit variance, 1/n).
    y_rotations_ : ndarray of shape (n_units_y, n_components)
        Maps centred Y to its canonical variates.
    n_components_ : int
        Number of canonical pairs formed, ``min(x_n_directions_,
        y_n_directions_)`` capped by ``n_components``: the number of
        correlations the similarity averages. With a float
        ``svd_components`` it depends on the fitted rows, so
        cross-validation folds can keep different numbers (see Examples);
        :func:`~skrep.compare_layers` and :mod:`skrep.inference` then warn
        (:class:`~skrep.exceptions.UnstableTruncationWarning`).
    x_n_directions_ : int
        SVD directions of X kept.
    y_n_directions_ : int
        SVD directions of Y kept.
    x_singular_values_ : ndarray of shape (n_units_x,)
        Singular values of centred X, decreasing; null directions (below
        ``rank_tol`` times the largest) are reported as exactly 0.
    y_singular_values_ : ndarray of shape (n_units_y,)
        Singular values of centred Y, decreasing; null directions (below
        ``rank_tol`` times the largest) are reported as exactly 0.
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
    PWCCA : Projection-weighted CCA, weights pairs by their share of X.
    svcca : The in-sample similarity as one float.

    Notes
    -----
    With :math:`X_c = U_x S_x V_x^T` the centred first view and
    :math:`Q_x` the first :math:`k_x` columns of :math:`U_x` (same for Y),
    the canonical correlations are the singular values of
    :math:`Q_x^T Q_y`:

    .. math::

        Q_x^T Q_y = A \,\mathrm{diag}(\rho_1, \ldots, \rho_m)\, B^T,
        \qquad \bar\rho = \frac{1}{m} \sum_{i=1}^{m} \rho_i,

    with :math:`m = \min(k_x, k_y)`. The similarity is invariant to
    invertible affine maps of either view when no truncation happens, and
    to rotations, isotropic scaling and shifts with it. In-sample CCA is
    biased upwards when the kept directions are many relative to the
    samples (with :math:`k_x + k_y \geq n` some correlations are 1 whatever
    the data); `score` on held-out data removes that bias.

    Each pair of canonical directions has a deterministic sign: X's
    variate has a positive inner product with the X unit it loads on most
    (as scikit-learn's ``svd_flip``), so both numerical routes, every
    cross-validation fold and `partial_fit` give the same `transform`.
    `partial_fit` accumulates the means and cross-products of the rows
    exactly (memory grows with the units squared, not with the rows) and
    decomposes once, when a fitted attribute, `transform` or `score` is
    first used; after any split of the rows into batches it equals `fit`
    on all of them, to round-off.

    References
    ----------
    .. [1] M. Raghu, J. Gilmer, J. Yosinski, J. Sohl-Dickstein. "SVCCA:
       Singular Vector Canonical Correlation Analysis for Deep Learning
       Dynamics and Interpretability". NeurIPS 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import SVCCA
    >>> rng = np.random.RandomState(0)
    >>> latent = rng.randn(300, 5)
    >>> layer_a = latent @ rng.randn(5, 20) + 0.1 * rng.randn(300, 20)
    >>> layer_b = latent @ rng.randn(5, 30) + 0.1 * rng.randn(300, 30)
    >>> est = SVCCA(svd_components=5).fit(layer_a[:200], layer_b[:200])
    >>> est.canonical_correlations_.round(3)
    array([1.   , 1.   , 1.   , 0.999, 0.999])
    >>> round(est.score(layer_a[200:], layer_b[200:]), 3)
    0.999

    A float ``svd_components`` keeps, on each fit, the fewest directions
    that reach that share of the variance, so cross-validation folds may
    keep different numbers; ``return_estimator=True`` shows each fold's:

    >>> from sklearn.model_selection import cross_validate
    >>> folds = cross_validate(SVCCA(svd_components=0.95), layer_a, layer_b,
    ...                        cv=5, return_estimator=True)
    >>> [fold.n_components_ for fold in folds["estimator"]]
    [4, 4, 4, 4, 5]

    An int (here ``svd_components=5``) keeps the same number in every fold.
    """

    def __init__(
        self, svd_components=0.99, n_components=None, *, rank_tol=1e-6, algorithm="auto"
    ):
        super().__init__(
            svd_components, n_components, rank_tol=rank_tol, algorithm=algorithm
        )

    def _similarity(self, correlations, U, V, X, Y):
        return correlations.mean()

    def _similarity_xp(self, xp, correlations, U, V, X, Y):
        return xp.mean(correlations)

    def _similarity_from_moments(self, correlations, comoments, variate_squares):
        return correlations.mean()

    _scores_from_fit = True

    def _in_sample_score(self):
        return float(np.mean(self.canonical_correlations_))


class PWCCA(_BaseCCA):
    r"""Projection-Weighted Canonical Correlation Analysis (Morcos et al. 2018).

    Canonical correlations averaged with weights proportional to how much
    of one view's activity each canonical direction accounts for.

    Parameters
    ----------
    svd_components : int, float in (0, 1] or None, default=None
        Optional SVD truncation per view before CCA, as in :class:`SVCCA`;
        None (the paper's PWCCA) keeps every non-null direction.
    n_components : int or None, default=None
        Keep at most this many canonical pairs.
    weights_from : {"x", "y"}, default="x"
        The view whose activity defines the weights: "x" (the first
        argument, as in the paper) or "y".
    rank_tol : float, default=1e-6
        Relative singular-value tolerance for null directions (constant,
        duplicate or collinear units), dropped with a warning; never below
        1e-10, as in :class:`SVCCA`.
    algorithm : {"auto", "moments", "svd"}, default="auto"
        Numerical route of `fit`, as in :class:`SVCCA`; `partial_fit` always
        takes the moments route.

    Attributes
    ----------
    canonical_correlations_ : ndarray of shape (n_components,)
        Decreasing canonical correlations on the fitted data, in [0, 1].
    weights_ : ndarray of shape (n_components,)
        Projection weights on the fitted data, summing to 1.
    x_mean_ : ndarray of shape (n_units_x,)
        Per-unit mean of X.
    y_mean_ : ndarray of shape (n_units_y,)
        Per-unit mean of Y.
    x_rotations_ : ndarray of shape (n_units_x, n_components)
        Maps centred X to its canonical variates (unit variance, 1/n).
    y_rotations_ : ndarray of shape (n_units_y, n_components)
        Maps centred Y to its canonical variates.
    n_components_ : int
        Number of canonical pairs.
    x_n_directions_ : int
        SVD directions of X kept.
    y_n_directions_ : int
        SVD directions of Y kept.
    x_singular_values_ : ndarray of shape (n_units_x,)
        Singular values of centred X, decreasing; null directions (below
        ``rank_tol`` times the largest) are reported as exactly 0.
    y_singular_values_ : ndarray of shape (n_units_y,)
        Singular values of centred Y, decreasing; null directions (below
        ``rank_tol`` times the largest) are reported as exactly 0.
    x_rank_ : int
        Number of non-null directions of X.
    y_rank_ : int
        Number of non-null directions of Y.
    n_dropped_units_ : ndarray of shape (2,)
        Unit dimensions of X and Y without independent signal.
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
    SVCCA : Unweighted mean canonical correlation after SVD truncation.
    pwcca : The in-sample similarity as one float.

    Notes
    -----
    With :math:`h_i` the i-th canonical variate of X scaled to unit norm (a
    vector over samples) and :math:`x_j` the centred activations of X's
    unit j,

    .. math::

        \alpha_i = \frac{\sum_j |\langle h_i, x_j \rangle|}
                        {\sum_k \sum_j |\langle h_k, x_j \rangle|},
        \qquad \rho_{PW} = \sum_i \alpha_i \rho_i .

    Invariant to invertible linear maps and shifts of Y, and to shifts,
    isotropic scaling (one factor for every unit) and permutations of X's
    units; neither to per-unit scaling of X nor to rotations of X (the
    tests show both moving the value): the weights sum
    :math:`|\langle h_i, x_j \rangle|` over X's units. When canonical
    correlations are tied (many are exactly 1 when the units approach the
    samples), the directions within a tied group are not unique and the
    weights depend on the basis the numerical route returned: `fit` warns
    (``TiedCorrelationsWarning``); score held-out data instead.

    On held-out data `score` recomputes the correlations and the weights
    from the data it is given, with the directions learned in `fit`. The
    reference implementation
    (google/svcca ``compute_pwcca``) uses uncentred activations and picks
    the narrower view; skrep follows the paper.

    References
    ----------
    .. [1] A. S. Morcos, M. Raghu, S. Bengio. "Insights on representational
       similarity in neural networks with canonical correlation". NeurIPS
       2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import PWCCA
    >>> rng = np.random.RandomState(0)
    >>> latent = rng.randn(300, 3)
    >>> layer_a = latent @ rng.randn(3, 10) + 0.5 * rng.randn(300, 10)
    >>> layer_b = latent @ rng.randn(3, 15) + 0.5 * rng.randn(300, 15)
    >>> est = PWCCA().fit(layer_a, layer_b)
    >>> est.weights_.sum().round(6)
    np.float64(1.0)
    >>> round(est.score(layer_a, layer_b), 3)
    0.768
    """

    _parameter_constraints: dict = {
        **_BaseCCA._parameter_constraints,
        "weights_from": [StrOptions({"x", "y"})],
    }

    def __init__(
        self,
        svd_components=None,
        n_components=None,
        *,
        weights_from="x",
        rank_tol=1e-6,
        algorithm="auto",
    ):
        super().__init__(
            svd_components, n_components, rank_tol=rank_tol, algorithm=algorithm
        )
        self.weights_from = weights_from

    def __skrep_tags__(self):
        tags = super().__skrep_tags__()
        weighted, other = ("x", "y") if self.weights_from == "x" else ("y", "x")
        # The weights sum |loadings| over the weighting view's units: that
        # view keeps only the maps that preserve those sums up to one factor.
        keep = {
            f"{m}_{weighted}"
            for m in ("shift", "isotropic_scaling", "unit_permutation")
        }
        tags.invariances = frozenset(
            name for name in tags.invariances if name.endswith(other) or name in keep
        )
        return tags

    def _set_weights(self, result):
        loadings = result.x_loadings if self.weights_from == "x" else result.y_loadings
        xp = array_api_namespace(loadings)
        if xp is not None:
            self.weights_ = _normalise_xp(xp, xp.sum(xp.abs(loadings), axis=1))
            return
        self.weights_ = _normalise(np.abs(loadings).sum(axis=1))

    def _warn_ties(self):
        n_tied, n_groups = tied_groups(to_numpy(self.canonical_correlations_))
        if n_tied and n_groups > 1:
            warn(
                f"{n_tied} canonical correlations are tied (equal within 1e-9; "
                "with more units than samples many are exactly 1): the "
                "directions of a tied group are not unique, and PWCCA's weights "
                "depend on which basis of it the numerical route returned "
                "(algorithm_). Score held-out data, or reduce the units with "
                "svd_components.",
                TiedCorrelationsWarning,
            )

    _scores_from_fit = True

    @property
    def _eager_directions(self):
        # The weighting view's loadings in fit; the rest on first read.
        return self.weights_from

    def _in_sample_score(self):
        return _weighted_mean(self.weights_, self.canonical_correlations_)

    def _similarity_xp(self, xp, correlations, U, V, X, Y):
        variates, data = (U, X) if self.weights_from == "x" else (V, Y)
        H = variates - xp.mean(variates, axis=0)
        norms = xp.linalg.vector_norm(H, axis=0)
        H = H / xp.where(norms > 0, norms, 1.0)
        data = xp.astype(data, H.dtype)
        centred = data - xp.mean(data, axis=0)
        weights = _normalise_xp(xp, xp.sum(xp.abs(xp.matmul(H.T, centred)), axis=1))
        # A weighted mean of values in [-1, 1]: the clip removes the round-off
        # of weights that sum to 1 only to the last bit.
        return xp.clip(xp.sum(weights * correlations), -1.0, 1.0)

    def _similarity(self, correlations, U, V, X, Y):
        variates, data = (U, X) if self.weights_from == "x" else (V, Y)
        H = variates - variates.mean(axis=0)
        norms = np.linalg.norm(H, axis=0)
        H = H / np.where(norms > 0, norms, 1.0)
        centred = np.subtract(data, data.mean(axis=0), dtype=np.float64)
        weights = _normalise(np.abs(H.T @ centred).sum(axis=1))
        return _weighted_mean(weights, correlations)

    def _similarity_from_moments(self, correlations, comoments, variate_squares):
        # |<h_i, x_j>| with h_i the unit-norm centred variate and x_j a
        # centred unit of the weighting view: |R^T C| / ||h_i||.
        view = 0 if self.weights_from == "x" else 1
        rotations = (self.x_rotations_, self.y_rotations_)[view]
        norms = np.sqrt(variate_squares[view])
        loadings = (rotations.T @ comoments[view]) / np.where(norms > 0, norms, 1.0)[
            :, None
        ]
        return _weighted_mean(_normalise(np.abs(loadings).sum(axis=1)), correlations)


def _warn_imprecise_moments(remedy):
    """Warn that the moments route may have lost digits (no fallback taken)."""
    warn_imprecise_moments(
        "Some kept directions are so weak (singular value below 1e-4 of the largest)",
        f"{remedy}, or lower svd_components",
    )


def _warn_dead_variates(constant):
    n_constant = int(np.count_nonzero(constant))
    if n_constant:
        warn(
            f"{n_constant} canonical variate(s) are constant (dead) on this "
            "data; their correlation counts as 0.",
            DeadUnitWarning,
        )


def _weighted_mean(weights, correlations):
    """``weights @ correlations`` as a float in [-1, 1].

    The weights sum to 1 only to round-off, so the weighted mean of
    correlations in [-1, 1] may leave the interval by an ulp (1 + 2e-16 was
    seen); the clip removes that and nothing else.
    """
    return min(max(float(weights @ correlations), -1.0), 1.0)


def _normalise(weights):
    total = weights.sum()
    if total > 0:
        return weights / total
    return np.full(weights.shape, 1.0 / weights.size)


def _normalise_xp(xp, weights):
    total = xp.sum(weights)
    if float(total) > 0:
        return weights / total
    return xp.full(weights.shape, 1.0 / weights.shape[0], device=weights.device)


def _dtype_for(X):
    xp = array_api_namespace(X)
    if xp is None:
        return [np.float64, np.float32]
    return [xp.float64, xp.float32]


def svcca(X, Y, **params):
    """SVCCA similarity of two activation matrices, in-sample, as a float.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_units_x)
        Activations of the first layer (rows are samples).
    Y : array-like of shape (n_samples, n_units_y)
        Activations of the second layer on the same samples.
    **params
        Parameters of :class:`SVCCA` (e.g. ``svd_components=0.99``).

    Returns
    -------
    similarity : float
        Mean canonical correlation after SVD truncation.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import svcca
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 8)
    >>> round(svcca(X, 3 * X @ rng.randn(8, 8) + 1), 6)
    1.0
    """
    est = SVCCA(**params).fit(X, Y)
    return float(est.canonical_correlations_.mean())


def pwcca(X, Y, **params):
    """PWCCA similarity of two activation matrices, in-sample, as a float.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_units_x)
        Activations of the first layer; by default the weights come from it.
    Y : array-like of shape (n_samples, n_units_y)
        Activations of the second layer on the same samples.
    **params
        Parameters of :class:`PWCCA`.

    Returns
    -------
    similarity : float
        Projection-weighted mean canonical correlation.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import pwcca
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 8)
    >>> round(pwcca(X, X @ rng.randn(8, 8)), 6)
    1.0
    """
    est = PWCCA(**params).fit(X, Y)
    return float(est.weights_ @ est.canonical_correlations_)
