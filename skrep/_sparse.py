"""Sparse prediction of one layer from another (Li et al. 2016).

Each unit of the second layer is predicted from all units of the first by a
Lasso on standardised activations. Every Y unit shares the same X, so the
problem is reduced once to the Gram matrix of standardised X and its
cross-products with standardised Y; every Lasso is then solved from those
small matrices alone, never from the data again.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import check_cv
from sklearn.utils import check_array
from sklearn.utils._array_api import check_same_namespace
from sklearn.utils.validation import check_is_fitted, validate_data

from skrep._core.lasso import (
    RANK_TOL,
    heldout_problem,
    lasso_gram,
    least_squares,
    problem_from_moments,
    unit_losses,
)
from skrep._core.moments import Moments
from skrep._core.xp import (
    XpMoments,
    least_squares_xp,
    problem_from_xp_moments,
    to_numpy,
    unit_losses_xp,
)
from skrep._params import Interval
from skrep.base import (
    SkrepTags,
    StreamingMixin,
    TwoViewMixin,
    array_api_namespace,
    both_views,
)
from skrep.exceptions import DeadUnitWarning, warn

__all__ = ["SparseLayerPredictor", "SparseLayerPredictorCV"]

#: The decay grid of Li et al. (2016), Table 2.
PAPER_DECAYS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)

#: With ``decay=0`` (least squares), directions of standardised X whose
#: singular value is below this fraction of the largest are null: the
#: minimum-norm solution ignores them (the core's one rank rule).
LSTSQ_RCOND = RANK_TOL

CODE_TYPES = ("none", "local", "slightly distributed", "fully distributed")


def _solve(problem, decay, W, *, tol, max_iter, n_jobs):
    """Weights of one decay: least squares at 0, else the Lasso path step."""
    q = problem.xy.shape[1]
    if decay == 0:
        W = least_squares(problem.gram, problem.xy)
        return W, np.ones(q, dtype=np.intp), np.ones(q, dtype=bool)
    return lasso_gram(
        problem.gram, problem.xy, problem.yy, decay * q, W,
        tol=tol, max_iter=max_iter, n_jobs=n_jobs,
    )  # fmt: skip


class _Flags:
    """Host stand-in for a problem's constant flags (warnings, diagnostics)."""

    def __init__(self, x_constant, y_constant):
        self.x_constant, self.y_constant = x_constant, y_constant


def _floats(xp):
    return [np.float64, np.float32] if xp is None else [xp.float64, xp.float32]


def _main_inputs(W, code_mass):
    """Fewest inputs whose |weights| carry `code_mass` of each unit's L1 mass."""
    magnitude = -np.sort(-np.abs(W), axis=0)
    cumulative = np.cumsum(magnitude, axis=0)
    total = cumulative[-1] if W.shape[0] else np.zeros(W.shape[1])
    # Slack against round-off, so that code_mass=1 counts the non-zeros.
    below = cumulative < code_mass * total * (1.0 - 1e-12)
    return np.where(total > 0, below.sum(axis=0) + 1, 0)


def _code_types(n_main, max_slightly_distributed):
    labels = np.full(n_main.shape, CODE_TYPES[3], dtype="<U20")
    labels[n_main <= max_slightly_distributed] = CODE_TYPES[2]
    labels[n_main == 1] = CODE_TYPES[1]
    labels[n_main == 0] = CODE_TYPES[0]
    return labels


# --------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------


