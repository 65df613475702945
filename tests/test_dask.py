"""Dask arrays on a local cluster: moments reduced on the workers, equal to NumPy."""

import logging
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

from conftest import make_views  # noqa: E402
from skrep import (  # noqa: E402
    CKA,
    DFTCCA,
    PWCCA,
    RSA,
    SVCCA,
    Procrustes,
    SparseLayerPredictor,
    SparseLayerPredictorCV,
    UnitMatcher,
    compare_layers,
)
from skrep.exceptions import SkrepWarning  # noqa: E402

TOL = {"rtol": 1e-10, "atol": 1e-10}


@pytest.fixture(scope="module")
def client():
    """Two worker processes on the loopback interface, for the whole module."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def chunked(A, rows, columns=None):
    return da.from_array(A, chunks=(rows, A.shape[1] if columns is None else columns))


STREAMING = [
    SVCCA(svd_components=None),
    SVCCA(),
    PWCCA(),
    PWCCA(weights_from="y"),
    UnitMatcher(),
    UnitMatcher(method="semi-matching"),
    CKA(),
    CKA(debiased=True),
    Procrustes(),
    Procrustes(alpha=0.3),
    SparseLayerPredictor(decay=1e-3),
]
SCORED = [est for est in STREAMING if not isinstance(est, SparseLayerPredictor)]


def fitted_attributes(est):
    """Every fitted attribute but the route taken (finalising a partial fit)."""
    est._finalize()
    names = [
        name
        for name in dir(est)
        if name.endswith("_") and not name.startswith("_") and name != "algorithm_"
    ]
    values = {}
    for name in names:
        value = getattr(est, name)
        if isinstance(value, (int, float, np.ndarray)) and not isinstance(value, bool):
            values[name] = value
    return values


def assert_same_fit(a, b):
    expected, got = fitted_attributes(a), fitted_attributes(b)
    assert expected.keys() == got.keys()
    for name, value in expected.items():
        if np.asarray(value).dtype.kind in "biuf":
            assert_allclose(got[name], value, **TOL, err_msg=name)
        else:
            assert_array_equal(got[name], value, err_msg=name)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("estimator", STREAMING, ids=repr)
def test_fit_on_a_cluster_equals_numpy(client, estimator, seed):
    X, Y = make_views(seed, n_samples=700, n_x=12, n_y=9)
    X = X + 5.0  # large means, as after a ReLU
    expected = estimator.__class__(**estimator.get_params()).fit(X, Y)
    # uneven row blocks, y in other row blocks and column blocks
    got = estimator.__class__(**estimator.get_params()).fit(
        chunked(X, 130), chunked(Y, 200, 4)
    )
    assert got.n_samples_seen_ == 700
    assert got.n_features_in_ == 12 and got.n_features_y_ == 9
    assert_same_fit(expected, got)


@pytest.mark.parametrize("estimator", SCORED, ids=repr)
def test_held_out_score_on_a_cluster_equals_numpy(client, estimator):
    X, Y = make_views(3, n_samples=900, n_x=12, n_y=9)
    train, test = slice(0, 600), slice(600, None)
    est = estimator.__class__(**estimator.get_params()).fit(X[train], Y[train])
    expected = est.score(X[test], Y[test])
    got = est.score(chunked(X[test], 70, 5), chunked(Y[test], 110))
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-12)
    # fitted on dask arrays, scored on NumPy and dask arrays alike
    lazy = estimator.__class__(**estimator.get_params()).fit(
        chunked(X[train], 90), chunked(Y[train], 90)
    )
    assert lazy.score(X[test], Y[test]) == pytest.approx(expected, rel=1e-10)


def test_partial_fit_mixes_dask_and_numpy_batches(client):
    X, Y = make_views(4, n_samples=600, n_x=10, n_y=7)
    expected = SVCCA().fit(X, Y)
    est = SVCCA().partial_fit(chunked(X[:250], 60), chunked(Y[:250], 60))
    est.partial_fit(X[250:400], Y[250:400])
    est.partial_fit(chunked(X[400:], 77), Y[400:])  # y as NumPy, X as dask
    assert est.n_samples_seen_ == 600
    assert_same_fit(expected, est)
    # merge of estimators filled from dask arrays
    a = UnitMatcher().partial_fit(chunked(X[:300], 100), chunked(Y[:300], 100))
    b = UnitMatcher().partial_fit(chunked(X[300:], 100), chunked(Y[300:], 100))
    assert_allclose(
        a.merge(b).correlation_, UnitMatcher().fit(X, Y).correlation_, **TOL
    )


def test_one_dimensional_y_and_float32(client):
    X, Y = make_views(5, n_samples=400, n_x=6, n_y=1)
    y = Y[:, 0]
    expected = SparseLayerPredictor(decay=0).fit(X, y)
    got = SparseLayerPredictor(decay=0).fit(chunked(X, 64), da.from_array(y, 100))
    assert got.coef_.shape == (6,) and isinstance(got.intercept_, float)
    assert_same_fit(expected, got)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    assert_same_fit(
        UnitMatcher().fit(X32, Y32),
        UnitMatcher().fit(chunked(X32, 50), chunked(Y32, 50)),
    )


def test_the_rows_never_reach_the_client(client, monkeypatch):
    """Converting or computing a dask array on the client would fail here."""
    X, Y = make_views(6, n_samples=500, n_x=8, n_y=8)
    Xd, Yd = chunked(X, 100), chunked(Y, 100)

    def gathered(*args, **kwargs):
        raise AssertionError("a dask array was gathered on the client")

    monkeypatch.setattr(da.Array, "__array__", gathered)
    monkeypatch.setattr(da.Array, "compute", gathered)
    est = PWCCA().fit(Xd, Yd)
    assert est.score(Xd, Yd) == pytest.approx(
        est.weights_ @ est.canonical_correlations_
    )
    assert CKA().fit(Xd, Yd).score(Xd, Yd) == pytest.approx(CKA().fit(X, Y).cka_)


def test_in_sample_score_on_a_cluster_matches_the_fit(client):
    X, Y = make_views(7, n_samples=500, n_x=8, n_y=6)
    Xd, Yd = chunked(X, 120), chunked(Y, 120)
    for est in (SVCCA(), PWCCA(), UnitMatcher(), Procrustes(), CKA()):
        est.fit(Xd, Yd)
        assert est.score(Xd, Yd) == pytest.approx(est._in_sample_score(), rel=1e-10)


def test_dead_units_warn_as_with_numpy(client):
    X, Y = make_views(8, n_samples=300, n_x=6, n_y=5)
    X[:, 2] = 3.0
    with pytest.warns(SkrepWarning) as expected:
        numpy_fit = UnitMatcher().fit(X, Y)
    with pytest.warns(SkrepWarning) as got:
        dask_fit = UnitMatcher().fit(chunked(X, 70), chunked(Y, 70))
    assert [str(w.message) for w in got] == [str(w.message) for w in expected]
    assert_same_fit(numpy_fit, dask_fit)


# ---------------------------------------------------------------------------
# What is refused, clearly, before anything is computed.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "estimator",
    [
        RSA(),
        SparseLayerPredictorCV(decays=[0.0, 1e-2], cv=2),
        CKA(kernel="rbf"),
        CKA(algorithm="gram"),
        UnitMatcher(metric="mutual_info"),
        DFTCCA(),
    ],
    ids=repr,
)
def test_measures_that_need_the_rows_refuse_dask_arrays(estimator):
    X, Y = make_views(9, n_samples=100, n_x=4, n_y=4)
    with pytest.raises(TypeError, match=r"dask arrays.*\.compute\(\)|partial_fit"):
        estimator.fit(chunked(X, 50), chunked(Y, 50))


def test_scores_that_need_the_rows_refuse_dask_arrays():
    X, Y = make_views(9, n_samples=100, n_x=4, n_y=4)
    Xd, Yd = chunked(X, 50), chunked(Y, 50)
    for est in (
        SparseLayerPredictor(),
        RSA(),
        UnitMatcher(metric="mutual_info", n_bins=4),
    ):
        est.fit(X, Y)
        with pytest.raises(TypeError, match=r"score.*dask arrays"):
            est.score(Xd, Yd)
    with pytest.raises(TypeError, match="dask arrays"):
        DFTCCA().fit(X, Y).score(Xd, Yd)


def test_invalid_dask_input_raises_clear_errors():
    X, Y = make_views(10, n_samples=100, n_x=4, n_y=3)
    Xd, Yd = chunked(X, 30), chunked(Y, 30)
    with pytest.raises(ValueError, match="different numbers of rows"):
        SVCCA().fit(Xd, Yd[:90])
    with pytest.raises(ValueError, match="2-D X"):
        SVCCA().fit(Xd[:, :, None], Yd)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        SVCCA().fit(Xd[Xd[:, 0] > 0], Yd)
    with pytest.raises(ValueError, match="real-valued"):
        SVCCA().fit(Xd.astype(complex), Yd)
    with pytest.raises(ValueError, match="minimum of 2"):
        SVCCA().fit(Xd[:1], Yd[:1])
    est = SVCCA().fit(Xd, Yd)
    with pytest.raises(ValueError, match="4 features"):
        est.score(Xd[:, :3], Yd)
    with pytest.raises(ValueError, match="y has 2 units"):
        est.score(Xd, Yd[:, :2])


@pytest.mark.filterwarnings("ignore::skrep.exceptions.InSampleBiasWarning")
def test_transposed_input_warns_as_with_numpy():
    from skrep.exceptions import TransposedInputWarning

    rng = np.random.RandomState(12)
    X, Y = rng.randn(20, 300), rng.randn(20, 5)  # (units, samples), it seems
    with pytest.warns(TransposedInputWarning) as expected:
        SVCCA(svd_components=None).fit(X, Y)
    with pytest.warns(TransposedInputWarning) as got:
        SVCCA(svd_components=None).fit(chunked(X, 7), chunked(Y, 7))
    messages = [
        str(w.message) for w in expected if w.category is TransposedInputWarning
    ]
    assert [
        str(w.message) for w in got if w.category is TransposedInputWarning
    ] == messages
    assert "X is 20 x 300" in messages[0]
    # A partial_fit batch is no fit: few rows are expected there.
    with warnings.catch_warnings():
        warnings.simplefilter("error", TransposedInputWarning)
        warnings.simplefilter("ignore", SkrepWarning)
        UnitMatcher().partial_fit(chunked(X, 7), chunked(Y, 7))
        # Enough rows: no warning.
        Xt, Yt = rng.randn(65, 700), rng.randn(65, 5)
        UnitMatcher().fit(chunked(Xt, 20), chunked(Yt, 20))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_values_are_found_on_the_workers(value):
    X, Y = make_views(11, n_samples=100, n_x=4, n_y=3)
    X[73, 1] = value
    est = SVCCA()
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        est.fit(chunked(X, 30), chunked(Y, 30))
    Y[5, 0] = value
    with pytest.raises(ValueError, match="Input y contains (NaN|infinity)"):
        UnitMatcher().partial_fit(chunked(X[:50], 30), chunked(Y[:50], 30))


def test_import_skrep_does_not_import_dask():
    code = "import sys, skrep; skrep.SVCCA().fit([[0.0], [1.0], [3.0]], [1, 2, 2]); "
    code += "assert 'dask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# compare_layers on the cluster, through joblib's dask backend.
# ---------------------------------------------------------------------------


def test_compare_layers_under_the_dask_backend_equals_the_default(client):
    X, Y = make_views(12, n_samples=300, n_x=8, n_y=6)
    net_a = {"a1": X, "a2": np.tanh(X)}
    net_b = {"b1": Y, "b2": Y**2}
    test = (
        {k: v[200:] for k, v in net_a.items()},
        {k: v[200:] for k, v in net_b.items()},
    )
    train = (
        {k: v[:200] for k, v in net_a.items()},
        {k: v[:200] for k, v in net_b.items()},
    )
    expected = compare_layers(*train, SVCCA(), test=test)
    with joblib.parallel_backend("dask"):
        got = compare_layers(*train, SVCCA(), test=test, n_jobs=-1)
    assert_allclose(got.scores, expected.scores, rtol=1e-12)
    with joblib.parallel_config(backend="dask"):
        got = compare_layers(net_a, net_b, UnitMatcher(), n_jobs=2)
    assert_allclose(got.scores, compare_layers(net_a, net_b, UnitMatcher()).scores)


# ---------------------------------------------------------------------------
# The docs page runs as written.
# ---------------------------------------------------------------------------


def test_docs_page_runs(tmp_path):
    """As a plain script, in a fresh process: its own cluster, no other client."""
    page = Path(__file__).resolve().parents[1] / "docs" / "dask.rst"
    blocks = re.findall(
        r"\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", page.read_text()
    )
    assert len(blocks) >= 3
    checks = """
