"""RSA: RDMs and their comparison against scipy, known answers, invariances."""

import re
import tracemalloc
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import kendalltau, pearsonr, rankdata, spearmanr, special_ortho_group
from sklearn.model_selection import KFold, cross_val_score

import skrep._core.rdm as core
from skrep import compare_layers
from skrep._core.rdm import compare_condensed, rdm_similarity
from skrep._rsa import RSA, rdm, rsa
from skrep.exceptions import DeadUnitWarning
from skrep.utils.estimator_checks import check_invariances

METRICS = ["correlation", "euclidean", "sqeuclidean"]
COMPARES = ["spearman", "pearson", "kendall"]
SCIPY_COMPARE = {"spearman": spearmanr, "pearson": pearsonr, "kendall": kendalltau}


def two_layers(seed, n_samples=60, n_x=7, n_y=5, offset=0.0):
    """Two related layers: a shared latent code through different nonlinearities."""
    rng = np.random.RandomState(seed)
    latent = rng.randn(n_samples, 3)
    X = latent @ rng.randn(3, n_x) + 0.5 * rng.randn(n_samples, n_x) + offset
    Y = np.tanh(latent @ rng.randn(3, n_y)) + 0.3 * rng.randn(n_samples, n_y)
    return X, Y


def scipy_rsa(X, Y, metric, compare):
    """The reference: scipy's pdist and correlation of the condensed vectors."""
    return SCIPY_COMPARE[compare](pdist(X, metric), pdist(Y, metric)).statistic


