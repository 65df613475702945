"""skrep.inference: exactness of the fast paths, calibration and coverage.

The simulations use fixed seeds, so every test is deterministic; each
threshold comes from the Monte-Carlo error of its own simulation (a
chi-square quantile for uniformity, binomial quantiles for rates and
coverages), at a false-alarm level of 1e-3 per check.
"""

import dataclasses
import itertools
import re
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from joblib import parallel_config
from sklearn.base import BaseEstimator
from sklearn.model_selection import GroupKFold, KFold
from sklearn.utils._param_validation import InvalidParameterError

from skrep import PWCCA, SVCCA, UnitMatcher
from skrep._core.permutation import (
    all_permutations,
    count_permutations,
    draw_permutations,
    exchangeable_blocks,
)
from skrep.exceptions import SkrepWarning
from skrep.inference import (
    BootstrapResult,
    SeedComparisonResult,
    bootstrap_interval,
    permutation_test,
    seed_comparison,
)

#: False-alarm level of each statistical check below.
ALARM = 1e-3


def shared_latent(seed, n=120, n_x=8, n_y=6, noise=1.0):
    rng = np.random.RandomState(seed)
    Z = rng.randn(n, 3)
    X = Z @ rng.randn(3, n_x) + noise * rng.randn(n, n_x)
    Y = Z @ rng.randn(3, n_y) + noise * rng.randn(n, n_y)
    return X, Y


def grouped_null(rng, n_groups, size, icc_scale=np.sqrt(3.0)):
    """Independent views whose rows share a group effect within each view."""
    groups = np.repeat(np.arange(n_groups), size)
    x = icc_scale * rng.randn(n_groups)[groups] + rng.randn(groups.size)
    y = icc_scale * rng.randn(n_groups)[groups] + rng.randn(groups.size)
    return x[:, None], y, groups


