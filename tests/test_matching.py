"""Behaviour of UnitMatcher and match_groups (Li et al. 2016)."""

import itertools
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score, mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from skrep import UnitMatcher, match_groups
from skrep._core.moments import Moments
from skrep._core.mutual_info import bin_units
from skrep.base import get_skrep_tags
from skrep.exceptions import DeadUnitWarning

METHODS = ["matching", "semi-matching"]


def pearson(X, Y):
    """Independent reference: numpy's corrcoef, cross block."""
    p = X.shape[1]
    return np.corrcoef(X.T, Y.T)[:p, p:]


def permuted_copy(seed, n_samples=400, n_units=12, noise=0.3, relu=False):
    """Y = permuted, rescaled (positive factors), shifted, noisy copy of X."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_units)
    if relu:
        X = np.maximum(X, 0.0)
    perm = rng.permutation(n_units)
    scale = rng.uniform(0.5, 3.0, n_units)
    shift = rng.uniform(-5.0, 5.0, n_units)
    Y = X[:, perm] * scale + shift + noise * rng.randn(n_samples, n_units)
    return X, Y, perm


def correlated_views(seed, n_x, n_y, n_samples=60):
    """Two views with generic, mixed-sign correlations."""
    rng = np.random.RandomState(seed)
    Z = rng.randn(n_samples, 4)
    X = Z @ rng.randn(4, n_x) + rng.randn(n_samples, n_x)
    Y = Z @ rng.randn(4, n_y) + rng.randn(n_samples, n_y)
    return X, Y


# --------------------------------------------------------------------------
# Correlation and matching: known answers.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("relu", [False, True])
def test_recovers_hidden_permutation(seed, method, relu):
    X, Y, perm = permuted_copy(seed, relu=relu)
    matcher = UnitMatcher(method).fit(X, Y)
    assert_array_equal(matcher.match_, perm)
    assert_array_equal(matcher.transform(X), X[:, perm])
    assert matcher.overlap_ == 1.0
    expected = [np.corrcoef(X[:, perm[j]], Y[:, j])[0, 1] for j in range(12)]
    assert_allclose(matcher.match_correlation_, expected, rtol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_recovers_hidden_permutation_mutual_info(seed, method):
    X, Y, perm = permuted_copy(seed, n_samples=2000, relu=True)
    matcher = UnitMatcher(method, metric="mutual_info").fit(X, Y)
    assert_array_equal(matcher.match_, perm)
    assert matcher.similarity_ is matcher.mutual_info_
    assert_allclose(matcher.correlation_, pearson(X, Y), atol=1e-12)


def test_correlation_matches_numpy(seed):
    X, Y = correlated_views(seed, 7, 9)
    matcher = UnitMatcher("semi-matching").fit(X, Y)
    assert matcher.correlation_.shape == (7, 9)
    assert_allclose(matcher.correlation_, pearson(X, Y), atol=1e-12)
    assert matcher.similarity_ is matcher.correlation_
    columns = np.arange(9)
    assert_allclose(
        matcher.match_correlation_, pearson(X, Y)[matcher.match_, columns], atol=1e-12
    )
    assert_array_equal(matcher.match_similarity_, matcher.match_correlation_)


@pytest.mark.parametrize("n_x, n_y", [(5, 5), (6, 4), (4, 6), (1, 3), (3, 1)])
def test_matching_sum_is_the_optimum(seed, n_x, n_y):
    X, Y = correlated_views(seed, n_x, n_y)
    C = pearson(X, Y)
    # Brute force over all injective assignments of the narrower side.
    if n_x >= n_y:
        best = max(
            sum(C[rows[j], j] for j in range(n_y))
            for rows in itertools.permutations(range(n_x), n_y)
        )
    else:
        best = max(
            sum(C[i, cols[i]] for i in range(n_x))
            for cols in itertools.permutations(range(n_y), n_x)
        )
    matcher = UnitMatcher("matching").fit(X, Y)
    matched = matcher.match_ >= 0
    assert matched.sum() == min(n_x, n_y)
    assert len(set(matcher.match_[matched])) == matched.sum()  # one-to-one
    assert_allclose(np.nansum(matcher.match_correlation_), best, rtol=1e-12)
    assert_allclose(matcher.matching_mean_, best / min(n_x, n_y), rtol=1e-12)


@pytest.mark.parametrize("n_x, n_y", [(8, 8), (10, 6), (5, 9)])
def test_semi_matching_is_argmax_and_dominates(seed, n_x, n_y):
    X, Y = correlated_views(seed, n_x, n_y)
    C = pearson(X, Y)
    semi = UnitMatcher("semi-matching").fit(X, Y)
    assert_array_equal(semi.match_, C.argmax(axis=0))
    assert_array_equal(semi.semi_match_, semi.match_)
    assert_allclose(semi.semi_matching_mean_, C.max(axis=0).mean(), rtol=1e-12)
    assert_allclose(semi.match_correlation_, C.max(axis=0), rtol=1e-12)
    full = UnitMatcher("matching").fit(X, Y)
    # Both fits carry the same summary figures whatever the method.
    assert semi.matching_mean_ == full.matching_mean_
    assert semi.overlap_ == full.overlap_
    if n_x >= n_y:  # every Y unit matched: the one-to-one mean is bounded
        assert full.semi_matching_mean_ >= full.matching_mean_
    matched = full.one_to_one_match_ >= 0
    expected_overlap = np.mean(
        full.one_to_one_match_[matched] == C.argmax(axis=0)[matched]
    )
    assert full.overlap_ == expected_overlap


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("metric", ["correlation", "mutual_info"])
def test_identity_against_itself(seed, method, metric):
    rng = np.random.RandomState(seed)
    X = np.maximum(rng.randn(500, 10), 0.0)
    matcher = UnitMatcher(method, metric=metric).fit(X, X)
    assert_array_equal(matcher.match_, np.arange(10))
    assert_allclose(np.diag(matcher.correlation_), 1.0, rtol=1e-12)
    assert matcher.overlap_ == 1.0
    assert_array_equal(matcher.transform(X), X)
    if metric == "correlation":
        assert_allclose(matcher.matching_mean_, 1.0, rtol=1e-12)
        assert_allclose(matcher.score(X, X), 1.0, rtol=1e-12)


def test_negative_rescaling_flips_signs(seed):
    X, Y = correlated_views(seed, 6, 5)
    rng = np.random.RandomState(seed)
    factors = -rng.uniform(0.5, 4.0, 5)
    base = UnitMatcher().fit(X, Y)
    flipped = UnitMatcher().fit(X, Y * factors + 7.0)
    assert_allclose(flipped.correlation_, -base.correlation_, atol=1e-12)
    # Only Y unit 2 flipped: its column alone changes sign.
    one = Y.copy()
    one[:, 2] *= -3.0
    partial = UnitMatcher().fit(X, one)
    expected = base.correlation_.copy()
    expected[:, 2] *= -1
    assert_allclose(partial.correlation_, expected, atol=1e-12)


def test_signed_matching_avoids_anticorrelated_partners(seed):
    X, _, _ = permuted_copy(seed, n_units=6)
    matcher = UnitMatcher().fit(X, -X)
    # The perfectly anti-correlated pairs (i, i) are the worst, not the best.
    assert np.all(matcher.match_ != np.arange(6))
    assert np.all(matcher.match_correlation_ > -0.5)


def test_invariant_to_positive_affine_maps(seed):
    X, Y = correlated_views(seed, 6, 7, n_samples=80)
    rng = np.random.RandomState(seed)
    base = UnitMatcher().fit(X, Y)
    moved = UnitMatcher().fit(
        X * rng.uniform(0.1, 10, 6) - 3.0, Y * rng.uniform(0.1, 10, 7) + 100.0
    )
    assert_allclose(moved.correlation_, base.correlation_, atol=1e-10)
    assert_array_equal(moved.match_, base.match_)


# --------------------------------------------------------------------------
# Unequal widths, 1-D y, dead units.
# --------------------------------------------------------------------------


def test_more_x_units_than_y_units(seed):
    X, Y, perm = permuted_copy(seed, n_units=10)
    matcher = UnitMatcher().fit(X, Y[:, :4])
    assert_array_equal(matcher.match_, perm[:4])
    assert not np.isnan(matcher.match_correlation_).any()
    assert matcher.transform(X).shape == (X.shape[0], 4)


@pytest.mark.parametrize("metric", ["correlation", "mutual_info"])
def test_fewer_x_units_than_y_units(seed, metric):
    X, Y, perm = permuted_copy(seed, n_samples=1000, n_units=8)
    keep = np.sort(perm[:5])  # the X units that Y units 0..4 come from
    X_narrow = X[:, keep]
    matcher = UnitMatcher(metric=metric).fit(X_narrow, Y)
    unmatched = matcher.match_ == -1
    assert unmatched.sum() == 3
    assert_array_equal(unmatched, np.arange(8) >= 5)
    # The matched Y units find their true source among the kept X units.
    assert_array_equal(keep[matcher.match_[:5]], perm[:5])
    assert_array_equal(np.isnan(matcher.match_correlation_), unmatched)
    assert_array_equal(np.isnan(matcher.match_similarity_), unmatched)
    assert not np.isnan(matcher.correlation_).any()
    with pytest.raises(ValueError, match="no partner"):
        matcher.transform(X_narrow)
    with pytest.raises(ValueError, match="no partner"):
        matcher.get_feature_names_out()
    if metric == "correlation":
        expected = np.mean(
            [
                np.corrcoef(X_narrow[:, matcher.match_[j]], Y[:, j])[0, 1]
                for j in range(5)
            ]
        )
        assert_allclose(matcher.score(X_narrow, Y), expected, rtol=1e-12)
    # Semi-matching always has partners.
    semi = UnitMatcher("semi-matching", metric=metric).fit(X_narrow, Y)
    assert np.all(semi.match_ >= 0)
    assert semi.transform(X_narrow).shape == (X.shape[0], 8)


def test_one_dimensional_y(seed):
    X, Y, perm = permuted_copy(seed, n_units=5)
    matcher = UnitMatcher().fit(X, Y[:, 0])
    assert matcher.n_features_y_ == 1
    assert_array_equal(matcher.match_, perm[:1])
    assert_allclose(
        matcher.score(X, Y[:, 0]), np.corrcoef(X[:, perm[0]], Y[:, 0])[0, 1]
    )


@pytest.mark.parametrize("metric", ["correlation", "mutual_info"])
def test_dead_units_get_zero_and_a_warning(metric):
    X, Y, perm = permuted_copy(0, n_samples=1000, n_units=6, relu=True)
    X[:, 1] = 0.0  # a dead ReLU
    Y[:, 4] = 2.5  # a constant unit
    with pytest.warns(DeadUnitWarning, match="constant"):
        matcher = UnitMatcher(metric=metric).fit(X, Y)
    assert_array_equal(matcher.x_constant_, np.arange(6) == 1)
    assert_array_equal(matcher.y_constant_, np.arange(6) == 4)
    for matrix in (matcher.correlation_, matcher.similarity_):
        assert np.isfinite(matrix).all()
        assert np.all(matrix[1] == 0.0)
        assert np.all(matrix[:, 4] == 0.0)
    assert np.isfinite(matcher.match_correlation_).all()
    alive = (perm != 1) & (np.arange(6) != 4)
    assert_array_equal(matcher.match_[alive], perm[alive])
    with pytest.warns(DeadUnitWarning, match="constant"):
        held_out = matcher.score(X, Y)
    assert np.isfinite(held_out)


def test_no_warning_without_dead_units():
    X, Y, _ = permuted_copy(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        UnitMatcher().fit(X, Y).score(X, Y)


# --------------------------------------------------------------------------
# Mutual information.
# --------------------------------------------------------------------------


def reference_bins(column, n_bins):
    """Equal-mass bins by rank, for tie-free data with divisible counts."""
    n = column.size
    ranks = np.empty(n, dtype=int)
    if column.min() >= 0 and np.any(column == 0):
        zero = column == 0
        positive = np.flatnonzero(~zero)
        m = positive.size
        ranks[positive[np.argsort(column[positive])]] = np.arange(m)
        bins = 1 + ranks * (n_bins - 1) // m
        bins[zero] = 0
        return bins
    ranks[np.argsort(column)] = np.arange(n)
    return ranks * n_bins // n


def reference_mutual_info(x_bins, y_bins):
    """Plug-in MI (sklearn) plus the Miller-Madow terms."""
    n = x_bins.size
    joint = contingency_matrix(x_bins, y_bins)
    cells = (
        np.count_nonzero(np.bincount(x_bins))
        + np.count_nonzero(np.bincount(y_bins))
        - np.count_nonzero(joint)
        - 1
    )
    return mutual_info_score(x_bins, y_bins) + cells / (2 * n)


def relu_with_zeros(rng, n_samples, n_zeros):
    """A tie-free positive unit with exactly n_zeros zeros."""
    values = rng.exponential(size=n_samples) + 1e-3
    values[rng.choice(n_samples, n_zeros, replace=False)] = 0.0
    return values


@pytest.mark.parametrize("n_bins", [10, 3])
def test_mutual_info_matches_reference(seed, n_bins):
    rng = np.random.RandomState(seed)
    n = 900
    Z = rng.randn(n, 3)
    X = np.column_stack(
        [relu_with_zeros(rng, n, 450), Z[:, 0], Z[:, 1] + 0.5 * rng.randn(n)]
    )
    Y = np.column_stack(
        [
            np.exp(Z[:, 0] + rng.randn(n)),
            relu_with_zeros(rng, n, 162),
            Z[:, 1] ** 2,
            Z[:, 2],
        ]
    )
    if n_bins == 3:  # keep the positive counts divisible by n_bins - 1
        X[:, 0], Y[:, 1] = relu_with_zeros(rng, n, 450), relu_with_zeros(rng, n, 160)
    matcher = UnitMatcher(metric="mutual_info", n_bins=n_bins).fit(X, Y)
    x_bins = [reference_bins(X[:, i], n_bins) for i in range(3)]
    y_bins = [reference_bins(Y[:, j], n_bins) for j in range(4)]
    expected = np.array(
        [[reference_mutual_info(xb, yb) for yb in y_bins] for xb in x_bins]
    )
    assert_allclose(matcher.mutual_info_, expected, rtol=0, atol=1e-12)


def test_mutual_info_of_independent_units_is_near_zero(seed):
    rng = np.random.RandomState(seed)
    n = 20000
    X = np.maximum(rng.randn(n, 8), 0.0)
    Y = np.maximum(rng.randn(n, 8) + 0.5, 0.0)
    mutual_info = UnitMatcher(metric="mutual_info").fit(X, Y).mutual_info_
    # Miller-Madow removes the plug-in bias (about (10-1)**2 / (2n) = 0.002).
    assert np.abs(mutual_info).max() < 0.003
    assert abs(mutual_info.mean()) < 2e-4
    x_bins = bin_units(X, 10)
    y_bins = bin_units(Y, 10)
    plug_in = np.mean(
        [
            mutual_info_score(x_bins[:, i], y_bins[:, j])
            for i in range(8)
            for j in range(8)
        ]
    )
    assert plug_in > 0.0015


def test_mutual_info_of_identical_units_is_their_entropy(seed):
    rng = np.random.RandomState(seed)
    n = 1800
    signed = rng.randn(n)
    relu = relu_with_zeros(rng, n, 900)
    X = np.column_stack([signed, relu])
    diag = np.diag(UnitMatcher(metric="mutual_info").fit(X, X).mutual_info_)
    # 10 equal bins: log 10; a zero bin of mass 1/2 and 9 bins of 1/18.
    assert_allclose(diag[0], np.log(10) + 9 / (2 * n), rtol=1e-12)
    relu_entropy = 0.5 * np.log(2) + 0.5 * np.log(18)
    assert_allclose(diag[1], relu_entropy + 9 / (2 * n), rtol=1e-12)


def test_mutual_info_invariant_to_monotone_maps(seed):
    rng = np.random.RandomState(seed)
    X = np.maximum(rng.randn(500, 4), 0.0)
    Y = np.maximum(X @ rng.randn(4, 5) + rng.randn(500, 5), 0.0)
    base = UnitMatcher(metric="mutual_info").fit(X, Y)
    # Increasing maps that keep zeros at zero keep every bin.
    moved = UnitMatcher(metric="mutual_info").fit(X**3 * 7.0, np.expm1(Y))
    assert_allclose(moved.mutual_info_, base.mutual_info_, rtol=0, atol=1e-12)


def test_mutual_info_finds_nonlinear_partners(seed):
    rng = np.random.RandomState(seed)
    half = rng.randn(1500, 6)
    X = np.vstack([half, -half])  # symmetric: X and X**2 exactly uncorrelated
    perm = rng.permutation(6)
    Y = X[:, perm] ** 2 + 0.05 * rng.randn(3000, 6)  # uncorrelated, dependent
    by_mi = UnitMatcher(metric="mutual_info").fit(X, Y)
    assert_array_equal(by_mi.match_, perm)
    assert np.abs(by_mi.match_correlation_).max() < 0.1
    assert by_mi.match_similarity_.min() > 1.0


# --------------------------------------------------------------------------
# Held-out scoring and the scikit-learn workflow.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_score_is_measured_on_the_given_data(seed, method):
    X, Y, _ = permuted_copy(seed, n_samples=600, noise=1.5)
    train, test = slice(0, 400), slice(400, None)
    matcher = UnitMatcher(method).fit(X[train], Y[train])
    Xt, Yt = X[test], Y[test]
    expected = np.mean(
        [np.corrcoef(Xt[:, matcher.match_[j]], Yt[:, j])[0, 1] for j in range(12)]
    )
    assert_allclose(matcher.score(Xt, Yt), expected, rtol=1e-12)
    assert_allclose(
        matcher.score(X[train], Y[train]), matcher.match_correlation_.mean()
    )


def test_mutual_info_score_on_held_out_data(seed):
    X, Y, _ = permuted_copy(seed, n_samples=1500, relu=True, noise=0.5)
    matcher = UnitMatcher(metric="mutual_info").fit(X[:1000], Y[:1000])
    Xt, Yt = X[1000:], Y[1000:]
    x_bins = bin_units(Xt, 10)
    y_bins = bin_units(Yt, 10)
    expected = np.mean(
        [
            reference_mutual_info(x_bins[:, matcher.match_[j]], y_bins[:, j])
            for j in range(12)
        ]
    )
    assert_allclose(matcher.score(Xt, Yt), expected, rtol=1e-12)
    assert_allclose(
        matcher.score(X[:1000], Y[:1000]), matcher.match_similarity_.mean(), rtol=1e-12
    )


def test_cross_val_score_and_grid_search():
    X, Y, perm = permuted_copy(0, n_samples=300, noise=1.0)
    cv = KFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(UnitMatcher(), X, Y, cv=cv)
    assert scores.shape == (3,)
    assert np.all((scores > 0.5) & (scores <= 1.0))
    search = GridSearchCV(
        UnitMatcher(), {"method": METHODS, "metric": ["correlation"]}, cv=cv
    ).fit(X, Y)
    assert search.best_params_["method"] in METHODS
    assert_array_equal(search.best_estimator_.match_, perm)


def test_clone_and_pickle(seed):
    X, Y, _ = permuted_copy(seed)
    matcher = UnitMatcher("semi-matching", metric="mutual_info", n_bins=6)
    cloned = clone(matcher)
    assert cloned.get_params() == matcher.get_params()
    assert not hasattr(cloned, "match_")
    matcher.fit(X, Y)
    restored = pickle.loads(pickle.dumps(matcher))
    for name in ("correlation_", "mutual_info_", "match_", "match_correlation_"):
        assert_array_equal(getattr(restored, name), getattr(matcher, name))
    assert restored.overlap_ == matcher.overlap_
    assert_array_equal(restored.transform(X), matcher.transform(X))
    assert restored.score(X, Y) == matcher.score(X, Y)


def test_feature_names_out():
    X, Y, perm = permuted_copy(1, n_units=4)
    matcher = UnitMatcher().fit(X, Y)
    expected = [f"x{i}_for_y{j}" for j, i in enumerate(perm)]
    assert_array_equal(matcher.get_feature_names_out(), expected)
    names = np.array(["a", "b", "c", "d"])
    expected = [f"{names[i]}_for_y{j}" for j, i in enumerate(perm)]
    assert_array_equal(matcher.get_feature_names_out(names), expected)


def test_float32_input_is_preserved():
    X, Y, perm = permuted_copy(2)
    matcher = UnitMatcher().fit(X.astype(np.float32), Y.astype(np.float32))
    assert_array_equal(matcher.match_, perm)
    assert_allclose(matcher.correlation_, pearson(X, Y), atol=1e-5)
    assert matcher.transform(X.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("metric", ["correlation", "mutual_info"])
def test_inputs_are_not_modified(metric):
    X, Y, _ = permuted_copy(0, relu=True)
    X_before, Y_before = X.copy(), Y.copy()
    matcher = UnitMatcher(metric=metric).fit(X, Y)
    matcher.transform(X)
    matcher.score(X, Y)
    match_groups(X, Y, n_groups=3, random_state=0)
    assert_array_equal(X, X_before)
    assert_array_equal(Y, Y_before)


# --------------------------------------------------------------------------
# Bad input.
# --------------------------------------------------------------------------


def test_bad_input_is_a_clear_error():
    X, Y, _ = permuted_copy(0, n_samples=20, n_units=3)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        UnitMatcher().fit(bad, Y)
    with pytest.raises(ValueError, match="NaN"):
        UnitMatcher().fit(X, np.where(Y > 1, np.nan, Y))
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        UnitMatcher().fit(bad, Y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        UnitMatcher().fit(X, Y[:-1])
    with pytest.raises(ValueError, match="2D array"):
        UnitMatcher().fit(X[:, 0], Y)
    with pytest.raises(ValueError, match="0 sample"):
        UnitMatcher().fit(X[:0], Y[:0])
    with pytest.raises(ValueError, match="minimum of 2"):
        UnitMatcher().fit(X[:1], Y[:1])
    with pytest.raises(ValueError, match="method"):
        UnitMatcher(method="hungarian").fit(X, Y)
    with pytest.raises(ValueError, match="metric"):
        UnitMatcher(metric="cosine").fit(X, Y)
    with pytest.raises(ValueError, match="n_bins"):
        UnitMatcher(n_bins=1).fit(X, Y)
    fitted = UnitMatcher().fit(X, Y)
    with pytest.raises(ValueError, match="3 features"):
        fitted.transform(X[:, :2])
    with pytest.raises(ValueError, match="units"):
        fitted.score(X, Y[:, :2])
    with pytest.raises(ValueError, match="different numbers of rows"):
        fitted.score(X, Y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        fitted.score(X, np.full_like(Y, np.nan))


# --------------------------------------------------------------------------
# One constant-unit rule in fit and score (regressions).
# --------------------------------------------------------------------------


def narrow_units(seed, base, spread, n_samples=300, n_units=6):
    """permuted_copy with one X unit and one Y unit at `base` +- `spread`."""
    X, Y, perm = permuted_copy(seed, n_samples=n_samples, n_units=n_units, noise=1.0)
    X[:, 0] = base + spread * X[:, 0]
    Y[:, 1] = base + spread * Y[:, 1]
    return X, Y, perm


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "base, spread",
    [(1.0, 1e-11), (1e8, 1e-2), (1e8, 1e-3)],
    ids=["1+1e-11", "1e8+1e-2", "1e8+1e-3"],
)
def test_narrow_units_are_signal_in_fit_and_score(seed, method, base, spread):
    # Regression: fit kept these units while score zeroed them silently
    # (matching_mean_ 0.84 against a score of 0.53 for 1 + 1e-11 noise).
    # Their std is far above 1e-12 of their rms: they are signal.
    X, Y, perm = narrow_units(seed, base, spread)
    reference = UnitMatcher(method).fit(*narrow_units(seed, 0.0, 1.0)[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadUnitWarning)
        matcher = UnitMatcher(method).fit(X, Y)
        score = matcher.score(X, Y)
    assert not matcher.x_constant_.any() and not matcher.y_constant_.any()
    assert_array_equal(matcher.match_, perm)
    assert_array_equal(matcher.match_, reference.match_)
    # Same correlations as without the offset, up to the data's quantisation
    # (the spread is 1e-5 of an ulp-limited range at 1e8).
    assert_allclose(matcher.correlation_, reference.correlation_, atol=1e-3)
    mean = (
        matcher.matching_mean_ if method == "matching" else matcher.semi_matching_mean_
    )
    assert_allclose(score, mean, rtol=1e-9)
    assert_allclose(score, np.mean(matcher.match_correlation_), rtol=1e-9)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "base, spread", [(1.0, 1e-13), (1e8, 1e-5), (0.0, 0.0)], ids=str
)
def test_constant_units_by_the_rule_are_zero_in_fit_and_score(
    seed, method, base, spread
):
    # std <= 1e-12 * rms: constant, zero in both, with a warning in both.
    X, Y, perm = narrow_units(seed, base, spread)
    with pytest.warns(DeadUnitWarning, match="constant"):
        matcher = UnitMatcher(method).fit(X, Y)
    assert_array_equal(matcher.x_constant_, np.arange(6) == 0)
    assert_array_equal(matcher.y_constant_, np.arange(6) == 1)
    assert np.all(matcher.correlation_[0] == 0.0)
    assert np.all(matcher.correlation_[:, 1] == 0.0)
    assert matcher.match_correlation_[1] == 0.0
    with pytest.warns(DeadUnitWarning, match="1 matched pair"):
        score = matcher.score(X, Y)
    mean = (
        matcher.matching_mean_ if method == "matching" else matcher.semi_matching_mean_
    )
    assert_allclose(score, mean, rtol=1e-9)


@pytest.mark.parametrize("base, spread", [(1.0, 1e-11), (1e8, 1e-3), (1.0, 1e-13)])
def test_mutual_info_score_uses_the_same_rule(seed, base, spread):
    X, Y, _ = narrow_units(seed, base, spread, n_samples=400)
    dead = spread < 1e-12
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        matcher = UnitMatcher(metric="mutual_info", n_bins=5).fit(X, Y)
        score = matcher.score(X, Y)
    n_dead = sum(issubclass(w.category, DeadUnitWarning) for w in caught)
    assert n_dead == (2 if dead else 0)
    assert matcher.x_constant_[0] == dead and matcher.y_constant_[1] == dead
    assert_allclose(score, matcher.matching_mean_, rtol=1e-9)


# --------------------------------------------------------------------------
# Hostile input: sparse y, activations whose squares overflow.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["correlation", "mutual_info"])
def test_sparse_y_is_a_clear_type_error(metric):
    X, Y, _ = permuted_copy(0, n_samples=100, n_units=4)
    sparse = scipy.sparse.csr_matrix(Y)
    with pytest.raises(TypeError, match="sparse"):
        UnitMatcher(metric=metric).fit(X, sparse)
    with pytest.raises(TypeError, match="sparse"):
        UnitMatcher().partial_fit(X, sparse)
    fitted = UnitMatcher(metric=metric).fit(X, Y)
    with pytest.raises(TypeError, match="sparse"):
        fitted.score(X, sparse)


def test_overflowing_activations_are_a_clear_error():
    # Regression: data scaled by 1e160 silently scored 0.0.
    X, Y, _ = permuted_copy(0, n_samples=200, n_units=4)
    with pytest.raises(ValueError, match="overflow"):
        UnitMatcher().fit(X * 1e160, Y)
    with pytest.raises(ValueError, match="overflow"):
        UnitMatcher().fit(X, Y * 1e160)
    with pytest.raises(ValueError, match="overflow"):
        UnitMatcher().partial_fit(X * 1e160, Y * 1e160)
    fitted = UnitMatcher().fit(X, Y)
    with pytest.raises(ValueError, match="overflow"):
        fitted.score(X * 1e160, Y)
    # Divided by their largest magnitude, as the message says, they match.
    big = X * 1e160
    scaled = UnitMatcher().fit(big / np.abs(big).max(), Y)
    assert_array_equal(scaled.match_, fitted.match_)
    assert_allclose(scaled.correlation_, fitted.correlation_, atol=1e-12)


@pytest.mark.parametrize("scale", [1e160, 1e-170])
@pytest.mark.parametrize("method", METHODS)
def test_mutual_info_is_scale_free(seed, method, scale):
    # Rank-based: the scale changes nothing, even where squares overflow
    # (1e160) or underflow (1e-170); so do the correlations and the
    # constant-unit decisions, computed on an exact power-of-two rescaling.
    X, Y, _ = permuted_copy(seed, n_samples=600, relu=True, noise=0.5)
    Y[:, 3] = 0.0
    with pytest.warns(DeadUnitWarning):
        base = UnitMatcher(method, metric="mutual_info").fit(X, Y)
    with pytest.warns(DeadUnitWarning):
        scaled = UnitMatcher(method, metric="mutual_info").fit(X * scale, Y * scale)
    assert_allclose(scaled.mutual_info_, base.mutual_info_, rtol=0, atol=1e-12)
    assert_allclose(scaled.correlation_, base.correlation_, atol=1e-12)
    assert_array_equal(scaled.y_constant_, np.arange(12) == 3)
    assert_array_equal(scaled.match_, base.match_)
    assert scaled.matching_mean_ == base.matching_mean_
    both = [(X, Y), (X * scale, Y * scale)]
    with pytest.warns(DeadUnitWarning):
        scores = [est.score(*views) for est, views in zip((base, scaled), both)]
    assert_allclose(scores[1], scores[0], rtol=1e-12)
    # Its moments were taken on rescaled rows: partial_fit cannot continue.
    scaled.set_params(metric="correlation")
    with pytest.raises(ValueError, match="cannot continue"):
        scaled.partial_fit(X * scale, Y * scale)


# --------------------------------------------------------------------------
# Streaming: partial_fit.
# --------------------------------------------------------------------------


def fitted_attributes(estimator):
    """Every fitted attribute (finalising a partial fit first)."""
    estimator.match_  # noqa: B018 - runs the lazy finalisation
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("__")
    }


def assert_same_fit(streamed, fitted):
    expected = fitted_attributes(fitted)
    got = fitted_attributes(streamed)
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert_allclose(got[name], value, rtol=1e-9, atol=1e-14, err_msg=name)
        elif isinstance(value, float):
            assert_allclose(got[name], value, rtol=1e-9, err_msg=name)
        else:
            assert_array_equal(got[name], value, err_msg=name)


def random_batches(rng, n_samples, n_cuts):
    """Row slices at random cut points, plus a run of 1-row batches."""
    cuts = np.sort(rng.choice(np.arange(1, n_samples - 5), n_cuts, replace=False))
    ones = np.arange(n_samples - 5, n_samples)
    edges = np.unique(np.concatenate([[0], cuts, ones, [n_samples]]))
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n_cuts", [1, 7, 40])
def test_partial_fit_equals_fit(seed, method, n_cuts):
    X, Y, _ = permuted_copy(seed, n_samples=300, n_units=8, relu=True, noise=1.0)
    Y = Y[:, :6]
    fitted = UnitMatcher(method).fit(X, Y)
    rng = np.random.RandomState(seed)
    streamed = UnitMatcher(method)
    batches = random_batches(rng, 300, n_cuts)
    for rows in batches:
        assert streamed.partial_fit(X[rows], Y[rows]) is streamed
    assert streamed.n_samples_seen_ == fitted.n_samples_seen_ == 300
    assert_same_fit(streamed, fitted)
    assert_allclose(streamed.score(X, Y), fitted.score(X, Y), rtol=1e-9)
    assert_array_equal(streamed.transform(X), fitted.transform(X))


def test_partial_fit_one_row_at_a_time_with_dead_units_and_wide_y(seed):
    # More Y units than X units (unmatched Y units), a dead X unit and a
    # constant Y unit: the constant-unit rule on the merged moments.
    X, Y = correlated_views(seed, 4, 7, n_samples=50)
    X[:, 2] = 0.0
    Y[:, 5] = 3.25
    with pytest.warns(DeadUnitWarning):
        fitted = UnitMatcher().fit(X, Y)
    streamed = UnitMatcher()
    for i in range(50):
        streamed.partial_fit(X[i : i + 1], Y[i : i + 1])
    with pytest.warns(DeadUnitWarning):
        assert_same_fit(streamed, fitted)
    assert (streamed.match_ == -1).sum() == 3


def test_partial_fit_one_dimensional_y(seed):
    X, Y, _ = permuted_copy(seed, n_units=5)
    fitted = UnitMatcher().fit(X, Y[:, 0])
    streamed = UnitMatcher()
    for rows in np.array_split(np.arange(400), 9):
        streamed.partial_fit(X[rows], Y[rows, 0])
    assert_same_fit(streamed, fitted)


@pytest.mark.parametrize("method", METHODS)
def test_partial_fit_after_fit_continues(seed, method):
    X, Y, _ = permuted_copy(seed, n_samples=300)
    continued = UnitMatcher(method).fit(X[:120], Y[:120])
    continued.partial_fit(X[120:200], Y[120:200]).partial_fit(X[200:], Y[200:])
    assert continued.n_samples_seen_ == 300
    assert_same_fit(continued, UnitMatcher(method).fit(X, Y))
    # A new fit forgets the rows seen before.
    continued.fit(X[:100], Y[:100])
    assert continued.n_samples_seen_ == 100
    assert_same_fit(continued, UnitMatcher(method).fit(X[:100], Y[:100]))


def test_partial_fit_continues_after_a_mutual_info_fit(seed):
    # The correlation moments of a mutual-information fit are kept.
    X, Y, _ = permuted_copy(seed, n_samples=300)
    matcher = UnitMatcher(metric="mutual_info").fit(X[:200], Y[:200])
    matcher.set_params(metric="correlation").partial_fit(X[200:], Y[200:])
    assert not hasattr(matcher, "mutual_info_")
    assert_same_fit(matcher, UnitMatcher().fit(X, Y))


def test_merged_accumulators_equal_fit(seed):
    # Rows spread over workers: each accumulates its share, then they merge.
    X, Y, _ = permuted_copy(seed, n_samples=300)
    parts = [UnitMatcher().partial_fit(X[rows], Y[rows]) for rows in (
        slice(0, 37), slice(37, 38), slice(38, 300))]  # fmt: skip
    merged = parts[0]._accumulator + parts[1]._accumulator
    merged += parts[2]._accumulator
    assert isinstance(merged, Moments) and merged.n_samples == 300
    whole = UnitMatcher().fit(X, Y)
    combined = UnitMatcher()
    combined._fit_accumulator(merged)
    for name in ("correlation_", "match_correlation_", "matching_mean_"):
        assert_allclose(getattr(combined, name), getattr(whole, name), rtol=1e-9)
    for name in ("match_", "semi_match_", "one_to_one_match_", "x_constant_"):
        assert_array_equal(getattr(combined, name), getattr(whole, name))


def test_mutual_info_cannot_stream():
    X, Y, _ = permuted_copy(0, n_samples=100, n_units=4)
    matcher = UnitMatcher(metric="mutual_info")
    with pytest.raises(ValueError, match="quantiles of all the rows"):
        matcher.partial_fit(X, Y)
    assert not hasattr(matcher, "n_samples_seen_")
    with pytest.raises(ValueError, match="metric='correlation'"):
        matcher._new_accumulator(4, 4)
    # Nor after a fit.
    matcher.fit(X, Y)
    with pytest.raises(ValueError, match="quantiles"):
        matcher.partial_fit(X, Y)
    assert matcher.n_samples_seen_ == 100
    # Switching to mutual information after streaming: refused when the
    # correlations are finalised, never computed from binless moments.
    streamed = UnitMatcher().partial_fit(X, Y)
    streamed.set_params(metric="mutual_info")
    with pytest.raises(ValueError, match="quantiles"):
        streamed.match_  # noqa: B018
    assert not get_skrep_tags(UnitMatcher(metric="mutual_info")).streaming


def test_partial_fit_is_lazy(monkeypatch):
    X, Y, _ = permuted_copy(0, n_samples=400)
    expected = UnitMatcher().fit(X, Y).match_
    calls = []
    original = UnitMatcher._fit_accumulator

    def counting(self, accumulator):
        calls.append(accumulator.n_samples)
        return original(self, accumulator)

    monkeypatch.setattr(UnitMatcher, "_fit_accumulator", counting)
    matcher = UnitMatcher()
    for start in range(0, 400, 4):
        matcher.partial_fit(X[start : start + 4], Y[start : start + 4])
    assert calls == []
    assert "match_" not in vars(matcher)
    match = matcher.match_
    matcher.correlation_, matcher.overlap_, matcher.transform(X)  # noqa: B018
    matcher.score(X, Y)
    assert calls == [400]
    assert_array_equal(match, expected)
    matcher.partial_fit(X[:10], Y[:10])
    assert calls == [400]
    matcher.score(X, Y)
    assert calls == [400, 410]
    # fit takes the same accumulator route, once.
    UnitMatcher().fit(X, Y)
    assert calls == [400, 410, 400]


def test_dead_unit_warning_once_per_fit_not_per_batch():
    X, Y, _ = permuted_copy(0, n_samples=200, n_units=5)
    X[:, 1] = 0.0
    matcher = UnitMatcher()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for start in range(0, 200, 10):
            matcher.partial_fit(X[start : start + 10], Y[start : start + 10])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        matcher.match_  # noqa: B018
        matcher.correlation_  # noqa: B018
        matcher.transform(X)
    assert [w.category for w in caught] == [DeadUnitWarning]
    assert caught[0].filename == __file__  # points at the user's line
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        UnitMatcher().fit(X, Y)
    assert [w.category for w in caught] == [DeadUnitWarning]
    assert caught[0].filename == __file__


def test_pickle_and_clone_a_partial_fit(seed):
    X, Y, _ = permuted_copy(seed, n_samples=300)
    matcher = UnitMatcher("semi-matching")
    matcher.partial_fit(X[:100], Y[:100]).partial_fit(X[100:150], Y[100:150])
    cloned = clone(matcher)
    assert cloned.get_params() == matcher.get_params()
    assert not hasattr(cloned, "n_samples_seen_")
    # Pickled while pending: it finalises and continues like the original.
    restored = pickle.loads(pickle.dumps(matcher))
    assert restored.n_samples_seen_ == 150
    for est in (matcher, restored):
        est.partial_fit(X[150:], Y[150:])
    assert_same_fit(restored, matcher)
    assert_same_fit(restored, UnitMatcher("semi-matching").fit(X, Y))
    # Pickled once finalised.
    again = pickle.loads(pickle.dumps(matcher))
    assert_same_fit(again, matcher)
    assert again.score(X, Y) == matcher.score(X, Y)


def test_partial_fit_checks_the_units():
    X, Y, _ = permuted_copy(0, n_samples=100, n_units=4)
    matcher = UnitMatcher().partial_fit(X[:50], Y[:50])
    with pytest.raises(ValueError, match="features"):
        matcher.partial_fit(X[50:, :3], Y[50:])
    with pytest.raises(ValueError, match="units"):
        matcher.partial_fit(X[50:], Y[50:, :3])
    one_row = UnitMatcher().partial_fit(X[:1], Y[:1])
    with pytest.raises(ValueError, match="at least 2 samples"):
        one_row.match_  # noqa: B018


# --------------------------------------------------------------------------
# Tags and the invariances they promise.
# --------------------------------------------------------------------------


def test_skrep_tags():
    tags = get_skrep_tags(UnitMatcher())
    assert tags.maximum == 1.0 and tags.streaming
    assert {"shift_x", "unit_scaling_y", "unit_permutation_x"} <= tags.invariances
    mi_tags = get_skrep_tags(UnitMatcher(metric="mutual_info"))
    assert mi_tags.maximum is None and not mi_tags.streaming
    assert "shift_x" not in mi_tags.invariances
    assert "unit_scaling_x" in mi_tags.invariances
    assert UnitMatcher().__sklearn_tags__().transformer_tags.preserves_dtype == [
        "float64",
        "float32",
    ]


def apply_map(name, V, rng):
    if name == "shift":
        return V + rng.uniform(-50, 50, V.shape[1])
    if name == "unit_scaling":
        return V * rng.uniform(0.01, 100, V.shape[1])
    if name == "isotropic_scaling":
        return V * 37.5
    return V[:, rng.permutation(V.shape[1])]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("metric", ["correlation", "mutual_info"])
def test_declared_invariances_hold_for_score(seed, method, metric):
    X, Y, _ = permuted_copy(seed, n_samples=500, n_units=7, relu=True, noise=1.0)
    estimator = UnitMatcher(method, metric=metric, n_bins=6)
    base = clone(estimator).fit(X, Y).score(X, Y)
    invariances = get_skrep_tags(estimator).invariances
    assert invariances
    for name in sorted(invariances):
        name_map, view = name.rsplit("_", 1)
        rng = np.random.RandomState(seed)
        Xt = apply_map(name_map, X, rng) if view == "x" else X
        Yt = apply_map(name_map, Y, rng) if view == "y" else Y
        moved = clone(estimator).fit(Xt, Yt).score(Xt, Yt)
        assert_allclose(moved, base, rtol=1e-9, err_msg=name)
    if metric == "correlation":  # the promised maximum
        assert_allclose(clone(estimator).fit(X, X).score(X, X), 1.0, rtol=1e-12)


# --------------------------------------------------------------------------
# Many-to-many groups.
# --------------------------------------------------------------------------


def planted_groups(seed, n_groups=4, n_x=14, n_y=10, n_samples=600):
    rng = np.random.RandomState(seed)
    # Exactly uncorrelated latent factors, one per group.
    latent = rng.randn(n_samples, n_groups)
    latent = np.linalg.qr(latent - latent.mean(axis=0))[0] * np.sqrt(n_samples)
    x_truth = np.arange(n_x) % n_groups
    y_truth = rng.permutation(np.arange(n_y) % n_groups)
    X = latent[:, x_truth] * rng.uniform(0.5, 2, n_x) + 0.4 * rng.randn(n_samples, n_x)
    Y = latent[:, y_truth] * rng.uniform(0.5, 2, n_y) + 0.4 * rng.randn(n_samples, n_y)
    return X, Y, x_truth, y_truth


@pytest.mark.parametrize("assign_labels", ["kmeans", "cluster_qr"])
def test_match_groups_recovers_planted_groups(seed, assign_labels):
    X, Y, x_truth, y_truth = planted_groups(seed)
    x_labels, y_labels = match_groups(
        X, Y, n_groups=4, assign_labels=assign_labels, random_state=seed
    )
    assert x_labels.shape == (14,) and y_labels.shape == (10,)
    truth = np.concatenate([x_truth, y_truth])
    found = np.concatenate([x_labels, y_labels])
    assert adjusted_rand_score(truth, found) == 1.0
    # Groups are numbered jointly: corresponding units share the label.
    for j in range(10):
        assert_array_equal(x_labels[x_truth == y_truth[j]], y_labels[j])


def test_match_groups_affinity_sign_handling(seed):
    # Group 0 of Y is anti-correlated with group 0 of X.
    X, Y, x_truth, y_truth = planted_groups(seed, n_groups=2)
    Y[:, y_truth == 0] *= -1
    x_abs, y_abs = match_groups(X, Y, n_groups=2, affinity="abs", random_state=0)
    truth = np.concatenate([x_truth, y_truth])
    assert adjusted_rand_score(truth, np.concatenate([x_abs, y_abs])) == 1.0
    # "positive" ignores anti-correlation: the flipped Y group no longer
    # joins its X group; with three groups it stands on its own.
    x_pos, y_pos = match_groups(X, Y, n_groups=3, affinity="positive", random_state=0)
    assert np.unique(y_pos[y_truth == 0]).size == 1
    assert not np.isin(y_pos[y_truth == 0], x_pos).any()
    # A callable gives the same as the named transform.
    x_call, y_call = match_groups(
        X, Y, n_groups=2, affinity=lambda C: np.abs(C), random_state=0
    )
    assert_array_equal(x_call, x_abs)
    assert_array_equal(y_call, y_abs)


def test_match_groups_dead_units_and_errors():
    X, Y, x_truth, y_truth = planted_groups(0, n_groups=2)
    X[:, 3] = 1.0
    with pytest.warns(DeadUnitWarning, match="constant"):
        x_labels, y_labels = match_groups(X, Y, n_groups=2, random_state=0)
    assert x_labels[3] == -1
    alive = np.arange(14) != 3
    truth = np.concatenate([x_truth[alive], y_truth])
    found = np.concatenate([x_labels[alive], y_labels])
    assert adjusted_rand_score(truth, found) == 1.0
    X, Y, _, _ = planted_groups(1, n_groups=2, n_x=3, n_y=2)
    one_x, one_y = match_groups(X, Y, n_groups=1)
    assert np.all(one_x == 0) and np.all(one_y == 0)
    with pytest.raises(ValueError, match="exceeds"):
        match_groups(X, Y, n_groups=6)
    with pytest.raises(ValueError, match="n_groups"):
        match_groups(X, Y, n_groups=0)
    with pytest.raises(ValueError, match="affinity"):
        match_groups(X, Y, n_groups=2, affinity="cosine")
    with pytest.raises(ValueError, match="non-negative"):
        match_groups(X, Y, n_groups=2, affinity=lambda C: C - 2.0)
    with pytest.raises(ValueError, match="shape"):
        match_groups(X, Y, n_groups=2, affinity=lambda C: C[:-1])
    with pytest.raises(ValueError, match="different numbers of rows"):
        match_groups(X, Y[:-1], n_groups=2)
    with pytest.raises(ValueError, match="NaN"):
        match_groups(np.full_like(X, np.nan), Y, n_groups=2)
