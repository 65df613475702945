"""SparseLayerPredictor and SparseLayerPredictorCV: the math and the API."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LinearRegression
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    ShuffleSplit,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skrep import SparseLayerPredictor, SparseLayerPredictorCV
from skrep._core.lasso import _sklearn_solver_works, lasso_gram, problem_from_moments
from skrep._core.moments import Moments
from skrep._sparse import PAPER_DECAYS


def _standardize(X, Y):
    """The standardised problem of (X, Y), through the core's moments."""
    moments = Moments(X.shape[1], Y.shape[1], track_range=True).update(X, Y)
    return problem_from_moments(moments)


def standardized(A):
    """Independent standardisation: ddof=0, constant columns stay 0."""
    std = A.std(axis=0)
    return np.where(std > 0, (A - A.mean(axis=0)) / np.where(std > 0, std, 1), 0.0)


def sparse_truth(seed, n_samples=400, n_x=30, support_sizes=(1, 1, 2, 2, 3, 3)):
    """X independent units; each Y unit a few of them plus a dense unit."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_x) * rng.uniform(0.5, 3, n_x) + rng.randn(n_x)
    weights = np.zeros((n_x, len(support_sizes) + 1))
    for j, size in enumerate(support_sizes):
        support = rng.choice(n_x, size, replace=False)
        weights[support, j] = rng.uniform(1, 2, size) * rng.choice([-1, 1], size)
    weights[:12, -1] = rng.uniform(1, 2, 12)
    # Weights act on standardised inputs, so their ratios are what we set.
    Y = standardized(X) @ weights + 0.1 * rng.randn(n_samples, weights.shape[1])
    return X, Y, weights


def neg_prediction_loss(estimator, X, y):
    return -estimator.prediction_loss(X, y)


# ---------------------------------------------------------------- the math


def test_recovers_sparse_support_and_code_types(seed):
    X, Y, weights = sparse_truth(seed)
    model = SparseLayerPredictor(decay=5e-3).fit(X, Y)
    assert_array_equal(model.standardized_coef_.T != 0, weights != 0)
    assert_array_equal(model.n_inputs_, np.count_nonzero(weights, axis=0))
    assert_array_equal(
        model.code_type_,
        ["local"] * 2 + ["slightly distributed"] * 4 + ["fully distributed"],
    )
    assert_array_equal(model.n_main_inputs_[:6], [1, 1, 2, 2, 3, 3])
    # code_mass=1 counts every non-zero weight.
    full_mass = SparseLayerPredictor(decay=5e-3, code_mass=1.0).fit(X, Y)
    assert_array_equal(full_mass.n_main_inputs_, full_mass.n_inputs_)


def test_loss_monotone_in_decay_and_half_when_all_weights_zero(seed):
    X, Y, _ = sparse_truth(seed, n_samples=150)
    q = Y.shape[1]
    problem = _standardize(X, Y)
    decay_all_zero = np.abs(problem.xy).max() / q
    decays = np.concatenate([[0.0], np.logspace(-5, 0, 12) * decay_all_zero])
    losses = [
        SparseLayerPredictor(decay=d, tol=1e-10, max_iter=10000)
        .fit(X, Y)
        .training_loss_
        for d in decays
    ]
    assert np.all(np.diff(losses) >= -1e-9)
    assert losses[0] < losses[-1]
    zero = SparseLayerPredictor(decay=decay_all_zero).fit(X, Y)
    assert_array_equal(zero.coef_, 0.0)
    assert_array_equal(zero.code_type_, "none")
    assert zero.training_loss_ == pytest.approx(0.5, abs=1e-12)
    assert zero.prediction_loss(X, Y) == pytest.approx(0.5, abs=1e-12)
    assert_allclose(zero.predict(X), np.tile(Y.mean(axis=0), (len(X), 1)))
    # Just below the threshold some weight is non-zero.
    below = SparseLayerPredictor(decay=0.99 * decay_all_zero, tol=1e-12).fit(X, Y)
    assert below.n_inputs_.sum() >= 1
    assert below.training_loss_ < 0.5


def test_decay_zero_is_least_squares(seed):
    rng = np.random.RandomState(seed)
    X = rng.randn(80, 6) @ rng.randn(6, 6) + 3.0
    Y = X @ rng.randn(6, 4) + rng.randn(80, 4)
    model = SparseLayerPredictor(decay=0).fit(X, Y)
    reference = LinearRegression().fit(X, Y)
    assert_allclose(model.coef_, reference.coef_, rtol=1e-9, atol=1e-10)
    assert_allclose(model.intercept_, reference.intercept_, rtol=1e-9, atol=1e-9)
    Xs, Ys = standardized(X), standardized(Y)
    W = np.linalg.lstsq(Xs, Ys, rcond=None)[0]
    assert_allclose(model.standardized_coef_.T, W, rtol=1e-9, atol=1e-10)
    assert model.training_loss_ == pytest.approx(0.5 * np.mean((Xs @ W - Ys) ** 2))


def test_decay_zero_minimum_norm_when_collinear(seed):
    rng = np.random.RandomState(seed)
    # More units than samples, a duplicate and a dead unit.
    base = rng.randn(25, 40)
    X = np.column_stack([base, base[:, 0], np.full(25, 2.0)])
    Y = rng.randn(25, 3)
    with pytest.warns(UserWarning, match="constant"):
        model = SparseLayerPredictor(decay=0).fit(X, Y)
    Xs, Ys = standardized(X), standardized(Y)
    assert_allclose(model.standardized_coef_.T, np.linalg.pinv(Xs) @ Ys, atol=1e-8)
    assert model.training_loss_ == pytest.approx(0.0, abs=1e-12)
    assert_array_equal(model.coef_[:, -1], 0.0)
    assert np.all(np.isfinite(model.predict(X)))


@pytest.mark.parametrize("decay", [1e-4, 1e-3, 1e-2])
def test_equals_sklearn_lasso_on_standardized_data(seed, decay):
    X, Y, _ = sparse_truth(seed, n_samples=120)
    Y[:, 0] += 0.5 * X[:, 1] * X[:, 2]  # something a linear map misses
    q = Y.shape[1]
    Xs, Ys = standardized(X), standardized(Y)
    W = np.column_stack(
        [
            Lasso(alpha=decay * q, tol=1e-12, max_iter=100_000).fit(Xs, y).coef_
            for y in Ys.T
        ]
    )
    reference_losses = 0.5 * np.mean((Xs @ W - Ys) ** 2, axis=0)
    tight = SparseLayerPredictor(decay=decay, tol=1e-12, max_iter=100_000).fit(X, Y)
    assert_allclose(tight.standardized_coef_.T, W, atol=1e-7)
    assert_allclose(
        tight.prediction_loss(X, Y, multioutput="raw_values"),
        reference_losses,
        atol=1e-10,
    )
    # Equal losses to 1e-4, at the default tolerances of both.
    default_W = np.column_stack([Lasso(alpha=decay * q).fit(Xs, y).coef_ for y in Ys.T])
    default_loss = 0.5 * np.mean((Xs @ default_W - Ys) ** 2)
    model = SparseLayerPredictor(decay=decay).fit(X, Y)
    assert abs(model.prediction_loss(X, Y) - default_loss) < 1e-4


def test_objective_is_mean_loss_plus_decay_l1(seed):
    """The documented joint objective is minimised: no nearby W does better."""
    X, Y, _ = sparse_truth(seed, n_samples=100)
    decay = 2e-3
    model = SparseLayerPredictor(decay=decay, tol=1e-12, max_iter=100_000).fit(X, Y)
    Xs, Ys = standardized(X), standardized(Y)

    def objective(W):
        return 0.5 * np.mean((Xs @ W - Ys) ** 2) + decay * np.abs(W).sum()

    W = model.standardized_coef_.T
    best = objective(W)
    rng = np.random.RandomState(seed)
    for _ in range(20):
        assert objective(W + 1e-3 * rng.randn(*W.shape)) >= best - 1e-12


def test_prediction_loss_and_score(seed):
    X, Y, _ = sparse_truth(seed, n_samples=200)
    X_test, Y_test, _ = sparse_truth(seed + 10, n_samples=100)
    model = SparseLayerPredictor(decay=1e-3).fit(X, Y)
    assert_allclose(model.predict(X_test), X_test @ model.coef_.T + model.intercept_)
    # On the fitted data, R^2 = 1 - 2 * loss.
    assert model.score(X, Y) == pytest.approx(1 - 2 * model.prediction_loss(X, Y))
    assert model.training_loss_ == pytest.approx(model.prediction_loss(X, Y))
    # Held-out loss uses the fitted statistics.
    expected = 0.5 * np.mean(
        ((model.predict(X_test) - Y_test) / Y.std(axis=0)) ** 2, axis=0
    )
    assert_allclose(
        model.prediction_loss(X_test, Y_test, multioutput="raw_values"), expected
    )
    assert model.prediction_loss(X_test, Y_test) == pytest.approx(expected.mean())


def test_invariant_to_unit_scale_shift_and_order(seed):
    X, Y, _ = sparse_truth(seed, n_samples=150)
    rng = np.random.RandomState(seed)
    model = SparseLayerPredictor(decay=1e-3, tol=1e-10).fit(X, Y)
    order = rng.permutation(X.shape[1])
    X2 = X[:, order] * rng.uniform(0.1, 10, X.shape[1]) + rng.randn(X.shape[1])
    Y2 = Y * rng.uniform(0.1, 10, Y.shape[1]) - 5.0
    moved = SparseLayerPredictor(decay=1e-3, tol=1e-10).fit(X2, Y2)
    assert_allclose(
        moved.standardized_coef_, model.standardized_coef_[:, order], atol=1e-9
    )
    assert moved.prediction_loss(X2, Y2) == pytest.approx(
        model.prediction_loss(X, Y), abs=1e-12
    )


# ---------------------------------------------------------------- solvers


@pytest.mark.parametrize("alpha", [1e-3, 3e-2, 0.3])
def test_numpy_and_compiled_solvers_agree(seed, alpha):
    if not _sklearn_solver_works():
        pytest.skip("scikit-learn's compiled Gram solver is unavailable")
    X, Y, _ = sparse_truth(seed, n_samples=60)
    problem = _standardize(X, Y)
    args = (problem.gram, problem.xy, problem.yy, alpha)
    rng = np.random.RandomState(seed)
    for start in (np.zeros_like(problem.xy), 0.3 * rng.randn(*problem.xy.shape)):
        compiled = lasso_gram(
            *args, start, tol=1e-12, max_iter=100_000, n_jobs=None, solver="sklearn"
        )
        numpy = lasso_gram(
            *args, start, tol=1e-12, max_iter=100_000, n_jobs=2, solver="numpy"
        )
        assert_allclose(numpy[0], compiled[0], atol=1e-8)
        assert numpy[2].all() and compiled[2].all()


def test_numpy_fallback_equals_sklearn_lasso(monkeypatch):
    import skrep._sparse

    monkeypatch.setattr(skrep._core.lasso, "_sklearn_solver_works", lambda: False)
    X, Y, _ = sparse_truth(6, n_samples=80)
    q = Y.shape[1]
    Xs, Ys = standardized(X), standardized(Y)
    for decay in (1e-4, 1e-2):
        W = np.column_stack(
            [
                Lasso(alpha=decay * q, tol=1e-12, max_iter=100_000).fit(Xs, y).coef_
                for y in Ys.T
            ]
        )
        model = SparseLayerPredictor(decay=decay, tol=1e-12, max_iter=100_000)
        assert_allclose(model.fit(X, Y).standardized_coef_.T, W, atol=1e-7)
        assert np.all(model.n_iter_ >= 1)


def test_threads_give_the_same_weights():
    X, Y, _ = sparse_truth(0, n_samples=100)
    one = SparseLayerPredictor(decay=1e-3).fit(X, Y)
    two = SparseLayerPredictor(decay=1e-3, n_jobs=2).fit(X, Y)
    assert_array_equal(one.coef_, two.coef_)
    assert_array_equal(one.n_iter_, two.n_iter_)


def test_convergence_warning_once():
    X, Y, _ = sparse_truth(0, n_samples=60)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = SparseLayerPredictor(decay=1e-5, max_iter=2).fit(X, Y)
    messages = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(messages) == 1
    assert "did not converge" in str(messages[0].message)
    assert np.all(model.n_iter_ <= 2)


# ---------------------------------------------------------------- CV variant


def test_cv_matches_grid_search_over_the_same_folds(seed):
    X, Y, _ = sparse_truth(seed, n_samples=60)
    folds = KFold(3, shuffle=True, random_state=seed)
    params = {"tol": 1e-10, "max_iter": 100_000}
    cv_model = SparseLayerPredictorCV(PAPER_DECAYS, cv=folds, **params).fit(X, Y)
    grid = GridSearchCV(
        SparseLayerPredictor(**params),
        {"decay": list(PAPER_DECAYS)},
        cv=folds,
        scoring=neg_prediction_loss,
    ).fit(X, Y)
    grid_losses = -np.column_stack(
        [grid.cv_results_[f"split{k}_test_score"] for k in range(3)]
    )
    assert_allclose(cv_model.decays_, PAPER_DECAYS)
    assert_allclose(cv_model.loss_path_, grid_losses, rtol=1e-7, atol=1e-9)
    assert cv_model.decay_ == grid.best_params_["decay"]
    assert cv_model.decay_ > 0
    assert_allclose(cv_model.coef_, grid.best_estimator_.coef_, atol=1e-8)


def test_grid_search_picks_positive_decay_when_truth_sparse_and_samples_few():
    rng = np.random.RandomState(0)
    X = rng.randn(50, 40)
    Y = X[:, :4] * [1.0, -1.0, 1.5, 2.0] + rng.randn(50, 4)
    grid = GridSearchCV(
        SparseLayerPredictor(max_iter=3000), {"decay": list(PAPER_DECAYS)}, n_jobs=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tiny decays, n < p
        grid.fit(X, Y)
    assert grid.best_params_["decay"] > 0
    assert grid.best_estimator_.prediction_loss(X, Y) < 0.5


def test_cv_other_splitters_and_int_grid():
    X, Y, _ = sparse_truth(1, n_samples=90)
    groups = np.repeat(np.arange(9), 10)
    grouped = SparseLayerPredictorCV(cv=GroupKFold(3)).fit(X, Y, groups=groups)
    assert grouped.loss_path_.shape == (6, 3)
    shuffled = SparseLayerPredictorCV(
        cv=ShuffleSplit(4, test_size=0.25, random_state=0)
    ).fit(X, Y)
    assert shuffled.loss_path_.shape == (6, 4)
    assert shuffled.decay_ in shuffled.decays_
    auto = SparseLayerPredictorCV(decays=5, cv=3).fit(X, Y)
    assert auto.decays_.size == 5
    top = np.abs(_standardize(X, Y).xy).max() / Y.shape[1]
    assert auto.decays_[-1] == pytest.approx(top)
    assert auto.decays_[0] == pytest.approx(1e-3 * top)
    mean_losses = auto.loss_path_.mean(axis=1)
    assert mean_losses[auto.decays_ == auto.decay_] == mean_losses.min()
    refit = SparseLayerPredictor(decay=auto.decay_).fit(X, Y)
    assert_allclose(auto.coef_, refit.coef_)


# ---------------------------------------------------------------- the API


def test_one_dimensional_y_like_lasso():
    X, Y, _ = sparse_truth(2, n_samples=80)
    model = SparseLayerPredictor(decay=1e-3).fit(X, Y[:, 2])
    column = SparseLayerPredictor(decay=1e-3).fit(X, Y[:, 2:3])
    assert model.coef_.shape == (X.shape[1],)
    assert isinstance(model.intercept_, float)
    assert isinstance(model.n_iter_, int)
    assert model.predict(X).shape == (80,)
    assert column.coef_.shape == (1, X.shape[1])
    assert column.predict(X).shape == (80, 1)
    assert_allclose(model.coef_, column.coef_[0])
    assert model.n_inputs_.shape == (1,)
    assert model.prediction_loss(X, Y[:, 2]) == pytest.approx(
        column.prediction_loss(X, Y[:, 2:3])
    )
    cv = SparseLayerPredictorCV(cv=3).fit(X, Y[:, 2])
    assert cv.coef_.shape == (X.shape[1],)


def test_dead_units():
    X, Y, _ = sparse_truth(3, n_samples=100)
    X[:, 4] = 7.0
    Y[:, 1] = 0.1  # constant target
    Y[:, 3] = 0.0
    X_copy, Y_copy = X.copy(), Y.copy()
    with pytest.warns(UserWarning, match="constant"):
        model = SparseLayerPredictor(decay=1e-3).fit(X, Y)
    assert_array_equal(X, X_copy)  # inputs untouched
    assert_array_equal(Y, Y_copy)
    assert_array_equal(model.x_constant_, np.arange(X.shape[1]) == 4)
    assert_array_equal(model.coef_[:, 4], 0.0)
    assert_array_equal(model.coef_[[1, 3]], 0.0)
    prediction = model.predict(X)
    assert_array_equal(prediction[:, 1], 0.1)  # exactly its value
    assert_array_equal(prediction[:, 3], 0.0)
    assert np.all(np.isfinite(prediction))
    assert_array_equal(model.code_type_[[1, 3]], "none")
    losses = model.prediction_loss(X, Y, multioutput="raw_values")
    assert_array_equal(losses[[1, 3]], 0.0)
    # score = 1 - 2 loss holds with constant units predicted exactly.
    assert model.score(X, Y) == pytest.approx(1 - 2 * model.prediction_loss(X, Y))
    with pytest.warns(UserWarning, match="dead"):
        cv = SparseLayerPredictorCV(cv=3).fit(X, Y)
    assert np.all(np.isfinite(cv.loss_path_))
    # A unit constant on a training fold only: finite losses, no NaN.
    Y2 = Y.copy()
    Y2[:, 3] = np.where(np.arange(100) < 66, 0.0, 1.0)
    with pytest.warns(UserWarning, match="constant"):
        fold_dead = SparseLayerPredictorCV(cv=KFold(3)).fit(X, Y2)
    assert np.all(np.isfinite(fold_dead.loss_path_))


@pytest.mark.parametrize("Estimator", [SparseLayerPredictor, SparseLayerPredictorCV])
def test_bad_input(Estimator):
    X, Y, _ = sparse_truth(0, n_samples=40)
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    Y_inf = Y.copy()
    Y_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN"):
        Estimator().fit(X_nan, Y)
    with pytest.raises(ValueError, match="infinity"):
        Estimator().fit(X, Y_inf)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        Estimator().fit(X, Y[:-1])
    with pytest.raises(ValueError, match="2D array"):
        Estimator().fit(X[:, 0], Y)
    with pytest.raises(ValueError):
        Estimator().fit(X[:0], Y[:0])
    model = Estimator(cv=3) if Estimator is SparseLayerPredictorCV else Estimator()
    model.fit(X, Y)
    with pytest.raises(ValueError, match="units"):
        model.prediction_loss(X, Y[:, :2])
    with pytest.raises(ValueError, match="different numbers of rows"):
        model.prediction_loss(X, Y[:-1])
    with pytest.raises(ValueError, match="multioutput"):
        model.prediction_loss(X, Y, multioutput="variance_weighted")
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :-1])


def test_bad_parameters():
    X, Y, _ = sparse_truth(0, n_samples=40)
    with pytest.raises(ValueError, match="decay"):
        SparseLayerPredictor(decay=-1e-3).fit(X, Y)
    with pytest.raises(ValueError, match="decays must be >= 0"):
        SparseLayerPredictorCV(decays=[0.1, -1.0]).fit(X, Y)
    with pytest.raises(ValueError, match="decays"):
        SparseLayerPredictorCV(decays=0).fit(X, Y)
    with pytest.raises(ValueError, match="code_mass"):
        SparseLayerPredictor(code_mass=0).fit(X, Y)


def test_pickle_clone_pipeline_cross_val_score():
    X, Y, _ = sparse_truth(4, n_samples=90)
    model = SparseLayerPredictor(decay=1e-3).fit(X, Y)
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.predict(X), model.predict(X))
    fresh = clone(model)
    assert fresh.get_params() == model.get_params()
    assert not hasattr(fresh, "coef_")
    cv_model = SparseLayerPredictorCV(cv=3).fit(X, Y)
    assert_array_equal(
        pickle.loads(pickle.dumps(cv_model)).predict(X), cv_model.predict(X)
    )
    pipe = make_pipeline(FunctionTransformer(np.log1p), SparseLayerPredictor())
    pipe.fit(np.abs(X), Y)
    assert pipe.predict(np.abs(X)).shape == Y.shape
    scores = cross_val_score(SparseLayerPredictor(decay=1e-3), X, Y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.5)


def test_float32_input():
    X, Y, _ = sparse_truth(5, n_samples=100)
    model = SparseLayerPredictor(decay=1e-3).fit(X.astype(np.float32), Y)
    reference = SparseLayerPredictor(decay=1e-3).fit(
        X.astype(np.float32).astype(np.float64), Y
    )
    assert_array_equal(model.coef_, reference.coef_)
    assert model.predict(X.astype(np.float32)).dtype == np.float64


@pytest.mark.parametrize("cls", [SparseLayerPredictor, SparseLayerPredictorCV])
def test_score_on_dataframes_does_not_warn_about_feature_names(cls):
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.randn(60, 4), columns=list("abcd"))
    Y = pd.DataFrame(X.to_numpy()[:, :3] + rng.randn(60, 3), columns=list("xyz"))
    est = cls().fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score = est.score(X, Y)
    assert score == pytest.approx(est.score(X.to_numpy(), Y), abs=1e-12)
