"""The generalised shape metric against independent formulas and its promises."""

import warnings

import numpy as np
import pytest
import scipy.linalg
from scipy.stats import ortho_group
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.utils._param_validation import InvalidParameterError

from conftest import make_views
from skrep import SVCCA, compare_layers
from skrep._core.cca import MOMENTS_MIN_RATIO
from skrep._core.moments import Moments
from skrep._core.procrustes import fit_shape_metric, shape_from_moments
from skrep._procrustes import Procrustes
from skrep.exceptions import DeadUnitWarning, InSampleBiasWarning, PrecisionWarning

ALPHAS = [0.0, 0.5, 1.0]

# --------------------------------------------------------------------------
# Independent reference formulas


def _pad(A, width):
    return np.hstack([A, np.zeros((A.shape[0], width - A.shape[1]))])


def _aligned_cosine(A, B):
    """cos of the angle after the best orthogonal map, by scipy's Procrustes."""
    width = max(A.shape[1], B.shape[1])
    A, B = _pad(A, width), _pad(B, width)
    R, _ = scipy.linalg.orthogonal_procrustes(A, B)
    return np.sum((A @ R) * B) / (np.linalg.norm(A) * np.linalg.norm(B))


def direct_phi(V, alpha, rank_tol=1e-6):
    """phi_alpha(V) written out: centre, covariance, matrix power by eigh.

    phi = Vc (alpha / mean_sd * P + (1 - alpha) * C^(-1/2)), with P the
    projector on the non-null eigenvectors of C = Vc^T Vc / n and mean_sd the
    root mean of C's non-null eigenvalues.
    """
    Vc = V - V.mean(axis=0)
    lam, E = np.linalg.eigh(Vc.T @ Vc / len(V))
    keep = lam > rank_tol**2 * lam.max()
    lam, E = lam[keep], E[:, keep]
    mean_sd = np.sqrt(lam.mean())
    projector = E @ E.T
    inverse_sqrt = E @ np.diag(lam**-0.5) @ E.T
    return Vc @ (alpha / mean_sd * projector + (1 - alpha) * inverse_sqrt)


def direct_similarity(X, Y, alpha):
    return _aligned_cosine(direct_phi(X, alpha), direct_phi(Y, alpha))


def direct_phi_from_svd(V, alpha, rank_tol=1e-6):
    """phi_alpha(V) from the SVD of the centred view (accurate when ill-posed).

    With Vc = U S E^T and sd = S / sqrt(n): phi = U diag(S w) E^T with
    w = alpha / mean_sd + (1 - alpha) / sd, over the non-null directions.
    """
    Vc = V - V.mean(axis=0)
    U, S, Et = np.linalg.svd(Vc, full_matrices=False)
    keep = S > rank_tol * S[0]
    U, S, Et = U[:, keep], S[keep], Et[keep]
    sd = S / np.sqrt(len(V))
    weights = alpha / np.sqrt(np.mean(sd**2)) + (1 - alpha) / sd
    return (U * (S * weights)) @ Et


def netrep_style_similarity(X, Y, alpha):
    """netrep's convention: zero-pad, centre, Z = a I + (1 - a) (Vc^T Vc)^(-1/2).

    (Eigenvalues of the raw cross-product floored at 1e-7; the rescaling that
    preserves the total variance is one factor and drops out of the angle.)
    """
    width = max(X.shape[1], Y.shape[1])
    whitened = []
    for V in (_pad(X, width), _pad(Y, width)):
        Vc = V - V.mean(axis=0)
        lam, E = np.linalg.eigh(Vc.T @ Vc)
        lam = np.maximum(lam, 1e-7)
        whitened.append(Vc @ (E * (alpha + (1 - alpha) / np.sqrt(lam))) @ E.T)
    return _aligned_cosine(*whitened)


def shared_views(seed, n=200, n_x=6, n_y=9, n_latent=4, noise=0.7):
    rng = np.random.RandomState(seed)
    Z = rng.randn(n, n_latent)
    X = Z @ rng.randn(n_latent, n_x) + noise * rng.randn(n, n_x) + rng.randn(n_x)
    Y = Z @ rng.randn(n_latent, n_y) + noise * rng.randn(n, n_y) - 2.0
    return X, Y


