"""SVCCA, PWCCA and the numerical core against the papers' definitions."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.linalg
from scipy.stats import ortho_group
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import make_views
from skrep import PWCCA, SVCCA, pwcca, svcca
from skrep._core.cca import MOMENTS_MIN_RATIO, cca_from_moments, fit_cca
from skrep._core.correlation import column_correlations
from skrep._core.moments import Moments
from skrep._core.spectral import n_directions_to_keep

# --------------------------------------------------------------------------
# Independent reference formulas (textbook CCA, the papers' PWCCA)


def reference_cca(X, Y):
    """Canonical correlations via Cxx^-1/2 Cxy Cyy^-1/2 (full-rank views)."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Cxx, Cyy, Cxy = Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc
    Wx = scipy.linalg.inv(scipy.linalg.sqrtm(Cxx).real)
    Wy = scipy.linalg.inv(scipy.linalg.sqrtm(Cyy).real)
    return scipy.linalg.svdvals(Wx @ Cxy @ Wy)


def reference_svcca(X, Y, share=0.99):
    """Raghu et al.: SVD-truncate each centred view, then QR-based CCA."""
    reduced = []
    for V in (X, Y):
        Vc = V - V.mean(0)
        U, s, _ = np.linalg.svd(Vc, full_matrices=False)
        k = int(np.argmax(np.cumsum(s**2) / np.sum(s**2) >= share)) + 1
        reduced.append(U[:, :k] * s[:k])
    Qx, _ = np.linalg.qr(reduced[0])
    Qy, _ = np.linalg.qr(reduced[1])
    return np.linalg.svd(Qx.T @ Qy, compute_uv=False)


