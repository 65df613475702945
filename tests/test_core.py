"""The numerical core and the base: moments, the constant-unit and rank rules,
signs, streaming, and the defects hostile input found in the estimators."""

import functools
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn.base import clone
from sklearn.model_selection import KFold

from conftest import make_views
from skrep import (
    CKA,
    PWCCA,
    SVCCA,
    Procrustes,
    SparseLayerPredictor,
    SparseLayerPredictorCV,
    UnitMatcher,
    svcca,
)
from skrep._core.cca import fit_cca, tied_groups
from skrep._core.correlation import (
    column_correlations,
    correlation_matrix,
    unit_stats,
)
from skrep._core.moments import CONSTANT_TOL, Moments, constant_units
from skrep._core.spectral import flip_signs, n_directions_to_keep
from skrep.exceptions import (
    DeadUnitWarning,
    SkrepWarning,
    TiedCorrelationsWarning,
)


def random_splits(n, rng, max_batches=7):
    """Cut points for a random split of n rows into 1-7 batches (one of 1 row)."""
    k = rng.randint(1, max_batches + 1)
    cuts = np.sort(rng.choice(np.arange(2, n - 1), size=k - 1, replace=False))
    bounds = np.r_[0, 1, cuts, n] if k > 1 else np.r_[0, 1, n]
    return list(zip(bounds[:-1], bounds[1:]))


def separated_views(seed, n_samples=900, n_units=6):
    """Two views with well-separated spectra and canonical correlations.

    Their directions are well conditioned, so two exact routes must agree to
    near machine precision (near-tied spectra would let round-off rotate
    the directions within a tie).
    """
    rng = np.random.RandomState(seed)
    Z = rng.randn(n_samples, n_units)
    sigmas = np.linspace(0.1, 2.0, n_units)
    scales = np.linspace(1.0, 4.0, n_units)
    views = []
    for _ in range(2):
        Q = np.linalg.qr(rng.randn(n_units, n_units))[0]
        views.append((Z + sigmas * rng.randn(n_samples, n_units)) * scales @ Q)
    return views


# --------------------------------------------------------------------------
# Moments: exact, mergeable, robust to large means


@pytest.mark.parametrize("products", ["all", "cross"])
def test_moments_merge_equals_one_pass(seed, products):
    rng = np.random.RandomState(seed)
    X = rng.randn(700, 6) * rng.uniform(0.1, 10, 6) + 1e6 * rng.randn(6)
    Y = rng.randn(700, 4) + 3.0
    parts = []
    for start, stop in random_splits(700, rng):
        parts.append(
            Moments(6, 4, products=products, track_range=True).update(
                X[start:stop], Y[start:stop]
            )
        )
    merged = parts[0]
    for part in parts[1:]:
        merged = merged + part
    whole = Moments(6, 4, products=products, track_range=True).update(X, Y)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    mean_x, mean_y, cxx, cyy, cxy = merged.covariances()
    np.testing.assert_allclose(mean_x, X.mean(0), rtol=1e-14)
    np.testing.assert_allclose(cxy, Xc.T @ Yc, rtol=1e-9, atol=1e-9 * 700)
    if products == "all":
        np.testing.assert_allclose(cxx, Xc.T @ Xc, rtol=1e-9)
        np.testing.assert_allclose(cyy, Yc.T @ Yc, rtol=1e-9)
    np.testing.assert_allclose(
        merged.squares, np.r_[(Xc**2).sum(0), (Yc**2).sum(0)], rtol=1e-11
    )
    np.testing.assert_allclose(merged.covariances()[4], whole.covariances()[4],
                               rtol=1e-9, atol=1e-9 * 700)  # fmt: skip
    np.testing.assert_array_equal(merged.minimum, np.r_[X.min(0), Y.min(0)])
    np.testing.assert_array_equal(merged.maximum, np.r_[X.max(0), Y.max(0)])
    assert merged.n_samples == 700


def test_moments_merge_refuses_other_views():
    with pytest.raises(ValueError, match="different views"):
        Moments(3, 2).merge(Moments(3, 3))
    with pytest.raises(TypeError, match="Moments"):
        Moments(3, 2).merge(np.zeros(3))
    with pytest.raises(ValueError, match="No samples"):
        Moments(3, 2).covariances()


def test_moments_accept_float32_and_do_not_modify_input(seed):
    rng = np.random.RandomState(seed)
    X = rng.randn(300, 5).astype(np.float32)
    copy = X.copy()
    moments = Moments(5).update(X)
    np.testing.assert_array_equal(X, copy)
    Xc = X.astype(np.float64) - X.astype(np.float64).mean(0)
    np.testing.assert_allclose(moments.covariances()[2], Xc.T @ Xc, rtol=1e-10)