assert np.allclose(lazy.canonical_correlations_, eager.canonical_correlations_,
                   rtol=1e-10, atol=1e-12)
assert isinstance(held_out, float) and 0 < held_out < 1
assert grid.scores.shape == (2, 2) and np.all(np.isfinite(grid.scores))
"""
    script = tmp_path / "dask_page.py"
    script.write_text(
        "import warnings\n"
        "from skrep.exceptions import SkrepWarning\n"
        "warnings.simplefilter('error', SkrepWarning)  # the examples are clean\n"
        + "".join(textwrap.dedent(block) for block in blocks)
        + checks
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_dask_fits_are_counted_and_forget_a_previous_ys_names():
    # The dask validation shares the second view's bookkeeping with NumPy's:
    # a fit is counted by summarize_warnings, and a refit on (unnamed) dask
    # arrays drops the column names a DataFrame y left.
    pd = pytest.importorskip("pandas")
    from skrep.exceptions import summarize_warnings

    rng = np.random.RandomState(3)
    X, Y = rng.randn(60, 4), rng.randn(60, 3)
    named = pd.DataFrame(Y, columns=["u0", "u1", "u2"])
    est = UnitMatcher().fit(X, named)
    assert list(est.feature_names_y_) == ["u0", "u1", "u2"]
    with summarize_warnings() as summary:
        est.fit(chunked(X, 20), chunked(Y, 20))
        UnitMatcher().fit(chunked(X, 25), chunked(Y, 25))
    assert summary.n_fits == 2
    assert not hasattr(est, "feature_names_y_")
    assert_array_equal(
        est.get_feature_names_out(), UnitMatcher().fit(X, Y).get_feature_names_out()
    )