class _BaseSparsePredictor(TwoViewMixin, RegressorMixin, BaseEstimator):
    """Shared fit machinery, prediction and diagnostics."""

    _parameter_constraints: dict = {
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "code_mass": [Interval(Real, 0, 1, closed="right")],
        "max_slightly_distributed": [Interval(Integral, 1, None, closed="left")],
    }

    def __skrep_tags__(self):
        # Standardisation makes shifts and positive scalings of units exact
        # invariances; each Y unit is its own problem, so Y's units permute.
        invariances = both_views("shift", "unit_scaling", "isotropic_scaling")
        invariances |= {"unit_permutation_y"}
        if getattr(self, "decay", None) == 0:
            # Least squares predicts from the span of X, whatever its basis.
            invariances |= {"unit_permutation_x", "invertible_linear_x"}
        return SkrepTags(
            maximum=1.0 if getattr(self, "decay", None) == 0 else None,
            invariances=frozenset(invariances),
            streaming=hasattr(self, "partial_fit"),
        )

    def _problem(self, X, Y):
        """Standardise these rows through their moments."""
        return problem_from_moments(
            Moments(X.shape[1], Y.shape[1], track_range=True).update(X, Y)
        )

    def _warn_constant(self, problem, stacklevel=3):
        n_x = int(np.count_nonzero(problem.x_constant))
        n_y = int(np.count_nonzero(problem.y_constant))
        if n_x or n_y:
            warn(
                f"X has {n_x} and Y has {n_y} constant (dead) unit(s). A "
                "constant X unit gets zero weight; a constant Y unit is "
                "predicted exactly by its constant value, with zero weights "
                "(prediction loss 0 on the fitted data).",
                DeadUnitWarning,
            )

    def _set_fitted(self, problem, W, decay, n_iter, converged):
        """Store the weights in both unit systems and the diagnostics."""
        if not converged.all():
            warn(
                f"Coordinate descent did not converge for "
                f"{int(np.count_nonzero(~converged))} of {converged.size} Y "
                f"unit(s) with decay={decay:g}: the duality gap is above tol "
                f"after max_iter={self.max_iter} sweeps. Increase max_iter, "
                "increase tol or use a larger decay.",
                ConvergenceWarning,
            )
        x_factor = problem.x_factor
        self.x_mean_, self.x_scale_ = problem.x_mean, problem.x_scale
        self.y_mean_, self.y_scale_ = problem.y_mean, problem.y_scale
        self.x_constant_, self.y_constant_ = problem.x_constant, problem.y_constant
        self.n_features_y_ = W.shape[1]
        self.standardized_coef_ = np.ascontiguousarray(W.T)
        coef = (W * x_factor[:, None] * problem.y_scale).T
        intercept = problem.y_mean - coef @ problem.x_mean
        self.n_inputs_ = np.count_nonzero(W, axis=0)
        self.n_main_inputs_ = _main_inputs(W, self.code_mass)
        self.code_type_ = _code_types(
            self.n_main_inputs_, self.max_slightly_distributed
        )
        self.training_loss_ = float(
            np.mean(unit_losses(problem.gram, problem.xy, problem.yy, W))
        )
        if self._y_is_1d:
            self.coef_ = coef[0]
            self.intercept_ = float(intercept[0])
            self.n_iter_ = int(n_iter[0])
        else:
            self.coef_ = coef
            self.intercept_ = intercept
            self.n_iter_ = n_iter

    def predict(self, X):
        """Predict the second layer's activations from the first's.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer.

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_units_y) or (n_samples,)
            ``X @ coef_.T + intercept_``; 1-D when `fit` got a 1-D `y`.
        """
        self._finalize()
        check_is_fitted(self)
        xp = array_api_namespace(X)
        X = validate_data(self, X, reset=False, dtype=_floats(xp))
        if xp is not None:
            return self._predict_xp(xp, X, "predict")
        return X @ self.coef_.T + self.intercept_

    def _predict_xp(self, xp, X, method):
        check_same_namespace(X, self, attribute="coef_", method=method)
        coef = self.coef_ if self.coef_.ndim == 1 else self.coef_.T
        return xp.matmul(xp.astype(X, self.coef_.dtype), coef) + self.intercept_

    def prediction_loss(self, X, y, *, multioutput="uniform_average"):
        r"""Compute the sparse prediction loss of Li et al. (2016) on this data.

        Half the mean squared error in standardised Y units, with the
        statistics learned in `fit`:

        .. math::

            L = \frac{1}{2 n q} \sum_{i=1}^{n} \sum_{j=1}^{q}
                \left(\frac{\hat y_{ij} - y_{ij}}{\sigma_j}\right)^2 .

        0.5 means no better than predicting each unit's mean (on the fitted
        data); 0 is a perfect prediction. Lower is better. Units that were
        constant in `fit` have :math:`\sigma_j = 1` (raw units).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer.
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            Activations of the second layer on the same samples.
        multioutput : {"uniform_average", "raw_values"}, default="uniform_average"
            Average over Y units, or return one loss per unit.

        Returns
        -------
        loss : float or ndarray of shape (n_units_y,)
            The loss.
        """
        if multioutput not in ("uniform_average", "raw_values"):
            raise ValueError(
                "multioutput must be 'uniform_average' or 'raw_values', got "
                f"{multioutput!r}."
            )
        self._finalize()
        check_is_fitted(self)
        xp = array_api_namespace(X)
        X = validate_data(self, X, reset=False, dtype=_floats(xp))
        Y = self._validate_second_view(y, X.shape[0], dtype=np.float64)
        if xp is not None:
            prediction = self._predict_xp(xp, X, "prediction_loss")
            residual = (xp.reshape(prediction, Y.shape) - Y) / self.y_scale_
            losses = 0.5 * xp.mean(residual**2, axis=0)
            if multioutput == "raw_values":
                return losses
            return float(xp.mean(losses))
        prediction = X @ self.coef_.T + self.intercept_
        residual = (prediction.reshape(Y.shape) - Y) / self.y_scale_
        losses = 0.5 * np.mean(residual**2, axis=0)
        if multioutput == "raw_values":
            return losses
        return float(losses.mean())

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 of the prediction, averaged over units.

        Higher is better (1 is perfect, 0 is the mean of ``y``); the uniform
        average over Y units, as ``sklearn.metrics.r2_score``. On the fitted
        data, with no constant Y unit, ``score = 1 - 2 * prediction_loss``.
        A Y unit that is constant on the data given and predicted exactly
        (a dead unit, whose prediction is its constant value) counts as
        R^2 = 1, as in ``r2_score``: with many dead units this flatters the
        average, so exclude them (``y_constant_``) when comparing layers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer.
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            Activations of the second layer on the same samples.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            R^2 of ``self.predict(X)`` against ``y``.
        """
        self._finalize()
        check_is_fitted(self)
        _, Y = self._validate_heldout(X, y)
        if self._y_is_1d:
            Y = Y[:, 0]
        # `predict` gets X as given, so that it checks the feature names of
        # a DataFrame (a validated array would have lost them, and warn).
        return float(RegressorMixin.score(self, X, Y, sample_weight=sample_weight))


class SparseLayerPredictor(StreamingMixin, _BaseSparsePredictor):
    r"""Predict each unit of one layer from all units of another, sparsely.

    The "sparse prediction" of Li et al. (2016): both layers are
    standardised per unit and every unit of the second layer (``y``) is
    regressed on all units of the first (``X``) with an L1 penalty, the
    "decay". Sweeping the decay tells a local code (each unit predicted by
    one unit of the other net) from slightly and fully distributed ones.

    Parameters
    ----------
    decay : float, default=1e-4
        Weight of the L1 penalty, >= 0. 0 is least squares. Each Y unit is
        a :class:`~sklearn.linear_model.Lasso` with
        ``alpha = decay * n_units_y`` on standardised data.
    tol : float, default=1e-4
        Convergence tolerance, as in :class:`~sklearn.linear_model.Lasso`:
        coordinate descent stops for a Y unit once the duality gap of its
        Lasso problem is at most ``tol`` times the unit's mean squared
        standardised activation (1 for a non-constant unit).
    max_iter : int, default=1000
        Maximum number of coordinate-descent sweeps per Y unit. A unit still
        above the tolerance triggers one ConvergenceWarning per fit.
    n_jobs : int, default=None
        Threads that share the Y units of each Lasso solve (the compiled
        solver runs without the GIL). None means 1 unless in a
        :obj:`joblib.parallel_backend` context; -1 means all processors.
    code_mass : float in (0, 1], default=0.9
        A Y unit's main inputs are the fewest X units whose absolute
        standardised weights sum to this fraction of the unit's total
        (``n_main_inputs_``); 1.0 counts every non-zero weight.
    max_slightly_distributed : int, default=4
        A Y unit with one main input is "local", with 2 to this many
        "slightly distributed", with more "fully distributed".

    Attributes
    ----------
    coef_ : ndarray of shape (n_units_y, n_units_x) or (n_units_x,)
        Weights in the original units: ``predict(X) = X @ coef_.T +
        intercept_``. 1-D when `fit` got a 1-D `y`, as in Lasso.
    intercept_ : ndarray of shape (n_units_y,) or float
        Offsets in the original units.
    standardized_coef_ : ndarray of shape (n_units_y, n_units_x)
        The weights :math:`W^T` of the standardised problem (the paper's
        mapping layer): ``standardized_coef_[j, i]`` maps X unit i to Y
        unit j, both in standard deviations.
    n_iter_ : ndarray of int of shape (n_units_y,) or int
        Coordinate-descent sweeps run per Y unit: 1 when ``decay=0`` (one
        closed-form solve), 0 when the start (all weights zero) already
        meets the tolerance.
    n_inputs_ : ndarray of int of shape (n_units_y,)
        Number of X units that carry each Y unit's prediction (non-zero
        weights). Per-unit diagnostics are 1-D arrays even for a 1-D `y`.
    n_main_inputs_ : ndarray of int of shape (n_units_y,)
        Fewest X units that carry `code_mass` of each Y unit's absolute
        standardised weight; 0 for a unit without weights.
    code_type_ : ndarray of str of shape (n_units_y,)
        "local" (one main input), "slightly distributed" (2 to
        `max_slightly_distributed`), "fully distributed" (more), or "none"
        (every weight is zero: the unit is predicted by its mean).
    training_loss_ : float
        :meth:`prediction_loss` on the fitted data.
    x_mean_, x_scale_ : ndarray of shape (n_units_x,)
        Per-unit mean and standard deviation (ddof=0) of X; the scale of a
        constant unit is 1.
    y_mean_, y_scale_ : ndarray of shape (n_units_y,)
        The same for Y.
    x_constant_ : ndarray of bool of shape (n_units_x,)
        Constant (dead) X units; their weights are 0.
    y_constant_ : ndarray of bool of shape (n_units_y,)
        Constant (dead) Y units; each is predicted by its constant value.
    n_features_in_ : int
        Number of X units.
    n_features_y_ : int
        Number of Y units.
    feature_names_in_ : ndarray of shape (n_units_x,)
        Unit names of X, when X has string column names.

    See Also
    --------
    SparseLayerPredictorCV : Chooses the decay by cross-validation along one
        warm-started path.
    sklearn.linear_model.Lasso : The per-unit problem.
    UnitMatcher : One-to-one matching of units by correlation.

    Notes
    -----
    With :math:`X_s` and :math:`Y_s` the activations standardised per unit
    with the statistics of the fitted data (mean, ddof=0 standard
    deviation; constant units are 0), :math:`n` samples and :math:`q` Y
    units, the weights minimise

    .. math::

        \frac{1}{2 n q} \lVert X_s W - Y_s \rVert_F^2
        + \mathrm{decay} \sum_{ij} |W_{ij}|,

    which separates into one Lasso per Y unit :math:`j`,

    .. math::

        \min_{w_j} \frac{1}{2 n} \lVert X_s w_j - y_{s,j} \rVert_2^2
        + \alpha \lVert w_j \rVert_1, \qquad \alpha = q \cdot \mathrm{decay}.

    All of them share :math:`G = X_s^T X_s / n`: it and :math:`X_s^T Y_s / n`
    are formed once, in one pass over the data, and each Lasso is solved by
    coordinate descent on :math:`G` alone, so its cost does not grow with
    the number of samples. ``decay = 0`` is the minimum-norm least-squares
    solution (directions of :math:`X_s` with singular value below
    ``LSTSQ_RCOND = 1e-6`` times the largest are null).

    The loss of the paper is the first term, :meth:`prediction_loss`.
    Because each non-constant standardised unit has unit variance, the
    :math:`R^2` of `score` on the fitted data is :math:`1 - 2 L`; this also
    holds with constant Y units, predicted exactly (:math:`R^2 = 1`,
    loss 0). On other data, `score` normalises by that data's variance and
    `prediction_loss` by the fitted one.

    **Code types.** Li et al. describe the codes they find as "a mix
    between a local (single unit) code and slightly, but not fully,
    distributed codes across multiple units". They give no numeric
    thresholds; skrep labels a Y unit by its number of main inputs
    (``n_main_inputs_``, the fewest inputs carrying `code_mass` of its L1
    weight mass, which ignores the tiny weights that correlated inputs
    leave): one is local, up to `max_slightly_distributed` ("a few", the
    paper's few-to-one mappings) slightly distributed, more fully
    distributed. Labels depend on the decay: read them along a sweep, as the
    paper does, not at ``decay=0`` where every weight is non-zero.

    References
    ----------
    .. [1] Y. Li, J. Yosinski, J. Clune, H. Lipson, J. Hopcroft. "Convergent
       Learning: Do different neural networks learn the same
       representations?". ICLR 2016.
    .. [2] R. Tibshirani. "Regression shrinkage and selection via the
       lasso". J. R. Stat. Soc. B 58(1), 1996.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import SparseLayerPredictor
    >>> rng = np.random.RandomState(0)
    >>> net1 = rng.randn(600, 8)
    >>> net2 = np.column_stack(
    ...     [net1[:, 0], net1[:, 1] - net1[:, 2], net1 @ np.ones(8)]
    ... ) + 0.1 * rng.randn(600, 3)
    >>> model = SparseLayerPredictor(decay=1e-2).fit(net1[:500], net2[:500])
    >>> model.code_type_
    array(['local', 'slightly distributed', 'fully distributed'], dtype='<U20')
    >>> model.n_inputs_
    array([1, 2, 8])
    >>> round(model.prediction_loss(net1[500:], net2[500:]), 3)
    0.005
    """

    _parameter_constraints: dict = {
        **_BaseSparsePredictor._parameter_constraints,
        "decay": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        decay=1e-4,
        *,
        tol=1e-4,
        max_iter=1000,
        n_jobs=None,
        code_mass=0.9,
        max_slightly_distributed=4,
    ):
        self.decay = decay
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.code_mass = code_mass
        self.max_slightly_distributed = max_slightly_distributed

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Standardise both layers and solve the L1-penalised regression.

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
        xp = array_api_namespace(X, Y)
        if xp is not None:
            return self._fit_xp(xp, X, Y)
        return self._fit_by_accumulating(X, Y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        return tags

    def _fit_xp(self, xp, X, Y):
        """`fit` on array-API inputs: moments and least squares on their device.

        With ``decay > 0`` the coordinate descent runs on a host copy of the
        small standardised moments (units x units), as on NumPy inputs.
        """
        device = X.device
        moments = XpMoments(
            X.shape[1], Y.shape[1], xp=xp, device=device, track_range=True
        ).update(X, Y)
        self._accumulator = None  # partial_fit does not continue on a device
        self.n_samples_seen_ = X.shape[0]
        problem = problem_from_xp_moments(moments)
        x_dead, y_dead = to_numpy(problem.x_constant), to_numpy(problem.y_constant)
        self._warn_constant(_Flags(x_dead, y_dead))
        decay = float(self.decay)
        q = Y.shape[1]
        if decay == 0:
            W = least_squares_xp(xp, problem.gram, problem.xy, LSTSQ_RCOND)
            n_iter, converged = np.ones(q, dtype=np.intp), np.ones(q, dtype=bool)
        else:
            W, n_iter, converged = lasso_gram(
                to_numpy(problem.gram), to_numpy(problem.xy), to_numpy(problem.yy),
                decay * q, np.zeros((X.shape[1], q)),
                tol=self.tol, max_iter=self.max_iter, n_jobs=self.n_jobs,
            )  # fmt: skip
            W = xp.asarray(W, dtype=problem.gram.dtype, device=device)
        self._set_fitted_xp(xp, problem, W, decay, n_iter, converged)
        return self

    def _set_fitted_xp(self, xp, problem, W, decay, n_iter, converged):
        """`_set_fitted` for namespace arrays (diagnostics on the host)."""
        W_host = to_numpy(W)
        host = _Flags(to_numpy(problem.x_constant), to_numpy(problem.y_constant))
        host.gram, host.xy, host.yy = (
            to_numpy(problem.gram),
            to_numpy(problem.xy),
            to_numpy(problem.yy),
        )
        host.x_factor = np.where(host.x_constant, 0.0, 1.0 / to_numpy(problem.x_scale))
        for name in ("x_mean", "x_scale", "y_mean", "y_scale"):
            setattr(host, name, to_numpy(getattr(problem, name)))
        self._set_fitted(host, W_host, decay, n_iter, converged)
        device = W.device
        self.x_mean_, self.x_scale_ = problem.x_mean, problem.x_scale
        self.y_mean_, self.y_scale_ = problem.y_mean, problem.y_scale
        self.x_constant_, self.y_constant_ = problem.x_constant, problem.y_constant
        self.standardized_coef_ = W.T
        coef = (W * problem.x_factor[:, None] * problem.y_scale).T
        intercept = problem.y_mean - xp.matmul(coef, problem.x_mean)
        self.training_loss_ = float(
            xp.mean(unit_losses_xp(xp, problem.gram, problem.xy, problem.yy, W))
        )
        for name in ("n_inputs_", "n_main_inputs_"):
            self.__dict__[name] = xp.asarray(self.__dict__[name], device=device)
        if self._y_is_1d:
            self.coef_ = coef[0, :]
            self.intercept_ = float(intercept[0])
        else:
            self.coef_ = coef
            self.intercept_ = intercept
            self.n_iter_ = xp.asarray(self.n_iter_, device=device)

    def _new_accumulator(self, n_units_x, n_units_y):
        return Moments(n_units_x, n_units_y, track_range=True)

    def _fit_accumulator(self, accumulator):
        problem = problem_from_moments(accumulator)
        self._warn_constant(problem, stacklevel=5)
        W, n_iter, converged = _solve(
            problem,
            float(self.decay),
            np.zeros_like(problem.xy),
            tol=self.tol,
            max_iter=self.max_iter,
            n_jobs=self.n_jobs,
        )
        self._set_fitted(problem, W, float(self.decay), n_iter, converged)


class SparseLayerPredictorCV(_BaseSparsePredictor):
    r"""Sparse layer prediction with the decay chosen by cross-validation.

    Like :class:`~sklearn.linear_model.LassoCV` for
    :class:`SparseLayerPredictor`: on each training fold the standardised
    moments are formed once and the whole decay grid is solved as one
    warm-started path (largest decay first); each decay is scored by the
    held-out :meth:`prediction_loss` (with that fold's statistics, as a
    refitted estimator would). The decay with the lowest mean held-out loss
    is refitted on all the data.

    Parameters
    ----------
    decays : array-like or int, default=(0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
        Decays to try (>= 0; the grid of Li et al. 2016 by default). An int
        asks for that many decays, log-spaced over three decades below the
        smallest decay that zeroes every weight on the full data.
    cv : int, cross-validation generator or iterable, default=5
        Splitting strategy, as in :func:`~sklearn.model_selection.check_cv`:
        an int is that many :class:`~sklearn.model_selection.KFold` folds.
    tol : float, default=1e-4
        Convergence tolerance, as in :class:`~sklearn.linear_model.Lasso`:
        coordinate descent stops for a Y unit once the duality gap of its
        Lasso problem is at most ``tol`` times the unit's mean squared
        standardised activation (1 for a non-constant unit).
    max_iter : int, default=1000
        Maximum number of coordinate-descent sweeps per Y unit. A unit still
        above the tolerance triggers one ConvergenceWarning per fit.
    n_jobs : int, default=None
        Threads that share the Y units of each Lasso solve (the compiled
        solver runs without the GIL). None means 1 unless in a
        :obj:`joblib.parallel_backend` context; -1 means all processors.
    code_mass : float in (0, 1], default=0.9
        A Y unit's main inputs are the fewest X units whose absolute
        standardised weights sum to this fraction of the unit's total
        (``n_main_inputs_``); 1.0 counts every non-zero weight.
    max_slightly_distributed : int, default=4
        A Y unit with one main input is "local", with 2 to this many
        "slightly distributed", with more "fully distributed".

    Attributes
    ----------
    decay_ : float
        The decay chosen.
    decays_ : ndarray of shape (n_decays,)
        The decays tried, increasing.
    loss_path_ : ndarray of shape (n_decays, n_splits)
        Held-out prediction loss of each decay (rows, in the order of
        ``decays_``) on each test fold (columns).
    coef_ : ndarray of shape (n_units_y, n_units_x) or (n_units_x,)
        Weights of the refitted model, in the original units.
    intercept_ : ndarray of shape (n_units_y,) or float
        Offsets of the refitted model.
    standardized_coef_ : ndarray of shape (n_units_y, n_units_x)
        Weights of the refitted model in standardised units.
    n_iter_ : ndarray of int of shape (n_units_y,) or int
        Coordinate-descent sweeps of the refit.
    n_inputs_ : ndarray of int of shape (n_units_y,)
        Non-zero weights per Y unit.
    n_main_inputs_ : ndarray of int of shape (n_units_y,)
        Fewest X units that carry `code_mass` of each unit's weight.
    code_type_ : ndarray of str of shape (n_units_y,)
        "local", "slightly distributed", "fully distributed" or "none", as
        in :class:`SparseLayerPredictor`.
    training_loss_ : float
        Prediction loss of the refit on all the data.
    x_mean_, x_scale_ : ndarray of shape (n_units_x,)
        Statistics of X on all the data.
    y_mean_, y_scale_ : ndarray of shape (n_units_y,)
        Statistics of Y on all the data.
    x_constant_ : ndarray of bool of shape (n_units_x,)
        Constant (dead) X units.
    y_constant_ : ndarray of bool of shape (n_units_y,)
        Constant (dead) Y units.
    n_features_in_ : int
        Number of X units.
    n_features_y_ : int
        Number of Y units.
    feature_names_in_ : ndarray of shape (n_units_x,)
        Unit names of X, when X has string column names.

    See Also
    --------
    SparseLayerPredictor : One decay.
    sklearn.linear_model.LassoCV : The single-target analogue.

    Notes
    -----
    The result equals a :class:`~sklearn.model_selection.GridSearchCV` of
    :class:`SparseLayerPredictor` over ``decay`` with the same folds and the
    negated :meth:`prediction_loss` as score, but costs one pass over the
    data per fold and small matrix work per decay. Ties between decays go to
    the smallest. Units constant on a training fold are handled there as in
    `fit` (zero weights, their constant predicted); warnings about them and
    about convergence are issued once per `fit`.

    References
    ----------
    .. [1] Y. Li, J. Yosinski, J. Clune, H. Lipson, J. Hopcroft. "Convergent
       Learning: Do different neural networks learn the same
       representations?". ICLR 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import SparseLayerPredictorCV
    >>> rng = np.random.RandomState(0)
    >>> net1 = rng.randn(100, 20)
    >>> net2 = net1[:, :5] + 0.5 * rng.randn(100, 5)
    >>> model = SparseLayerPredictorCV(cv=3).fit(net1, net2)
    >>> model.decays_
    array([0.e+00, 1.e-05, 1.e-04, 1.e-03, 1.e-02, 1.e-01])
    >>> model.loss_path_.mean(axis=1).round(3)
    array([0.152, 0.152, 0.151, 0.142, 0.112, 0.239])
    >>> model.decay_
    0.01
    """

    _parameter_constraints: dict = {
        **_BaseSparsePredictor._parameter_constraints,
        "decays": ["array-like", Interval(Integral, 1, None, closed="left")],
        "cv": ["cv_object"],
    }

    def __init__(
        self,
        decays=PAPER_DECAYS,
        *,
        cv=5,
        tol=1e-4,
        max_iter=1000,
        n_jobs=None,
        code_mass=0.9,
        max_slightly_distributed=4,
    ):
        self.decays = decays
        self.cv = cv
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.code_mass = code_mass
        self.max_slightly_distributed = max_slightly_distributed

    def _validated_decays(self):
        """Check the decay grid given: sorted and unique; None for an int."""
        if isinstance(self.decays, Integral):
            return None
        try:
            decays = np.asarray(self.decays, dtype=np.float64)
        except (TypeError, ValueError):
            decays = None
        if decays is None or decays.ndim != 1 or decays.size == 0:
            raise ValueError(
                "decays must be an int or a non-empty 1-D array of decays >= 0, "
                f"got {self.decays!r}."
            )
        decays = check_array(
            decays, ensure_2d=False, dtype=np.float64, input_name="decays"
        )
        if np.any(decays < 0):
            raise ValueError(f"decays must be >= 0, got {decays.tolist()}.")
        return np.unique(decays)

    def _automatic_decays(self, problem):
        """Log-space `decays` decays up to the one that zeroes every weight."""
        top = np.max(np.abs(problem.xy), initial=0.0) / problem.xy.shape[1]
        if top == 0:
            return np.zeros(1)
        return np.unique(top * np.logspace(-3, 0, self.decays))

    def _path_losses(self, problem, heldout, decays):
        """Held-out loss of each decay along one warm-started path."""
        losses = np.empty(decays.size)
        not_converged = []
        W = np.zeros_like(problem.xy)
        for i in range(decays.size - 1, -1, -1):
            W, _, converged = _solve(
                problem,
                decays[i],
                W,
                tol=self.tol,
                max_iter=self.max_iter,
                n_jobs=self.n_jobs,
            )
            losses[i] = np.mean(unit_losses(*heldout, W))
            if not converged.all():
                not_converged.append(decays[i])
        return losses, not_converged

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, groups=None):
        """Choose the decay by cross-validation, then refit on all the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer: rows are samples, columns units.
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            Activations of the second layer on the same samples.
        groups : array-like of shape (n_samples,), default=None
            Group labels for group-aware splitters such as
            :class:`~sklearn.model_selection.GroupKFold`.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        decays = self._validated_decays()
        X, Y = self._validate_views(X, y)
        problem = self._problem(X, Y)
        self._warn_constant(problem, stacklevel=4)
        if decays is None:
            decays = self._automatic_decays(problem)
        cv = check_cv(self.cv)
        splits = list(cv.split(X, Y, groups))
        loss_path = np.empty((decays.size, len(splits)))
        not_converged = set()
        for fold, (train, test) in enumerate(splits):
            fold_problem = self._problem(X[train], Y[train])
            heldout = heldout_problem(fold_problem, X[test], Y[test])
            loss_path[:, fold], failed = self._path_losses(
                fold_problem, heldout, decays
            )
            not_converged.update(failed)
        if not_converged:
            warn(
                "Coordinate descent did not converge on some cross-validation "
                "folds for decay(s) "
                f"{', '.join(f'{d:g}' for d in sorted(not_converged))}. "
                "Increase max_iter or tol.",
                ConvergenceWarning,
            )
        self.decays_ = decays
        self.loss_path_ = loss_path
        self.decay_ = float(decays[np.argmin(loss_path.mean(axis=1))])
        W, n_iter, converged = _solve(
            problem,
            self.decay_,
            np.zeros_like(problem.xy),
            tol=self.tol,
            max_iter=self.max_iter,
            n_jobs=self.n_jobs,
        )
        self._set_fitted(problem, W, self.decay_, n_iter, converged)
        return self