# --------------------------------------------------------------------------
# The one constant-unit rule


def test_constant_rule_relative_to_each_units_scale():
    mean = np.array([1.0, 1e8, 1e8, 0.0, -5.0])
    std = np.array([1e-11, 1e-3, 1e-5, 0.0, 1e-20])
    assert constant_units(mean, std**2).tolist() == [False, False, True, True, True]
    # the boundary sits at CONSTANT_TOL times the root-mean-square value
    rms = 3.0
    assert not constant_units([rms], [(2 * CONSTANT_TOL * rms) ** 2])[0]
    assert constant_units([rms], [(0.5 * CONSTANT_TOL * rms) ** 2])[0]


def test_constant_rule_is_the_same_everywhere(seed):
    rng = np.random.RandomState(seed)
    noise = rng.randn(400)
    X = np.column_stack(
        [
            rng.randn(400),
            1 + 1e-11 * noise,  # signal: eleven digits below the mean
            1e8 + 1e-3 * noise,  # signal
            np.full(400, 0.1 + 0.2),  # exactly constant
            np.full(400, 1e8) + 1e-9 * (noise > 0),  # below one ulp: constant
        ]
    )
    expected = [False, False, False, True, True]
    assert unit_stats(X)[2].tolist() == expected
    assert Moments(5).update(X).constant.tolist() == expected
    assert correlation_matrix(X, X)[1].tolist() == expected
    assert column_correlations(X, X)[1].tolist() == expected
    merged = Moments(5).update(X[:150]) + Moments(5).update(X[150:])
    assert merged.constant.tolist() == expected


# --------------------------------------------------------------------------
# Deterministic signs: both routes give the same transform


def test_flip_signs_makes_largest_loading_positive(seed):
    rng = np.random.RandomState(seed)
    loadings = rng.randn(4, 6)
    rotations = rng.randn(9, 4)
    flipped, (rot,), _ = flip_signs(loadings, columns=(rotations,))
    top = np.abs(flipped).argmax(axis=1)
    assert np.all(flipped[np.arange(4), top] > 0)
    signs = np.sign(flipped[:, 0] / loadings[:, 0])
    np.testing.assert_array_equal(rot, rotations * signs)


@pytest.mark.parametrize("Estimator", [SVCCA, PWCCA])
def test_routes_give_the_same_transform(seed, Estimator):
    A, B = make_views(seed, n_samples=800)
    A = A + 1e3
    ests = [Estimator(algorithm=a).fit(A, B) for a in ("moments", "svd")]
    assert [e.algorithm_ for e in ests] == ["moments", "svd"]
    U0, V0 = ests[0].transform(A, B)
    U1, V1 = ests[1].transform(A, B)
    np.testing.assert_allclose(U0, U1, atol=1e-8)
    np.testing.assert_allclose(V0, V1, atol=1e-8)


def test_transform_signs_agree_across_folds(seed):
    # well-separated canonical correlations (1 / (1 + sigma^2)): each fold's
    # directions are the full fit's, pointing the same way
    rng = np.random.RandomState(seed)
    Z = rng.randn(1500, 5)
    sigmas = np.array([0.1, 0.3, 0.6, 1.0, 2.0])
    A = (Z + sigmas * rng.randn(1500, 5)) @ rng.randn(5, 5)
    B = (Z + sigmas * rng.randn(1500, 5)) @ rng.randn(5, 5)
    full = SVCCA(svd_components=None).fit(A, B)
    for algorithm in ("moments", "svd"):
        folds = KFold(3, shuffle=True, random_state=seed).split(A)
        for train, _ in folds:
            fold = SVCCA(svd_components=None, algorithm=algorithm)
            fold.fit(A[train], B[train])
            cosine = np.sum(fold.x_rotations_ * full.x_rotations_, axis=0) / (
                np.linalg.norm(fold.x_rotations_, axis=0)
                * np.linalg.norm(full.x_rotations_, axis=0)
            )
            assert np.all(cosine > 0.9)


# --------------------------------------------------------------------------
# Streaming: partial_fit equals fit, lazily


@pytest.mark.parametrize(
    "make", [lambda: SVCCA(), lambda: PWCCA(), lambda: SparseLayerPredictor(decay=1e-3)]
)
def test_partial_fit_equals_fit(seed, make):
    A, B = separated_views(seed, n_samples=900)
    A = A + 100.0
    rng = np.random.RandomState(seed)
    full = make().fit(A, B)
    streamed = make()
    for start, stop in random_splits(900, rng):
        streamed.partial_fit(A[start:stop], B[start:stop])
    assert streamed.n_samples_seen_ == 900
    for name, value in vars(full).items():
        numeric = isinstance(value, float) or (
            isinstance(value, np.ndarray) and value.dtype.kind == "f"
        )
        if name.endswith("_") and numeric:
            other = getattr(streamed, name)
            scale = max(np.max(np.abs(value)), 1e-300)
            np.testing.assert_allclose(other, value, rtol=0, atol=1e-9 * scale)
    assert streamed.score(A, B) == pytest.approx(full.score(A, B), rel=1e-9)