def fitted_distance(X, Y, alpha):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return Procrustes(alpha=alpha).fit(X, Y).distance(X, Y)


# --------------------------------------------------------------------------
# The definition


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("widths", [(6, 9), (9, 6), (7, 7)])
@pytest.mark.parametrize("algorithm", ["auto", "moments", "svd"])
def test_matches_direct_implementation(alpha, widths, algorithm, seed):
    X, Y = shared_views(seed, n_x=widths[0], n_y=widths[1])
    est = Procrustes(alpha=alpha, algorithm=algorithm).fit(X, Y)
    expected = direct_similarity(X, Y, alpha)
    assert est.similarity_ == pytest.approx(expected, abs=1e-10)
    assert est.score(X, Y) == pytest.approx(expected, abs=1e-10)
    assert est.distance(X, Y) == pytest.approx(np.arccos(expected), abs=1e-8)
    assert est.distance_ == pytest.approx(np.arccos(expected), abs=1e-8)
    assert est.alignment_singular_values_.sum() == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_transform_is_the_aligned_whitened_view(alpha, seed):
    X, Y = shared_views(seed, n_x=7, n_y=7)
    est = Procrustes(alpha=alpha).fit(X, Y)
    A, B = direct_phi(X, alpha), direct_phi(Y, alpha)
    R, _ = scipy.linalg.orthogonal_procrustes(A, B)
    X_aligned, Y_whitened = est.transform(X, Y)
    np.testing.assert_allclose(X_aligned, A @ R, atol=1e-9)
    np.testing.assert_allclose(Y_whitened, B, atol=1e-9)
    np.testing.assert_allclose(est.transform(X), X_aligned)
    np.testing.assert_allclose(est.alignment_.T @ est.alignment_, np.eye(7), atol=1e-9)
    assert est.get_feature_names_out().tolist() == [f"procrustes{i}" for i in range(7)]


@pytest.mark.parametrize("widths", [(6, 9), (9, 6)])
def test_transform_of_different_widths(widths):
    X, Y = shared_views(0, n_x=widths[0], n_y=widths[1])
    est = Procrustes(alpha=0.5).fit(X, Y)
    X_aligned, Y_whitened = est.transform(X, Y)
    assert X_aligned.shape == Y_whitened.shape == (200, widths[1])
    inner = np.sum(X_aligned * Y_whitened)
    # the score divides by all of phi(X), as the zero-padded problem does
    phi_x = (X - est.x_mean_) @ est.x_whitening_
    assert est.score(X, Y) == pytest.approx(
        inner / (np.linalg.norm(phi_x) * np.linalg.norm(Y_whitened)), abs=1e-12
    )
    if widths[0] <= widths[1]:  # Q keeps all of phi(X)
        np.testing.assert_allclose(np.linalg.norm(X_aligned), np.linalg.norm(phi_x))


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("widths", [(6, 9), (7, 7)])
def test_matches_netrep_convention_at_the_ends(alpha, widths, seed):
    X, Y = shared_views(seed, n_x=widths[0], n_y=widths[1])
    est = Procrustes(alpha=alpha).fit(X, Y)
    assert est.similarity_ == pytest.approx(
        netrep_style_similarity(X, Y, alpha), abs=1e-9
    )


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75])
def test_matches_netrep_convention_at_unit_mean_square(alpha, seed):
    # netrep mixes on the raw cross-product X^T X; skrep at unit mean
    # variance: the two agree once each view is scaled to ||Xc||_F^2 = rank
    X, Y = shared_views(seed)
    est = Procrustes(alpha=alpha).fit(X, Y)

    def unit_mean_square(V):
        Vc = V - V.mean(axis=0)
        return V * np.sqrt(V.shape[1]) / np.linalg.norm(Vc)

    netrep = netrep_style_similarity(unit_mean_square(X), unit_mean_square(Y), alpha)
    assert est.similarity_ == pytest.approx(netrep, abs=1e-9)
    # and netrep's own value moves with the scale of the data, which is why
    # skrep normalises before mixing
    assert abs(netrep_style_similarity(30 * X, Y, alpha) - netrep) > 1e-3