def assert_uniform(pvalues, n_permutations):
    """Monte-Carlo p-values (1 + k) / (1 + B) are uniform on their grid.

    With B + 1 a multiple of 10, each tenth of (0, 1] holds exactly a tenth
    of the grid, so under the null each bin has probability 0.1 exactly: a
    chi-square test on 10 bins (9 degrees of freedom), and the rate of
    p <= 0.05 against its binomial distribution.
    """
    grid = n_permutations + 1
    assert grid % 10 == 0
    k = np.rint(np.asarray(pvalues) * grid).astype(int)
    counts = np.bincount((k - 1) // (grid // 10), minlength=10)
    expected = len(pvalues) / 10
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < scipy.stats.chi2.ppf(1 - ALARM, 9), counts
    rejected = np.count_nonzero(k <= 0.05 * grid)
    low, high = scipy.stats.binom.interval(1 - ALARM, len(pvalues), 0.05)
    assert low <= rejected <= high, rejected


def assert_coverage(hits, level):
    """The share of intervals covering the truth, against Binomial(N, level)."""
    low, high = scipy.stats.binom.interval(1 - ALARM, hits.size, level)
    assert low <= np.count_nonzero(hits) <= high, hits.mean()


# ---------------------------------------------------------------------------
# Results.
# ---------------------------------------------------------------------------


def test_results_are_frozen_with_readable_reprs():
    X, Y = shared_latent(0)
    result = permutation_test(
        SVCCA(svd_components=3), X, Y, n_permutations=99, random_state=0
    )
    assert repr(result).startswith("PermutationTestResult(statistic=0.")
    assert repr(result).endswith("pvalue=0.01, n_permutations=99)")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.pvalue = 0.5
    with pytest.raises(ValueError, match="read-only"):
        result.null_distribution[0] = 1.0
    boot = bootstrap_interval(UnitMatcher(), X, Y, n_resamples=50, random_state=0)
    assert isinstance(boot, BootstrapResult)
    assert boot.confidence_interval == (boot.ci_low, boot.ci_high)
    assert "ci=(" in repr(boot) and "method='percentile'" in repr(boot)
    seeds = seed_comparison([0.7, 0.8, 0.75], [0.5, 0.55, 0.5])
    assert isinstance(seeds, SeedComparisonResult)
    assert repr(seeds).startswith("SeedComparisonResult(mean_difference=0.233")


# ---------------------------------------------------------------------------
# Draws.
# ---------------------------------------------------------------------------


def test_group_permutations_move_whole_groups_in_order():
    groups = np.array([5, 7, 5, 9, 7, 9, 5, 7, 9, 1])  # group 1 has size 1
    blocks, fixed = exchangeable_blocks(groups.size, groups)
    assert fixed == 1 and [b.shape for b in blocks] == [(3, 3)]
    perms = draw_permutations(0, 0, groups.size, blocks, size=50)
    members = {g: np.flatnonzero(groups == g) for g in (5, 7, 9)}
    for perm in perms:
        assert perm[9] == 9  # the group without a partner never moves
        for rows in members.values():
            sources = groups[perm[rows]]
            assert np.all(sources == sources[0])  # a whole group moved
            np.testing.assert_array_equal(perm[rows], members[sources[0]])
    everything = all_permutations(groups.size, blocks)
    assert everything.shape == (6, 10) and count_permutations(blocks, 100) == 6
    np.testing.assert_array_equal(everything[0], np.arange(10))
    assert len({tuple(p) for p in everything}) == 6
    assert count_permutations(blocks, 5) == 6  # stops above the limit


def test_draws_do_not_depend_on_jobs_or_route():
    X, Y = shared_latent(1)
    est = SVCCA(svd_components=3)
    serial = permutation_test(est, X, Y, n_permutations=300, random_state=3)
    with parallel_config(backend="threading"):
        parallel = permutation_test(
            est, X, Y, n_permutations=300, random_state=3, n_jobs=2
        )
    np.testing.assert_array_equal(serial.null_distribution, parallel.null_distribution)
    other = permutation_test(est, X, Y, n_permutations=300, random_state=4)
    assert not np.array_equal(serial.null_distribution, other.null_distribution)
    boot = bootstrap_interval(est, X, Y, n_resamples=200, random_state=3)
    with parallel_config(backend="threading"):
        boot2 = bootstrap_interval(est, X, Y, n_resamples=200, random_state=3, n_jobs=2)
    np.testing.assert_array_equal(
        boot.bootstrap_distribution, boot2.bootstrap_distribution
    )


# ---------------------------------------------------------------------------
# The fast paths equal refitting.
# ---------------------------------------------------------------------------

ESTIMATORS = [
    SVCCA(svd_components=4),
    SVCCA(svd_components=0.9, n_components=2),
    PWCCA(),
    PWCCA(weights_from="y", svd_components=5),
    UnitMatcher(),
    UnitMatcher("semi-matching"),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
@pytest.mark.parametrize("held_out", [False, True], ids=["in-sample", "held-out"])
@pytest.mark.parametrize("grouped", [False, True], ids=["rows", "groups"])
def test_fast_permutations_equal_refits(estimator, held_out, grouped):
    X, Y = shared_latent(2, n=120)
    groups = np.repeat(np.arange(30), 4) if grouped else None
    test = None
    if held_out:
        X, Y, test = X[:80], Y[:80], (X[80:], Y[80:])
        groups = None if groups is None else groups[:80]
    kwargs = {"test": test, "groups": groups, "n_permutations": 40, "random_state": 5}
    fast = permutation_test(estimator, X, Y, algorithm="fast", **kwargs)
    refit = permutation_test(estimator, X, Y, algorithm="refit", **kwargs)
    assert fast.algorithm == "fast" and refit.algorithm == "refit"
    np.testing.assert_allclose(
        fast.null_distribution, refit.null_distribution, rtol=0, atol=1e-10
    )
    assert fast.statistic == pytest.approx(refit.statistic, abs=1e-10)
    assert fast.pvalue == refit.pvalue
    fitted = estimator.fit(X, Y)
    expected = fitted.score(X, Y) if test is None else fitted.score(*test)
    assert fast.statistic == pytest.approx(expected, abs=1e-10)


@pytest.mark.filterwarnings("ignore::skrep.exceptions.SkrepWarning")
@pytest.mark.parametrize(
    "estimator, shapes",
    [
        (SVCCA(svd_components=None), (30, 40, 20)),  # wide: saturated, svd route
        (UnitMatcher(), (50, 1, 3)),  # one X unit: the single best Y unit
        (UnitMatcher(), (50, 3, 1)),
        (UnitMatcher("semi-matching"), (50, 1, 3)),
        (UnitMatcher(), (50, 2, 4)),  # Y units without partner
    ],
    ids=str,
)
def test_fast_permutations_equal_refits_edge_shapes(estimator, shapes):
    n, p, q = shapes
    rng = np.random.RandomState(0)
    X, Y = rng.randn(n, p), rng.randn(n, q)
    X[:, 0] += Y[:, 0]
    fast = permutation_test(estimator, X, Y, n_permutations=30, random_state=0)
    refit = permutation_test(
        estimator, X, Y, n_permutations=30, random_state=0, algorithm="refit"
    )
    np.testing.assert_allclose(
        fast.null_distribution, refit.null_distribution, rtol=0, atol=1e-10
    )


@pytest.mark.filterwarnings("ignore::skrep.exceptions.SkrepWarning")
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
@pytest.mark.parametrize("grouped", [False, True], ids=["rows", "groups"])
def test_fast_bootstrap_equals_refits(estimator, grouped):
    X, Y = shared_latent(3, n=90)
    groups = np.repeat(np.arange(30), 3) if grouped else None
    kwargs = {"groups": groups, "n_resamples": 30, "random_state": 1, "method": "bca"}
    fast = bootstrap_interval(estimator, X, Y, algorithm="fast", **kwargs)
    refit = bootstrap_interval(estimator, X, Y, algorithm="refit", **kwargs)
    np.testing.assert_allclose(
        fast.bootstrap_distribution, refit.bootstrap_distribution, rtol=0, atol=1e-10
    )
    assert fast.ci_low == pytest.approx(refit.ci_low, abs=1e-10)
    assert fast.ci_high == pytest.approx(refit.ci_high, abs=1e-10)


# ---------------------------------------------------------------------------
# Permutation tests: calibration and power.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("held_out", [False, True], ids=["in-sample", "held-out"])
def test_permutation_pvalues_are_uniform_under_independence(held_out):
    # 200 independent data sets x 99 permutations with the fast path.
    rng = np.random.RandomState(20)
    pvalues = []
    for i in range(200):
        X, Y = rng.randn(60, 4), rng.randn(60, 3)
        test = (X[40:], Y[40:]) if held_out else None
        result = permutation_test(
            SVCCA(svd_components=None), X[:40], Y[:40], test=test,
            n_permutations=99, random_state=i,
        )  # fmt: skip
        pvalues.append(result.pvalue)
    assert_uniform(pvalues, 99)


def test_whole_groups_must_be_permuted_together():
    # Rows of a group share a group effect in each view, the views being
    # independent. Permuting whole groups is calibrated; permuting rows
    # treats correlated rows as independent and rejects far too often.
    rng = np.random.RandomState(21)
    grouped, by_row = [], []
    for i in range(200):
        x, y, groups = grouped_null(rng, n_groups=20, size=5)
        est = UnitMatcher()
        grouped.append(
            permutation_test(
                est, x, y, groups=groups, n_permutations=99, random_state=i
            ).pvalue
        )
        by_row.append(
            permutation_test(est, x, y, n_permutations=99, random_state=i).pvalue
        )
    assert_uniform(grouped, 99)
    too_many = scipy.stats.binom.ppf(1 - ALARM, 200, 0.05)
    assert np.count_nonzero(np.array(by_row) <= 0.05) > too_many


class _SignedCorrelation(BaseEstimator):
    """Learns the sign of the first units' correlation; scores it held out."""

    def fit(self, X, y):
        r = np.corrcoef(np.asarray(X)[:, 0], np.ravel(y))[0, 1]
        self.sign_ = 1.0 if r >= 0 else -1.0
        return self

    def score(self, X, y):
        return self.sign_ * np.corrcoef(np.asarray(X)[:, 0], np.ravel(y))[0, 1]


def test_cross_validated_permutations_are_calibrated_with_groups():
    # The refit route, group-aware folds and group permutations together.
    rng = np.random.RandomState(22)
    pvalues = []
    for i in range(200):
        x, y, groups = grouped_null(rng, n_groups=12, size=4)
        result = permutation_test(
            _SignedCorrelation(), x, y, groups=groups, cv=GroupKFold(3),
            n_permutations=19, random_state=i,
        )  # fmt: skip
        assert result.algorithm == "refit"
        assert result.evaluation == "cross-validated (3 folds)"
        pvalues.append(result.pvalue)
    assert_uniform(pvalues, 19)


def test_cv_folds_receive_the_groups():
    x, y, groups = grouped_null(np.random.RandomState(0), n_groups=12, size=4)
    seen = []

    class Recording(GroupKFold):
        def split(self, X, y=None, groups=None):
            for train, test in super().split(X, y, groups):
                seen.append((train, test))
                yield train, test

    permutation_test(
        _SignedCorrelation(), x, y, groups=groups, cv=Recording(3), n_permutations=5
    )
    assert len(seen) == 3  # split once, reused for every permutation
    for train, test in seen:
        assert not set(groups[train]) & set(groups[test])


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"held_out": True}, {"cv": KFold(3)}, {"grouped": True}],
    ids=["in-sample", "held-out", "cv", "groups"],
)
def test_dependent_views_give_the_smallest_pvalue(kwargs):
    X, Y = shared_latent(4, n=120)
    est = SVCCA(svd_components=3)
    test = None
    if kwargs.get("held_out"):
        X, Y, test = X[:90], Y[:90], (X[90:], Y[90:])
    groups = np.repeat(np.arange(40), 3) if kwargs.get("grouped") else None
    result = permutation_test(
        est, X, Y, test=test, cv=kwargs.get("cv"), groups=groups,
        n_permutations=49 if "cv" in kwargs else 99, random_state=0,
    )  # fmt: skip
    assert result.pvalue == 1 / (1 + result.n_permutations)
    assert result.statistic > result.null_distribution.max()