def test_partial_fit_is_lazy_and_continues_after_fit(seed, monkeypatch):
    A, B = make_views(seed)
    calls = []
    original = SVCCA._fit_accumulator
    monkeypatch.setattr(
        SVCCA,
        "_fit_accumulator",
        lambda self, acc: calls.append(1) or original(self, acc),
    )
    est = SVCCA()
    for start in range(0, 500, 50):
        est.partial_fit(A[start : start + 50], B[start : start + 50])
    assert calls == []
    est.canonical_correlations_
    est.transform(A)
    assert calls == [1]
    # partial_fit after fit continues from the rows fit saw
    cont = SVCCA().fit(A[:200], B[:200]).partial_fit(A[200:], B[200:])
    np.testing.assert_allclose(
        cont.canonical_correlations_,
        SVCCA().fit(A, B).canonical_correlations_,
        rtol=1e-10,
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: SVCCA(),
        lambda: PWCCA(),
        lambda: UnitMatcher(),
        lambda: SparseLayerPredictor(decay=0),
    ],
)
def test_estimators_merge_exactly(seed, make):
    A, B = separated_views(seed, n_samples=600)
    parts = [make().partial_fit(A[a:b], B[a:b]) for a, b in ((0, 250), (250, 600))]
    merged = functools.reduce(lambda a, b: a.merge(b), parts)
    full = make().fit(A, B)
    assert merged.n_samples_seen_ == 600
    assert merged.score(A, B) == pytest.approx(full.score(A, B), rel=1e-10)


def test_merge_refuses_what_cannot_be_merged(known_views):
    A, B = known_views
    with pytest.raises(TypeError, match="merge"):
        SVCCA().fit(A, B).merge(PWCCA().fit(A, B))
    with pytest.raises(ValueError, match="parameters"):
        SVCCA().fit(A, B).merge(SVCCA(svd_components=3).fit(A, B))
    with pytest.raises(ValueError, match="units"):
        SVCCA().fit(A, B).merge(SVCCA().fit(A[:, :5], B))
    with pytest.raises(ValueError, match="no rows"):
        SVCCA().fit(A, B).merge(SVCCA())
    mi = UnitMatcher(metric="mutual_info", n_bins=3)
    with pytest.raises(ValueError, match="stream"):
        mi.fit(A, B).merge(clone(mi).fit(A, B))


def test_feature_names_after_partial_fit(known_views):
    A, B = known_views
    streamed = SVCCA().partial_fit(A[:200], B[:200]).partial_fit(A[200:], B[200:])
    names = SVCCA().fit(A, B).get_feature_names_out()
    assert streamed.get_feature_names_out().tolist() == names.tolist()


def test_partially_fitted_estimators_pickle_and_clone(seed):
    A, B = make_views(seed)
    est = PWCCA().partial_fit(A[:250], B[:250])
    restored = pickle.loads(pickle.dumps(est))
    restored.partial_fit(A[250:], B[250:])
    np.testing.assert_allclose(restored.weights_, PWCCA().fit(A, B).weights_, rtol=1e-9)
    assert not hasattr(clone(est), "n_samples_seen_")


def test_partial_fit_checks_the_views(known_views):
    A, B = known_views
    est = SVCCA().partial_fit(A[:100], B[:100])
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(A[:10, :5], B[:10])
    with pytest.raises(ValueError, match="units"):
        est.partial_fit(A[:10], B[:10, :5])
    one = SVCCA().partial_fit(A[:1], B[:1])
    with pytest.raises(ValueError, match="at least 2 samples"):
        one.canonical_correlations_


# --------------------------------------------------------------------------
# Defects found with hostile input


@pytest.mark.parametrize(
    "est",
    [
        SVCCA(),
        PWCCA(),
        SparseLayerPredictor(),
        SparseLayerPredictorCV(cv=2),
    ],
)
def test_sparse_y_is_refused_clearly(known_views, est):
    A, B = known_views
    with pytest.raises(TypeError, match="sparse"):
        est.fit(A, scipy.sparse.csr_matrix(B))
    if hasattr(est, "partial_fit"):
        with pytest.raises(TypeError, match="sparse"):
            clone(est).partial_fit(A, scipy.sparse.csr_matrix(B))
    fitted = clone(est).fit(A, B)
    with pytest.raises(TypeError, match="sparse"):
        fitted.score(A, scipy.sparse.csr_matrix(B))