def test_alpha_keeps_its_meaning_at_any_scale_and_sample_size():
    X, Y = shared_views(1)
    X, Y = X / 40, Y / 40
    est = Procrustes(alpha=0.5).fit(X, Y)
    copies = Procrustes(alpha=0.5).fit(np.vstack([X] * 16), np.vstack([Y] * 16))
    scaled = Procrustes(alpha=0.5).fit(1e4 * X, 1e-3 * Y)
    assert copies.similarity_ == pytest.approx(est.similarity_, abs=1e-12)
    assert scaled.similarity_ == pytest.approx(est.similarity_, abs=1e-12)
    # netrep's convention reads the same rows 16 times as another metric,
    # drifting towards Procrustes (alpha=1)
    netrep = netrep_style_similarity(X, Y, 0.5)
    netrep_copies = netrep_style_similarity(
        np.vstack([X] * 16), np.vstack([Y] * 16), 0.5
    )
    procrustes = netrep_style_similarity(X, Y, 1.0)
    assert abs(netrep_copies - netrep) > 0.03
    assert abs(netrep_copies - procrustes) < abs(netrep - procrustes)


@pytest.mark.parametrize("widths", [(6, 9), (9, 6), (8, 8)])
def test_alpha_zero_is_cca(widths, seed):
    X, Y = shared_views(seed, n_x=widths[0], n_y=widths[1])
    cca = SVCCA(svd_components=None).fit(X, Y)
    est = Procrustes(alpha=0.0).fit(X, Y)
    expected = cca.canonical_correlations_.sum() / np.sqrt(cca.x_rank_ * cca.y_rank_)
    assert est.similarity_ == pytest.approx(expected, abs=1e-10)
    rho = cca.canonical_correlations_ / np.sqrt(cca.x_rank_ * cca.y_rank_)
    np.testing.assert_allclose(est.alignment_singular_values_, rho, atol=1e-10)
    if widths[0] == widths[1]:  # equal ranks: the mean canonical correlation
        assert est.similarity_ == pytest.approx(cca.score(X, Y), abs=1e-10)