def test_few_groups_are_enumerated_exactly():
    X, Y = shared_latent(5, n=40, noise=0.3)
    groups = np.repeat(np.arange(4), 10)  # 4! = 24 distinct permutations
    result = permutation_test(
        UnitMatcher(), X, Y, groups=groups, n_permutations=999, random_state=0
    )
    assert result.exact and result.n_permutations == 24
    # the identity is one of them, scored like the observed data
    assert np.any(result.null_distribution == result.statistic)
    assert result.pvalue == 1 / 24
    random = permutation_test(
        UnitMatcher(), X, Y, groups=groups, n_permutations=20, random_state=0
    )
    assert not random.exact and random.n_permutations == 20


def test_in_sample_bias_is_in_the_null_too():
    # X spans every direction of the 20 centred samples: the in-sample
    # SVCCA of independent views is 1 (every canonical correlation trivially
    # 1) and so is every permuted score: no evidence either way, p = 1,
    # never a false positive.
    rng = np.random.RandomState(6)
    X, Y = rng.randn(20, 25), rng.randn(20, 10)
    with pytest.warns(Warning, match="More units than samples"):
        result = permutation_test(
            SVCCA(svd_components=None), X, Y, n_permutations=49, random_state=0
        )
    assert result.statistic == pytest.approx(1.0)
    assert result.pvalue == 1.0


