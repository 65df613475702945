import json

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.model_selection import KFold

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