def test_alpha_zero_is_cca_on_rank_deficient_views(seed):
    X, Y = shared_views(seed, n_x=6, n_y=9)
    X = np.hstack([X, np.zeros((200, 2)), X[:, :2] @ [[1.0], [-2.0]]])
    Y = np.hstack([Y, np.full((200, 1), 3.5)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cca = SVCCA(svd_components=None).fit(X, Y)
        est = Procrustes(alpha=0.0).fit(X, Y)
    assert (est.x_rank_, est.y_rank_) == (cca.x_rank_, cca.y_rank_) == (6, 9)
    expected = cca.canonical_correlations_.sum() / np.sqrt(6 * 9)
    assert est.similarity_ == pytest.approx(expected, abs=1e-10)


def test_alpha_one_is_orthogonal_procrustes(seed):
    X, Y = shared_views(seed)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    nuclear = np.linalg.norm(Xc.T @ Yc, ord="nuc")
    expected = nuclear / (np.linalg.norm(Xc) * np.linalg.norm(Yc))
    assert Procrustes().fit(X, Y).similarity_ == pytest.approx(expected, abs=1e-12)


def test_principal_angles(seed):
    # views with orthonormal centred columns: the mean cosine of the
    # principal angles, at every alpha (they are already white)
    rng = np.random.RandomState(seed)
    columns = rng.randn(100, 17)
    columns[:, 0] = 1.0
    basis = np.linalg.qr(columns)[0][:, 1:]  # orthonormal, orthogonal to ones
    X = basis[:, :8] @ ortho_group.rvs(8, random_state=rng)
    Y = (basis[:, :8] + 0.3 * basis[:, 8:16]) @ rng.randn(8, 8)
    Y = np.linalg.qr(Y - Y.mean(0))[0]
    cosines = np.linalg.svd(X.T @ Y, compute_uv=False)
    for alpha in ALPHAS:
        similarity = Procrustes(alpha=alpha).fit(X, Y).similarity_
        assert similarity == pytest.approx(cosines.mean(), abs=1e-10)


# --------------------------------------------------------------------------
# A metric


def _triples(n_triples, seed):
    """Random triples (X, Y, M), n=40 rows, 3-9 units each, of three kinds.

    Independent views; views near one another (one code, mixed and
    perturbed); and views on a line, ``X``, ``M = X + s E``, ``Y = X + E``,
    where the inequality is close to an equality.
    """
    rng = np.random.RandomState(seed)
    for i in range(n_triples):
        n = 40
        widths = rng.randint(3, 10, size=3)
        if i % 3 == 2:
            width = widths[0]
            X = rng.randn(n, width) @ rng.randn(width, width)
            E = rng.uniform(0.1, 2.0) * rng.randn(n, width)
            yield X, X + E, X + rng.uniform(0.2, 0.8) * E
            continue
        base = rng.randn(n, 5)
        views = []
        for width in widths:
            if i % 3 == 1:
                code = base @ rng.randn(5, width)
                view = code + rng.uniform(0.05, 1.0) * rng.randn(n, width)
            else:
                view = rng.randn(n, width) @ rng.randn(width, width)
            views.append(view + rng.randn(width))
        yield views


@pytest.mark.parametrize("alpha", ALPHAS)
def test_triangle_inequality(alpha):
    worst, squared_violated = 0.0, False
    for X, Y, M in _triples(60, seed=int(alpha * 10)):
        d_xy = fitted_distance(X, Y, alpha)
        d_xm = fitted_distance(X, M, alpha)
        d_my = fitted_distance(M, Y, alpha)
        assert d_xy <= d_xm + d_my + 1e-10
        worst = max(worst, d_xy / (d_xm + d_my))
        # 1 - cos, which is not a metric, breaks it on the same triples
        one_minus_cos = [1 - np.cos(d) for d in (d_xy, d_xm, d_my)]
        squared_violated |= one_minus_cos[0] > one_minus_cos[1] + one_minus_cos[2]
    # the triples come close to equality: the check has teeth
    assert worst > 0.99
    assert squared_violated


@pytest.mark.parametrize("alpha", ALPHAS)
def test_symmetry_and_identity(alpha, seed):
    X, Y = shared_views(seed)
    assert fitted_distance(X, Y, alpha) == pytest.approx(
        fitted_distance(Y, X, alpha), abs=1e-10
    )
    assert fitted_distance(X, X, alpha) == pytest.approx(0.0, abs=1e-7)
    assert fitted_distance(X, Y, alpha) > 0.1
    est = Procrustes(alpha=alpha).fit(X, X)
    assert est.score(X, X) == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------
# Invariances with ground truth


@pytest.mark.parametrize("alpha", ALPHAS)
def test_similarity_transforms_give_distance_zero(alpha, seed):
    rng = np.random.RandomState(seed)
    X, _ = shared_views(seed, n_x=7)
    R = ortho_group.rvs(7, random_state=rng)
    for Y in (
        3.7 * X @ R + rng.randn(7),
        X[:, rng.permutation(7)] - 5.0,
        0.01 * X,
        -X,
    ):
        assert fitted_distance(X, Y, alpha) == pytest.approx(0.0, abs=1e-7)
        assert fitted_distance(Y, X, alpha) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_invariances_hold_against_a_third_view(alpha, seed):
    rng = np.random.RandomState(seed)
    X, Y = shared_views(seed)
    reference = fitted_distance(X, Y, alpha)
    R = ortho_group.rvs(6, random_state=rng)
    for mapped in (X @ R, 0.2 * X + 7.0, X[:, ::-1]):
        assert fitted_distance(mapped, Y, alpha) == pytest.approx(reference, abs=1e-9)


def test_linear_maps_only_at_alpha_zero(seed):
    rng = np.random.RandomState(seed)
    X, Y = shared_views(seed)
    A = rng.randn(6, 6)
    per_unit = 10.0 ** rng.uniform(-1, 1, size=6)
    for mapped in (X @ A, X * per_unit):
        assert fitted_distance(mapped, X, 0.0) == pytest.approx(0.0, abs=1e-7)
        assert fitted_distance(mapped, Y, 0.0) == pytest.approx(
            fitted_distance(X, Y, 0.0), abs=1e-9
        )
        for alpha in (0.5, 1.0):
            assert fitted_distance(mapped, X, alpha) > 0.05
    # the distance to a linear map of X grows with alpha (less is forgiven)
    distances = [fitted_distance(X @ A, X, alpha) for alpha in (0.0, 0.5, 1.0)]
    assert distances[0] < distances[1] < distances[2]


# --------------------------------------------------------------------------
# Held-out scoring, streaming, the sklearn contract


@pytest.mark.parametrize("alpha", ALPHAS)
def test_held_out_below_in_sample(alpha):
    gaps = []
    for seed in range(4):
        X, Y = make_views(seed, n_samples=120, n_latent=3, n_x=15, n_y=15, noise=2.0)
        est = Procrustes(alpha=alpha).fit(X[:60], Y[:60])
        gaps.append(est.score(X[:60], Y[:60]) - est.score(X[60:], Y[60:]))
        assert est.distance(X[60:], Y[60:]) > est.distance_
    assert min(gaps) > 0


def test_held_out_score_can_be_negative():
    X, Y = shared_views(0)
    est = Procrustes().fit(X, Y)
    # Y reflected through its fitted mean: phi(Y) changes sign
    reflected = 2 * est.y_mean_ - Y
    assert est.score(X, reflected) == pytest.approx(-est.similarity_, abs=1e-12)
    assert est.distance(X, reflected) == pytest.approx(np.pi - est.distance_, abs=1e-9)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_partial_fit_equals_fit(alpha, seed):
    X, Y = shared_views(seed, n=300)
    X, Y = X + 40.0, 3.0 * Y  # means far from zero, as after a ReLU
    full = Procrustes(alpha=alpha).fit(X, Y)
    streamed = Procrustes(alpha=alpha)
    rng = np.random.RandomState(seed)
    cuts = np.sort(rng.choice(np.arange(1, 300), 6, replace=False))
    for rows in np.split(rng.permutation(300), cuts):
        streamed.partial_fit(X[rows], Y[rows])
    assert streamed.algorithm_ == "moments"
    for name in ("similarity_", "x_whitening_", "y_whitening_", "alignment_"):
        np.testing.assert_allclose(
            getattr(streamed, name), getattr(full, name), atol=1e-10, rtol=0
        )
    np.testing.assert_allclose(streamed.transform(X), full.transform(X), atol=1e-9)
    # two workers' moments merge into the same fit
    left = Moments(6, 9).update(X[:120], Y[:120])
    right = Moments(6, 9).update(X[120:], Y[120:])
    merged = shape_from_moments(left + right, alpha=alpha, rank_tol=1e-6)
    assert merged.similarity == pytest.approx(full.similarity_, abs=1e-12)


def test_compare_layers():
    rng = np.random.RandomState(0)
    x = rng.randn(300, 6)
    net = {
        "a": x,
        "b": 2.0 * x @ ortho_group.rvs(6, random_state=1) + 1.0,
        "c": np.tanh(x @ rng.randn(6, 4)),
    }
    grid = compare_layers(net, estimator=Procrustes())
    np.testing.assert_allclose(np.diag(grid.scores), 1.0, atol=1e-12)
    assert grid.scores[0, 1] == pytest.approx(1.0, abs=1e-12)
    assert 0.0 < grid.scores[0, 2] < 1.0
    np.testing.assert_allclose(grid.scores, grid.scores.T, atol=1e-12)
    train = {name: acts[:200] for name, acts in net.items()}
    test = {name: acts[200:] for name, acts in net.items()}
    held_out = compare_layers(train, estimator=Procrustes(0.5), test=(test, None))
    assert np.all(np.isfinite(held_out.scores))
    cv = compare_layers(net, estimator=Procrustes(), cv=KFold(3))
    assert cv.scores[0, 1] == pytest.approx(1.0, abs=1e-9)


def test_grid_search_and_clone():
    X, Y = shared_views(0)
    scores = cross_val_score(Procrustes(alpha=0.5), X, Y, cv=KFold(4))
    assert np.all((scores > 0) & (scores < 1))
    search = GridSearchCV(Procrustes(), {"alpha": [0.0, 0.5, 1.0]}, cv=KFold(3))
    search.fit(X, Y)
    assert search.best_params_["alpha"] in (0.0, 0.5, 1.0)
    est = clone(Procrustes(alpha=0.3, rank_tol=1e-8))
    assert est.get_params() == {"alpha": 0.3, "rank_tol": 1e-8, "algorithm": "auto"}


@pytest.mark.parametrize(
    "params",
    [
        {"alpha": 1.5},
        {"alpha": -0.1},
        {"alpha": "cca"},
        {"rank_tol": 1.0},
        {"algorithm": "qr"},
    ],
)
def test_bad_parameters(params):
    X, Y = shared_views(0)
    with pytest.raises(InvalidParameterError):
        Procrustes(**params).fit(X, Y)


def test_tags():
    for alpha in (0.5, 1.0):
        tags = Procrustes(alpha=alpha).__skrep_tags__()
        assert "isotropic_scaling_x" in tags.invariances
        assert "invertible_linear_x" not in tags.invariances
    tags = Procrustes(alpha=0.0).__skrep_tags__()
    assert {"invertible_linear_x", "invertible_linear_y"} <= tags.invariances
    assert tags.maximum == 1.0 and tags.streaming and tags.held_out_below_in_sample


# --------------------------------------------------------------------------
# Real-activation hazards


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("algorithm", ["moments", "svd"])
def test_dead_units_change_nothing(alpha, algorithm):
    X, Y = shared_views(2)
    reference = Procrustes(alpha=alpha).fit(X, Y)
    relu_dead = np.hstack(
        [X[:, :2], np.zeros((200, 2)), X[:, 2:], np.full((200, 1), 1e8)]
    )
    with pytest.warns(DeadUnitWarning, match="constant \\(dead\\)") as record:
        est = Procrustes(alpha=alpha, algorithm=algorithm).fit(relu_dead, Y)
    assert len(record) == 1
    assert list(est.n_dropped_units_) == [3, 0]
    assert est.similarity_ == pytest.approx(reference.similarity_, abs=1e-10)
    dead = np.abs(est.x_whitening_[[2, 3, -1]]).max()
    assert dead < 1e-12 * np.abs(est.x_whitening_).max()
    assert np.all(np.isfinite(est.transform(relu_dead)))
    # a unit dead in fit but alive on held-out data is not used there either
    live = relu_dead.copy()
    live[:, 2] = np.random.RandomState(0).randn(200)
    assert est.score(live, Y) == pytest.approx(reference.similarity_, abs=1e-10)


def test_collinear_units_alpha_zero():
    X, Y = shared_views(3)
    with pytest.warns(DeadUnitWarning, match="duplicate or collinear"):
        est = Procrustes(alpha=0.0).fit(np.hstack([X, X[:, :2] @ [[1.0], [2.0]]]), Y)
    assert est.x_rank_ == 6
    assert est.similarity_ == pytest.approx(
        Procrustes(alpha=0.0).fit(X, Y).similarity_, abs=1e-10
    )


def test_all_dead_view_is_an_error():
    X, _ = shared_views(0)
    with pytest.raises(ValueError, match="constant \\(dead\\)"):
        Procrustes().fit(X, np.ones((200, 3)))
    with pytest.raises(ValueError, match="constant \\(dead\\)"):
        Procrustes().partial_fit(np.ones((200, 3)), X).similarity_


def test_constant_held_out_view_scores_zero():
    X, Y = shared_views(0)
    est = Procrustes().fit(X, Y)
    with pytest.warns(DeadUnitWarning, match="constant"):
        assert est.score(X, np.tile(est.y_mean_, (10 + 190, 1))) == 0.0


@pytest.mark.parametrize("alpha", ALPHAS)
def test_more_units_than_samples(alpha):
    rng = np.random.RandomState(0)
    Z = rng.randn(100, 5)
    X = Z @ rng.randn(5, 80) + rng.randn(100, 80)
    Y = Z @ rng.randn(5, 60) + rng.randn(100, 60)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        est = Procrustes(alpha=alpha).fit(X[:50], Y[:50])
    biased = [w for w in record if issubclass(w.category, InSampleBiasWarning)]
    assert len(biased) == (alpha < 1)
    assert est.algorithm_ == "svd" and est.x_rank_ == est.y_rank_ == 49
    assert est.similarity_ == pytest.approx(direct_similarity(X[:50], Y[:50], alpha))
    held_out = est.score(X[50:], Y[50:])
    assert np.isfinite(held_out) and held_out < est.similarity_


def test_float32_agrees_with_float64(seed):
    X, Y = shared_views(seed)
    X, Y = X + 30.0, Y + 50.0
    for alpha in ALPHAS:
        est64 = Procrustes(alpha=alpha).fit(X, Y)
        est32 = Procrustes(alpha=alpha).fit(X.astype(np.float32), Y.astype(np.float32))
        reference = Procrustes(alpha=alpha).fit(
            X.astype(np.float32).astype(np.float64),
            Y.astype(np.float32).astype(np.float64),
        )
        assert est32.x_whitening_.dtype == np.float64
        assert est32.similarity_ == pytest.approx(reference.similarity_, abs=1e-10)
        assert est32.similarity_ == pytest.approx(est64.similarity_, abs=1e-5)


def test_large_means_do_not_cost_digits(seed):
    X, Y = shared_views(seed)
    for alpha in ALPHAS:
        reference = Procrustes(alpha=alpha).fit(X, Y).similarity_
        shifted = Procrustes(alpha=alpha, algorithm="moments").fit(X + 1e7, Y - 3e6)
        assert shifted.similarity_ == pytest.approx(reference, abs=1e-8)


def test_weak_directions_take_the_accurate_route(seed):
    X, Y = shared_views(seed)
    X = X.copy()
    X[:, 0] = X[:, 1] + 1e-5 * np.random.RandomState(seed).randn(len(X))
    whitened = Procrustes(alpha=0.0).fit(X, Y)
    assert whitened.algorithm_ == "svd"
    accurate = _aligned_cosine(direct_phi_from_svd(X, 0.0), direct_phi_from_svd(Y, 0.0))
    assert whitened.similarity_ == pytest.approx(accurate, abs=1e-10)
    # the streamed moments lose digits there, and say so
    with pytest.warns(PrecisionWarning, match="lost digits"):
        streamed = Procrustes(alpha=0.0).partial_fit(X, Y).similarity_
    assert streamed == pytest.approx(accurate, abs=1e-4)
    # at alpha=1 a weak direction weighs in with its tiny variance: no need
    plain = Procrustes(alpha=1.0).fit(X, Y)
    assert plain.algorithm_ == "moments"
    assert plain.similarity_ == pytest.approx(direct_similarity(X, Y, 1.0), abs=1e-12)
    s = plain.x_singular_values_
    assert s[plain.x_rank_ - 1] < MOMENTS_MIN_RATIO * s[0]


def test_one_dimensional_views(seed):
    rng = np.random.RandomState(seed)
    x = rng.randn(100)
    y = 0.5 * x + rng.randn(100)
    correlation = abs(np.corrcoef(x, y)[0, 1])
    for alpha in ALPHAS:
        est = Procrustes(alpha=alpha).fit(x[:, None], y)
        assert est.similarity_ == pytest.approx(correlation, abs=1e-12)
        assert est.transform(x[:, None], y)[1].shape == (100, 1)


def test_core_routes_agree(seed):
    X, Y = shared_views(seed)
    results = [
        fit_shape_metric(X, Y, alpha=0.3, algorithm=algorithm)[0]
        for algorithm in ("moments", "svd")
    ]
    for name in ("x_whitening", "y_whitening", "alignment", "x_singular_values"):
        np.testing.assert_allclose(
            getattr(results[0], name), getattr(results[1], name), atol=1e-10
        )
    assert results[0].similarity == pytest.approx(results[1].similarity, abs=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_forced_moments_fit_warns_where_it_may_lose_digits(alpha):
    # Duplicated units with a rank_tol below what the cross-products resolve:
    # "auto" falls back to the data; a forced moments fit cannot and says so.
    rng = np.random.RandomState(0)
    X = rng.randn(30, 5)
    Y = X[:, :3] + rng.randn(30, 3)
    X2 = np.c_[X, X]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadUnitWarning)
        with pytest.warns(PrecisionWarning, match="moments route"):
            Procrustes(alpha=alpha, rank_tol=1e-10, algorithm="moments").fit(X2, Y)
        with warnings.catch_warnings():
            warnings.simplefilter("error", PrecisionWarning)
            auto = Procrustes(alpha=alpha, rank_tol=1e-10).fit(X2, Y)
            svd = Procrustes(alpha=alpha, rank_tol=1e-10, algorithm="svd").fit(X2, Y)
    assert auto.x_rank_ == svd.x_rank_ == 5
    assert auto.similarity_ == pytest.approx(svd.similarity_, abs=1e-12)
