"""CKA (Kornblith et al. 2019) against direct Gram-matrix formulas."""

import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.spatial.distance import pdist, squareform
from scipy.stats import ortho_group
from sklearn.base import clone
from sklearn.model_selection import cross_val_score

import skrep._core.cka as core
from skrep import compare_layers
from skrep._cka import CKA, cka
from skrep._core.cka import (
    LinearCKAMoments,
    gram_cka,
    linear_cka,
    linear_cka_from_moments,
    median_distance,
)
from skrep.base import get_skrep_tags
from skrep.exceptions import DeadUnitWarning

VARIANTS = [
    {"kernel": "linear"},
    {"kernel": "linear", "debiased": True},
    {"kernel": "rbf"},
    {"kernel": "rbf", "debiased": True, "sigma": 0.6},
]
VARIANT_IDS = ["linear", "linear-debiased", "rbf", "rbf-debiased"]

# --------------------------------------------------------------------------
# Independent reference: n x n Gram matrices, the formulas as printed.


def gram_linear(V):
    return V @ V.T


def gram_rbf(V, sigma=1.0, median=None):
    """exp(-d^2 / (2 s^2)), s = sigma x median distance over distinct pairs."""
    distances = pdist(V)
    if median is None:
        median = np.median(distances)
    return np.exp(-(squareform(distances) ** 2) / (2.0 * (sigma * median) ** 2))


def hsic_biased(K, L):
    """Gretton et al.: tr(K H L H) / (n - 1)^2."""
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ L @ H) / (n - 1) ** 2


def hsic_unbiased(K, L):
    """Song et al. (2012), eq. (5), with zero-diagonal Gram matrices."""
    n = K.shape[0]
    Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return (
        np.trace(Kt @ Lt)
        + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (one @ Kt @ Lt @ one)
    ) / (n * (n - 3))


def hsic_u_centred(K, L):
    """Székely and Rizzo (2014): inner product of U-centred matrices."""
    n = K.shape[0]

    def u_centre(G):
        G = G - np.diag(np.diag(G))
        rows = G.sum(axis=1)
        U = (
            G
            - rows[:, None] / (n - 2)
            - rows[None, :] / (n - 2)
            + rows.sum() / ((n - 1) * (n - 2))
        )
        return U - np.diag(np.diag(U))

    return np.sum(u_centre(K) * u_centre(L)) / (n * (n - 3))


def reference_cka(K, L, debiased=False):
    hsic = hsic_unbiased if debiased else hsic_biased
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def reference_grams(X, Y, kernel, sigma=None):
    if kernel == "linear":
        return gram_linear(X), gram_linear(Y)
    sigma = 1.0 if sigma is None else sigma
    return gram_rbf(X, sigma), gram_rbf(Y, sigma)


def related_views(seed, n=40, p=6, q=5, shift=3.0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, p) * rng.uniform(0.5, 2.0, p) + shift
    Y = X[:, :3] @ rng.randn(3, q) + rng.randn(n, q) - shift
    return X, Y


def fit_quiet(estimator, X, Y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadUnitWarning)
        return estimator.fit(X, Y)


# --------------------------------------------------------------------------
# The reference itself: Song et al.'s formula is the U-centred inner product.


def test_reference_unbiased_forms_agree(seed):
    X, Y = related_views(seed, n=15)
    K, L = gram_rbf(X), gram_linear(Y)
    assert_allclose(hsic_unbiased(K, L), hsic_u_centred(K, L), rtol=1e-10)


# --------------------------------------------------------------------------
# Against the reference.