def test_permutation_test_bad_input():
    X, Y = shared_latent(7, n=30)
    est = SVCCA(svd_components=2)
    with pytest.raises(InvalidParameterError, match="'y' parameter"):
        permutation_test(est, X, None)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        permutation_test(est, X, Y[:20])
    with pytest.raises(ValueError, match="At least 3 samples"):
        permutation_test(est, X[:2], Y[:2])
    with pytest.raises(ValueError, match=r"groups must have shape \(n_samples,\)"):
        permutation_test(est, X, Y, groups=np.zeros(29))
    with pytest.raises(ValueError, match="either test .* or cv"):
        permutation_test(est, X, Y, test=(X, Y), cv=3)
    with pytest.raises(TypeError, match="test must be a pair"):
        permutation_test(est, X, Y, test=(X,))
    with pytest.raises(ValueError, match="No two groups have the same size"):
        permutation_test(est, X[:6], Y[:6], groups=[0, 1, 1, 2, 2, 2])
    uneven = np.r_[np.repeat(np.arange(9), 3), 50, 50, 51]  # sizes 3, 2 and 1
    with pytest.warns(SkrepWarning, match="3 of the 30 rows .* never permuted"):
        permutation_test(est, X, Y, groups=uneven, n_permutations=5)
    with pytest.raises(ValueError, match="not available for UnitMatcher"):
        permutation_test(UnitMatcher(metric="mutual_info"), X, Y, algorithm="fast")
    with pytest.raises(ValueError, match="not available with cv"):
        permutation_test(est, X, Y, cv=3, algorithm="fast")
    with pytest.raises(InvalidParameterError, match="n_permutations"):
        permutation_test(est, X, Y, n_permutations=0)
    with pytest.raises(InvalidParameterError, match="estimator"):
        permutation_test(object(), X, Y)

    class Broken(_SignedCorrelation):
        def score(self, X, y):
            return np.nan

    with pytest.raises(ValueError, match="non-finite score"):
        permutation_test(Broken(), X, Y[:, 0], n_permutations=5)


