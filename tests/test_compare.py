import json

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.base import BaseEstimator
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    LeaveOneGroupOut,
    LeaveOneOut,
    cross_val_score,
)

from conftest import make_views
from skrep import PWCCA, SVCCA, compare_layers, pwcca, svcca


@pytest.fixture
def two_nets():
    A, B = make_views(0, n_samples=300, n_x=12, n_y=15)
    rng = np.random.RandomState(1)
    net_a = {"l1": A, "l2": np.tanh(A @ rng.randn(12, 10)), "noise": rng.randn(300, 6)}
    net_b = {"m1": B, "m2": np.maximum(B @ rng.randn(15, 8), 0) + 0.01 * B[:, :8]}
    return net_a, net_b


def test_grid_matches_pairwise_functions(two_nets):
    net_a, net_b = two_nets
    grid = compare_layers(net_a, net_b, SVCCA())
    assert grid.scores.shape == (3, 2)
    assert grid.layers_a == ["l1", "l2", "noise"] and grid.layers_b == ["m1", "m2"]
    for i, a in enumerate(net_a.values()):
        for j, b in enumerate(net_b.values()):
            assert grid.scores[i, j] == pytest.approx(svcca(a, b), abs=1e-12)
    assert grid.evaluation == "in-sample" and grid.scores_std is None


def test_same_numbers_with_one_and_two_jobs(two_nets):
    net_a, net_b = two_nets
    serial = compare_layers(net_a, net_b, PWCCA(), cv=KFold(3), n_jobs=1)
    parallel = compare_layers(net_a, net_b, PWCCA(), cv=KFold(3), n_jobs=2)
    np.testing.assert_array_equal(serial.scores, parallel.scores)
    np.testing.assert_array_equal(serial.scores_std, parallel.scores_std)
    with parallel_config(backend="threading"):
        threaded = compare_layers(net_a, net_b, PWCCA(), cv=KFold(3), n_jobs=2)
    np.testing.assert_array_equal(serial.scores, threaded.scores)


def test_held_out_and_cross_validated(two_nets):
    net_a, net_b = two_nets
    train = (
        {k: v[:200] for k, v in net_a.items()},
        {k: v[:200] for k, v in net_b.items()},
    )
    test = (
        {k: v[200:] for k, v in net_a.items()},
        {k: v[200:] for k, v in net_b.items()},
    )
    held = compare_layers(*train, SVCCA(), test=test)
    est = SVCCA().fit(net_a["l2"][:200], net_b["m1"][:200])
    assert held.scores[1, 0] == pytest.approx(
        est.score(net_a["l2"][200:], net_b["m1"][200:]), abs=1e-12
    )
    assert held.evaluation == "held-out"
    cv = compare_layers(net_a, net_b, SVCCA(), cv=5)
    assert cv.evaluation == "cross-validated (5 folds)"
    assert np.all(cv.scores_std >= 0)
    # in-sample similarity of the noise layer is biased upwards
    insample = compare_layers(net_a, net_b, SVCCA())
    assert np.all(cv.scores[2] < insample.scores[2])


def test_within_network_grid_and_diagonal(two_nets):
    net_a, _ = two_nets
    grid = compare_layers(net_a, estimator=SVCCA(svd_components=None))
    np.testing.assert_allclose(np.diag(grid.scores), 1.0, atol=1e-9)
    np.testing.assert_allclose(grid.scores, grid.scores.T, atol=1e-9)
    diag = compare_layers(net_a, [v + 1 for v in net_a.values()], pairs="diagonal")
    assert np.isnan(diag.scores[0, 1])
    assert diag.diagonal()[("l1", "b0")] == pytest.approx(1.0)
    payload = json.loads(json.dumps(diag.to_dict()))
    assert payload["scores"][0][1] is None
    text = diag.to_text()
    assert "l1" in text and "b2" in text
    assert pwcca(net_a["l1"], net_a["l2"]) == pytest.approx(
        compare_layers(net_a, estimator=PWCCA()).scores[0, 1]
    )