@pytest.mark.parametrize("params", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("n", [6, 41])
def test_matches_gram_reference(seed, params, n):
    X, Y = related_views(seed, n=n)
    debiased = params.get("debiased", False)
    K, L = reference_grams(X, Y, params["kernel"], params.get("sigma"))
    hsic = hsic_unbiased if debiased else hsic_biased
    est = CKA(**params).fit(X, Y)
    assert_allclose(est.cka_, reference_cka(K, L, debiased), rtol=1e-10, atol=1e-13)
    assert_allclose(
        [est.hsic_xy_, est.hsic_xx_, est.hsic_yy_],
        [hsic(K, L), hsic(K, K), hsic(L, L)],
        rtol=1e-9,
    )
    assert_allclose(est.score(X, Y), est.cka_, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("debiased", [False, True])
def test_feature_space_and_gram_space_agree(seed, debiased):
    # both routes of the estimator, and the wide case (more units than rows)
    for n, p, q in [(50, 6, 5), (12, 30, 40)]:
        X, Y = related_views(seed, n=n, p=p, q=q)
        moments = CKA(debiased=debiased, algorithm="moments").fit(X, Y)
        gram = CKA(debiased=debiased, algorithm="gram").fit(X, Y)
        auto = CKA(debiased=debiased).fit(X, Y)
        assert moments.algorithm_ == "moments" and gram.algorithm_ == "gram"
        assert auto.algorithm_ == ("gram" if 2 * n < p + q else "moments")
        for name in ("cka_", "hsic_xy_", "hsic_xx_", "hsic_yy_"):
            assert_allclose(getattr(gram, name), getattr(moments, name), rtol=1e-10)
        reference = reference_cka(gram_linear(X), gram_linear(Y), debiased)
        assert_allclose(moments.cka_, reference, rtol=1e-10)


def test_linear_formula_in_feature_space(seed):
    X, Y = related_views(seed)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    expected = np.linalg.norm(Xc.T @ Yc) ** 2 / (
        np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)
    )
    assert_allclose(cka(X, Y), expected, rtol=1e-12)


def test_blocked_gram_route_matches_reference(monkeypatch):
    # several column blocks (syrk updates, mirrored), several row blocks of
    # L, and constant units between live ones (the fancy-indexed columns)
    rng = np.random.RandomState(3)
    n = 90
    X, Y = rng.randn(n, 11), rng.randn(n, 9)
    Y[:, :4] += X[:, :4]
    X[:, 5] = 2.5
    Y[:, 2] = -1.0
    monkeypatch.setattr(core, "BLOCK_BYTES", 8 * n * 3)
    monkeypatch.setattr(core, "ROW_BLOCK_BYTES", 8 * n * 16)
    monkeypatch.setattr(core, "PAIR_BLOCK", 16)
    live_x, live_y = np.delete(X, 5, axis=1), np.delete(Y, 2, axis=1)
    for kernel in ("linear", "rbf"):
        for debiased in (False, True):
            K, L = reference_grams(live_x, live_y, kernel)
            result = gram_cka(X, Y, kernel=kernel, debiased=debiased)
            assert_allclose(
                result.cka, reference_cka(K, L, debiased), rtol=1e-10, atol=1e-13
            )
    assert_allclose(median_distance(X), np.median(pdist(live_x)), rtol=1e-12)


# --------------------------------------------------------------------------
# RBF: the bandwidth.


@pytest.mark.parametrize("sample", [3, 20000])
@pytest.mark.parametrize("n", [7, 8, 30])
def test_median_distance_over_distinct_pairs(monkeypatch, n, sample):
    # odd and even numbers of pairs (n (n-1)/2 = 21, 28, 435); the sample
    # that brackets the median changes the work, never the answer
    monkeypatch.setattr(core, "MEDIAN_SAMPLE", sample)
    X = np.random.RandomState(n).randn(n, 3)
    assert_allclose(median_distance(X), np.median(pdist(X)), rtol=1e-12)
    assert_allclose(median_distance(5.0 * X + 2.0), 5.0 * median_distance(X))


def test_median_selection_survives_a_misleading_sample(monkeypatch):
    # The pairs the selection samples are made huge: its bracket misses the
    # median, and the selection must widen it rather than answer wrongly.
    monkeypatch.setattr(core, "MEDIAN_SAMPLE", 60)
    n = 40
    D = squareform(pdist(np.random.RandomState(1).randn(n, 3))) ** 2
    rng = np.random.RandomState(0)  # the selection's own draw
    i, j = rng.randint(0, n, 60), rng.randint(0, n, 60)
    D[i, j] = D[j, i] = 1e6 + np.arange(60)
    np.fill_diagonal(D, 0.0)
    expected = np.median(np.sqrt(D[np.triu_indices(n, 1)]))
    assert_allclose(core._median_of_pairs(D), expected, rtol=1e-12)


def test_median_falls_back_to_pairs_that_differ():
    # class labels: most pairs coincide, the paper's median would be 0
    labels = np.repeat([0.0, 1.0, 3.0], [12, 2, 1])[:, None]
    distances = pdist(labels)
    assert np.median(distances) == 0.0
    assert_allclose(median_distance(labels), np.median(distances[distances > 0]))
    X = np.random.RandomState(0).randn(15, 4) + labels
    est = CKA(kernel="rbf").fit(X, labels.ravel())
    K = gram_rbf(X)
    L = gram_rbf(labels, median=np.median(distances[distances > 0]))
    assert_allclose(est.cka_, reference_cka(K, L), rtol=1e-10)
    assert np.isfinite(est.cka_)


def test_kornblith_code_bandwidth_convention():
    # The public code takes sigma^2 = median of the n x n squared distances,
    # diagonal zeros included; with that bandwidth given explicitly the core
    # agrees with the reference, and the bandwidth is a little smaller than
    # the paper's median over distinct pairs (followed here).
    X, Y = related_views(4, n=25)
    widths = [np.sqrt(np.median(squareform(pdist(V)) ** 2)) for V in (X, Y)]
    result = gram_cka(X, Y, kernel="rbf", bandwidths=widths)
    K, L = (gram_rbf(V, median=w) for V, w in zip((X, Y), widths))
    assert_allclose(result.cka, reference_cka(K, L), rtol=1e-10)
    assert widths[0] < median_distance(X)
    assert_allclose(result.x_bandwidth, widths[0])


def test_bandwidth_recorded_and_recomputed_in_score():
    X, Y = related_views(0, n=60)
    est = CKA(kernel="rbf", sigma=0.5).fit(X[:30], Y[:30])
    assert_allclose(est.x_bandwidth_, 0.5 * np.median(pdist(X[:30])), rtol=1e-12)
    assert_allclose(est.y_bandwidth_, 0.5 * np.median(pdist(Y[:30])), rtol=1e-12)
    # score is CKA of the data given, with that data's bandwidths
    held_out = est.score(X[30:], Y[30:])
    K, L = gram_rbf(X[30:], 0.5), gram_rbf(Y[30:], 0.5)
    assert_allclose(held_out, reference_cka(K, L), rtol=1e-10)
    assert_allclose(held_out, cka(X[30:], Y[30:], kernel="rbf", sigma=0.5))


def test_wide_rbf_tends_to_linear(seed):
    # exp(-d^2 / 2s^2) = 1 - d^2 / 2s^2 + ...: centred, the kernel becomes
    # the linear one as sigma grows (the expm1 kernel keeps the digits)
    X, Y = related_views(seed)
    for debiased in (False, True):
        linear = cka(X, Y, debiased=debiased)
        wide = cka(X, Y, kernel="rbf", sigma=1e4, debiased=debiased)
        assert_allclose(wide, linear, rtol=1e-6)


# --------------------------------------------------------------------------
# Known answers.


def test_identical_and_equivalent_views_score_one(seed):
    rng = np.random.RandomState(seed)
    X = rng.randn(50, 7)
    Q = ortho_group.rvs(7, random_state=rng)
    for params in VARIANTS:
        for other in (X, 2.5 * X @ Q - 4.0):
            assert_allclose(cka(X, other, **params), 1.0, rtol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 9])