def reference_pwcca(X, Y):
    """Morcos et al.: weights from |<h_i, x_j>| with unit-norm X variates."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Qx, _ = np.linalg.qr(Xc)
    Qy, _ = np.linalg.qr(Yc)
    A, rho, _ = np.linalg.svd(Qx.T @ Qy, full_matrices=False)
    H = Qx @ A  # unit-norm canonical variates of X, as columns
    alpha = np.abs(H.T @ Xc).sum(axis=1)
    return (alpha / alpha.sum()) @ rho


# --------------------------------------------------------------------------
# Known answers (the reference data set of the SVCCA/PWCCA tests)


@pytest.mark.parametrize("algorithm", ["auto", "moments", "svd"])
def test_known_answers(known_views, algorithm):
    A, B = known_views
    cca = SVCCA(svd_components=None, algorithm=algorithm).fit(A, B)
    assert cca.canonical_correlations_.mean() == pytest.approx(0.5837068148, abs=1e-6)
    assert cca.n_components_ == 20
    est = SVCCA(algorithm=algorithm).fit(A, B)
    assert (est.x_n_directions_, est.y_n_directions_) == (11, 17)
    assert est.canonical_correlations_.mean() == pytest.approx(0.9054428117, abs=1e-6)
    assert PWCCA(algorithm=algorithm).fit(A, B).score(A, B) == pytest.approx(
        0.9057587701, abs=1e-6
    )
    assert pwcca(B, A, algorithm=algorithm) == pytest.approx(0.9116873854, abs=1e-6)
    assert PWCCA(weights_from="y", algorithm=algorithm).fit(B, A).score(
        B, A
    ) == pytest.approx(0.9057587701, abs=1e-6)


def test_functions_match_estimators(known_views):
    A, B = known_views
    assert svcca(A, B) == pytest.approx(SVCCA().fit(A, B).score(A, B), abs=1e-12)
    assert pwcca(A, B) == pytest.approx(PWCCA().fit(A, B).score(A, B), abs=1e-12)
    assert isinstance(svcca(A, B), float) and isinstance(pwcca(A, B), float)


# --------------------------------------------------------------------------
# Against independent formulas, several seeds


def test_matches_textbook_cca(seed):
    A, B = make_views(seed, n_samples=300, n_x=8, n_y=12)
    for algorithm in ("moments", "svd"):
        est = SVCCA(svd_components=None, algorithm=algorithm).fit(A, B)
        np.testing.assert_allclose(
            est.canonical_correlations_, reference_cca(A, B)[:8], atol=1e-9
        )


def test_matches_reference_svcca_and_pwcca(seed):
    A, B = make_views(seed)
    rho = SVCCA(svd_components=0.99).fit(A, B).canonical_correlations_
    np.testing.assert_allclose(rho, reference_svcca(A, B), atol=1e-9)
    assert pwcca(A, B) == pytest.approx(reference_pwcca(A, B), abs=1e-9)
    assert pwcca(B, A) == pytest.approx(reference_pwcca(B, A), abs=1e-9)


def test_variates_are_canonical(seed):
    A, B = make_views(seed, n_samples=400)
    est = SVCCA(svd_components=None).fit(A, B)
    U, V = est.transform(A, B)
    m = est.n_components_
    np.testing.assert_allclose(U.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(U.T @ U / len(U), np.eye(m), atol=1e-8)
    np.testing.assert_allclose(V.T @ V / len(V), np.eye(m), atol=1e-8)
    np.testing.assert_allclose(
        U.T @ V / len(U), np.diag(est.canonical_correlations_), atol=1e-8
    )
    np.testing.assert_array_equal(est.transform(A), U)
    np.testing.assert_allclose(est.fit_transform(A, B), U)


# --------------------------------------------------------------------------
# Properties and invariances


def test_identical_views_and_invertible_maps(seed):
    rng = np.random.RandomState(seed)
    X = rng.randn(200, 6) @ rng.randn(6, 6)
    M = rng.randn(6, 6) + 3 * np.eye(6)  # invertible
    assert svcca(X, X) == pytest.approx(1.0, abs=1e-9)  # with the SVD step
    assert svcca(X, -2.5 * X + 7.0) == pytest.approx(1.0, abs=1e-9)
    for Y in (X, X @ M, -2.5 * X + 7.0):
        rho = SVCCA(svd_components=None).fit(X, Y).canonical_correlations_
        np.testing.assert_allclose(rho, 1.0, atol=1e-9)
        assert pwcca(X, Y) == pytest.approx(1.0, abs=1e-9)
        assert pwcca(Y, X) == pytest.approx(1.0, abs=1e-9)


def test_rotation_scaling_shift_invariance_with_svd_step(seed):
    A, B = make_views(seed)
    rng = np.random.RandomState(seed + 100)
    base = SVCCA().fit(A, B)
    Qa = ortho_group.rvs(A.shape[1], random_state=rng)
    Qb = ortho_group.rvs(B.shape[1], random_state=rng)
    A2 = 3.7 * A @ Qa + rng.randn(A.shape[1])
    B2 = 0.02 * B @ Qb - 5.0
    moved = SVCCA().fit(A2, B2)
    assert (moved.x_n_directions_, moved.y_n_directions_) == (
        base.x_n_directions_,
        base.y_n_directions_,
    )
    np.testing.assert_allclose(
        moved.canonical_correlations_, base.canonical_correlations_, atol=1e-9
    )
    # the same map applied to held-out data leaves the held-out score alone
    assert moved.score(A2[:100], B2[:100]) == pytest.approx(
        base.score(A[:100], B[:100]), abs=1e-9
    )


def test_pwcca_invariances(seed):
    A, B = make_views(seed)
    rng = np.random.RandomState(seed + 7)
    base = pwcca(A, B)
    M = rng.randn(B.shape[1], B.shape[1]) + 4 * np.eye(B.shape[1])
    assert pwcca(A, B @ M + 3.0) == pytest.approx(base, abs=1e-9)
    assert pwcca(-0.3 * A + rng.randn(A.shape[1]), B) == pytest.approx(base, abs=1e-9)
    assert pwcca(A[:, ::-1], B) == pytest.approx(base, abs=1e-9)
    # the weights sum |<h_i, x_j>| over X's units: a rotation of X's units
    # changes them (the paper's definition is not rotation invariant in X)
    Q = ortho_group.rvs(A.shape[1], random_state=rng)
    assert pwcca(A @ Q, B) != pytest.approx(base, abs=1e-6)
    # nor is it invariant to per-unit scaling of X (only to one factor)
    factors = rng.uniform(0.2, 5.0, A.shape[1])
    assert pwcca(A * factors, B) != pytest.approx(base, abs=1e-6)


def test_unit_and_sample_permutation_invariance(seed):
    A, B = make_views(seed)
    rng = np.random.RandomState(seed)
    rows = rng.permutation(len(A))
    cols_a, cols_b = rng.permutation(A.shape[1]), rng.permutation(B.shape[1])
    for est in (SVCCA(), PWCCA()):
        base = clone(est).fit(A, B).score(A, B)
        perm = clone(est).fit(A[rows][:, cols_a], B[rows][:, cols_b])
        assert perm.score(A[:, cols_a], B[:, cols_b]) == pytest.approx(base, abs=1e-9)


def test_independent_views_near_zero(seed):
    rng = np.random.RandomState(seed)
    X, Y = rng.randn(20000, 5), rng.randn(20000, 7)
    rho = SVCCA(svd_components=None).fit(X, Y).canonical_correlations_
    # (sqrt(5) + sqrt(7)) / sqrt(20000) ~ 0.035 bounds the largest by theory
    assert rho.max() < 0.05
    assert svcca(X, Y, svd_components=None) < 0.03
    assert pwcca(X, Y) < 0.03


# 30 + 30 units on 60 rows: the in-sample bias is the point here, not news
@pytest.mark.filterwarnings("ignore::skrep.exceptions.InSampleBiasWarning")
def test_held_out_below_in_sample(seed):
    A, B = make_views(seed, n_samples=120, n_x=30, n_y=30, noise=2.0)
    for est in (SVCCA(), PWCCA()):
        est.fit(A[:60], B[:60])
        in_sample = est.score(A[:60], B[:60])
        held_out = est.score(A[60:], B[60:])
        assert held_out < in_sample - 0.1


def test_pwcca_held_out_weights_recomputed(seed):
    A, B = make_views(seed)
    est = PWCCA().fit(A[:300], B[:300])
    assert est.score(A[:300], B[:300]) == pytest.approx(
        est.weights_ @ est.canonical_correlations_, abs=1e-12
    )
    U, V = est.transform(A[300:], B[300:])
    Xc = A[300:] - A[300:].mean(0)
    H = U - U.mean(0)
    H /= np.linalg.norm(H, axis=0)
    alpha = np.abs(H.T @ Xc).sum(1)
    corr = [np.corrcoef(U[:, i], V[:, i])[0, 1] for i in range(U.shape[1])]
    expected = (alpha / alpha.sum()) @ corr
    assert est.score(A[300:], B[300:]) == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------
# Parameters


def test_svd_components_semantics(known_views):
    A, B = known_views
    s = np.linalg.svd(A - A.mean(0), compute_uv=False)
    share = np.cumsum(s**2) / np.sum(s**2)
    for value in (0.5, 0.9, 0.99, 0.999):
        expected = int(np.sum(share < value)) + 1
        assert SVCCA(svd_components=value).fit(A, B).x_n_directions_ == expected
    assert SVCCA(svd_components=7).fit(A, B).x_n_directions_ == 7
    assert SVCCA(svd_components=25).fit(A, B).x_n_directions_ == 20
    full = SVCCA(svd_components=None).fit(A, B).canonical_correlations_
    one = SVCCA(svd_components=1.0).fit(A, B).canonical_correlations_
    np.testing.assert_allclose(full, one)
    assert n_directions_to_keep(np.array([3.0, 2.0, 1.0]), 3, 0.999999) == 3


def test_n_components_caps_pairs(known_views):
    A, B = known_views
    full = SVCCA().fit(A, B)
    est = SVCCA(n_components=4).fit(A, B)
    assert est.n_components_ == 4
    assert est.transform(A).shape == (500, 4)
    np.testing.assert_allclose(
        est.canonical_correlations_, full.canonical_correlations_[:4]
    )
    assert list(est.get_feature_names_out()) == [f"svcca{i}" for i in range(4)]


@pytest.mark.parametrize(
    "params",
    [
        {"svd_components": 0},
        {"svd_components": 1.5},
        {"svd_components": -0.2},
        {"svd_components": "all"},
        {"n_components": 0},
        {"rank_tol": -1e-3},
        {"algorithm": "qr"},
    ],
)
def test_bad_parameters(known_views, params):
    A, B = known_views
    with pytest.raises(ValueError):
        SVCCA(**params).fit(A, B)
    with pytest.raises(ValueError):
        PWCCA(**params).fit(A, B)
    with pytest.raises(ValueError, match="weights_from"):
        PWCCA(weights_from="z").fit(A, B)


# --------------------------------------------------------------------------
# Bad input


def test_bad_input_messages(known_views):
    A, B = known_views
    bad = A.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SVCCA().fit(bad, B)
    with pytest.raises(ValueError, match="NaN"):
        SVCCA().fit(A, np.where(B > 3, np.nan, B))
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        SVCCA().fit(bad, B)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SVCCA().fit(A, B[:-1])
    with pytest.raises(ValueError, match="2D array"):
        SVCCA().fit(A[:, 0], B)
    with pytest.raises(ValueError, match="0 sample"):
        SVCCA().fit(A[:0], B[:0])
    with pytest.raises(ValueError, match="0 feature"):
        SVCCA().fit(A[:, :0], B)
    est = SVCCA().fit(A, B)
    with pytest.raises(ValueError, match="different numbers of rows"):
        est.score(A, B[:-1])
    with pytest.raises(ValueError, match="units"):
        est.score(A, B[:, :5])
    with pytest.raises(ValueError, match="features"):
        est.transform(A[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        est.score(A, np.full_like(B, np.nan))


def test_caller_arrays_untouched(known_views):
    A, B = known_views
    A32 = A.astype(np.float32)
    copies = A.copy(), B.copy(), A32.copy()
    for est in (SVCCA(), PWCCA(algorithm="svd")):
        est.fit(A, B).score(A, B)
        est.fit(A32, B).transform(A32, B)
    np.testing.assert_array_equal(A, copies[0])
    np.testing.assert_array_equal(B, copies[1])
    np.testing.assert_array_equal(A32, copies[2])


# --------------------------------------------------------------------------
# Real-activation hazards


def test_dead_units_dropped_with_warning(known_views):
    A, B = known_views
    relu_dead = np.hstack([A, np.zeros((500, 3)), np.full((500, 1), 0.7)])
    for algorithm in ("moments", "svd"):
        with pytest.warns(UserWarning, match="constant \\(dead\\)") as record:
            est = SVCCA(svd_components=None, algorithm=algorithm).fit(relu_dead, B)
        assert len([w for w in record if "dead" in str(w.message)]) == 1
        assert est.x_rank_ == 20
        assert list(est.n_dropped_units_) == [4, 0]
        np.testing.assert_allclose(
            est.canonical_correlations_,
            SVCCA(svd_components=None).fit(A, B).canonical_correlations_,
            atol=1e-9,
        )
        assert np.all(np.isfinite(est.x_rotations_))
        assert np.isfinite(est.score(relu_dead, B))


def test_duplicate_units_dropped(known_views):
    A, B = known_views
    dup = np.hstack([A, A[:, :4], 2 * A[:, 5:6]])
    for est in (SVCCA(svd_components=None), PWCCA()):
        with pytest.warns(UserWarning, match="duplicate"):
            clone(est).fit(dup, B)
    est = SVCCA(svd_components=None).fit(A, B)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est_dup = SVCCA(svd_components=None).fit(dup, B)
        score_dup = pwcca(dup, B)
    assert est_dup.n_components_ == 20
    np.testing.assert_allclose(
        est_dup.canonical_correlations_, est.canonical_correlations_, atol=1e-8
    )
    # duplicated units pull PWCCA weights towards what they carry, but the
    # similarity stays a finite weighted mean of the same correlations
    assert 0.0 < score_dup < 1.0


def test_all_dead_view_is_an_error(known_views):
    A, _ = known_views
    with pytest.raises(ValueError, match="constant \\(dead\\)"):
        SVCCA().fit(A, np.ones((500, 4)))


def test_more_units_than_samples(seed):
    rng = np.random.RandomState(seed)
    Z = rng.randn(100, 5)
    X = Z @ rng.randn(5, 150) + rng.randn(100, 150)
    Y = Z @ rng.randn(5, 120) + rng.randn(100, 120)
    with pytest.warns(UserWarning, match="More units than samples"):
        est = SVCCA(svd_components=None).fit(X[:60], Y[:60])
    assert est.algorithm_ == "svd"
    assert est.x_rank_ == 59 and est.y_rank_ == 59
    # in-sample: trivially 1; held-out: the latent structure, well below 1
    assert est.canonical_correlations_.mean() == pytest.approx(1.0, abs=1e-8)
    held_out = est.score(X[60:], Y[60:])
    assert np.isfinite(held_out) and held_out < 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 5 + 5 directions < 59: no warning
        truncated = SVCCA(svd_components=5).fit(X[:60], Y[:60])
    assert truncated.score(X[60:], Y[60:]) > 0.5


def test_float32_accumulates_in_float64(known_views):
    A, B = known_views
    A32, B32 = A.astype(np.float32), B.astype(np.float32)
    ref = SVCCA(svd_components=None, algorithm="svd").fit(
        A32.astype(np.float64), B32.astype(np.float64)
    )
    est = SVCCA(svd_components=None).fit(A32, B32)
    assert est.x_rotations_.dtype == np.float64
    np.testing.assert_allclose(
        est.canonical_correlations_, ref.canonical_correlations_, atol=1e-10
    )


def test_large_means_do_not_cost_digits(seed):
    A, B = make_views(seed)
    ref = SVCCA(svd_components=None).fit(A, B).canonical_correlations_
    shifted = SVCCA(svd_components=None, algorithm="moments").fit(A + 1e6, B - 3e5)
    np.testing.assert_allclose(shifted.canonical_correlations_, ref, atol=1e-7)


def test_ill_conditioned_falls_back_to_svd(seed):
    A, B = make_views(seed)
    A = A.copy()
    A[:, 0] = A[:, 1] + 1e-4 * np.random.RandomState(seed).randn(len(A))
    est = SVCCA(svd_components=None).fit(A, B)
    assert est.algorithm_ == "svd"
    ref = SVCCA(svd_components=None, algorithm="svd").fit(A, B)
    np.testing.assert_allclose(
        est.canonical_correlations_, ref.canonical_correlations_, atol=1e-12
    )
    well = SVCCA(svd_components=None).fit(*make_views(seed))
    assert well.algorithm_ == "moments"
    assert well.x_singular_values_[-1] > MOMENTS_MIN_RATIO * well.x_singular_values_[0]


def test_huge_n_small_d():
    rng = np.random.RandomState(0)
    z = rng.randn(300_000, 2)
    X = np.hstack([z, rng.randn(300_000, 1)])
    Y = np.hstack([z @ [[1.0, 1.0], [1.0, -1.0]], rng.randn(300_000, 1)])
    est = SVCCA(svd_components=None).fit(X, Y)
    np.testing.assert_allclose(est.canonical_correlations_[:2], 1.0, atol=1e-12)
    assert est.canonical_correlations_[2] < 0.01


def test_one_dimensional_y(known_views):
    A, B = known_views
    est = SVCCA(svd_components=None).fit(A, B[:, 0])
    assert est.n_components_ == 1
    design = np.c_[A, np.ones(len(A))]
    fitted = design @ np.linalg.lstsq(design, B[:, 0], rcond=None)[0]
    r2 = 1 - np.var(B[:, 0] - fitted) / np.var(B[:, 0])
    # the first canonical correlation with one unit is the multiple correlation
    assert est.canonical_correlations_[0] == pytest.approx(np.sqrt(r2), abs=1e-9)
    assert est.score(A, B[:, 0]) == pytest.approx(np.sqrt(r2), abs=1e-9)


def test_constant_variates_on_held_out_data_score_zero(known_views):
    A, B = known_views
    est = SVCCA(n_components=2).fit(A, B)
    with pytest.warns(UserWarning, match="constant"):
        score = est.score(np.tile(A[:1], (5, 1)), B[:5])
    assert score == 0.0


# --------------------------------------------------------------------------
# Numerical core


def test_moments_streaming_equals_one_pass(seed):
    A, B = make_views(seed)
    stream = Moments(A.shape[1], B.shape[1])
    for start in range(0, 500, 77):
        stream.update(A[start : start + 77] + 50.0, B[start : start + 77])
    mean_x, mean_y, cxx, cyy, cxy = stream.covariances()
    Ac, Bc = A - A.mean(0), B - B.mean(0)
    np.testing.assert_allclose(mean_x, A.mean(0) + 50.0)
    np.testing.assert_allclose(cxx, Ac.T @ Ac, atol=1e-8)
    np.testing.assert_allclose(cxy, Ac.T @ Bc, atol=1e-8)
    np.testing.assert_allclose(cyy, Bc.T @ Bc, atol=1e-8)
    result = cca_from_moments(stream, x_components=0.99, y_components=0.99)
    direct, _ = fit_cca(A, B, x_components=0.99, y_components=0.99)
    np.testing.assert_allclose(result.correlations, direct.correlations, atol=1e-10)


def test_column_correlations_constant_is_zero():
    U = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]])
    V = np.array([[2.0, 1.0], [4.0, 0.0], [6.0, 5.0]])
    corr, constant = column_correlations(U, V)
    np.testing.assert_allclose(corr, [1.0, 0.0], atol=1e-15)
    assert constant.tolist() == [False, True]


# --------------------------------------------------------------------------
# scikit-learn citizenship


def test_pipeline_grid_search_cross_val(known_views):
    A, B = known_views
    pipe = make_pipeline(StandardScaler(), SVCCA())
    pipe.fit(A, B)
    # per-unit scaling is an invertible linear map: plain CCA ignores it
    assert make_pipeline(StandardScaler(), SVCCA(svd_components=None)).fit(A, B).score(
        A, B
    ) == pytest.approx(svcca(A, B, svd_components=None), abs=1e-9)
    grid = GridSearchCV(
        SVCCA(), {"svd_components": [0.5, 0.9, 0.99, None]}, cv=KFold(3)
    ).fit(A, B)
    assert grid.best_params_["svd_components"] in (0.5, 0.9, 0.99, None)
    scores = cross_val_score(PWCCA(), A, B, cv=KFold(5))
    assert scores.shape == (5,) and np.all((scores > 0.5) & (scores <= 1))
    # held-out scores stay below the in-sample one
    assert scores.mean() < pwcca(A, B)


def test_clone_and_pickle(known_views):
    A, B = known_views
    for est in (SVCCA(svd_components=5, n_components=3), PWCCA(weights_from="y")):
        est.fit(A, B)
        restored = pickle.loads(pickle.dumps(est))
        assert restored.score(A, B) == est.score(A, B)
        fresh = clone(est)
        assert fresh.get_params() == est.get_params()
        assert not hasattr(fresh, "canonical_correlations_")


def test_import_does_not_import_torch():
    code = "import sys, skrep; assert 'torch' not in sys.modules; print('ok')"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "ok"
