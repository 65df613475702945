"""Unit matching between two layers (Li et al., ICLR 2016, "Convergent Learning").

:class:`UnitMatcher` correlates every unit of one layer with every unit of
another and pairs them up, one-to-one (the Hungarian assignment) or each Y
unit with its best X unit (semi-matching). :func:`match_groups` finds
many-to-many correspondences by spectral clustering of both layers' units.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.cluster import SpectralClustering
from sklearn.utils import check_array
from sklearn.utils._array_api import check_same_namespace
from sklearn.utils._param_validation import StrOptions, validate_params
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

from skrep._core.correlation import (
    column_correlations,
    correlation_from_moments,
    correlation_matrix,
    into_safe_range,
    unit_stats,
)
from skrep._core.moments import Moments
from skrep._core.mutual_info import (
    mutual_info_matrix,
    paired_mutual_info,
    warn_if_too_many_bins,
)
from skrep._core.xp import XpMoments, column_correlations_xp, to_numpy
from skrep._params import Interval
from skrep.base import SkrepTags, StreamingMixin, array_api_namespace, both_views
from skrep.exceptions import DeadUnitWarning, warn

__all__ = ["UnitMatcher", "match_groups"]


class UnitMatcher(StreamingMixin, TransformerMixin, BaseEstimator):
    r"""Pair the units of two layers by correlation or mutual information.

    Every unit of X (the first layer) is correlated with every unit of Y
    (the second layer, passed as ``y``) over the samples; then each Y unit
    gets an X partner: its most similar X unit ("semi-matching", repeats
    allowed) or its partner in the one-to-one assignment that maximises the
    summed similarity ("matching", the Hungarian algorithm).

    Parameters
    ----------
    method : {"matching", "semi-matching"}, default="matching"
        How Y units get partners. "matching": one-to-one, maximising the
        summed similarity (with fewer X units than Y units, the Y units left
        over get no partner, ``match_ = -1``). "semi-matching": each Y unit
        takes its most similar X unit; an X unit may serve several Y units.
    metric : {"correlation", "mutual_info"}, default="correlation"
        The similarity matched on. "correlation": signed Pearson correlation,
        as in the paper (an anti-correlated pair is a poor match); it streams
        (`partial_fit`). "mutual_info": the paper's plug-in mutual
        information from 2-D histograms, in nats, with the Miller-Madow bias
        correction (see Notes); it also sees non-linear, non-monotone
        dependence, but needs all the rows at once (`fit` only).
    n_bins : int, default=10
        Bins per unit for ``metric="mutual_info"``, the zero bin included
        (see Notes). With ``n_bins**2`` above the number of samples (less
        than one sample expected per joint histogram cell) the estimate is
        mostly bias, and `fit` and `score` issue a
        :class:`~skrep.exceptions.BinningWarning`. Ignored for
        ``metric="correlation"``.

    Attributes
    ----------
    correlation_ : ndarray of shape (n_units_x, n_units_y)
        Pearson correlation of each X unit (row) with each Y unit (column),
        whatever the metric. Constant (dead) units have correlation 0.
    mutual_info_ : ndarray of shape (n_units_x, n_units_y)
        Mutual information (nats, Miller-Madow corrected) of each pair of
        units; only with ``metric="mutual_info"``. Constant units have 0.
    similarity_ : ndarray of shape (n_units_x, n_units_y)
        The matrix matched on: ``correlation_`` or ``mutual_info_``.
    match_ : ndarray of int of shape (n_units_y,)
        The X unit paired with each Y unit by `method`, -1 for a Y unit
        without partner (only with "matching" and fewer X than Y units).
    match_correlation_ : ndarray of shape (n_units_y,)
        Pearson correlation of each Y unit with its partner, NaN exactly
        where ``match_ == -1``.
    match_similarity_ : ndarray of shape (n_units_y,)
        The same with the matched metric (equal to ``match_correlation_``
        for ``metric="correlation"``), NaN where ``match_ == -1``.
    semi_match_ : ndarray of int of shape (n_units_y,)
        Each Y unit's most similar X unit (the semi-matching).
    one_to_one_match_ : ndarray of int of shape (n_units_y,)
        Each Y unit's partner in the optimal one-to-one assignment (the
        matching), -1 where it has none.
    semi_matching_mean_ : float
        Mean similarity of the semi-matching over all Y units (the paper's
        "semi-matching" figure). With ``method="semi-matching"``, `score` on
        the fitted data returns it.
    matching_mean_ : float
        Mean similarity of the one-to-one matching over the matched Y units.
        Never above ``semi_matching_mean_`` when every Y unit is matched.
        With ``method="matching"``, `score` on the fitted data returns it.
    overlap_ : float
        Fraction of matched Y units whose one-to-one partner is also their
        most similar X unit.
    x_constant_ : ndarray of bool of shape (n_units_x,)
        X units that are constant (dead) on the fitted data, by the rule in
        Notes.
    y_constant_ : ndarray of bool of shape (n_units_y,)
        Y units that are constant (dead) on the fitted data.
    n_samples_seen_ : int
        Rows seen by `fit`, or by all `partial_fit` calls since.
    n_features_in_ : int
        Number of units of X.
    n_features_y_ : int
        Number of units of Y.
    feature_names_in_ : ndarray of shape (n_units_x,)
        Unit names of X, when X has string column names.
    feature_names_y_ : ndarray of shape (n_units_y,)
        Unit names of Y, when y has string column names (a DataFrame).

    See Also
    --------
    match_groups : Many-to-many groups of units by spectral clustering.
    SVCCA : Similarity of the subspaces rather than of single units.

    Notes
    -----
    With :math:`C_{ij}` the similarity of X unit :math:`i` and Y unit
    :math:`j`, semi-matching gives Y unit :math:`j` the partner
    :math:`\operatorname{argmax}_i C_{ij}` and matching solves

    .. math::

        \max_{\pi \text{ injective}} \sum_j C_{\pi(j) j}

    (over the Y units when :math:`n_x \geq n_y`, over the X units otherwise)
    with :func:`scipy.optimize.linear_sum_assignment`.

    **Constant (dead) units.** A unit is constant when its standard
    deviation is at most :math:`10^{-12}` times its root-mean-square value,
    ``std <= 1e-12 * sqrt(mean**2 + std**2)`` (skrep's one constant-unit
    rule, :func:`skrep._core.moments.constant_units`); exactly constant and
    all-zero units are. The rule is relative to each unit's own scale: a
    unit at 1e8 varying by 1e-3, or at 1 varying by 1e-11, is signal. A
    constant unit has similarity 0 with every unit, in `fit` and in `score`
    alike, with a :class:`~skrep.exceptions.DeadUnitWarning` (once per fit;
    in `score`, when a matched pair holds one).

    **Streaming.** With ``metric="correlation"``, `partial_fit` is exact:
    it accumulates the rows' means, per-unit sums of squares and centred
    cross-products :math:`X_c^T Y_c` (memory grows with
    :math:`n_x n_y`, not with the rows), and the correlations and matching
    are computed once, when a fitted attribute, `transform` or `score` is
    first used. Over any split of the rows into batches it equals `fit` on
    all of them, to round-off; `fit` takes the same route. Mutual
    information cannot stream: its equal-mass bins are quantiles of all the
    rows, so `partial_fit` raises a ``ValueError`` with
    ``metric="mutual_info"``.

    **Mutual information.** Each unit is discretised on its own, into at
    most ``n_bins`` bins. A unit with at most ``n_bins`` distinct values
    gets one bin per value. Otherwise, when it has no negative values and
    some exact zeros (a ReLU unit), the zeros form one bin and the positive
    values are split into ``n_bins - 1`` equal-mass bins at their
    percentiles; any other unit is split into ``n_bins`` equal-mass bins.
    Bin edges are data values and ties never straddle one: an edge inside a
    run of equal values moves to the run's start, or past the run when that
    would leave the bin below empty (as when the minimum holds a large share
    of the samples), and the rest is re-split into equal shares, so no bin
    is empty. The binning depends on the ranks only, so the mutual
    information does not change when a unit is multiplied by a positive
    number, however large. With :math:`n_c` the
    samples in cell :math:`c` of a histogram, :math:`n` the samples and
    :math:`m` the non-empty cells, the Miller-Madow entropy is

    .. math::

        \hat H = -\sum_c \frac{n_c}{n} \log \frac{n_c}{n} + \frac{m - 1}{2n},
        \qquad \hat I(x; y) = \hat H(x) + \hat H(y) - \hat H(x, y).

    The correction removes the first-order bias of the plug-in estimate, so
    independent units score close to 0 (slightly negative values happen) and
    a unit against itself scores its own Miller-Madow entropy (about
    :math:`\log(\text{n\_bins})` at most). The joint counts are computed block by
    block from one-hot codes with one matrix product per block of X units;
    no array of shape (n_units_x, n_units_y, n_bins, n_bins) is formed.

    `score` recomputes the similarity of the matched pairs on the data it
    is given (bins included), so held-out data give a held-out similarity;
    on the fitted data it returns ``matching_mean_`` (``method="matching"``)
    or ``semi_matching_mean_`` (``method="semi-matching"``).

    References
    ----------
    .. [1] Y. Li, J. Yosinski, J. Clune, H. Lipson, J. Hopcroft. "Convergent
       Learning: Do different neural networks learn the same
       representations?". ICLR 2016.
    .. [2] G. A. Miller. "Note on the bias of information estimates". In
       Information Theory in Psychology, 1955.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import UnitMatcher
    >>> rng = np.random.RandomState(0)
    >>> net1 = rng.randn(300, 5)
    >>> perm = np.array([3, 0, 4, 1, 2])
    >>> net2 = 2.0 * net1[:, perm] + 0.3 * rng.randn(300, 5)
    >>> matcher = UnitMatcher().fit(net1[:200], net2[:200])
    >>> matcher.match_
    array([3, 0, 4, 1, 2])
    >>> matcher.match_correlation_.round(2)
    array([0.99, 0.99, 0.99, 0.99, 0.99])
    >>> round(matcher.score(net1[200:], net2[200:]), 2)
    0.99
    >>> bool(np.array_equal(matcher.transform(net1), net1[:, perm]))
    True

    Streaming over batches of rows gives the same fit:

    >>> streamed = UnitMatcher()
    >>> for start in range(0, 200, 50):
    ...     _ = streamed.partial_fit(net1[start : start + 50], net2[start : start + 50])
    >>> streamed.match_
    array([3, 0, 4, 1, 2])
    >>> bool(np.allclose(streamed.correlation_, matcher.correlation_))
    True
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"matching", "semi-matching"})],
        "metric": [StrOptions({"correlation", "mutual_info"})],
        "n_bins": [Interval(Integral, 2, 256, closed="both")],
    }

    def __init__(self, method="matching", *, metric="correlation", n_bins=10):
        self.method = method
        self.metric = metric
        self.n_bins = n_bins

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.array_api_support = self.metric == "correlation"
        return tags

    def __skrep_tags__(self):
        if self.metric == "mutual_info":
            # Rank-based: positive scaling keeps every bin; a shift does not
            # (it turns a ReLU unit's zero bin into equal-mass bins). The
            # maximum, a unit against itself, is that unit's entropy.
            return SkrepTags(
                maximum=None,
                invariances=both_views(
                    "unit_scaling", "isotropic_scaling", "unit_permutation"
                ),
                streaming=False,
            )
        return SkrepTags(
            maximum=1.0,
            invariances=both_views(
                "shift", "unit_scaling", "isotropic_scaling", "unit_permutation"
            ),
            streaming=True,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Correlate every unit pair and match the units of Y to those of X.

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
        if self.metric == "correlation":
            return self._fit_by_accumulating(X, Y)
        return self._fit_mutual_info(X, Y)

    def partial_fit(self, X, y):
        """Add a batch of rows (``metric="correlation"`` only); lazy, exact.

        The first call fixes the units of both views; each call adds its
        rows to exact running moments. The correlations and the matching
        are computed once, when a fitted attribute, `transform` or `score`
        is first used, and equal `fit` on all the rows seen. After `fit`,
        `partial_fit` continues from the rows `fit` saw.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            A batch of the first layer's activations (one row or more).
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            The same samples in the second layer.

        Returns
        -------
        self : object
            The estimator, holding the rows seen so far.

        Raises
        ------
        ValueError
            With ``metric="mutual_info"``, which needs all the rows at once.
        """
        self._check_streamable()
        fitted = "n_samples_seen_" in self.__dict__
        if fitted and self.__dict__.get("_accumulator") is None:
            raise ValueError(
                "This UnitMatcher was fitted on activations too large or too "
                "small for float64 moments (metric='mutual_info' rescaled "
                "them), so partial_fit cannot continue from those rows. Divide "
                "the activations by a constant and fit again."
            )
        return super().partial_fit(X, y)

    # -- the streaming protocol ---------------------------------------------

    def _check_streamable(self):
        if self.metric == "mutual_info":
            raise ValueError(
                "UnitMatcher(metric='mutual_info') cannot be fitted by "
                "partial_fit: its equal-mass bins are quantiles of all the "
                "rows, which batches do not give. Use metric='correlation' "
                "(exact streaming) or fit on all the rows at once."
            )

    def _new_accumulator(self, n_units_x, n_units_y):
        self._check_streamable()
        return Moments(n_units_x, n_units_y, products="cross")

    def _fit_accumulator(self, accumulator):
        self._check_streamable()
        self._set_correlation(accumulator)
        self.__dict__.pop("mutual_info_", None)
        self._set_matching(self.correlation_)

    def _fit_xp(self, xp, X, Y):
        """`fit` on array-API inputs: the products on their device.

        The correlation matrix is formed on the device; the assignment
        (:func:`scipy.optimize.linear_sum_assignment`) runs on a host copy of
        it, and every fitted array is put back in the inputs' namespace.
        """
        if self.metric != "correlation":
            raise TypeError(
                "UnitMatcher(metric='mutual_info') takes NumPy arrays only; "
                "with array-API inputs use metric='correlation'."
            )
        moments = XpMoments(
            X.shape[1], Y.shape[1], xp=xp, device=X.device, products="cross"
        ).update(X, Y)
        self._accumulator = None  # partial_fit does not continue on a device
        self.n_samples_seen_ = X.shape[0]
        p = X.shape[1]
        cxy = moments.covariances()[4]
        constant = moments.constant
        norms = to_numpy(xp.sqrt(moments.squares)).copy()
        norms[constant] = 1.0
        norms = xp.asarray(norms, dtype=cxy.dtype, device=X.device)
        correlation = cxy / (norms[:p, None] * norms[None, p:])
        correlation = to_numpy(xp.clip(correlation, -1.0, 1.0)).copy()
        correlation[constant[:p], :] = 0.0
        correlation[:, constant[p:]] = 0.0
        self.correlation_ = correlation
        self.x_constant_, self.y_constant_ = constant[:p], constant[p:]
        _warn_constant(int(constant[:p].sum()), int(constant[p:].sum()))
        self._set_matching(correlation)
        for name in (
            "correlation_", "similarity_", "semi_match_", "one_to_one_match_",
            "match_", "match_correlation_", "match_similarity_", "x_constant_",
            "y_constant_",
        ):  # fmt: skip
            self.__dict__[name] = xp.asarray(self.__dict__[name], device=X.device)
        return self

    def _fit_mutual_info(self, X, Y):
        X_moments, Y_moments = into_safe_range(X), into_safe_range(Y)
        moments = Moments(X.shape[1], Y.shape[1], products="cross")
        moments.update(X_moments, Y_moments)
        rescaled = X_moments is not X or Y_moments is not Y
        # The moments of rescaled rows cannot take further rows.
        self._accumulator = None if rescaled else moments
        self.n_samples_seen_ = X.shape[0]
        self._set_correlation(moments)
        warn_if_too_many_bins(X.shape[0], self.n_bins)
        self.mutual_info_ = mutual_info_matrix(
            X,
            Y,
            self.n_bins,
            x_constant=self.x_constant_,
            y_constant=self.y_constant_,
        )
        self._set_matching(self.mutual_info_)
        return self

    def _set_correlation(self, moments):
        correlation, x_constant, y_constant = correlation_from_moments(moments)
        self.correlation_ = correlation
        self.x_constant_, self.y_constant_ = x_constant, y_constant
        _warn_constant(int(x_constant.sum()), int(y_constant.sum()))

    def _set_matching(self, similarity):
        """Match on `similarity`; set the matches and their summaries."""
        n_y = similarity.shape[1]
        columns = np.arange(n_y)
        self.similarity_ = similarity
        self.semi_match_ = np.argmax(similarity, axis=0).astype(np.intp)
        rows, cols = linear_sum_assignment(similarity, maximize=True)
        self.one_to_one_match_ = np.full(n_y, -1, dtype=np.intp)
        self.one_to_one_match_[cols] = rows
        chosen = (
            self.one_to_one_match_ if self.method == "matching" else self.semi_match_
        )
        self.match_ = chosen.copy()

        matched = self.match_ >= 0
        partners = self.match_[matched]
        self.match_correlation_ = np.full(n_y, np.nan)
        self.match_correlation_[matched] = self.correlation_[partners, columns[matched]]
        self.match_similarity_ = np.full(n_y, np.nan)
        self.match_similarity_[matched] = similarity[partners, columns[matched]]
        self.semi_matching_mean_ = float(similarity[self.semi_match_, columns].mean())
        self.matching_mean_ = float(similarity[rows, cols].mean())
        self.overlap_ = float(np.mean(self.semi_match_[cols] == rows))

    # -- using the fit ------------------------------------------------------

    def _check_all_matched(self):
        unmatched = np.flatnonzero(to_numpy(self.match_) < 0)
        if unmatched.size:
            raise ValueError(
                f"{unmatched.size} of the {self.match_.size} units of Y have no "
                f"partner in X (Y units {unmatched[:10].tolist()}"
                f"{'...' if unmatched.size > 10 else ''}): a one-to-one matching "
                f"pairs at most {self.n_features_in_} units. X cannot be "
                "re-ordered into Y's order; use method='semi-matching', or "
                "match_ and match_correlation_ directly."
            )

    def transform(self, X):
        """Re-order X's units into Y's order: ``X[:, match_]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer.

        Returns
        -------
        X_matched : ndarray of shape (n_samples, n_units_y)
            Column ``j`` is the X unit paired with Y unit ``j``.

        Raises
        ------
        ValueError
            If some Y unit has no partner (``match_ == -1``).
        """
        self._finalize()
        check_is_fitted(self)
        xp = array_api_namespace(X)
        floats = [np.float64, np.float32] if xp is None else [xp.float64, xp.float32]
        X = validate_data(self, X, reset=False, dtype=floats)
        check_same_namespace(X, self, attribute="match_", method="transform")
        self._check_all_matched()
        if xp is not None:
            return xp.take(X, self.match_, axis=1)
        return X[:, self.match_]

    def get_feature_names_out(self, input_features=None):
        """Names of the output units: which X unit stands for which Y unit.

        Column ``j`` of `transform`'s output is X unit ``match_[j]``, the
        partner of Y unit ``j``; it is named ``f"{x_name}_for_{y_name}"``,
        e.g. ``x7_for_y0``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Names of X's units. None: ``feature_names_in_`` when X had
            string column names in `fit`, else ``x0, x1, ...``. Y's units
            are named by ``feature_names_y_`` when y had string column
            names in `fit`, else ``y0, y1, ...``.

        Returns
        -------
        feature_names_out : ndarray of str of shape (n_units_y,)
            One name per Y unit, in Y's order (an X name repeats when
            semi-matching pairs one X unit with several Y units).

        Examples
        --------
        >>> import numpy as np
        >>> from skrep import UnitMatcher
        >>> rng = np.random.RandomState(0)
        >>> X = rng.randn(50, 3)
        >>> matcher = UnitMatcher().fit(X, X[:, [2, 0]])
        >>> matcher.get_feature_names_out()
        array(['x2_for_y0', 'x0_for_y1'], dtype=object)
        """
        self._finalize()
        check_is_fitted(self)
        self._check_all_matched()
        x_names = _check_feature_names_in(self, input_features)
        y_names = getattr(self, "feature_names_y_", None)
        if y_names is None:
            y_names = [f"y{j}" for j in range(self.n_features_y_)]
        return np.asarray(
            [
                f"{x_names[i]}_for_{y_name}"
                for i, y_name in zip(to_numpy(self.match_), y_names)
            ],
            dtype=object,
        )

    def score(self, X, y):
        """Mean similarity of the matched pairs, measured on the data given.

        The pairs come from `fit`; their correlation (or, with
        ``metric="mutual_info"``, their mutual information, bins recomputed
        on this data) is measured on ``X`` and ``y``, so this is a held-out
        score when they are held-out data. Y units without partner are left
        out of the mean. A pair holding a constant (dead) unit on this data
        counts as 0, with a :class:`~skrep.exceptions.DeadUnitWarning`. On
        the fitted data, the score is ``matching_mean_`` (or
        ``semi_matching_mean_`` with ``method="semi-matching"``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer.
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            Activations of the second layer on the same samples.

        Returns
        -------
        score : float
            Mean Pearson correlation of the matched pairs (in [-1, 1]), or
            their mean mutual information in nats.
        """
        return super().score(X, y)

    _scores_from_fit = True

    def _in_sample_score(self):
        if self.method == "matching":
            return float(self.matching_mean_)
        return float(self.semi_matching_mean_)

    def _score(self, X, Y):
        check_same_namespace(X, self, attribute="match_", method="score")
        xp = array_api_namespace(X, Y)
        if xp is not None:
            return self._score_xp(xp, X, Y)
        matched = np.flatnonzero(self.match_ >= 0)
        X_pairs, Y_pairs = X[:, self.match_[matched]], Y[:, matched]
        if self.metric == "mutual_info":
            warn_if_too_many_bins(X.shape[0], self.n_bins)
            values = paired_mutual_info(X_pairs, Y_pairs, self.n_bins)
            constant = (
                unit_stats(into_safe_range(X_pairs))[2]
                | unit_stats(into_safe_range(Y_pairs))[2]
            )
            values[constant] = 0.0
        else:
            values, constant = column_correlations(X_pairs, Y_pairs)
        _warn_dead_pairs(int(np.count_nonzero(constant)))
        return values.mean()

    def _held_out_accumulator(self, n_units_x, n_units_y):
        if self.metric != "correlation":
            return None  # the bins are quantiles of the rows
        return Moments(n_units_x, n_units_y, products="cross")

    def _score_moments(self, moments):
        """`_score` from the moments of the rows: the matched correlations."""
        correlation, x_constant, y_constant = correlation_from_moments(moments)
        matched = np.flatnonzero(self.match_ >= 0)
        partners = self.match_[matched]
        dead = x_constant[partners] | y_constant[matched]
        _warn_dead_pairs(int(np.count_nonzero(dead)))
        return correlation[partners, matched].mean()

    def _score_xp(self, xp, X, Y):
        match = to_numpy(self.match_)
        matched = np.flatnonzero(match >= 0)
        X_pairs = xp.take(X, xp.asarray(match[matched], device=X.device), axis=1)
        Y_pairs = xp.take(Y, xp.asarray(matched, device=Y.device), axis=1)
        values, constant = column_correlations_xp(xp, X_pairs, Y_pairs)
        _warn_dead_pairs(int(np.count_nonzero(constant)))
        return xp.mean(values)


def _warn_dead_pairs(n_constant):
    if n_constant:
        warn(
            f"{n_constant} matched pair(s) have a constant (dead) unit on "
            "this data (standard deviation at most 1e-12 of its "
            "root-mean-square value); their similarity counts as 0.",
            DeadUnitWarning,
        )


def _warn_constant(n_x, n_y):
    if n_x or n_y:
        warn(
            f"{n_x} unit(s) of X and {n_y} unit(s) of Y are constant (dead): "
            "their standard deviation is at most 1e-12 of their root-mean-square "
            "value, they carry no information and their similarity with every "
            "unit is set to 0.",
            DeadUnitWarning,
        )


# ---------------------------------------------------------------------------
# Many-to-many groups.
# ---------------------------------------------------------------------------


def _affinity_abs(correlation):
    return np.abs(correlation)


def _affinity_positive(correlation):
    return np.maximum(correlation, 0.0)


_AFFINITIES = {"abs": _affinity_abs, "positive": _affinity_positive}


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "n_groups": [Interval(Integral, 1, None, closed="left")],
        "affinity": [StrOptions(set(_AFFINITIES)), callable],
        "assign_labels": [StrOptions({"kmeans", "discretize", "cluster_qr"})],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def match_groups(
    X, y, n_groups, *, affinity="abs", assign_labels="kmeans", random_state=None
):
    r"""Many-to-many correspondence: groups of units shared by two layers.

    Units of both layers are clustered together by spectral clustering of
    the affinity derived from the block correlation matrix

    .. math::

        C = \begin{pmatrix} C_{XX} & C_{XY} \\ C_{YX} & C_{YY} \end{pmatrix},

    within-layer correlations on the diagonal blocks and between-layer
    correlations off it (Li et al. 2016, section 4). A group holding units
    of both layers is a set of X units that corresponds to a set of Y units.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_units_x)
        Activations of the first layer: rows are samples, columns units.
    y : array-like of shape (n_samples, n_units_y) or (n_samples,)
        Activations of the second layer on the same samples.
    n_groups : int
        Number of groups (clusters) over the units of both layers, at most
        the number of non-constant units.
    affinity : {"abs", "positive"} or callable, default="abs"
        How correlations become affinities: "abs" takes :math:`|C|`
        (anti-correlated units belong together), "positive" takes
        :math:`\max(C, 0)`. A callable receives the (n_alive, n_alive)
        correlation matrix of the non-constant units (diagonal 1) and
        returns a symmetric, finite, non-negative matrix of the same shape.
    assign_labels : {"kmeans", "discretize", "cluster_qr"}, default="kmeans"
        How :class:`~sklearn.cluster.SpectralClustering` labels the
        spectral embedding.
    random_state : int, RandomState instance or None, default=None
        Seeds the embedding solver and k-means.

    Returns
    -------
    x_labels : ndarray of int of shape (n_units_x,)
        Group of each X unit, -1 for constant (dead) units, which are left
        out of the clustering with a warning.
    y_labels : ndarray of int of shape (n_units_y,)
        Group of each Y unit, -1 for constant units. Groups are numbered
        jointly: X unit ``i`` and Y unit ``j`` correspond when
        ``x_labels[i] == y_labels[j]``.

    See Also
    --------
    UnitMatcher : One-to-one and one-to-many matching of single units.

    References
    ----------
    .. [1] Y. Li, J. Yosinski, J. Clune, H. Lipson, J. Hopcroft. "Convergent
       Learning: Do different neural networks learn the same
       representations?". ICLR 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import match_groups
    >>> rng = np.random.RandomState(0)
    >>> latent = rng.randn(500, 2)
    >>> net1 = latent[:, [0, 0, 1, 1]] + 0.3 * rng.randn(500, 4)
    >>> net2 = latent[:, [1, 0, 1]] + 0.3 * rng.randn(500, 3)
    >>> x_labels, y_labels = match_groups(net1, net2, n_groups=2, random_state=0)
    >>> bool(x_labels[0] == x_labels[1] == y_labels[1])
    True
    >>> bool(x_labels[2] == x_labels[3] == y_labels[0] == y_labels[2])
    True
    >>> bool(x_labels[0] != x_labels[2])
    True
    """
    X = check_array(
        X, dtype=[np.float64, np.float32], ensure_min_samples=2, input_name="X"
    )
    Y = check_array(
        y,
        ensure_2d=False,
        dtype=[np.float64, np.float32],
        ensure_min_samples=2,
        input_name="y",
    )
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2:
        raise ValueError(f"y must be 1-D or 2-D, got {Y.ndim} dimensions.")
    if Y.shape[0] != X.shape[0]:
        raise ValueError(
            "X and y have different numbers of rows (samples): "
            f"{X.shape[0]} and {Y.shape[0]}."
        )
    n_x = X.shape[1]
    units = np.hstack([X, Y])
    correlation, constant, _ = correlation_matrix(units, units)
    _warn_constant(int(constant[:n_x].sum()), int(constant[n_x:].sum()))
    alive = np.flatnonzero(~constant)
    if n_groups > alive.size:
        raise ValueError(
            f"n_groups={n_groups} exceeds the {alive.size} non-constant units "
            "of X and Y together."
        )
    correlation = correlation[np.ix_(alive, alive)]
    np.fill_diagonal(correlation, 1.0)
    transform = _AFFINITIES.get(affinity, affinity)
    weights = np.asarray(transform(correlation), dtype=np.float64)
    if weights.shape != correlation.shape:
        raise ValueError(
            f"The affinity must have shape {correlation.shape}, got {weights.shape}."
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("The affinity must be finite and non-negative.")
    if not np.allclose(weights, weights.T):
        raise ValueError("The affinity must be symmetric.")
    if n_groups == 1:
        alive_labels = np.zeros(alive.size, dtype=np.intp)
    else:
        clustering = SpectralClustering(
            n_clusters=n_groups,
            affinity="precomputed",
            assign_labels=assign_labels,
            random_state=random_state,
        )
        alive_labels = clustering.fit_predict(weights)
    labels = np.full(units.shape[1], -1, dtype=np.intp)
    labels[alive] = alive_labels
    return labels[:n_x], labels[n_x:]