def test_subspace_known_answer(k):
    # Orthonormal centred units of equal variance; Y = the first k of them:
    # ||Xc^T Yc||^2 = k, ||Xc^T Xc|| = sqrt(p), ||Yc^T Yc|| = sqrt(k).
    rng = np.random.RandomState(k)
    p = 9
    Z = rng.randn(80, p)
    Q = np.linalg.qr(Z - Z.mean(0))[0]
    assert_allclose(cka(Q + 7.0, Q[:, :k]), np.sqrt(k / p), rtol=1e-12)


def test_independent_views_debiased_near_zero():
    # Kornblith et al.: biased linear CKA of independent views is well above
    # 0 when units are many for the samples; the unbiased HSIC removes that.
    biased, debiased = [], []
    for seed in range(40):
        rng = np.random.RandomState(seed)
        X, Y = rng.randn(32, 8), rng.randn(32, 8)
        biased.append(cka(X, Y))
        debiased.append(cka(X, Y, debiased=True))
    assert 0.15 < np.mean(biased) < 0.25
    assert abs(np.mean(debiased)) < 0.03
    assert np.std(debiased) < 0.1


def test_unbiased_hsic_is_unbiased():
    # E[HSIC_u] = ||Cov(x, y)||_F^2 for the linear kernel; the biased
    # estimate is off by O(1/n) at n = 10.
    rng = np.random.RandomState(0)
    A = rng.randn(3, 2)
    target = np.sum(A**2)
    unbiased, biased = [], []
    for seed in range(400):
        rng = np.random.RandomState(seed + 1)
        X = rng.randn(10, 3)
        Y = X @ A + rng.randn(10, 2)
        unbiased.append(CKA(debiased=True).fit(X, Y).hsic_xy_)
        biased.append(CKA().fit(X, Y).hsic_xy_)
    error = np.std(unbiased) / np.sqrt(len(unbiased))
    assert abs(np.mean(unbiased) - target) < 4 * error
    assert abs(np.mean(biased) - target) > 10 * error