@pytest.mark.parametrize("value", [True, False])
def test_svd_components_refuses_bools(known_views, value):
    A, B = known_views
    with pytest.raises(ValueError, match="svd_components"):
        SVCCA(svd_components=value).fit(A, B)
    with pytest.raises(TypeError, match="svd_components"):
        n_directions_to_keep(np.ones(3), 3, value)


@pytest.mark.parametrize("decays", [[], np.array([]), [[0.1, 0.2]], "abc"])
def test_cv_names_bad_decays(known_views, decays):
    A, B = known_views
    with pytest.raises(ValueError, match="decays"):
        SparseLayerPredictorCV(decays=decays, cv=2).fit(A, B)


@pytest.mark.parametrize(
    "est", [SVCCA(), PWCCA(), SparseLayerPredictor(), SparseLayerPredictor(decay=0)]
)
def test_overflowing_data_refused_clearly(known_views, est):
    A, B = known_views
    for X, Y in ((A * 1e160, B), (A, B * 1e160)):
        with pytest.raises(ValueError, match="overflow"):
            clone(est).fit(X, Y)
        fitted = clone(est).fit(A, B)
        with pytest.raises(ValueError, match="overflow"):
            fitted.partial_fit(X, Y)


def test_scaled_data_below_overflow_gives_the_same_similarity(known_views):
    A, B = known_views
    assert svcca(A * 1e100, B) == pytest.approx(svcca(A, B), rel=1e-10)


def test_pwcca_warns_about_ties():
    rng = np.random.RandomState(0)
    A = rng.randn(400, 30)
    B = np.column_stack([A[:, :10], rng.randn(400, 25)])  # ten exact copies
    with pytest.warns(TiedCorrelationsWarning, match="tied") as record:
        PWCCA().fit(A, B)
    assert len(record) == 1
    # identical views tie every pair at 1: no ambiguity, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", TiedCorrelationsWarning)
        assert PWCCA().fit(A[:, :5], A[:, :5]).score(A[:, :5], A[:, :5]) == (
            pytest.approx(1.0)
        )


def test_tied_groups():
    assert tied_groups(np.array([1.0, 1.0, 0.5, 0.2, 0.2])) == (4, 3)
    assert tied_groups(np.array([0.9, 0.5])) == (0, 2)


def test_warnings_are_skrep_warnings_at_the_callers_line(known_views):
    A, B = known_views
    A = A.copy()
    A[:, 0] = 3.0
    with pytest.warns(DeadUnitWarning) as record:
        SVCCA().fit(A, B)
    assert issubclass(record[0].category, SkrepWarning)
    assert record[0].filename == __file__
    with pytest.warns(DeadUnitWarning) as record:
        SVCCA().partial_fit(A, B).transform(A)
    assert record[0].filename == __file__


def test_fit_cca_returns_the_moments(known_views):
    A, B = known_views
    for algorithm in ("moments", "svd"):
        result, moments = fit_cca(A, B, algorithm=algorithm)
        assert moments.n_samples == A.shape[0]
        np.testing.assert_allclose(moments.mean[: A.shape[1]], A.mean(0))


def test_dead_units_is_the_rule(seed):
    rng = np.random.RandomState(seed)
    X = np.column_stack(
        [rng.randn(50), np.zeros(50), 1e8 + 1e-3 * rng.randn(50), np.full(50, 7.0)]
    )
    from skrep import dead_units

    assert dead_units(X).tolist() == [False, True, False, True]
    assert dead_units(X).tolist() == Moments(4).update(X).constant.tolist()
    with pytest.raises(ValueError, match="NaN"):
        dead_units(np.full((3, 2), np.nan))


@pytest.mark.parametrize(
    "make",
    [
        lambda: SVCCA(),
        lambda: PWCCA(),
        lambda: UnitMatcher(),
        lambda: UnitMatcher(method="semi-matching"),
        lambda: CKA(),
        lambda: Procrustes(alpha=0.5),
    ],
)
def test_in_sample_score_from_the_fit_equals_score(seed, make):
    # streaming consumers read in-sample scores from the fit instead of the rows
    A, B = separated_views(seed, n_samples=400)
    est = make().fit(A, B)
    assert est._scores_from_fit
    assert est._in_sample_score() == pytest.approx(est.score(A, B), rel=1e-9)


def test_in_sample_score_needs_the_rows_by_default(known_views):
    A, B = known_views
    est = SparseLayerPredictor().fit(A, B)
    assert not est._scores_from_fit
    with pytest.raises(NotImplementedError, match="rows"):
        est._in_sample_score()