def test_bad_input(two_nets):
    net_a, net_b = two_nets
    with pytest.raises(ValueError, match="same number of rows"):
        compare_layers(net_a, {"x": np.ones((10, 3))})
    with pytest.raises(TypeError, match="dict"):
        compare_layers(np.ones((10, 3)))
    with pytest.raises(ValueError, match="pairs"):
        compare_layers(net_a, pairs="upper")
    with pytest.raises(ValueError, match="at least one layer"):
        compare_layers({})


class _MeanGap(BaseEstimator):
    """A two-view scorer that works on a single held-out sample."""

    def fit(self, X, y):
        self.offset_ = float(np.mean(X) - np.mean(y))
        return self

    def score(self, X, y):
        return -abs(float(np.mean(X) - np.mean(y)) - self.offset_)


class _RecordingGroupKFold(GroupKFold):
    """GroupKFold that keeps the test folds it hands out."""

    test_folds = []

    def split(self, X, y=None, groups=None):
        for train, test in super().split(X, y, groups):
            self.test_folds.append(test)
            yield train, test


def _split(net, stop):
    return {k: v[:stop] for k, v in net.items()}, {k: v[stop:] for k, v in net.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_held_out_dicts_are_paired_by_name(two_nets, seed):
    net_a, net_b = two_nets
    train_a, test_a = _split(net_a, 200)
    train_b, test_b = _split(net_b, 200)
    rng = np.random.RandomState(seed)
    shuffled_a = {k: test_a[k] for k in rng.permutation(list(test_a))}
    shuffled_b = {k: test_b[k] for k in rng.permutation(list(test_b))}
    grid = compare_layers(train_a, train_b, SVCCA(), test=(shuffled_a, shuffled_b))
    assert grid.layers_a == ["l1", "l2", "noise"] and grid.layers_b == ["m1", "m2"]
    for i, name_a in enumerate(grid.layers_a):
        for j, name_b in enumerate(grid.layers_b):
            expected = (
                SVCCA()
                .fit(train_a[name_a], train_b[name_b])
                .score(test_a[name_a], test_b[name_b])
            )
            assert grid.scores[i, j] == pytest.approx(expected, abs=1e-12)
    in_order = compare_layers(train_a, train_b, SVCCA(), test=(test_a, test_b))
    np.testing.assert_array_equal(grid.scores, in_order.scores)
    # lists pair by position
    as_lists = compare_layers(
        list(train_a.values()),
        list(train_b.values()),
        SVCCA(),
        test=(list(test_a.values()), list(test_b.values())),
    )
    np.testing.assert_array_equal(as_lists.scores, in_order.scores)
    # within one network, dicts are paired by name too
    within = compare_layers(train_a, estimator=SVCCA(), test=(shuffled_a, None))
    expected = SVCCA().fit(train_a["l1"], train_a["l2"])
    assert within.scores[0, 1] == pytest.approx(
        expected.score(test_a["l1"], test_a["l2"]), abs=1e-12
    )


def test_held_out_layers_must_match_training_layers(two_nets):
    net_a, net_b = two_nets
    train_a, test_a = _split(net_a, 200)
    train_b, test_b = _split(net_b, 200)
    renamed = {("x1" if k == "l1" else k): v for k, v in test_a.items()}
    with pytest.raises(ValueError, match=r"missing \['l1'\], extra \['x1'\]"):
        compare_layers(train_a, train_b, test=(renamed, test_b))
    with pytest.raises(ValueError, match=r"test\[1\].*missing \['m2'\], extra \[\]"):
        compare_layers(train_a, train_b, test=(test_a, {"m1": test_b["m1"]}))
    with pytest.raises(ValueError, match=r"missing \[\], extra \['m3'\]"):
        compare_layers(train_a, train_b, test=(test_a, {**test_b, "m3": test_b["m1"]}))
    with pytest.raises(ValueError, match="got 2 layers, expected 3"):
        compare_layers(
            list(train_a.values()),
            test=(list(test_a.values())[:2], None),
        )
    with pytest.raises(TypeError, match="both be dicts .* or both be lists"):
        compare_layers(train_a, train_b, test=(list(test_a.values()), test_b))
    with pytest.raises(ValueError, match="Layer 'l2' of test\\[0\\] has shape"):
        compare_layers(
            train_a, train_b, test=({**test_a, "l2": test_a["l2"][:, :3]}, test_b)
        )
    with pytest.raises(ValueError, match="same number of rows"):
        compare_layers(
            train_a, train_b, test=(test_a, {**test_b, "m1": test_b["m1"][:50]})
        )


def test_held_out_needs_the_second_network(two_nets):
    net_a, net_b = two_nets
    train_a, test_a = _split(net_a, 200)
    train_b, test_b = _split(net_b, 200)
    with pytest.raises(ValueError, match="only for a within-network grid"):
        compare_layers(train_a, train_b, test=(test_a, None))
    # also when the second network has as many layers as the first
    copy_a = {f"{k}_copy": v for k, v in train_a.items()}
    with pytest.raises(ValueError, match="only for a within-network grid"):
        compare_layers(train_a, copy_a, test=(test_a, None))
    with pytest.raises(ValueError, match=r"give test as \(acts_a_test, None\)"):
        compare_layers(train_a, test=(test_a, test_b))
    # the same object twice is the within-network grid
    twice = compare_layers(train_a, test=(test_a, test_a))
    once = compare_layers(train_a, test=(test_a, None))
    np.testing.assert_array_equal(twice.scores, once.scores)


def test_bad_test_argument_and_missing_layers(two_nets):
    net_a, net_b = two_nets
    train_a, test_a = _split(net_a, 200)
    train_b, test_b = _split(net_b, 200)
    with pytest.raises(TypeError, match=r"test must be a pair .* got dict"):
        compare_layers(train_a, train_b, test=test_a)
    with pytest.raises(TypeError, match=r"got tuple of length 1"):
        compare_layers(train_a, train_b, test=(test_a,))
    with pytest.raises(TypeError, match=r"test\[0\] must be a dict"):
        compare_layers(train_a, test=(test_a["l1"], None))
    with pytest.raises(ValueError, match="Layer 'l2' of acts_a is None"):
        compare_layers({**net_a, "l2": None}, net_b)
    with pytest.raises(ValueError, match="Layer 'b1' of acts_b is None"):
        compare_layers(net_a, [net_b["m1"], None])
    with pytest.raises(ValueError, match=r"Layer 'm2' of test\[1\] is None"):
        compare_layers(train_a, train_b, test=(test_a, {**test_b, "m2": None}))
    with pytest.raises(ValueError, match="Layer 'l1' of acts_a is not an array"):
        compare_layers({**net_a, "l1": 3.0})
    with pytest.raises(ValueError, match=r"equal as strings: \['1'\]"):
        compare_layers({1: net_a["l1"], "1": net_a["l2"]})


def test_test_and_cv_together_are_refused(two_nets):
    net_a, net_b = two_nets
    train_a, test_a = _split(net_a, 200)
    train_b, test_b = _split(net_b, 200)
    with pytest.raises(ValueError, match="either test .* or cv"):
        compare_layers(train_a, train_b, test=(test_a, test_b), cv=3)


def test_cv_with_leave_one_out(two_nets):
    net_a, net_b = two_nets
    small_a = {k: v[:20] for k, v in net_a.items()}
    small_b = {k: v[:20] for k, v in net_b.items()}
    grid = compare_layers(small_a, small_b, _MeanGap(), cv=LeaveOneOut())
    assert grid.evaluation == "cross-validated (20 folds)"
    expected = cross_val_score(
        _MeanGap(), small_a["l2"], small_b["m1"], cv=LeaveOneOut()
    )
    assert grid.scores[1, 0] == pytest.approx(np.mean(expected), abs=1e-12)
    assert grid.scores_std[1, 0] == pytest.approx(np.std(expected), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_groups_keep_each_group_in_one_fold(two_nets, seed):
    net_a, net_b = two_nets
    rng = np.random.RandomState(seed)
    groups = rng.randint(0, 30, size=300)  # e.g. the image of each position
    cv = _RecordingGroupKFold(n_splits=4)
    cv.test_folds = []
    grid = compare_layers(net_a, net_b, SVCCA(), cv=cv, groups=groups)
    assert grid.evaluation == "cross-validated (4 folds)"
    assert len(cv.test_folds) == 4 * grid.scores.size
    for test in cv.test_folds:
        inside = set(groups[test])
        outside = set(np.delete(groups, test))
        assert inside and not inside & outside
    expected = cross_val_score(
        SVCCA(), net_a["noise"], net_b["m2"], cv=GroupKFold(4), groups=groups
    )
    assert grid.scores[2, 1] == pytest.approx(np.mean(expected), abs=1e-12)
    # splitters whose number of folds depends on the groups
    by_group = compare_layers(
        net_a, net_b, _MeanGap(), cv=LeaveOneGroupOut(), groups=groups
    )
    n_groups = len(np.unique(groups))
    assert by_group.evaluation == f"cross-validated ({n_groups} folds)"


def test_groups_are_validated(two_nets):
    net_a, net_b = two_nets
    with pytest.raises(ValueError, match=r"groups must have shape .*\(300,\)"):
        compare_layers(net_a, net_b, cv=GroupKFold(3), groups=np.zeros(299))
    with pytest.raises(ValueError, match=r"groups must have shape"):
        compare_layers(net_a, net_b, cv=GroupKFold(3), groups=np.zeros((300, 1)))
    with pytest.raises(ValueError, match="groups is only used with cv"):
        compare_layers(net_a, net_b, groups=np.zeros(300))


# -- inference grids --------------------------------------------------------


def test_permutation_pvalue_grid(two_nets):
    from skrep.inference import permutation_test

    net_a, net_b = two_nets
    plain = compare_layers(net_a, net_b, SVCCA(svd_components=4))
    grid = compare_layers(
        net_a, net_b, SVCCA(svd_components=4), inference="permutation",
        n_permutations=49, random_state=0,
    )  # fmt: skip
    np.testing.assert_array_equal(grid.scores, plain.scores)
    assert plain.pvalues is None and plain.inference is None
    assert grid.pvalues.shape == (3, 2) and grid.ci_low is None
    assert np.all((grid.pvalues >= 1 / 50) & (grid.pvalues <= 1))
    np.testing.assert_array_equal(grid.pvalues[:2], 1 / 50)  # shared latent code
    assert np.all(grid.pvalues[2] > 0.05)  # the noise layer
    assert grid.inference == "permutation test, 49 permutations of acts_b's rows"
    # each cell has its own seed, drawn from random_state
    seeds = np.random.RandomState(0).randint(np.iinfo(np.int32).max, size=6)
    cell = permutation_test(
        SVCCA(svd_components=4), net_a["noise"], net_b["m2"], n_permutations=49,
        random_state=int(seeds[5]),
    )  # fmt: skip
    assert grid.pvalues[2, 1] == cell.pvalue
    with parallel_config(backend="threading"):
        again = compare_layers(
            net_a, net_b, SVCCA(svd_components=4), inference="permutation",
            n_permutations=49, random_state=0, n_jobs=2,
        )  # fmt: skip
    np.testing.assert_array_equal(again.pvalues, grid.pvalues)
    payload = json.loads(json.dumps(grid.to_dict()))
    assert payload["pvalues"][0][0] == 0.02 and payload["ci_low"] is None
    assert payload["inference"] == grid.inference
    text = grid.to_text()
    assert "p-values" in text and "0.020" in text
    assert str(grid).splitlines()[0].endswith("permutations of acts_b's rows")


def test_permutation_grid_held_out_diagonal_and_groups(two_nets):
    net_a, net_b = two_nets
    train_a, test_a = _split(net_a, 200)
    train_b, test_b = _split(net_b, 200)
    images = np.repeat(np.arange(50), 4)  # 4 positions per image
    grid = compare_layers(
        train_a, train_b, SVCCA(svd_components=4), test=(test_a, test_b),
        pairs="diagonal", inference="permutation", groups=images,
        n_permutations=19, random_state=1,
    )  # fmt: skip
    assert grid.evaluation == "held-out"
    assert grid.inference.endswith(", whole groups")
    assert np.isnan(grid.pvalues[0, 1]) and grid.pvalues[0, 0] == 1 / 20
    assert grid.to_dict()["pvalues"][0][1] is None
    assert "-" in grid.to_text().split("p-values")[1]


def test_permutation_grid_cross_validated_keeps_groups_in_folds(two_nets):
    net_a, net_b = two_nets
    groups = np.repeat(np.arange(60), 5)
    cv = _RecordingGroupKFold(n_splits=3)
    cv.test_folds = []
    grid = compare_layers(
        {"l1": net_a["l1"]}, {"m1": net_b["m1"]}, SVCCA(svd_components=4), cv=cv,
        groups=groups, inference="permutation", n_permutations=9, random_state=0,
    )  # fmt: skip
    assert grid.evaluation == "cross-validated (3 folds)"
    assert grid.pvalues[0, 0] == 0.1 and grid.scores_std is not None
    assert len(cv.test_folds) >= 6  # the grid's folds and the test's
    for test in cv.test_folds:
        assert not set(groups[test]) & set(np.delete(groups, test))


def test_bootstrap_interval_grid():
    import warnings

    from skrep import UnitMatcher
    from skrep.exceptions import SkrepWarning
    from skrep.inference import bootstrap_interval

    rng = np.random.RandomState(2)
    z = rng.randn(300, 2)
    net_a = {"a1": z[:, :1] + rng.randn(300, 1), "a2": z + rng.randn(300, 2)}
    net_b = {"b1": z[:, 1:] + rng.randn(300, 1), "b2": -z[:, :1] + rng.randn(300, 1)}
    groups = np.repeat(np.arange(100), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkrepWarning)  # low bias: no warning
        grid = compare_layers(
            net_a, net_b, UnitMatcher(), inference="bootstrap", n_resamples=99,
            groups=groups, random_state=0,
        )  # fmt: skip
    assert grid.pvalues is None and grid.ci_low.shape == (2, 2)
    assert np.all(grid.ci_low <= grid.scores) and np.all(grid.scores <= grid.ci_high)
    assert grid.inference == (
        "95% percentile bootstrap intervals, 99 resamples, whole groups"
    )
    seeds = np.random.RandomState(0).randint(np.iinfo(np.int32).max, size=4)
    cell = bootstrap_interval(
        UnitMatcher(), net_a["a2"], net_b["b2"], groups=groups, n_resamples=99,
        random_state=int(seeds[3]),
    )  # fmt: skip
    assert (grid.ci_low[1, 1], grid.ci_high[1, 1]) == cell.confidence_interval
    text = grid.to_text(precision=2)
    assert "intervals" in text and f"[{grid.ci_low[0, 0]:.2f}, " in text
    payload = json.loads(json.dumps(grid.to_dict()))
    assert payload["ci_high"][1][0] == pytest.approx(grid.ci_high[1, 0])
    assert payload["pvalues"] is None


def test_inference_options_are_validated(two_nets):
    net_a, net_b = two_nets
    train_a, test_a = _split(net_a, 200)
    train_b, test_b = _split(net_b, 200)
    with pytest.raises(ValueError, match="inference must be None, 'permutation'"):
        compare_layers(net_a, net_b, inference="bayes")
    with pytest.raises(ValueError, match="in-sample scores"):
        compare_layers(train_a, train_b, test=(test_a, test_b), inference="bootstrap")
    with pytest.raises(ValueError, match="in-sample scores"):
        compare_layers(net_a, net_b, cv=3, inference="bootstrap")
    with pytest.raises(ValueError, match="n_permutations must be a positive int"):
        compare_layers(net_a, net_b, inference="permutation", n_permutations=0)
    with pytest.raises(ValueError, match="n_resamples must be an int >= 2"):
        compare_layers(net_a, net_b, inference="bootstrap", n_resamples=1.5)
    with pytest.raises(ValueError, match="confidence_level must be in"):
        compare_layers(net_a, net_b, inference="bootstrap", confidence_level=95)
    with pytest.raises(ValueError, match="bootstrap_method must be"):
        compare_layers(net_a, net_b, inference="bootstrap", bootstrap_method="basic")
    with pytest.raises(ValueError, match="groups is only used with cv .* or with"):
        compare_layers(net_a, net_b, groups=np.zeros(300))