# --------------------------------------------------------------------------
# Invariances (ground truth: the maps are applied, the value compared).


@pytest.mark.parametrize("params", VARIANTS, ids=VARIANT_IDS)
def test_invariances_hold(seed, params):
    X, Y = related_views(seed, n=45, p=6, q=6)
    rng = np.random.RandomState(seed + 10)
    reference = cka(X, Y, **params)
    maps = {
        "orthogonal": lambda V: V @ ortho_group.rvs(V.shape[1], random_state=rng),
        "isotropic scaling": lambda V: V * 10.0 ** rng.uniform(-2, 2),
        "shift": lambda V: V + rng.normal(scale=50.0, size=V.shape[1]),
        "unit permutation": lambda V: V[:, rng.permutation(V.shape[1])],
    }
    for name, apply in maps.items():
        assert_allclose(cka(apply(X), Y, **params), reference, rtol=1e-9, err_msg=name)
        assert_allclose(cka(X, apply(Y), **params), reference, rtol=1e-9, err_msg=name)


@pytest.mark.parametrize("params", VARIANTS, ids=VARIANT_IDS)
def test_not_invariant_to_general_invertible_maps(seed, params):
    X, Y = related_views(seed, n=45, p=6, q=6)
    rng = np.random.RandomState(seed + 20)
    # anisotropic: singular values from 0.1 to 10
    M = (
        ortho_group.rvs(6, random_state=rng)
        * np.logspace(-1, 1, 6)
        @ ortho_group.rvs(6, random_state=rng)
    )
    assert abs(cka(X @ M, Y, **params) - cka(X, Y, **params)) > 1e-2
    # unit scaling is such a map too (only CCA-like measures ignore it)
    scaled = X * np.logspace(-1, 1, 6)
    assert abs(cka(scaled, Y, **params) - cka(X, Y, **params)) > 1e-2