def test_other_estimators_take_the_refit_route():
    rng = np.random.RandomState(8)
    x = rng.randn(60, 2)
    y = x[:, 0] + rng.randn(60)
    result = permutation_test(_SignedCorrelation(), x, y, n_permutations=49)
    assert result.algorithm == "refit" and result.pvalue == 0.02
    mi = permutation_test(
        UnitMatcher(metric="mutual_info", n_bins=3), x, y, n_permutations=9,
        random_state=0,
    )  # fmt: skip
    assert mi.algorithm == "refit"


# ---------------------------------------------------------------------------
# Bootstrap: coverage.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_coverage_of_a_population_correlation(method):
    # One unit per view, bivariate normal with correlation 0.5: the
    # in-sample UnitMatcher score is the sample correlation.
    rng = np.random.RandomState(30 if method == "percentile" else 31)
    # At n = 400 the intervals' own coverage error (about 0.006 at n = 200,
    # from a larger simulation) is small next to this test's Monte-Carlo
    # error (binomial, 400 data sets: 0.011).
    rho, n, n_sets = 0.5, 400, 400
    hits = np.empty(n_sets, dtype=bool)
    for i in range(n_sets):
        x = rng.randn(n)
        y = rho * x + np.sqrt(1 - rho**2) * rng.randn(n)
        result = bootstrap_interval(
            UnitMatcher(), x[:, None], y, n_resamples=499, method=method,
            random_state=i,
        )  # fmt: skip
        hits[i] = result.ci_low <= rho <= result.ci_high
    assert_coverage(hits, 0.95)