def warned(match, func, *args, **kwargs):
    """Call func; check that one DeadUnitWarning matches; return its value."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = func(*args, **kwargs)
    messages = [str(w.message) for w in caught if w.category is DeadUnitWarning]
    assert any(re.search(match, m) for m in messages), messages
    return value


def quiet_rsa(X, Y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadUnitWarning)
        return rsa(X, Y, **params)


# -- equality with scipy -----------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("compare", COMPARES)
def test_equals_scipy_pdist_and_correlations(metric, compare, seed):
    X, Y = two_layers(seed, offset=10.0 * seed)
    expected = scipy_rsa(X, Y, metric, compare)
    got = rsa(X, Y, rdm_metric=metric, compare=compare)
    assert isinstance(got, float)
    assert abs(got - expected) < 1e-10


@pytest.mark.parametrize("metric", METRICS)
def test_rdm_equals_pdist(metric, seed):
    rng = np.random.RandomState(seed)
    X = rng.randn(40, 9) * rng.uniform(0.1, 10, size=9) + rng.uniform(-50, 50, 9)
    expected = pdist(X, metric)
    got = rdm(X, metric)
    assert got.dtype == np.float64 and got.shape == (40 * 39 // 2,)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(rdm(X, metric, square=True), squareform(expected),
                               rtol=1e-12, atol=1e-13)  # fmt: skip


@pytest.mark.parametrize("compare", ["spearman", "kendall"])
def test_ties_are_averaged_like_scipy(compare):
    # Integer patterns: few distinct distances, so most entries are tied.
    rng = np.random.RandomState(0)
    X = rng.randint(0, 3, size=(50, 3)).astype(float)
    Y = rng.randint(0, 2, size=(50, 4)).astype(float)
    for metric in ("euclidean", "sqeuclidean"):
        expected = scipy_rsa(X, Y, metric, compare)
        got = quiet_rsa(X, Y, rdm_metric=metric, compare=compare)
        assert abs(got - expected) < 1e-12


def test_category_model_ties_are_exact():
    # The classic RSA model: one-hot class labels. Their distances take two
    # values; rounding would break those ties at random and move the ranks.
    rng = np.random.RandomState(3)
    labels = rng.randint(0, 4, size=80)
    model = np.eye(4)[labels]
    X = rng.randn(80, 6) + 2.0 * rng.randn(4, 6)[labels]
    for metric in METRICS:
        D = rdm(model, metric)
        assert np.unique(D).size == 2
        # scipy's correlation distances of one-hot rows carry round-off:
        # rounding them restores the ties
        reference = np.round(pdist(model, metric), 12)
        np.testing.assert_allclose(D, reference, atol=1e-12)
        for compare in COMPARES:
            expected = SCIPY_COMPARE[compare](pdist(X, metric), reference).statistic
            got = rsa(X, model, rdm_metric=metric, compare=compare)
            assert abs(got - expected) < 1e-10


def test_binary_codes_keep_symmetric_ties():
    # (A1, B1) and (B2, A2) have the same counts with the roles swapped: their
    # correlation distances are equal and must come out equal.
    A1, B1 = [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0]
    B2, A2 = [0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0]
    D = rdm(np.array([A1, B1, B2, A2], dtype=float), square=True)
    assert D[0, 1] == D[2, 3]
    assert D[0, 1] == pytest.approx(pdist([A1, B1], "correlation")[0], abs=1e-15)


def test_integer_route_detection(monkeypatch):
    # dyadic rationals of few digits take the exact route, other data not
    assert core._integer_exponent(np.array([[1.0, -3.0], [0.0, 2.0]]), 1e6) == 0
    assert core._integer_exponent(np.array([[0.5, 0.25], [3.0, -0.125]]), 1e6) == 3
    assert core._integer_exponent(np.array([[0.1, 1.0]]), 1e6) is None
    assert core._integer_exponent(np.array([[3.0, 5e6]]), 1e6) is None  # too large
    assert core._integer_exponent(np.zeros((2, 2)), 1.0) == 0
    X = np.random.RandomState(0).randint(-5, 6, size=(30, 4)) / 4.0
    assert core._Patterns(X, "euclidean").exact
    assert not core._Patterns(X + 0.1, "euclidean").exact
    exact = {metric: rdm(X, metric) for metric in METRICS}
    monkeypatch.setattr(core, "_integer_exponent", lambda Z, bound: None)
    assert not core._Patterns(X, "euclidean").exact
    for metric in METRICS:  # both routes give the same RDM
        np.testing.assert_allclose(
            rdm(X, metric), exact[metric], rtol=1e-12, atol=1e-14
        )


def test_doubled_ranks_equal_rankdata_in_small_chunks(monkeypatch):
    rng = np.random.RandomState(1)
    # ties of every size, including a group larger than a chunk
    values = np.concatenate([rng.randint(0, 40, 500), np.full(50, 7), rng.rand(300)])
    rng.shuffle(values)
    for chunk in (1 << 20, 16, 3):
        monkeypatch.setattr(core, "_CHUNK", chunk)
        ranks, low, high = core._doubled_ranks([values.copy()])
        np.testing.assert_array_equal(ranks / 2, rankdata(values))
        assert (low, high) == (values.min(), values.max())


def test_blocked_equals_one_block(monkeypatch):
    X, Y = two_layers(3, n_samples=45)
    whole = {m: rdm(X, m) for m in METRICS}
    scores = {
        (m, c): rsa(X, Y, rdm_metric=m, compare=c) for m in METRICS for c in COMPARES
    }
    for rows in (1, 4, 7):
        monkeypatch.setattr(core, "_rows_per_block", lambda n, rows=rows: rows)
        monkeypatch.setattr(core, "_CHUNK", 10)
        for metric in METRICS:
            np.testing.assert_allclose(
                rdm(X, metric), whole[metric], rtol=1e-13, atol=1e-15
            )
            for compare in COMPARES:
                got = rsa(X, Y, rdm_metric=metric, compare=compare)
                assert abs(got - scores[metric, compare]) < 1e-12


def test_compare_condensed_equals_scipy():
    rng = np.random.RandomState(2)
    a, b = rng.rand(300), rng.rand(300) + rng.rand(300)
    for compare in COMPARES:
        value, constant_a, constant_b = compare_condensed(a, b, compare)
        expected = SCIPY_COMPARE[compare](a, b).statistic
        assert abs(value - expected) < 1e-12 and not (constant_a or constant_b)
    assert compare_condensed(a, np.full(300, 2.0), "spearman") == (0.0, False, True)


# -- known answers ------------------------------------------------------------


def test_known_answer_three_points_on_lines():
    # X on a line at 0, 1, 3: distances (1, 3, 2); Y at 0, 2, 3: (2, 3, 1).
    X = np.array([[0.0], [1.0], [3.0]])
    Y = np.array([[0.0], [2.0], [3.0]])
    np.testing.assert_array_equal(rdm(X, "euclidean"), [1.0, 3.0, 2.0])
    # Spearman: 1 - 6 * (1 + 0 + 1) / (3 * 8) = 1/2; Pearson: 1/2 (centred
    # vectors (-1, 1, 0) and (0, 1, -1)); Kendall: 2 concordant, 1 discordant.
    assert rsa(X, Y, rdm_metric="euclidean") == pytest.approx(0.5, abs=1e-15)
    assert rsa(X, Y, rdm_metric="euclidean", compare="pearson") == pytest.approx(0.5)
    assert rsa(X, Y, rdm_metric="euclidean", compare="kendall") == pytest.approx(1 / 3)


def test_known_correlation_distances():
    # (1, 2, 3) and (3, 2, 1) are anti-correlated; (2, 4, 6) is (1, 2, 3) scaled.
    X = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [2.0, 4.0, 6.0]])
    np.testing.assert_allclose(rdm(X), [2.0, 0.0, 2.0], atol=1e-15)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("compare", COMPARES)
def test_identical_views_score_one(metric, compare):
    X, _ = two_layers(4)
    assert rsa(X, X.copy(), rdm_metric=metric, compare=compare) == pytest.approx(
        1.0, abs=1e-12
    )
    assert rsa(X, X, rdm_metric=metric, compare=compare) <= 1.0


def test_reversed_rdms_score_minus_one():
    d = pdist(np.random.RandomState(0).randn(12, 3))
    for compare in COMPARES:
        assert compare_condensed(d, 2.0 - d, compare)[0] == pytest.approx(-1.0)


def test_unrelated_layers_score_near_zero():
    rng = np.random.RandomState(5)
    X, Y = rng.randn(300, 10), rng.randn(300, 10)
    for compare in COMPARES:
        assert abs(rsa(X, Y, rdm_metric="euclidean", compare=compare)) < 0.05


# -- invariances --------------------------------------------------------------


def _maps(rng, p):
    return {
        "shift": lambda V: V + rng.normal(scale=5.0, size=p),
        "isotropic_scaling": lambda V: V * 7.3,
        "unit_permutation": lambda V: V[:, rng.permutation(p)],
        "orthogonal": lambda V: V @ special_ortho_group.rvs(p, random_state=rng),
        "unit_scaling": lambda V: V * rng.uniform(0.2, 5.0, size=p),
    }


INVARIANT = {
    "correlation": {"isotropic_scaling", "unit_permutation"},
    "euclidean": {"shift", "isotropic_scaling", "unit_permutation", "orthogonal"},
    "sqeuclidean": {"shift", "isotropic_scaling", "unit_permutation", "orthogonal"},
}


@pytest.mark.parametrize("metric", METRICS)
def test_invariances_with_ground_truth(metric, seed):
    X, Y = two_layers(seed, n_samples=50, n_x=6)
    rng = np.random.RandomState(seed)
    reference_rdm = rdm(X, metric)
    for name, apply in _maps(rng, X.shape[1]).items():
        mapped = apply(X)
        for compare in COMPARES:
            before = rsa(X, Y, rdm_metric=metric, compare=compare)
            after = rsa(mapped, Y, rdm_metric=metric, compare=compare)
            if name in INVARIANT[metric]:
                assert abs(after - before) < 1e-10, (name, compare)
            else:
                assert abs(after - before) > 1e-3, (name, compare)
        # the RDM itself: unchanged, or scaled, under the invariant maps
        factor = {"euclidean": 7.3, "sqeuclidean": 7.3**2, "correlation": 1.0}
        if name in INVARIANT[metric]:
            expected = reference_rdm * (
                factor[metric] if name == "isotropic_scaling" else 1
            )
            np.testing.assert_allclose(
                rdm(mapped, metric), expected, rtol=1e-9, atol=1e-12
            )


def test_tags_declare_exactly_the_invariances_that_hold():
    for metric in METRICS:
        tags = RSA(rdm_metric=metric).__skrep_tags__()
        assert tags.invariances == {
            f"{name}_{view}" for name in INVARIANT[metric] for view in "xy"
        }
        assert tags.maximum == 1.0 and not tags.streaming
        assert not tags.held_out_below_in_sample
    assert not hasattr(RSA(), "partial_fit")


def test_skrep_check_catches_a_false_invariance_claim():
    # Ground truth through skrep's own check: per-unit shifts change
    # correlation RDMs, so declaring "shift" must fail the check.
    class ClaimsShift(RSA):
        def __skrep_tags__(self):
            tags = super().__skrep_tags__()
            tags.invariances = tags.invariances | {"shift_x"}
            return tags

    with pytest.raises(AssertionError, match="shift_x"):
        check_invariances("ClaimsShift", ClaimsShift())


def test_rank_comparisons_ignore_monotone_maps_of_the_rdm():
    X, Y = two_layers(6)
    for compare in ("spearman", "kendall"):
        euclidean = rsa(X, Y, rdm_metric="euclidean", compare=compare)
        squared = rsa(X, Y, rdm_metric="sqeuclidean", compare=compare)
        assert abs(euclidean - squared) < 1e-12
    assert (
        abs(
            rsa(X, Y, rdm_metric="euclidean", compare="pearson")
            - rsa(X, Y, rdm_metric="sqeuclidean", compare="pearson")
        )
        > 1e-3
    )


# -- numerics -----------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
def test_identical_samples_have_distance_exactly_zero(metric):
    rng = np.random.RandomState(7)
    X = rng.rand(20, 6) + 1e6  # large means: the Gram route alone leaves residue
    X[5] = X[2]
    X[11] = X[2]
    D = rdm(X, metric, square=True)
    assert D[2, 5] == D[2, 11] == D[5, 11] == 0.0
    assert np.all(D[np.triu_indices(20, 1)] >= 0)


def test_close_samples_keep_their_digits():
    # Two patterns 1e-7 apart at mean 1e3: the Gram route alone would return
    # round-off; the refined entry matches the difference computed directly.
    rng = np.random.RandomState(8)
    X = rng.rand(10, 16) + 1e3
    X[1] = X[0] + 1e-7 * rng.randn(16)
    got = rdm(X, "euclidean")[0]
    expected = np.sqrt(np.sum((X[1] - X[0]) ** 2))
    assert got == pytest.approx(expected, rel=1e-12)
    Z = X - X.mean(axis=1, keepdims=True)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    expected = 0.5 * np.sum((Z[1] - Z[0]) ** 2)
    assert rdm(X)[0] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_extreme_scales(scale):
    X, Y = two_layers(9)
    for metric in METRICS:
        for compare in COMPARES:
            expected = rsa(X, Y, rdm_metric=metric, compare=compare)
            got = rsa(X * scale, Y, rdm_metric=metric, compare=compare)
            assert abs(got - expected) < 1e-10
    np.testing.assert_allclose(
        rdm(X * scale, "euclidean"), pdist(X) * scale, rtol=1e-12
    )
    np.testing.assert_allclose(rdm(X * scale), pdist(X, "correlation"), rtol=1e-12)
    if scale > 1:
        with pytest.raises(ValueError, match="exceed"):
            rdm(X * scale, "sqeuclidean")


def test_float32_agrees_with_float64():
    X, Y = two_layers(10, offset=50.0)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    for metric in METRICS:
        # float32 input is computed in float64: exactly the data's RDM
        np.testing.assert_allclose(
            rdm(X32, metric), pdist(X32.astype(np.float64), metric), rtol=1e-12
        )
        for compare in COMPARES:
            got = rsa(X32, Y32, rdm_metric=metric, compare=compare)
            assert abs(got - rsa(X, Y, rdm_metric=metric, compare=compare)) < 1e-4


def test_inputs_not_modified():
    X, Y = two_layers(11)
    X_ro, Y_ro = X.copy(), np.asfortranarray(Y)
    X_ro.setflags(write=False)
    for metric in METRICS:
        rdm(X_ro, metric)
        for compare in COMPARES:
            rsa(X_ro, Y_ro, rdm_metric=metric, compare=compare)
    np.testing.assert_array_equal(X_ro, X)
    np.testing.assert_array_equal(Y_ro, Y)


# -- constant patterns, units and RDMs ----------------------------------------


def test_constant_patterns_have_correlation_zero_not_nan():
    X, Y = two_layers(12)
    X[[3, 8]] = 0.0  # all-zero activation patterns
    X[15] = 4.2  # every unit equal
    with pytest.warns(DeadUnitWarning, match="3 of the 60 samples .* constant"):
        D = rdm(X, square=True)
    assert np.all(np.isfinite(D))
    constant = [3, 8, 15]
    others = np.setdiff1d(np.arange(60), constant)
    assert np.all(D[constant][:, others] == 1.0)
    assert D[3, 8] == D[3, 15] == 1.0
    # the other entries are scipy's
    with np.errstate(invalid="ignore", divide="ignore"):
        reference = squareform(pdist(X, "correlation"))
    np.testing.assert_allclose(
        D[np.ix_(others, others)], reference[np.ix_(others, others)], atol=1e-14
    )
    for compare in COMPARES:
        score = warned("constant activation pattern", rsa, X, Y, compare=compare)
        assert np.isfinite(score)
        # the same as scipy with the defined distance put in
        dx = squareform(np.where(np.isnan(reference), 1.0, reference), checks=False)
        expected = SCIPY_COMPARE[compare](dx, pdist(Y, "correlation")).statistic
        assert abs(score - expected) < 1e-10


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("compare", COMPARES)
def test_constant_view_scores_zero_with_a_warning(metric, compare):
    X, Y = two_layers(13)
    params = {"rdm_metric": metric, "compare": compare}
    for X_dead in (np.full_like(X, 2.0), np.zeros_like(X), X * 0 + np.arange(7.0)):
        assert warned("RDM of X is constant", rsa, X_dead, Y, **params) == 0.0
    # every pair equally far apart: one-hot patterns (a regular simplex)
    assert warned("RDM of y is constant", rsa, X[:7], np.eye(7), **params) == 0.0


def test_constant_units_warn_in_fit_and_keep_euclidean_rdms():
    X, Y = two_layers(14)
    X_dead = np.insert(X, 2, 1e8, axis=1)
    with pytest.warns(DeadUnitWarning, match="1 unit.* of X .* constant"):
        RSA().fit(X_dead, Y)
    np.testing.assert_allclose(
        rdm(X_dead, "euclidean"), rdm(X, "euclidean"), rtol=1e-12
    )
    for compare in COMPARES:
        expected = rsa(X, Y, rdm_metric="euclidean", compare=compare)
        got = quiet_rsa(X_dead, Y, rdm_metric="euclidean", compare=compare)
        assert abs(got - expected) < 1e-12
    # correlation distances keep the constant unit (as scipy): a huge one
    # makes every pattern alike, down to round-off, which is reported
    assert warned("RDM of X is constant", rsa, X_dead, Y) == 0.0


# -- estimator behaviour ------------------------------------------------------


def test_score_is_computed_on_the_data_given():
    X, Y = two_layers(15, n_samples=120)
    est = RSA().fit(X[:60], Y[:60])
    assert est.score(X[60:], Y[60:]) == rsa(X[60:], Y[60:])
    assert est.n_features_in_ == 7 and est.n_features_y_ == 5
    scores = cross_val_score(RSA(), X, Y, cv=KFold(3))
    expected = [rsa(X[rows], Y[rows]) for _, rows in KFold(3).split(X)]
    np.testing.assert_allclose(scores, expected, rtol=1e-14)


def test_one_dimensional_y_is_one_unit():
    X, Y = two_layers(16)
    for compare in COMPARES:
        got = rsa(X, Y[:, 0], rdm_metric="euclidean", compare=compare)
        assert abs(got - scipy_rsa(X, Y[:, :1], "euclidean", compare)) < 1e-10


def test_works_in_compare_layers():
    X, Y = two_layers(17, n_samples=90)
    grid = compare_layers({"a": X, "b": Y}, {"c": Y}, estimator=RSA(compare="pearson"))
    np.testing.assert_allclose(
        grid.scores[:, 0], [rsa(X, Y, compare="pearson"), 1.0], rtol=1e-12
    )
    cv = compare_layers({"a": X}, {"c": Y}, estimator=RSA(), cv=KFold(3))
    assert np.isfinite(cv.scores).all() and cv.scores_std is not None


def test_bad_parameters_and_input():
    X, Y = two_layers(18)
    with pytest.raises(ValueError, match="rdm_metric"):
        RSA(rdm_metric="cosine").fit(X, Y)
    with pytest.raises(ValueError, match="compare"):
        RSA(compare="tau-a").fit(X, Y)
    with pytest.raises(ValueError, match="metric"):
        rdm(X, metric="cityblock")
    with pytest.raises((ValueError, TypeError), match="square"):
        rdm(X, square="yes")
    with pytest.raises(ValueError, match="minimum of 3"):
        RSA().fit(X[:2], Y[:2])
    est = RSA().fit(X, Y)
    with pytest.raises(ValueError, match="minimum of 3"):
        est.score(X[:2], Y[:2])
    with pytest.raises(ValueError, match="minimum of 2"):
        rdm(X[:1])
    with pytest.raises(ValueError, match="NaN"):
        rdm(np.where(X > 2, np.nan, X))
    with pytest.raises(ValueError, match="3 samples"):
        rdm_similarity(X[:2], Y[:2])
    with pytest.raises(ValueError, match="same rows"):
        rdm_similarity(X, Y[:-1])


# -- memory ---------------------------------------------------------------------


def _peak_bytes(func):
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_a_small_multiple_of_one_condensed_rdm(monkeypatch):
    # With small row blocks and chunks (their sizes are fixed, so at full
    # scale they are small next to the RDMs), what remains is the method's
    # own storage: Pearson streams (no condensed vector); Spearman keeps one
    # condensed vector, its sort order and two 32-bit rank vectors, 2.6 times
    # one condensed vector.
    monkeypatch.setattr(core, "_rows_per_block", lambda n: 8)
    monkeypatch.setattr(core, "_CHUNK", 1 << 13)
    rng = np.random.RandomState(19)
    n = 1200
    X, Y = rng.randn(n, 8), rng.randn(n, 6)
    condensed = 8 * n * (n - 1) // 2
    pearson = _peak_bytes(lambda: rdm_similarity(X, Y, "euclidean", "pearson"))
    spearman = _peak_bytes(lambda: rdm_similarity(X, Y, "correlation", "spearman"))
    assert pearson < 0.25 * condensed
    assert spearman < 3.0 * condensed


# -- category and factorial models: ties kept as scipy keeps them ------------


def _category_views(seed, scale):
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 4, 40)
    model = np.eye(4)[labels] * scale
    layer = np.eye(4)[labels] @ rng.randn(4, 10) + rng.randn(40, 10)
    return model, layer


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [1 / 3, 0.7, 1 / 7])
@pytest.mark.parametrize("metric", ["correlation", "euclidean", "sqeuclidean"])
def test_non_integer_category_models_keep_their_ties(seed, scale, metric):
    model, layer = _category_views(seed, scale)
    condensed = rdm(model, metric)
    # Equal in exact arithmetic, bit-equal here, as in pdist: two values.
    assert np.unique(condensed).size == np.unique(pdist(model, metric)).size == 2
    expected = spearmanr(pdist(model, metric), pdist(layer, metric))[0]
    assert rsa(model, layer, rdm_metric=metric) == pytest.approx(expected, abs=1e-12)
    expected = kendalltau(pdist(model, metric), pdist(layer, metric))[0]
    got = rsa(model, layer, rdm_metric=metric, compare="kendall")
    assert got == pytest.approx(expected, abs=1e-12)


def test_factorial_model_ties():
    rng = np.random.RandomState(0)
    a, b = rng.randint(0, 3, 60), rng.randint(0, 4, 60)
    model = np.c_[np.eye(3)[a], np.eye(4)[b]] / 3  # 12 distinct rows
    # Two rows differ in 0, 1 or 2 factors: three distances in exact
    # arithmetic, and three here (pdist's correlation splits one in two).
    for metric in ("correlation", "euclidean"):
        assert np.unique(rdm(model, metric)).size == 3


@pytest.mark.parametrize("metric", ["correlation", "euclidean", "sqeuclidean"])
def test_distinct_pattern_route_equals_the_gram_route(metric, monkeypatch):
    # Repeated patterns, including two constant ones (correlation distance 1
    # to everything, even to a copy of themselves, on both routes).
    rng = np.random.RandomState(1)
    base = np.r_[rng.randn(5, 6), np.zeros((1, 6)), np.full((1, 6), 3.0)]
    X = base[rng.randint(0, 7, 60)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        distinct = rdm(X, metric)
        monkeypatch.setattr(core, "DISTINCT_MAX", 0)
        gram = rdm(X, metric)
    np.testing.assert_allclose(distinct, gram, rtol=0, atol=1e-12 * np.abs(gram).max())