def test_tags():
    tags = get_skrep_tags(CKA())
    assert tags.maximum == 1.0 and tags.streaming
    assert not tags.held_out_below_in_sample
    assert "orthogonal_x" in tags.invariances
    assert "isotropic_scaling_y" in tags.invariances
    assert "invertible_linear_x" not in tags.invariances
    assert "unit_scaling_x" not in tags.invariances
    assert not get_skrep_tags(CKA(kernel="rbf")).streaming
    assert get_skrep_tags(CKA(debiased=True)).streaming
    assert not get_skrep_tags(CKA(algorithm="gram")).streaming


# --------------------------------------------------------------------------
# Streaming.


@pytest.mark.parametrize("debiased", [False, True])
def test_partial_fit_equals_fit(seed, debiased):
    X, Y = related_views(seed, n=120)
    X, Y = X + 1e4, Y - 3e3  # large means: the row terms move with them
    full = CKA(debiased=debiased).fit(X, Y)
    streamed = CKA(debiased=debiased)
    for rows in np.split(np.random.RandomState(seed).permutation(120), [1, 2, 40, 97]):
        streamed.partial_fit(X[rows], Y[rows])
    for name in ("cka_", "hsic_xy_", "hsic_xx_", "hsic_yy_"):
        assert_allclose(getattr(streamed, name), getattr(full, name), rtol=1e-9)
    assert streamed.n_samples_seen_ == 120
    assert_allclose(streamed.score(X, Y), full.cka_, rtol=1e-9)


@pytest.mark.parametrize("debiased", [False, True])
def test_estimators_merge(debiased):
    X, Y = related_views(6, n=90)
    X = X + 50.0
    a = CKA(debiased=debiased).partial_fit(X[:1], Y[:1]).partial_fit(X[1:30], Y[1:30])
    b = CKA(debiased=debiased).fit(X[30:], Y[30:])
    b_before = b.cka_
    merged = a.merge(b)
    full = CKA(debiased=debiased).fit(X, Y)
    assert merged.n_samples_seen_ == 90
    assert_allclose(merged.cka_, full.cka_, rtol=1e-10)
    assert_allclose(merged.hsic_yy_, full.hsic_yy_, rtol=1e-10)
    assert b.cka_ == b_before  # the other estimator is left alone
    with pytest.raises(ValueError, match="parameters"):
        CKA(debiased=not debiased).fit(X, Y).merge(b)
    wide = CKA().fit(X[:5], Y[:5] @ np.ones((5, 20)))
    with pytest.raises(ValueError, match="Gram"):
        CKA().fit(X, Y @ np.ones((5, 20))).merge(wide)
    with pytest.raises(ValueError, match="partial_fit"):
        CKA(kernel="rbf").fit(X, Y).merge(CKA(kernel="rbf").fit(X, Y))


def test_row_terms_against_direct_sums():
    X, Y = related_views(5, n=70)
    X = X + 1e6
    accumulator = LinearCKAMoments(6, 5, debiased=True)
    for rows in np.array_split(np.arange(70), 5):
        accumulator.update(X[rows], Y[rows])
    tx, ty = accumulator.row_units  # powers of two
    a = np.sum((tx * (X - X.mean(0))) ** 2, axis=1)
    b = np.sum((ty * (Y - Y.mean(0))) ** 2, axis=1)
    assert_allclose(accumulator.row_squares, [a @ a, a @ b, b @ b], rtol=1e-8)
    merged = LinearCKAMoments(6, 5, debiased=True).update(X[:30], Y[:30])
    merged += LinearCKAMoments(6, 5, debiased=True).update(X[30:], Y[30:])
    assert_allclose(merged.row_squares, accumulator.row_squares, rtol=1e-8)
    whole = linear_cka(X, Y, debiased=True).cka
    assert_allclose(linear_cka_from_moments(merged, debiased=True).cka, whole)
    # accumulators whose first batches set other units (a single row here)
    other = LinearCKAMoments(6, 5, debiased=True).update(X[30:31], Y[30:31])
    other.update(X[31:], Y[31:])
    first = LinearCKAMoments(6, 5, debiased=True).update(X[:30], Y[:30])
    assert other.row_units != first.row_units
    for combined in (first + other, other + first):
        result = linear_cka_from_moments(combined, debiased=True).cka
        assert_allclose(result, whole, rtol=1e-10)