def test_bootstrap_over_groups_covers_where_rows_do_not():
    # Rows of a group share correlated group effects: the row correlation
    # estimates rho = (0.6 * 1 + 0.2 * 1) / 2 = 0.4, with the spread of 60
    # groups, not 240 independent rows.
    rng = np.random.RandomState(32)
    rho, n_sets = 0.4, 300
    by_group = np.empty(n_sets, dtype=bool)
    by_row = np.empty(n_sets, dtype=bool)
    for i in range(n_sets):
        groups = np.repeat(np.arange(60), 4)
        a = rng.randn(60)
        b = 0.6 * a + 0.8 * rng.randn(60)
        e = rng.randn(240)
        f = 0.2 * e + np.sqrt(1 - 0.04) * rng.randn(240)
        x, y = (a[groups] + e)[:, None], b[groups] + f
        for hits, g in ((by_group, groups), (by_row, None)):
            result = bootstrap_interval(
                UnitMatcher(), x, y, groups=g, n_resamples=299, random_state=i
            )
            hits[i] = result.ci_low <= rho <= result.ci_high
    assert_coverage(by_group, 0.95)
    too_few = scipy.stats.binom.ppf(ALARM, n_sets, 0.95)
    assert np.count_nonzero(by_row) < too_few


def test_bootstrap_degenerate_and_biased_cases():
    rng = np.random.RandomState(9)
    X = rng.randn(50, 3)
    # identical views: every resample scores 1, a point interval, no NaN
    same = bootstrap_interval(
        SVCCA(svd_components=None), X, X, n_resamples=50, method="bca"
    )
    assert same.ci_low == pytest.approx(1.0) and same.ci_high == pytest.approx(1.0)
    # many directions for few samples: in-sample CCA's bias grows in
    # resamples, and the percentile interval says so
    Y = rng.randn(50, 3)
    wide = rng.randn(50, 12), rng.randn(50, 12)
    with pytest.warns(SkrepWarning, match="off-centre"):
        biased = bootstrap_interval(
            SVCCA(svd_components=None), *wide, n_resamples=100, random_state=0
        )
    assert biased.bias > 0
    # the observed statistic outside the bootstrap distribution: BCa refuses
    with pytest.raises(ValueError, match="BCa interval is undefined"):
        with pytest.warns(Warning):
            bootstrap_interval(
                UnitMatcher(metric="mutual_info", n_bins=8), X, Y,
                n_resamples=50, method="bca", random_state=0,
            )  # fmt: skip


def test_bootstrap_bad_input():
    X, Y = shared_latent(10, n=30)
    with pytest.raises(ValueError, match="at least 2 groups"):
        bootstrap_interval(UnitMatcher(), X, Y, groups=np.zeros(30))
    with pytest.raises(ValueError, match="not available for _SignedCorrelation"):
        bootstrap_interval(_SignedCorrelation(), X, Y[:, 0], algorithm="fast")
    with pytest.raises(InvalidParameterError, match="confidence_level"):
        bootstrap_interval(UnitMatcher(), X, Y, confidence_level=1.0)
    with pytest.raises(InvalidParameterError, match="method"):
        bootstrap_interval(UnitMatcher(), X, Y, method="basic")


# ---------------------------------------------------------------------------
# Seeds.
# ---------------------------------------------------------------------------


def test_seed_comparison_matches_the_textbook():
    rng = np.random.RandomState(11)
    trained, chance = 0.7 + 0.05 * rng.randn(7), 0.5 + 0.05 * rng.randn(7)
    paired = seed_comparison(trained, chance)
    expected = scipy.stats.ttest_rel(trained, chance).confidence_interval(0.95)
    assert paired.paired and paired.test == "sign-flip" and paired.exact
    assert paired.confidence_interval == pytest.approx(tuple(expected), abs=1e-12)
    # the exact sign-flip p-value by brute force
    d = trained - chance
    flips = np.array(list(itertools.product([-1, 1], repeat=7))) @ d / 7
    assert paired.pvalue == pytest.approx(np.mean(np.abs(flips) >= abs(d.mean())))
    unpaired = seed_comparison(trained, chance[:5])
    welch = scipy.stats.ttest_ind(trained, chance[:5], equal_var=False)
    assert not unpaired.paired and unpaired.test == "relabelling"
    assert unpaired.confidence_interval == pytest.approx(
        tuple(welch.confidence_interval(0.95)), abs=1e-12
    )
    pooled = np.r_[trained, chance[:5]]
    diffs = [
        pooled[list(c)].mean() - np.delete(pooled, list(c)).mean()
        for c in itertools.combinations(range(12), 7)
    ]
    observed = trained.mean() - chance[:5].mean()
    assert unpaired.pvalue == pytest.approx(np.mean(np.abs(diffs) >= observed - 1e-12))
    rank = seed_comparison(trained, chance, test="rank", alternative="greater")
    assert rank.test == "wilcoxon"
    assert rank.pvalue == pytest.approx(
        scipy.stats.wilcoxon(d, alternative="greater").pvalue
    )
    mw = seed_comparison(trained, chance[:5], test="rank")
    assert mw.test == "mann-whitney"
    assert mw.pvalue == pytest.approx(
        scipy.stats.mannwhitneyu(trained, chance[:5]).pvalue
    )
    forced = seed_comparison(trained, chance, paired=False)
    assert not forced.paired and forced.test == "relabelling"


