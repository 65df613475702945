"""The plug-in (Miller-Madow) mutual information of skrep._core.mutual_info.

Checked against a brute-force reference written independently: bins from
np.unique run by run in a Python loop, histograms from np.histogram2d and
the Miller-Madow entropies written out.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import skrep._core.mutual_info as core
from skrep import UnitMatcher
from skrep._core.mutual_info import (
    bin_units,
    mutual_info_matrix,
    paired_mutual_info,
    warn_if_too_many_bins,
)
from skrep.exceptions import BinningWarning

# --------------------------------------------------------------------------
# The reference: one column at a time, in plain Python.
# --------------------------------------------------------------------------


def reference_edges(column, n_bins):
    """Lower edges of bins 1, 2, ... by the documented rule, run by run."""
    values, counts = np.unique(column, return_counts=True)
    n_runs, n = values.size, column.size
    if n_runs <= n_bins:
        return values[1:]  # one bin per distinct value
    # first[r]: rank (in sorted order) of the first sample of run r.
    first = np.concatenate([[0], np.cumsum(counts)])
    edge_runs = []
    previous, anchor, anchor_bin = 0, 0, 0
    for k in range(1, n_bins):
        if k == 1 and values[0] == 0:  # the zero bin: edge at the first positive
            run = 1
        else:
            target = anchor + (k - anchor_bin) * (n - anchor) // (n_bins - anchor_bin)
            run = int(np.searchsorted(first, target, side="right")) - 1
            # Above the previous edge, and a run left for each bin to come.
            run = min(max(run, previous + 1), n_runs - n_bins + k)
            if first[run] == target:
                edge_runs.append(run)
                previous = run
                continue
        anchor, anchor_bin = first[run], k
        edge_runs.append(run)
        previous = run
    return values[edge_runs]


def reference_bins(column, n_bins):
    return np.digitize(column, reference_edges(column, n_bins))


def miller_madow_entropy(counts):
    counts = np.asarray(counts, dtype=float).ravel()
    n = counts.sum()
    counts = counts[counts > 0]
    p = counts / n
    return -np.sum(p * np.log(p)) + (counts.size - 1) / (2 * n)


def reference_mutual_info(x, y, n_bins):
    x_bins, y_bins = reference_bins(x, n_bins), reference_bins(y, n_bins)
    cells = np.arange(n_bins + 1) - 0.5
    joint = np.histogram2d(x_bins, y_bins, bins=[cells, cells])[0]
    return (
        miller_madow_entropy(joint.sum(axis=1))
        + miller_madow_entropy(joint.sum(axis=0))
        - miller_madow_entropy(joint)
    )


def reference_matrix(X, Y, n_bins):
    return np.array(
        [
            [reference_mutual_info(X[:, i], Y[:, j], n_bins) for j in range(Y.shape[1])]
            for i in range(X.shape[1])
        ]
    )


def mixed_units(rng, n):
    """Continuous, ReLU-like, discrete, tied and constant units."""
    z = rng.randn(n)
    units = [
        z,  # continuous, no ties
        np.maximum(z + 0.3 * rng.randn(n), 0.0),  # ReLU: half zeros
        np.maximum(rng.randn(n) - 1.5, 0.0),  # ReLU: mostly zeros
        np.maximum(rng.randn(n) + 1.8, 0.0),  # ReLU: few zeros (< n / n_bins)
        rng.randint(0, 3, n).astype(float),  # three values, zero the smallest
        rng.randint(-2, 2, n) + 0.5 * (z > 0),  # eight values, signed
        rng.poisson(1.0, n) - 1.0,  # skewed, a big tie at the minimum -1
        np.round(z + rng.randn(n), 1),  # many ties, many values
        np.where(rng.rand(n) < 0.55, -1.0, z),  # over half tied at the minimum
        np.where(z > 1.0, 3.0, np.where(z < -1.0, -2.0, z)),  # ties at both ends
        np.where(rng.rand(n) < 0.85, 9.0, rng.randint(-3, 5, n)),  # heavy maximum
        np.full(n, 2.5),  # constant
        np.zeros(n),  # dead ReLU
    ]
    return np.column_stack(units)


N_BINS = [2, 3, 5, 10]


# --------------------------------------------------------------------------
# Binning.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("n_bins", N_BINS)
@pytest.mark.parametrize("n", [301, 600])
def test_bins_match_the_reference(seed, n_bins, n):
    X = mixed_units(np.random.RandomState(seed), n)
    bins = bin_units(X, n_bins)
    assert bins.dtype == np.uint8
    for j in range(X.shape[1]):
        assert_array_equal(bins[:, j], reference_bins(X[:, j], n_bins), err_msg=j)


@pytest.mark.parametrize("n_bins", N_BINS + [16])
def test_bin_properties(seed, n_bins):
    X = mixed_units(np.random.RandomState(seed), 517)
    bins = bin_units(X, n_bins)
    for j in range(X.shape[1]):
        column, b = X[:, j], bins[:, j].astype(int)
        values, inverse = np.unique(column, return_inverse=True)
        # Ties share a bin: one bin per distinct value.
        per_value = np.full(values.size, -1)
        per_value[inverse] = b
        assert_array_equal(per_value[inverse], b)
        # Bins never decrease with the value.
        assert np.all(np.diff(per_value) >= 0)
        # min(distinct values, n_bins) bins, numbered from 0, none empty.
        used = min(values.size, n_bins)
        assert_array_equal(np.unique(b), np.arange(used))
        if values.size <= n_bins:  # distinct values never merged
            assert_array_equal(per_value, np.arange(values.size))
        if values[0] == 0 and values.size > 1:  # the zero bin
            assert_array_equal(b == 0, column == 0)


@pytest.mark.parametrize("n_bins", [2, 3, 7, 10])
@pytest.mark.parametrize("n", [100, 301, 720])
def test_tie_free_bins_are_equal_mass(seed, n_bins, n):
    rng = np.random.RandomState(seed)
    signed = rng.randn(n)
    relu = rng.exponential(size=n) + 1e-3
    relu[rng.choice(n, n // 3, replace=False)] = 0.0
    bins = bin_units(np.column_stack([signed, relu]), n_bins)
    sizes = np.bincount(bins[:, 0], minlength=n_bins)
    assert sizes.min() >= n // n_bins and sizes.max() <= -(-n // n_bins)
    # Bin k starts at rank floor(k n / n_bins).
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    assert_array_equal(starts, np.arange(n_bins) * n // n_bins)
    # ReLU: the zeros, then the positives in n_bins - 1 equal shares.
    assert_array_equal(bins[:, 1] == 0, relu == 0)
    positive = np.bincount(bins[:, 1])[1:]
    m = n - n // 3
    assert positive.size == n_bins - 1
    assert positive.min() >= m // (n_bins - 1)
    assert positive.max() <= -(-m // (n_bins - 1))


def test_bins_when_the_minimum_holds_many_samples():
    # The old rule put a bin edge at the minimum and merged these.
    two_values = np.repeat([-1.0, 1.0], [360, 240])
    assert_array_equal(bin_units(two_values[:, None], 2)[:, 0], two_values > 0)
    three_values = np.repeat([1.0, 2.0, 3.0], [34, 33, 33])
    assert_array_equal(bin_units(three_values[:, None], 3)[:, 0], three_values - 1)
    # Half tied at the minimum, then continuous: the minimum gets one bin
    # and the rest is split into equal shares among the other bins.
    rng = np.random.RandomState(0)
    column = np.concatenate([np.full(450, -1.0), rng.rand(450)])
    counts = np.bincount(bin_units(column[:, None], 10)[:, 0])
    assert_array_equal(counts, [450] + [50] * 9)
    # A heavy last value: the smaller values still fill the other bins.
    column = np.repeat([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 2, 2, 2, 2, 90])
    assert_array_equal(np.bincount(bin_units(column[:, None], 4)[:, 0]), [6, 2, 2, 90])


def test_bins_of_float32_follow_the_values():
    X = mixed_units(np.random.RandomState(4), 400).astype(np.float32)
    assert_array_equal(bin_units(X, 10), bin_units(X.astype(np.float64), 10))


# --------------------------------------------------------------------------
# Mutual information against the reference.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("n_bins", N_BINS)
def test_mutual_info_matrix_matches_reference(seed, n_bins):
    rng = np.random.RandomState(seed)
    X = mixed_units(rng, 437)
    # Y: units depending on X's, in a shuffled order, plus X's own units.
    Y = np.column_stack(
        [
            np.maximum(X[:, 0] + rng.randn(437), 0.0),
            np.round(X[:, 7] ** 2, 1),
            X[:, 5] * rng.randint(0, 2, 437),
            X[:, [1, 4, 6, 8, 10, 11, 12]],
        ]
    )
    expected = reference_matrix(X, Y, n_bins)
    mutual_info = mutual_info_matrix(X, Y, n_bins)
    assert np.isfinite(mutual_info).all()
    assert_allclose(mutual_info, expected, rtol=0, atol=1e-12)
    # Constant units: exactly 0, never NaN.
    assert np.all(mutual_info[[11, 12], :] == 0.0)
    assert np.all(mutual_info[:, [8, 9]] == 0.0)
    paired = paired_mutual_info(X[:, : Y.shape[1]], Y, n_bins)
    assert_allclose(paired, np.diag(expected), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_bins", [2, 10])
def test_mutual_info_with_itself_is_the_entropy(seed, n_bins):
    X = mixed_units(np.random.RandomState(seed), 500)
    diag = np.diag(mutual_info_matrix(X, X, n_bins))
    entropies = [
        miller_madow_entropy(np.bincount(reference_bins(x, n_bins))) for x in X.T
    ]
    assert_allclose(diag, entropies, rtol=0, atol=1e-12)
    assert_allclose(paired_mutual_info(X, X, n_bins), diag, rtol=0, atol=1e-12)


def test_regression_minimum_with_a_large_share():
    n = 600
    x = np.where(np.arange(n) < 360, -1.0, 1.0)  # -1 on 60%, 1 otherwise
    expected = -(0.6 * np.log(0.6) + 0.4 * np.log(0.4)) + (2 - 1) / (2 * n)
    assert_allclose(mutual_info_matrix(x[:, None], x[:, None], 2)[0, 0], expected)
    assert_allclose(expected, 0.673845, atol=1e-6)
    matcher = UnitMatcher(metric="mutual_info", n_bins=2).fit(x[:, None], x)
    assert_allclose(matcher.mutual_info_[0, 0], expected)
    assert_allclose(matcher.score(x[:, None], x), expected)


@pytest.mark.parametrize("counts", [(300, 300, 300), (34, 33, 33), (50, 25, 25)])
def test_regression_three_values_three_bins(counts):
    x = np.repeat([1.0, 2.0, 3.0], counts)
    n = x.size
    p = np.array(counts) / n
    expected = -np.sum(p * np.log(p)) + (3 - 1) / (2 * n)
    X = np.column_stack([x, -x, 10 * x + 4])  # all the same bins, up to order
    assert_allclose(mutual_info_matrix(X, X, 3), np.full((3, 3), expected))
    assert_allclose(paired_mutual_info(X, X[:, ::-1], 3), np.full(3, expected))
    if counts[0] == counts[1]:
        assert_allclose(expected, np.log(3) + 1 / n)  # 1.099723 at n = 900


def test_independent_units_score_near_zero():
    rng = np.random.RandomState(0)
    n = 20000
    X = np.column_stack([np.maximum(rng.randn(n, 3), 0), rng.randint(0, 4, (n, 3))])
    Y = np.column_stack([rng.randn(n, 3), rng.poisson(1.0, (n, 3))])
    mutual_info = mutual_info_matrix(X, Y, 10)
    assert np.abs(mutual_info).max() < 0.003


def test_blocked_paths_agree(monkeypatch):
    rng = np.random.RandomState(3)
    n = 301
    X = np.column_stack([mixed_units(rng, n), np.maximum(rng.randn(n, 3), 0)])
    Y = np.maximum(X[:, ::-2] @ rng.randn(8, 7) + rng.randn(n, 7), 0)
    Y[:, 2] = 0.0
    whole = mutual_info_matrix(X, Y, 10)
    paired_whole = paired_mutual_info(X[:, :7], Y, 10)
    assert_allclose(whole, reference_matrix(X, Y, 10), rtol=0, atol=1e-12)
    # One-hot blocks of 50 rows (the last of 1), X blocks of 5 and 4 units.
    levels, n_y = 9, Y.shape[1]
    budget = 4 * levels * n_y * 50
    monkeypatch.setattr(core, "MI_BLOCK_BYTES", budget)
    assert budget // (4 * levels * levels * n_y) == 5
    blocked = mutual_info_matrix(X, Y, 10)
    assert_allclose(blocked, whole, rtol=0, atol=1e-13)
    # Tiny budget: one unit per binning block, one X unit and one row per
    # product block, one pair per paired block.
    monkeypatch.setattr(core, "MI_BLOCK_BYTES", 100)
    assert_array_equal(bin_units(X, 10), bin_units(X, 10))
    blocked = mutual_info_matrix(X, Y, 10)
    assert_allclose(blocked, whole, rtol=0, atol=1e-13)
    assert_allclose(paired_mutual_info(X[:, :7], Y, 10), paired_whole, atol=1e-13)
    assert_allclose(paired_whole, np.diag(whole[:7]), rtol=0, atol=1e-13)


def test_never_forms_the_four_way_tensor(monkeypatch):
    rng = np.random.RandomState(0)
    n, width, n_bins = 500, 200, 10
    X = np.maximum(rng.randn(n, width), 0.0)
    Y = np.maximum(rng.randn(n, width), 0.0)
    budget = 2**20
    monkeypatch.setattr(core, "MI_BLOCK_BYTES", budget)
    tracemalloc.start()
    try:
        mutual_info = mutual_info_matrix(X, Y, n_bins)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert mutual_info.shape == (width, width)
    four_way = width * width * n_bins * n_bins * 8  # 32 MB in float64
    # A few blocks of the budget, plus the (width, width) result and the
    # (n, width) bins: far below the four-way tensor.
    assert peak < 6 * budget < four_way / 5


# --------------------------------------------------------------------------
# Too many bins for the samples.
# --------------------------------------------------------------------------


def test_too_many_bins_warns():
    with pytest.warns(BinningWarning, match=r"0\.00488 expected per cell") as caught:
        warn_if_too_many_bins(20, 64)
    assert "n_bins <= 4" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_too_many_bins(100, 10)  # one expected per cell: fine
        warn_if_too_many_bins(20, 4)


def test_unit_matcher_warns_once_per_call_about_too_many_bins():
    rng = np.random.RandomState(0)
    X, Y = rng.randn(20, 3), rng.randn(20, 4)
    matcher = UnitMatcher(metric="mutual_info", n_bins=64)
    with pytest.warns(BinningWarning, match="fewer bins") as caught:
        matcher.fit(X, Y)
    assert [w.category for w in caught] == [BinningWarning]
    assert caught[0].filename == __file__  # points at the caller
    # Meaningless: every pair of tie-free units scores the same.
    assert_allclose(matcher.mutual_info_, matcher.mutual_info_[0, 0])
    with pytest.warns(BinningWarning, match="expected per cell") as caught:
        matcher.score(X, Y)
    assert [w.category for w in caught] == [BinningWarning]
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        UnitMatcher(metric="mutual_info", n_bins=4).fit(X, Y).score(X, Y)
        UnitMatcher(n_bins=64).fit(X, Y).score(X, Y)  # correlation: bins unused


def test_integer_units_keep_every_digit():
    rng = np.random.RandomState(0)
    big = 2**60 + rng.randint(0, 40, (300, 2))  # distinct only below 2**53
    X = np.column_stack([big, rng.randint(0, 3, 300)]).astype(np.int64)
    bins = bin_units(X, 10)
    for j in range(3):
        assert_array_equal(bins[:, j], reference_bins(X[:, j], 10))
    assert np.unique(bins[:, 0]).size == 10
    assert_allclose(
        mutual_info_matrix(X, X, 10), reference_matrix(X, X, 10), rtol=0, atol=1e-12
    )