def test_merge_refuses_other_accumulators():
    a = LinearCKAMoments(3, 2, debiased=True)
    with pytest.raises(ValueError, match="different"):
        a.merge(LinearCKAMoments(3, 2))
    with pytest.raises(TypeError, match="LinearCKAMoments"):
        a.merge(object())


def test_rbf_partial_fit_refused():
    X, Y = related_views(0)
    with pytest.raises(ValueError, match="partial_fit.*all the rows"):
        CKA(kernel="rbf").partial_fit(X, Y)


def test_partial_fit_cannot_continue_a_gram_fit():
    X, Y = related_views(0, n=10, p=30, q=30)
    est = CKA().fit(X, Y)
    assert est.algorithm_ == "gram"
    with pytest.raises(ValueError, match="Gram"):
        est.partial_fit(X, Y)
    # from scratch it streams moments, equal to the Gram fit
    streamed = CKA().partial_fit(X[:4], Y[:4]).partial_fit(X[4:], Y[4:])
    assert_allclose(streamed.cka_, est.cka_, rtol=1e-10)


def test_switching_to_debiased_mid_stream_is_refused():
    X, Y = related_views(0)
    est = CKA().partial_fit(X, Y)
    est.set_params(debiased=True)
    with pytest.raises(ValueError, match="debiased=True"):
        est.score(X, Y)


# --------------------------------------------------------------------------
# Dead units, scales, dtypes.


@pytest.mark.parametrize("params", VARIANTS, ids=VARIANT_IDS)
def test_constant_units_change_nothing(params):
    X, Y = related_views(1, n=40)
    expected = cka(X, Y, **params)
    for value in (0.0, 3.5, 1e8):
        X_dead = np.insert(X, 2, value, axis=1)
        with pytest.warns(DeadUnitWarning, match="constant"):
            est = CKA(**params).fit(X_dead, Y)
        assert_allclose(est.cka_, expected, rtol=1e-9)
        assert est.x_constant_.tolist() == [i == 2 for i in range(7)]


@pytest.mark.parametrize("params", VARIANTS, ids=VARIANT_IDS)
def test_every_unit_constant_gives_zero(params):
    X, Y = related_views(2, n=30)
    dead = np.full_like(Y, 4.0)
    with pytest.warns(DeadUnitWarning, match="0/0"):
        est = CKA(**params).fit(X, dead)
    assert est.cka_ == 0.0
    assert np.isfinite([est.hsic_xy_, est.hsic_xx_, est.hsic_yy_]).all()
    live = fit_quiet(CKA(**params), X, Y)
    with pytest.warns(DeadUnitWarning, match="0/0"):
        assert live.score(np.zeros_like(X), Y) == 0.0


@pytest.mark.parametrize("params", VARIANTS, ids=VARIANT_IDS)
def test_extreme_scales(params):
    X, Y = related_views(3, n=30)
    expected = cka(X, Y, **params)
    for factor in (1e-100, 1e100):
        assert_allclose(cka(X * factor, Y, **params), expected, rtol=1e-9)
    assert_allclose(
        cka(X * 1e120, Y, algorithm="gram", debiased=params.get("debiased", False)),
        cka(X, Y, debiased=params.get("debiased", False)),
        rtol=1e-9,
    )


@pytest.mark.parametrize("params", VARIANTS, ids=VARIANT_IDS)
def test_float32_agrees_with_float64(params):
    X, Y = related_views(4, n=60, shift=30.0)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    assert_allclose(cka(X32, Y32, **params), cka(X, Y, **params), atol=1e-5)