def test_five_seeds_cannot_reject_two_sided_at_five_percent():
    up = seed_comparison([0.9, 0.8, 0.85, 0.95, 0.7], [0.1, 0.2, 0.15, 0.1, 0.3])
    assert up.pvalue == 2 / 32 and up.exact
    one_sided = seed_comparison([0.9, 0.8, 0.85, 0.95, 0.7], 0.5, alternative="greater")
    assert one_sided.pvalue == 1 / 32 and one_sided.n_scores == (5, 1)
    less = seed_comparison([0.9, 0.8, 0.85, 0.95, 0.7], 0.5, alternative="less")
    assert less.pvalue == 1.0
    zero = seed_comparison([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    assert zero.pvalue == 1.0 and zero.confidence_interval == (0.0, 0.0)
    assert seed_comparison([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], test="rank").pvalue == 1


def test_sign_flip_test_is_calibrated_and_random_flips_are_valid():
    rng = np.random.RandomState(12)
    n_sets = 2000
    exact = np.array(
        [seed_comparison(rng.randn(8)).pvalue for _ in range(n_sets)]
    )  # 256 sign flips, enumerated
    size = np.floor(0.05 * 256) / 256  # the exact test's attainable level
    low, high = scipy.stats.binom.interval(1 - ALARM, n_sets, size)
    assert low <= np.count_nonzero(exact <= 0.05) <= high
    random = seed_comparison(rng.randn(12) + 3, n_permutations=99, random_state=0)
    assert not random.exact and random.pvalue == 1 / 100


def test_seed_comparison_bad_input():
    with pytest.raises(ValueError, match="at least 2 scores"):
        seed_comparison([0.5], [0.1])
    with pytest.raises(ValueError, match="1-D"):
        seed_comparison([[0.5, 0.6]], [0.1, 0.2])
    with pytest.raises(ValueError, match="non-finite"):
        seed_comparison([0.5, np.nan], [0.1, 0.2])
    with pytest.raises(ValueError, match="paired=True needs as many"):
        seed_comparison([0.5, 0.6, 0.7], [0.1, 0.2], paired=True)
    with pytest.raises(ValueError, match="paired=False needs"):
        seed_comparison([0.5, 0.6, 0.7], 0.1, paired=False)
    with pytest.raises(InvalidParameterError, match="alternative"):
        seed_comparison([0.5, 0.6], [0.1, 0.2], alternative="bigger")


# ---------------------------------------------------------------------------
# The user guide's code.
# ---------------------------------------------------------------------------


def test_user_guide_code_blocks_run():
    page = Path(__file__).resolve().parents[1] / "docs" / "inference.rst"
    blocks = re.findall(
        r"\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", page.read_text()
    )
    assert len(blocks) >= 5
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkrepWarning)  # the examples are clean
        for block in blocks:
            exec(textwrap.dedent(block), namespace)
    assert namespace["held_out"].pvalue < 0.05
    assert namespace["grid"].pvalues.shape == (2, 2)
    assert namespace["result"].paired
