r"""Inference for representation similarity: p-values and confidence intervals.

Three questions, three tools:

- :func:`permutation_test`: *is there any shared structure?* The null
  distribution of a (held-out, cross-validated or in-sample) score with the
  rows of the second view permuted, whole groups at a time when the rows
  come in groups (the positions of one image);
- :func:`bootstrap_interval`: *how precisely is the similarity known, given
  the stimuli?* A confidence interval from resampling the rows (or whole
  groups) with replacement;
- :func:`seed_comparison`: *is it reproducible across training runs, and
  above a matched chance level?* Per-seed scores against their chance
  scores (untrained or label-shuffled networks), with a confidence interval
  for the mean difference and a sign-flip (or rank) test.

The results are small frozen dataclasses that hold their null or bootstrap
distributions. See the user guide page "Inference" for the reasoning
behind each null.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import scipy.special
import scipy.stats
from sklearn.base import clone
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing, check_array, check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    StrOptions,
    validate_params,
)
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _num_samples, check_consistent_length

from skrep._cca import PWCCA, SVCCA
from skrep._core.permutation import (
    CHUNK,
    CCAPermutationNull,
    CCAResampledScores,
    MatchingPermutationNull,
    MatchingResampledScores,
    all_permutations,
    count_permutations,
    draw_permutations,
    draw_resamples,
    exchangeable_blocks,
    resampling_units,
    row_counts,
    rows_of,
)
from skrep._matching import UnitMatcher
from skrep._params import Interval
from skrep.base import host_arrays
from skrep.exceptions import (
    SkrepWarning,
    UnstableTruncationWarning,
    _Collected,
    _gather,
    _summarized,
    warn,
)

__all__ = [
    "BootstrapResult",
    "PermutationTestResult",
    "SeedComparisonResult",
    "bootstrap_interval",
    "permutation_test",
    "seed_comparison",
]

#: Relative tolerance within which a resampled statistic counts as equal to
#: the observed one (round-off of an identical computation; counting such
#: ties as exceedances can only make a p-value larger).
TIE_TOL = 100 * np.finfo(np.float64).eps

#: A percentile bootstrap warns when the mean of the bootstrap distribution
#: is further than this many standard errors from the statistic (plus three
#: Monte-Carlo errors of that mean). The shift estimates the statistic's own
#: bias, so the percentile interval sits about twice as far from the
#: population value: at 0.25 a nominal 95% interval covers about 92% for a
#: normal statistic.
BIAS_WARNING = 0.25


def _frozen(array):
    array = np.array(array, dtype=np.float64)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False, repr=False)
class PermutationTestResult:
    """The result of :func:`permutation_test`.

    Attributes
    ----------
    statistic : float
        The score of the data as given.
    pvalue : float
        One-sided p-value, ``(1 + #{null >= statistic}) / (1 + n_permutations)``
        for random permutations, or the fraction of all distinct
        permutations (the identity included) when ``exact``.
    null_distribution : ndarray of shape (n_permutations,)
        The scores with the rows of ``y`` permuted (read-only).
    n_permutations : int
        Number of permutations scored.
    exact : bool
        Whether every distinct permutation was scored.
    evaluation : str
        "in-sample", "held-out" or "cross-validated (k folds)".
    algorithm : str
        "fast" (the cross-product shortcut) or "refit" (clones refitted).

    Examples
    --------
    >>> import numpy as np
    >>> from skrep.inference import PermutationTestResult
    >>> PermutationTestResult(0.8123, 0.001, np.zeros(999), 999, False,
    ...                       "in-sample", "fast")
    PermutationTestResult(statistic=0.812, pvalue=0.001, n_permutations=999)
    """

    statistic: float
    pvalue: float
    null_distribution: np.ndarray
    n_permutations: int
    exact: bool
    evaluation: str
    algorithm: str

    def __repr__(self):
        return (
            f"{type(self).__name__}(statistic={self.statistic:.3f}, "
            f"pvalue={self.pvalue:.3g}, n_permutations={self.n_permutations})"
        )


@dataclass(frozen=True, eq=False, repr=False)
class BootstrapResult:
    """The result of :func:`bootstrap_interval`.

    Attributes
    ----------
    statistic : float
        The in-sample score of the data as given.
    ci_low, ci_high : float
        The confidence interval.
    confidence_level : float
        Its nominal coverage.
    method : str
        "percentile" or "bca".
    bootstrap_distribution : ndarray of shape (n_resamples,)
        The in-sample scores of the resamples (read-only).
    standard_error : float
        Standard deviation of the bootstrap distribution.
    bias : float
        Mean of the bootstrap distribution minus ``statistic``.
    n_resamples : int
        Number of resamples.
    algorithm : str
        "fast" (reweighted moments) or "refit" (clones refitted).

    Examples
    --------
    >>> import numpy as np
    >>> from skrep.inference import BootstrapResult
    >>> BootstrapResult(0.5, 0.41, 0.58, 0.95, "percentile", np.zeros(999),
    ...                 0.04, 0.0, 999, "fast")
    BootstrapResult(statistic=0.500, ci=(0.410, 0.580), confidence_level=0.95, ...)
    """

    statistic: float
    ci_low: float
    ci_high: float
    confidence_level: float
    method: str
    bootstrap_distribution: np.ndarray
    standard_error: float
    bias: float
    n_resamples: int
    algorithm: str

    @property
    def confidence_interval(self):
        """The interval as a tuple ``(ci_low, ci_high)``."""
        return (self.ci_low, self.ci_high)

    def __repr__(self):
        return (
            f"{type(self).__name__}(statistic={self.statistic:.3f}, "
            f"ci=({self.ci_low:.3f}, {self.ci_high:.3f}), "
            f"confidence_level={self.confidence_level:g}, method={self.method!r})"
        )


@dataclass(frozen=True, eq=False, repr=False)
class SeedComparisonResult:
    """The result of :func:`seed_comparison`.

    Attributes
    ----------
    mean_difference : float
        Mean of ``scores`` minus mean of the chance scores.
    ci_low, ci_high : float
        Student-t confidence interval for the mean difference (paired: the
        differences' t interval; unpaired: Welch's).
    confidence_level : float
        Nominal coverage of the interval.
    pvalue : float
        p-value of the test for ``alternative``.
    test : str
        "sign-flip", "wilcoxon" (paired or one-sample), "relabelling" or
        "mann-whitney" (unpaired).
    paired : bool
        Whether scores were paired with chance scores by position (seed).
    alternative : str
        "two-sided", "greater" or "less".
    n_scores : tuple of int
        Number of scores and of chance scores (1 for a fixed chance level).
    null_distribution : ndarray or None
        The mean differences under the sign flips or relabellings, None
        for the rank tests (read-only).
    exact : bool
        Whether every sign flip or relabelling was enumerated (or the rank
        test's exact distribution used).

    Examples
    --------
    >>> from skrep.inference import SeedComparisonResult
    >>> SeedComparisonResult(0.21, 0.15, 0.27, 0.95, 0.031, "sign-flip", True,
    ...                      "two-sided", (5, 5), None, True)
    SeedComparisonResult(mean_difference=0.210, ci=(0.150, 0.270), pvalue=0.031, ...)
    """

    mean_difference: float
    ci_low: float
    ci_high: float
    confidence_level: float
    pvalue: float
    test: str
    paired: bool
    alternative: str
    n_scores: tuple
    null_distribution: np.ndarray | None
    exact: bool

    @property
    def confidence_interval(self):
        """The interval as a tuple ``(ci_low, ci_high)``."""
        return (self.ci_low, self.ci_high)

    def __repr__(self):
        return (
            f"{type(self).__name__}(mean_difference={self.mean_difference:.3f}, "
            f"ci=({self.ci_low:.3f}, {self.ci_high:.3f}), "
            f"pvalue={self.pvalue:.3g}, test={self.test!r})"
        )


# ---------------------------------------------------------------------------
# Shared plumbing.
# ---------------------------------------------------------------------------


def _check_views(X, y, groups):
    """Row counts and groups, checked; the arrays themselves stay as given."""
    if y is None:
        raise ValueError(
            "y (the second view, the activations of the other layer) is required."
        )
    check_consistent_length(X, y)
    n_samples = _num_samples(X)
    if n_samples < 3:
        raise ValueError(f"At least 3 samples are needed, got {n_samples}.")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.ndim != 1 or groups.shape[0] != n_samples:
            raise ValueError(
                f"groups must have shape (n_samples,) = ({n_samples},), got "
                f"{groups.shape}."
            )
    return n_samples, groups


def _check_test(test):
    if test is None:
        return None
    if not isinstance(test, (tuple, list)) or len(test) != 2:
        raise TypeError("test must be a pair (X_test, y_test) of held-out views.")
    X_test, y_test = test
    check_consistent_length(X_test, y_test)
    return X_test, y_test


def _as_float_views(X, y):
    X = check_array(X, dtype=np.float64, input_name="X")
    Y = check_array(y, dtype=np.float64, ensure_2d=False, input_name="y")
    return X, Y.reshape(-1, 1) if Y.ndim == 1 else Y


def _take_rows(array, rows):
    """``array[rows]``, for any array-like (DataFrames included)."""
    if isinstance(array, np.ndarray):
        return array[rows]
    return _safe_indexing(array, rows)


def _seed(random_state):
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _check_finite_scores(scores, what):
    bad = ~np.isfinite(scores)
    if np.any(bad):
        raise ValueError(
            f"The estimator returned {int(bad.sum())} non-finite score(s) on "
            f"{what}; a similarity must be a finite number."
        )


def _chunks(n_draws):
    return [(c, min(CHUNK, n_draws - c * CHUNK)) for c in range(-(-n_draws // CHUNK))]


# ---------------------------------------------------------------------------
# Permutation test.
# ---------------------------------------------------------------------------


class _RefitScores:
    """Scores of clones refitted on (X, y[perm]), one per permutation."""

    def __init__(self, estimator, X, y, test, splits):
        self.estimator, self.X, self.y = estimator, X, y
        self.test, self.splits = test, splits

    def score_one(self, y):
        estimator, X = self.estimator, self.X
        if self.splits is not None:
            folds, self.fold_counts = [], []
            for train, test in self.splits:
                fitted = clone(estimator).fit(
                    _take_rows(X, train), _take_rows(y, train)
                )
                folds.append(fitted.score(_take_rows(X, test), _take_rows(y, test)))
                self.fold_counts.append(getattr(fitted, "n_components_", None))
            return float(np.mean(folds))
        fitted = clone(estimator).fit(X, y)
        if self.test is None:
            return float(fitted.score(X, y))
        return float(fitted.score(*self.test))

    def scores(self, permutations):
        return np.array(
            [self.score_one(_take_rows(self.y, perm)) for perm in permutations]
        )


def _has_fast_path(estimator):
    """Whether the estimator is one the fast paths know (exact types only)."""
    kind = type(estimator)
    if kind is UnitMatcher:
        return estimator.metric == "correlation"
    return kind in (SVCCA, PWCCA)


def _fast_null(estimator, X, y, test):
    """Return the cross-product shortcut for a known estimator, or None."""
    if not _has_fast_path(estimator):
        return None
    kind = type(estimator)
    # One fit on the data as given: validates the parameters and the views,
    # warns once, and finds the truncation, which permutations keep.
    fitted = clone(estimator).fit(X, y)
    if test is not None:
        fitted.score(*test)  # the held-out views' own checks
    Xa, Ya = _as_float_views(X, y)
    Xt = Yt = None
    if test is not None:
        Xt, Yt = _as_float_views(*test)
    if kind is UnitMatcher:
        return MatchingPermutationNull(Xa, Ya, estimator.method, Xt, Yt)
    return CCAPermutationNull(
        Xa,
        Ya,
        fitted.x_n_directions_,
        fitted.y_n_directions_,
        fitted.n_components_,
        None if kind is SVCCA else estimator.weights_from,
        Xt,
        Yt,
    )


def _warn_unstable_folds(fold_counts, estimator):
    """Warn when the folds of the observed statistic kept different counts."""
    if not fold_counts or None in fold_counts or len(set(fold_counts)) < 2:
        return
    warn(
        "The cross-validation folds kept different numbers of canonical pairs "
        f"(n_components_ per fold: {[int(c) for c in fold_counts]}): each keeps "
        "the directions that reach svd_components="
        f"{getattr(estimator, 'svd_components', None)!r} of the variance on its "
        "own rows, and a fold with fewer pairs averages fewer correlations. Fix "
        "the number of directions with an int svd_components.",
        UnstableTruncationWarning,
    )


def _permutation_chunk(scorer, permutations, seed, chunk, size, n_samples, blocks):
    if permutations is None:
        permutations = draw_permutations(seed, chunk, n_samples, blocks, size)
    return scorer.scores(permutations)


@validate_params(
    {
        "estimator": [HasMethods(["fit", "score"])],
        "X": ["array-like"],
        "y": ["array-like"],
        "n_permutations": [Interval(Integral, 1, None, closed="left")],
        "groups": ["array-like", None],
        "cv": ["cv_object", None],
        "test": [tuple, list, None],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "algorithm": [StrOptions({"auto", "fast", "refit"})],
    },
    prefer_skip_nested_validation=True,
)
@_summarized
def permutation_test(
    estimator,
    X,
    y,
    *,
    n_permutations=999,
    groups=None,
    cv=None,
    test=None,
    random_state=None,
    n_jobs=None,
    algorithm="auto",
):
    r"""Test a similarity against permutations: is there any shared structure.

    The rows of ``y`` are permuted (X's row ``i`` is paired with y's row
    ``perm[i]``), which breaks every association between the views and
    keeps everything else: each view's units, their distribution and their
    correlations with one another. The null distribution is the score of
    each permuted data set, computed exactly as the observed one:

    - with ``test=(X_test, y_test)``: fitted on ``(X, y[perm])``, scored on
      the held-out views (which are never permuted);
    - with ``cv``: the mean cross-validated score of ``(X, y[perm])`` over
      the same splits (which receive ``groups``);
    - with neither: the in-sample score of ``(X, y[perm])``.

    Parameters
    ----------
    estimator : estimator
        A two-view estimator with ``fit(X, y)`` and ``score(X, y)`` (e.g.
        :class:`~skrep.SVCCA`); cloned, never modified.
    X : array-like of shape (n_samples, n_units_x)
        First view: rows are samples, columns units.
    y : array-like of shape (n_samples, n_units_y) or (n_samples,)
        Second view on the same samples; its rows are permuted.
    n_permutations : int, default=999
        Number of random permutations. When the distinct permutations are
        at most this many (few groups), every one is scored instead and
        the test is exact.
    groups : array-like of shape (n_samples,), default=None
        Group label of each row (e.g. the image of each position). Whole
        groups trade places: row ``k`` of group ``g`` takes y's row ``k``
        of group ``perm(g)``, rows taken in their order of appearance (so
        list each image's positions in the same order). Only groups of
        the same size trade places; a group whose size no other group has
        stays in place (with a warning), which keeps the test valid and
        makes it less powerful. Also passed to the ``cv`` splitter.
    cv : int, cross-validation generator or iterable, default=None
        Score each data set by cross-validation over these splits (computed
        once, on the unpermuted data, and reused). Use a group-aware
        splitter (:class:`~sklearn.model_selection.GroupKFold`) with
        ``groups``.
    test : tuple (X_test, y_test), default=None
        Held-out views. Give ``test`` or ``cv``, not both.
    random_state : int, RandomState instance or None, default=None
        Seeds the permutations. The draws depend on it alone, not on
        ``n_jobs`` nor on ``algorithm``.
    n_jobs : int, default=None
        Parallel jobs over chunks of permutations (joblib semantics).
    algorithm : {"auto", "fast", "refit"}, default="auto"
        "fast": the cross-product shortcut (see Notes), available for
        :class:`~skrep.SVCCA`, :class:`~skrep.PWCCA` and
        :class:`~skrep.UnitMatcher` with ``metric="correlation"``, in-sample
        or with ``test`` (not with ``cv``: a permutation changes which y
        rows each training fold holds, hence their covariance); "refit":
        fit a clone per permutation, for any estimator; "auto": "fast"
        where available.

    Returns
    -------
    result : PermutationTestResult
        ``statistic``, ``pvalue``, ``null_distribution`` and provenance.

    Raises
    ------
    ValueError
        If ``y`` is None, the views or ``groups`` differ in their number of
        rows, fewer than 3 rows are given, both ``test`` and ``cv`` are
        given, no two groups have the same size, ``algorithm="fast"`` is
        not available for this estimator or evaluation, or the estimator
        returns a non-finite score.

    See Also
    --------
    bootstrap_interval : A confidence interval for the in-sample similarity.
    seed_comparison : Scores of several trained networks against chance.

    Notes
    -----
    **The p-value.** With :math:`t` the observed score and :math:`t_b` the
    score of permutation :math:`b = 1, \ldots, B`,

    .. math::

        p = \frac{1 + \#\{b : t_b \geq t\}}{1 + B},

    which counts the observed data as one of the permutations: under the
    null (the rows of the two views are exchangeable, i.e. independent
    given their own structure) :math:`P(p \leq \alpha) \leq \alpha` for every
    :math:`\alpha`, however small :math:`B` is. The smallest attainable
    value is :math:`1 / (1 + B)`. Scores within a relative round-off
    (:data:`TIE_TOL`) of :math:`t` count as ties, i.e. as exceedances. The
    test is one-sided: a similarity larger than chance is evidence of
    shared structure.

    **In-sample scores.** In-sample CCA is biased upwards (with
    :math:`k_x + k_y \geq n` kept directions some canonical correlations
    are 1 whatever the data), so an in-sample score near 1 says little on
    its own. The permutation null carries exactly the same bias, since each
    permuted data set has the same sizes and the same within-view
    structure, so the test stays valid; it only loses power where the bias
    saturates the score. Held-out scores (``test`` or ``cv``) remove the
    bias from the statistic itself.

    **The fast path.** Permuting y's rows changes neither y's mean nor
    :math:`Y_c^T Y_c`, so SVCCA's truncation of each view and its
    orthonormal basis :math:`Q_x, Q_y` are computed once, and permutation
    :math:`P` costs the product :math:`Q_x^T P Q_y` (:math:`n k_x k_y`
    flops) and its singular values; held-out scores and PWCCA weights come
    from small matrices of the test views formed once. UnitMatcher's
    correlations are :math:`Z_x^T P Z_y` with the standardised views. The
    fast path equals refitting clones on the same permutations to
    round-off; the observed statistic is computed by the same route as the
    null, so it equals ``estimator.fit(X, y).score(...)`` to round-off.

    References
    ----------
    .. [1] B. Phipson, G. K. Smyth. "Permutation P-values Should Never Be
       Zero: Calculating Exact P-values When Permutations Are Randomly
       Drawn". Statistical Applications in Genetics and Molecular Biology,
       2010.
    .. [2] A. M. Winkler, G. R. Ridgway, M. A. Webster, S. M. Smith, T. E.
       Nichols. "Permutation inference for the general linear model"
       (exchangeability blocks). NeuroImage, 2014.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import SVCCA
    >>> from skrep.inference import permutation_test
    >>> rng = np.random.RandomState(0)
    >>> latent = rng.randn(200, 3)
    >>> X = latent @ rng.randn(3, 8) + rng.randn(200, 8)
    >>> Y = latent @ rng.randn(3, 6) + rng.randn(200, 6)
    >>> result = permutation_test(SVCCA(svd_components=3), X, Y,
    ...                           n_permutations=99, random_state=0)
    >>> result
    PermutationTestResult(statistic=0.708, pvalue=0.01, n_permutations=99)
    >>> result.null_distribution.max() < result.statistic
    np.True_

    Held out, with the positions of each image kept together:

    >>> images = np.repeat(np.arange(50), 4)  # 4 positions per image
    >>> held_out = permutation_test(SVCCA(svd_components=3), X[:160], Y[:160],
    ...                             test=(X[160:], Y[160:]), groups=images[:160],
    ...                             n_permutations=99, random_state=0)
    >>> held_out.pvalue, held_out.evaluation
    (0.01, 'held-out')
    """
    # The inference runs in NumPy: array-API inputs are taken to the host.
    X, y = host_arrays(X, y)
    if test is not None and isinstance(test, (tuple, list)) and len(test) == 2:
        test = host_arrays(*test)
    n_samples, groups = _check_views(X, y, groups)
    if test is not None and cv is not None:
        raise ValueError(
            "Give either test (a held-out set) or cv (cross-validation), not both."
        )
    test = _check_test(test)
    blocks, n_fixed = exchangeable_blocks(n_samples, groups)
    if not blocks:
        raise ValueError(
            "No two groups have the same size, so no group can trade places "
            "with another: there is no permutation to test with. Give groups "
            "of equal size (e.g. the same positions of every image)."
        )
    if n_fixed:
        warn(
            f"{n_fixed} of the {n_samples} rows are in groups whose size no other "
            "group has; those groups are never permuted (the test stays valid "
            "but has less power).",
            SkrepWarning,
        )
    splits = None
    if cv is not None:
        if algorithm == "fast":
            raise ValueError(
                "algorithm='fast' is not available with cv: a permutation changes "
                "which rows of y each training fold holds. Use algorithm='refit' "
                "or 'auto'."
            )
        splits = list(check_cv(cv).split(X, y, groups))
        evaluation = f"cross-validated ({len(splits)} folds)"
    else:
        evaluation = "in-sample" if test is None else "held-out"
    if algorithm == "fast" and not _has_fast_path(estimator):
        raise ValueError(
            f"algorithm='fast' is not available for {type(estimator).__name__}; "
            "it covers SVCCA, PWCCA and UnitMatcher(metric='correlation'). "
            "Use algorithm='refit' or 'auto'."
        )
    scorer = None
    if algorithm != "refit" and cv is None:
        scorer = _fast_null(estimator, X, y, test)
    used = "fast" if scorer is not None else "refit"
    if scorer is None:
        scorer = _RefitScores(estimator, X, y, test, splits)

    identity = np.arange(n_samples)[None]
    statistic = float(scorer.scores(identity)[0])
    _warn_unstable_folds(getattr(scorer, "fold_counts", None), estimator)
    _check_finite_scores(np.array([statistic]), "the data as given")
    n_distinct = count_permutations(blocks, n_permutations)
    exact = n_distinct <= n_permutations
    if exact:
        every = all_permutations(n_samples, blocks)
        tasks = [(every[i : i + CHUNK], 0, 0, 0) for i in range(0, n_distinct, CHUNK)]
    else:
        seed = _seed(random_state)
        tasks = [(None, seed, c, size) for c, size in _chunks(n_permutations)]
    parts = _gather(
        Parallel(n_jobs=n_jobs)(
            delayed(_Collected(_permutation_chunk))(
                scorer, perms, seed, c, size, n_samples, blocks
            )
            for perms, seed, c, size in tasks
        )
    )
    null = np.concatenate(parts)
    _check_finite_scores(null, "permuted data")
    exceed = np.count_nonzero(null >= statistic - TIE_TOL * max(1.0, abs(statistic)))
    pvalue = exceed / null.size if exact else (1 + exceed) / (1 + null.size)
    return PermutationTestResult(
        statistic, float(pvalue), _frozen(null), int(null.size), exact, evaluation,
        used,
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Bootstrap.
# ---------------------------------------------------------------------------


class _FastResampledScores:
    def __init__(self, inner, unit_of_row, n_units):
        self.inner, self.unit_of_row, self.n_units = inner, unit_of_row, n_units

    def scores(self, units):
        return self.inner.scores(row_counts(units, self.unit_of_row, self.n_units))


class _RefitResampledScores:
    def __init__(self, estimator, X, y, members):
        self.estimator, self.X, self.y, self.members = estimator, X, y, members

    def scores(self, units):
        out = np.empty(units.shape[0])
        for b, drawn in enumerate(units):
            rows = rows_of(drawn, self.members)
            X, y = _take_rows(self.X, rows), _take_rows(self.y, rows)
            out[b] = clone(self.estimator).fit(X, y).score(X, y)
        return out


def _fast_resampler(estimator, X, y):
    if not _has_fast_path(estimator):
        return None
    kind = type(estimator)
    if kind in (SVCCA, PWCCA):
        Xa, Ya = _as_float_views(X, y)
        params = {
            "x_components": estimator.svd_components,
            "y_components": estimator.svd_components,
            "n_components": estimator.n_components,
            "rank_tol": estimator.rank_tol,
        }
        weights_from = None if kind is SVCCA else estimator.weights_from
        return CCAResampledScores(Xa, Ya, params, weights_from, estimator.algorithm)
    return MatchingResampledScores(*_as_float_views(X, y), estimator.method)


def _resample_chunk(scorer, units, seed, chunk, size, n_units):
    if units is None:
        units = draw_resamples(seed, chunk, n_units, size)
    return scorer.scores(units)


def _jackknife_chunk(scorer, start, stop, n_units):
    # Row b lists every unit but start + b.
    kept = np.arange(n_units - 1)[None, :]
    left_out = np.arange(start, stop)[:, None]
    return scorer.scores(kept + (kept >= left_out))


def _bca_interval(distribution, statistic, jackknife, confidence_level):
    below = np.count_nonzero(distribution < statistic)
    at_most = np.count_nonzero(distribution <= statistic)
    share = (below + at_most) / (2 * distribution.size)
    if share <= 0.0 or share >= 1.0:
        raise ValueError(
            "The BCa interval is undefined: the observed statistic lies outside "
            "the bootstrap distribution (every resample scored "
            f"{'above' if share <= 0 else 'below'} it). Use method='percentile'."
        )
    z0 = scipy.stats.norm.ppf(share)
    deviations = jackknife.mean() - jackknife
    spread = np.sum(deviations**2)
    acceleration = 0.0 if spread == 0 else np.sum(deviations**3) / (6 * spread**1.5)
    alpha = (1 - confidence_level) / 2
    z = scipy.stats.norm.ppf([alpha, 1 - alpha])
    levels = scipy.stats.norm.cdf(z0 + (z0 + z) / (1 - acceleration * (z0 + z)))
    return np.quantile(distribution, levels)


@validate_params(
    {
        "estimator": [HasMethods(["fit", "score"])],
        "X": ["array-like"],
        "y": ["array-like"],
        "groups": ["array-like", None],
        "n_resamples": [Interval(Integral, 2, None, closed="left")],
        "confidence_level": [Interval(Real, 0, 1, closed="neither")],
        "method": [StrOptions({"percentile", "bca"})],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "algorithm": [StrOptions({"auto", "fast", "refit"})],
    },
    prefer_skip_nested_validation=True,
)
@_summarized
def bootstrap_interval(
    estimator,
    X,
    y,
    *,
    groups=None,
    n_resamples=999,
    confidence_level=0.95,
    method="percentile",
    random_state=None,
    n_jobs=None,
    algorithm="auto",
):
    r"""Bootstrap confidence interval for the in-sample similarity.

    Samples (or whole groups) are drawn with replacement; on each resample
    a clone of ``estimator`` is **refitted and scored in-sample**, so that
    the bootstrap distribution reflects the variability of the whole
    procedure: the learned directions or matches as well as the correlations
    they give. (Rescoring one fitted estimator on resamples would treat the
    directions as known and understate the variability; for CCA it would
    also score the resampled rows with directions fitted to them, mixing
    in-sample and held-out.)

    Parameters
    ----------
    estimator : estimator
        A two-view estimator with ``fit(X, y)`` and ``score(X, y)``.
    X : array-like of shape (n_samples, n_units_x)
        First view: rows are samples, columns units.
    y : array-like of shape (n_samples, n_units_y) or (n_samples,)
        Second view on the same samples.
    groups : array-like of shape (n_samples,), default=None
        Group label of each row: whole groups are drawn (all the positions
        of an image together), and BCa's jackknife leaves out one group at
        a time. Groups may differ in size; a resample then has as many
        groups as the data, not as many rows.
    n_resamples : int, default=999
        Number of bootstrap resamples.
    confidence_level : float, default=0.95
        Nominal coverage of the interval.
    method : {"percentile", "bca"}, default="percentile"
        "percentile": the quantiles :math:`\alpha/2` and
        :math:`1 - \alpha/2` of the bootstrap distribution. "bca": the
        bias-corrected and accelerated interval, which adjusts those
        quantiles for the median bias of the bootstrap distribution and for
        skewness (the acceleration, from a jackknife over rows or groups:
        one more fit per row or group).
    random_state : int, RandomState instance or None, default=None
        Seeds the resamples; they depend on it alone.
    n_jobs : int, default=None
        Parallel jobs over chunks of resamples (joblib semantics).
    algorithm : {"auto", "fast", "refit"}, default="auto"
        "fast": for :class:`~skrep.SVCCA`, :class:`~skrep.PWCCA` and
        :class:`~skrep.UnitMatcher` (``metric="correlation"``), a resample
        is a reweighting of the rows and its moments are weighted sums, so
        nothing but the small decompositions is repeated per resample (the
        same numbers as refitting, to round-off); "refit": fit and score a
        clone per resample, for any estimator; "auto": "fast" where
        available.

    Returns
    -------
    result : BootstrapResult
        ``statistic``, ``ci_low``, ``ci_high``, the bootstrap distribution,
        its standard error and bias.

    Raises
    ------
    ValueError
        If the views or ``groups`` differ in their number of rows, fewer
        than 2 groups or 3 rows are given, ``algorithm="fast"`` is not
        available for this estimator, the estimator returns a non-finite
        score, or BCa is undefined (the statistic lies outside the
        bootstrap distribution).

    See Also
    --------
    permutation_test : Is there any shared structure at all?
    seed_comparison : Variability across independently trained networks.

    Notes
    -----
    With :math:`\hat\theta` the in-sample score, :math:`\hat\theta^*_b` the
    score of resample :math:`b` and :math:`\hat G` their distribution
    function, the percentile interval is
    :math:`[\hat G^{-1}(\alpha/2), \hat G^{-1}(1 - \alpha/2)]`. BCa
    replaces the levels by

    .. math::

        \alpha_{1,2} = \Phi\!\left(z_0 + \frac{z_0 + z_{\alpha/2,\,1-\alpha/2}}
                          {1 - a (z_0 + z_{\alpha/2,\,1-\alpha/2})}\right),
        \quad z_0 = \Phi^{-1}\bigl(\hat G(\hat\theta)\bigr),
        \quad a = \frac{\sum_i (\bar\theta_{(\cdot)} - \theta_{(i)})^3}
                       {6 \bigl[\sum_i (\bar\theta_{(\cdot)} - \theta_{(i)})^2
                       \bigr]^{3/2}},

    with :math:`\theta_{(i)}` the score without row (or group) :math:`i`
    and :math:`\hat G(\hat\theta)` counting ties as half.

    **The in-sample bias of CCA.** The interval is for the quantity the
    in-sample score estimates. For CCA with many kept directions
    relative to the samples, that estimate is biased upwards, and a
    resample, whose duplicated rows leave only about :math:`0.63 n`
    distinct samples, is more biased still: the percentile interval then
    sits above the population value, and BCa's :math:`z_0` corrects only
    part of it. Use it where :math:`k_x + k_y \ll n` (lower
    ``svd_components``), or compare held-out scores across seeds and
    splits (:func:`seed_comparison`); the permutation test, by contrast, is
    valid whatever the bias.

    References
    ----------
    .. [1] B. Efron. "Better Bootstrap Confidence Intervals". Journal of
       the American Statistical Association, 1987.
    .. [2] B. Efron, R. J. Tibshirani. "An Introduction to the Bootstrap".
       Chapman & Hall, 1993 (chapter 14).

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import UnitMatcher
    >>> from skrep.inference import bootstrap_interval
    >>> rng = np.random.RandomState(0)
    >>> x = rng.randn(300)
    >>> y = 0.6 * x + 0.8 * rng.randn(300)  # population correlation 0.6
    >>> result = bootstrap_interval(UnitMatcher(), x[:, None], y,
    ...                             n_resamples=199, random_state=0)
    >>> result
    BootstrapResult(statistic=0.616, ci=(0.528, 0.687), ...)
    >>> bca = bootstrap_interval(UnitMatcher(), x[:, None], y, method="bca",
    ...                          n_resamples=199, random_state=0)
    >>> bool(bca.ci_low < 0.6 < bca.ci_high)
    True
    """
    # The resampling runs in NumPy: array-API inputs are taken to the host.
    X, y = host_arrays(X, y)
    n_samples, groups = _check_views(X, y, groups)
    unit_of_row, members = resampling_units(n_samples, groups)
    n_units = n_samples if members is None else len(members)
    if n_units < 2:
        raise ValueError("The bootstrap needs at least 2 groups; got 1.")
    if algorithm == "fast" and not _has_fast_path(estimator):
        raise ValueError(
            f"algorithm='fast' is not available for {type(estimator).__name__}; it "
            "covers SVCCA, PWCCA and UnitMatcher(metric='correlation'). Use "
            "algorithm='refit' or 'auto'."
        )
    fitted = clone(estimator).fit(X, y)
    statistic = float(fitted.score(X, y))
    _check_finite_scores(np.array([statistic]), "the data as given")
    inner = None if algorithm == "refit" else _fast_resampler(estimator, X, y)
    if inner is not None:
        scorer, used = _FastResampledScores(inner, unit_of_row, n_units), "fast"
    else:
        scorer, used = _RefitResampledScores(estimator, X, y, members), "refit"
    seed = _seed(random_state)
    parts = _gather(
        Parallel(n_jobs=n_jobs)(
            delayed(_Collected(_resample_chunk))(scorer, None, seed, c, size, n_units)
            for c, size in _chunks(n_resamples)
        )
    )
    distribution = np.concatenate(parts)
    _check_finite_scores(distribution, "bootstrap resamples")
    standard_error = float(np.std(distribution, ddof=1))
    bias = float(distribution.mean() - statistic)
    if method == "percentile":
        alpha = (1 - confidence_level) / 2
        low, high = np.quantile(distribution, [alpha, 1 - alpha])
        # Beyond BIAS_WARNING standard errors by more than three Monte-Carlo
        # errors of the bias estimate itself (standard_error / sqrt(B)).
        margin = BIAS_WARNING + 3 / np.sqrt(distribution.size)
        if abs(bias) > margin * standard_error:
            warn(
                f"The bootstrap distribution is off-centre: its mean minus the "
                f"statistic is {bias:+.3g}, {abs(bias) / standard_error:.2g} "
                "standard errors (resamples repeat rows, which biases in-sample "
                "scores such as CCA's further), so the percentile interval is "
                "shifted"
                + (
                    " and excludes the statistic"
                    if not low <= statistic <= high
                    else ""
                )
                + ". Use method='bca', fewer kept directions, or held-out scores.",
                SkrepWarning,
            )
    else:
        parts = _gather(
            Parallel(n_jobs=n_jobs)(
                delayed(_Collected(_jackknife_chunk))(
                    scorer, s, min(s + CHUNK, n_units), n_units
                )
                for s in range(0, n_units, CHUNK)
            )
        )
        jackknife = np.concatenate(parts)
        _check_finite_scores(jackknife, "jackknife samples")
        low, high = _bca_interval(distribution, statistic, jackknife, confidence_level)
    return BootstrapResult(
        statistic,
        float(low),
        float(high),
        float(confidence_level),
        method,
        _frozen(distribution),
        standard_error,
        bias,
        int(distribution.size),
        used,
    )


# ---------------------------------------------------------------------------
# Seeds.
# ---------------------------------------------------------------------------


def _as_scores(values, name):
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one score per seed), got shape {values.shape}."
        )
    if values.size < 2:
        raise ValueError(f"{name} needs at least 2 scores, got {values.size}.")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} holds non-finite values.")
    return values


def _t_interval(mean, variance_of_mean, df, confidence_level):
    if variance_of_mean <= 0:
        return mean, mean
    half = scipy.stats.t.ppf((1 + confidence_level) / 2, df) * np.sqrt(variance_of_mean)
    return mean - half, mean + half


def _tail_pvalue(null, observed, alternative, exact):
    tol = TIE_TOL * max(1.0, abs(observed))
    if alternative == "greater":
        hits = np.count_nonzero(null >= observed - tol)
    elif alternative == "less":
        hits = np.count_nonzero(null <= observed + tol)
    else:
        hits = np.count_nonzero(np.abs(null) >= abs(observed) - tol)
    return hits / null.size if exact else (1 + hits) / (1 + null.size)


def _sign_flip_null(differences, n_permutations, rng):
    n = differences.size
    if 2**n <= n_permutations:
        bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        return (1 - 2 * bits) @ differences / n, True
    signs = rng.choice([-1.0, 1.0], size=(n_permutations, n))
    return signs @ differences / n, False


def _relabelling_null(first, second, n_permutations, rng):
    pooled = np.concatenate([first, second])
    n, m = first.size, pooled.size
    total = pooled.sum()
    n_distinct = scipy.special.comb(m, n, exact=True)
    if n_distinct <= n_permutations:
        picks = np.array(list(itertools.combinations(range(m), n)))
        sums = pooled[picks].sum(axis=1)
        exact = True
    else:
        picks = np.argsort(rng.random_sample((n_permutations, m)), axis=1)[:, :n]
        sums = pooled[picks].sum(axis=1)
        exact = False
    return sums / n - (total - sums) / (m - n), exact


@validate_params(
    {
        "scores": ["array-like"],
        "chance_scores": ["array-like", Real],
        "paired": ["boolean", None],
        "test": [StrOptions({"permutation", "rank"})],
        "alternative": [StrOptions({"two-sided", "greater", "less"})],
        "confidence_level": [Interval(Real, 0, 1, closed="neither")],
        "n_permutations": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def seed_comparison(
    scores,
    chance_scores=0.0,
    *,
    paired=None,
    test="permutation",
    alternative="two-sided",
    confidence_level=0.95,
    n_permutations=9999,
    random_state=None,
):
    r"""Compare per-seed scores with their matched chance scores.

    Each independently trained network (one per seed) gives one score for
    the condition of interest (e.g. the held-out SVCCA of layer 3 between
    two trained nets) and, for its matched chance level, one score of the
    same analysis on a control (an untrained or label-shuffled net of the
    same architecture). The unit of replication is the seed: the question
    is whether the difference would reappear with new training runs.

    Parameters
    ----------
    scores : array-like of shape (n_seeds,)
        One score per seed for the condition.
    chance_scores : array-like of shape (n_chance,) or float, default=0.0
        The matched chance scores, or a fixed chance level (a float: the
        scores are then tested against it, one-sample).
    paired : bool or None, default=None
        Whether ``scores[i]`` and ``chance_scores[i]`` come from the same
        seed (the same data split, initialisation or stimuli). None: paired
        when both have the same length. Pairing removes the variance the
        two share; pairing scores that are in fact independent keeps the
        test valid (each difference is still symmetric about 0 under the
        null), only less powerful. Give ``paired=False`` for independent
        sets of seeds of equal size.
    test : {"permutation", "rank"}, default="permutation"
        Paired (or one-sample): "permutation" is the sign-flip test of the
        mean difference, "rank" the Wilcoxon signed-rank test. Unpaired:
        "permutation" relabels the pooled scores (difference of means),
        "rank" is the Mann-Whitney U test.
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        "greater": the condition scores above chance.
    confidence_level : float, default=0.95
        Coverage of the interval for the mean difference.
    n_permutations : int, default=9999
        Random sign flips or relabellings. When the distinct ones are at
        most this many (:math:`2^n` sign flips; :math:`\binom{n+m}{n}`
        relabellings), all are enumerated and the p-value is exact.
    random_state : int, RandomState instance or None, default=None
        Seeds the random sign flips or relabellings.

    Returns
    -------
    result : SeedComparisonResult
        ``mean_difference``, ``ci_low``, ``ci_high``, ``pvalue`` and
        provenance.

    Raises
    ------
    ValueError
        If a set of scores is not 1-D, has fewer than 2 values or holds
        non-finite ones, or if ``paired=True`` with sets of different
        lengths.

    See Also
    --------
    permutation_test : Shared structure within one pair of networks.

    Notes
    -----
    **Interval.** Paired (or against a fixed level), with :math:`d_i` the
    differences, :math:`\bar d \pm t_{n-1,\,1-\alpha/2}\, s_d / \sqrt{n}`;
    unpaired, Welch's interval
    :math:`\bar x - \bar z \pm t_{\nu,\,1-\alpha/2}
    \sqrt{s_x^2/n + s_z^2/m}` with the Welch-Satterthwaite :math:`\nu`.
    Student-t intervals, not the bootstrap: with the 3 to 10 seeds a
    study affords, percentile bootstrap intervals are too narrow (their
    coverage at :math:`n = 5` is about 0.8 for a nominal 0.95).

    **Test.** Under the null of no difference, each paired difference is
    as likely to be :math:`-d_i` as :math:`d_i`; the sign-flip p-value
    compares :math:`\bar d` with its :math:`2^n` sign-flipped versions
    (exact for :math:`2^n \leq` ``n_permutations``, else
    :math:`(1 + \#)/(1 + B)` over random flips). With :math:`n = 5` seeds
    the smallest two-sided p-value is :math:`2/32 = 0.0625`: five seeds
    cannot reject at 0.05 two-sided, whatever the effect. Rank tests use
    :func:`scipy.stats.wilcoxon` and :func:`scipy.stats.mannwhitneyu`.

    References
    ----------
    .. [1] T. Sellam et al. "The MultiBERTs: BERT Reproductions for
       Robustness Analysis". ICLR 2022 (seeds as the unit of replication).
    .. [2] E. J. G. Pitman. "Significance tests which may be applied to
       samples from any populations". Supplement to the Journal of the
       Royal Statistical Society, 1937.

    Examples
    --------
    >>> from skrep.inference import seed_comparison
    >>> trained = [0.71, 0.68, 0.74, 0.70, 0.69, 0.72]    # one per seed
    >>> untrained = [0.52, 0.55, 0.50, 0.53, 0.51, 0.54]  # same seeds
    >>> result = seed_comparison(trained, untrained)
    >>> result
    SeedComparisonResult(mean_difference=0.182, ci=(0.144, 0.219), pvalue=0.0312, ...)
    >>> result.paired, result.exact
    (True, True)
    """
    scores = _as_scores(scores, "scores")
    rng = check_random_state(random_state)
    one_sample = np.ndim(chance_scores) == 0
    if one_sample:
        if paired is False:
            raise ValueError("paired=False needs chance_scores as a set of scores.")
        chance = np.full(scores.shape, float(chance_scores))
        if not np.isfinite(chance[0]):
            raise ValueError("chance_scores is not finite.")
        paired = True
    else:
        chance = _as_scores(chance_scores, "chance_scores")
        if paired is None:
            paired = chance.size == scores.size
        elif paired and chance.size != scores.size:
            raise ValueError(
                f"paired=True needs as many chance scores as scores, got "
                f"{chance.size} and {scores.size}."
            )
    null = None
    if paired:
        differences = scores - chance
        mean = float(differences.mean())
        n = differences.size
        low, high = _t_interval(
            mean, differences.var(ddof=1) / n, n - 1, confidence_level
        )
        if test == "permutation":
            name = "sign-flip"
            null, exact = _sign_flip_null(differences, n_permutations, rng)
            pvalue = _tail_pvalue(null, mean, alternative, exact)
        else:
            name = "wilcoxon"
            if np.all(differences == 0):
                pvalue, exact = 1.0, True
            else:
                magnitudes = np.abs(differences)
                exact = bool(
                    n <= 50
                    and np.all(magnitudes > 0)
                    and np.unique(magnitudes).size == n
                )
                outcome = scipy.stats.wilcoxon(
                    differences,
                    alternative=alternative,
                    method="exact" if exact else "asymptotic",
                )
                pvalue = float(outcome.pvalue)
        sizes = (scores.size, 1 if one_sample else chance.size)
    else:
        n, m = scores.size, chance.size
        mean = float(scores.mean() - chance.mean())
        vx, vz = scores.var(ddof=1) / n, chance.var(ddof=1) / m
        variance = vx + vz
        df = variance**2 / (vx**2 / (n - 1) + vz**2 / (m - 1)) if variance > 0 else 1.0
        low, high = _t_interval(mean, variance, df, confidence_level)
        if test == "permutation":
            name = "relabelling"
            null, exact = _relabelling_null(scores, chance, n_permutations, rng)
            pvalue = _tail_pvalue(null, mean, alternative, exact)
        else:
            name = "mann-whitney"
            pooled = np.concatenate([scores, chance])
            exact = bool(min(n, m) <= 8 and np.unique(pooled).size == n + m)
            outcome = scipy.stats.mannwhitneyu(
                scores,
                chance,
                alternative=alternative,
                method="exact" if exact else "asymptotic",
            )
            pvalue = float(outcome.pvalue)
        sizes = (n, m)
    return SeedComparisonResult(
        mean,
        float(low),
        float(high),
        float(confidence_level),
        float(min(pvalue, 1.0)),
        name,
        bool(paired),
        alternative,
        sizes,
        None if null is None else _frozen(null),
        bool(exact),
    )