def test_inputs_not_modified():
    X, Y = related_views(5, n=30)
    X32 = X.astype(np.float32)
    for params in VARIANTS:
        before = X32.copy(), Y.copy()
        est = CKA(**params).fit(X32, Y)
        est.score(X32, Y)
        assert np.array_equal(X32, before[0]) and np.array_equal(Y, before[1])


def test_one_n_by_n_matrix_at_a_time(monkeypatch):
    monkeypatch.setattr(core, "ROW_BLOCK_BYTES", 2**20)
    monkeypatch.setattr(core, "PAIR_BLOCK", 256)
    rng = np.random.RandomState(0)
    n = 1200
    X, Y = rng.randn(n, 20), rng.randn(n, 30)
    tracemalloc.start()
    try:
        gram_cka(X, Y, kernel="rbf", debiased=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.3 * n * n * 8


# --------------------------------------------------------------------------
# Parameters, errors, API.


@pytest.mark.parametrize(
    "params",
    [
        {"kernel": "poly"},
        {"sigma": 0.0},
        {"sigma": -1.0},
        {"sigma": "median"},
        {"debiased": "yes"},
        {"algorithm": "svd"},
    ],
)
def test_bad_parameters_rejected(params):
    X, Y = related_views(0)
    with pytest.raises(ValueError, match="parameter"):
        CKA(**params).fit(X, Y)


def test_moments_algorithm_needs_linear_kernel():
    X, Y = related_views(0)
    with pytest.raises(ValueError, match="linear CKA only"):
        CKA(kernel="rbf", algorithm="moments").fit(X, Y)


def test_debiased_needs_four_samples():
    X, Y = related_views(0)
    with pytest.raises(ValueError, match="at least 4 samples"):
        CKA(debiased=True).fit(X[:3], Y[:3])
    est = CKA(debiased=True).fit(X, Y)
    with pytest.raises(ValueError, match="at least 4 samples"):
        est.score(X[:3], Y[:3])
    assert np.isfinite(CKA(debiased=True).fit(X[:4], Y[:4]).cka_)


def test_bad_views_rejected():
    X, Y = related_views(0)
    est = CKA().fit(X, Y)
    with pytest.raises(ValueError, match="units"):
        est.score(X, Y[:, :2])
    with pytest.raises(ValueError):
        CKA().fit(X, Y[:-1])
    with pytest.raises(ValueError):
        est.score(X[:, :3], Y)


def test_one_dimensional_y_and_pickle():
    X, Y = related_views(1)
    est = CKA(kernel="rbf").fit(X, Y[:, 0])
    assert_allclose(est.cka_, cka(X, Y[:, :1], kernel="rbf"))
    restored = pickle.loads(pickle.dumps(est))
    assert restored.score(X, Y[:, 0]) == est.score(X, Y[:, 0])
    assert clone(est).get_params() == est.get_params()


def test_compare_layers_and_cross_validation():
    rng = np.random.RandomState(0)
    base = rng.randn(60, 5)
    acts_a = {"conv": base, "fc": base @ rng.randn(5, 8)}
    acts_b = {"conv": 2.0 * base + 1.0, "noise": rng.randn(60, 4)}
    grid = compare_layers(acts_a, acts_b, estimator=CKA())
    expected = [[cka(a, b) for b in acts_b.values()] for a in acts_a.values()]
    assert_allclose(grid.scores, expected, rtol=1e-12)
    assert_allclose(grid.scores[0, 0], 1.0)
    held_out = compare_layers(
        acts_a, acts_b, estimator=CKA(kernel="rbf"), test=(acts_a, acts_b)
    )
    assert np.isfinite(held_out.scores).all()
    scores = cross_val_score(CKA(debiased=True), base, 2.0 * base, cv=3)
    assert_allclose(scores, 1.0)
