"""Array-API inputs (torch tensors, array-api-strict) under array_api_dispatch.

Each estimator fitted on namespace arrays must equal its fit on the same
NumPy data (1e-10 relative in float64, 1e-4 in float32), keep its fitted
arrays in the inputs' namespace and device, and return Python floats from
``score``.
"""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.base import clone

from skrep import PWCCA, SVCCA, SparseLayerPredictor, UnitMatcher
from skrep._core.moments import Moments
from skrep._core.xp import XpMoments, to_numpy
from skrep.exceptions import DeadUnitWarning


@pytest.fixture(autouse=True)
def _scipy_array_api(monkeypatch):
    # scikit-learn refuses array_api_dispatch unless this is set.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")


def _torch_cpu(a):
    torch = pytest.importorskip("torch")
    return torch.asarray(a)


def _torch_cuda(a):
    torch = pytest.importorskip("torch")
    return torch.asarray(a, device="cuda")


def _strict(a):
    xps = pytest.importorskip("array_api_strict")
    return xps.asarray(a)


def _cuda_available():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


CUDA = pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA device")

NAMESPACES = [
    pytest.param(_torch_cpu, id="torch-cpu"),
    pytest.param(_strict, id="array-api-strict"),
    pytest.param(_torch_cuda, id="torch-cuda", marks=CUDA),
]

ESTIMATORS = [
    (SVCCA(), ["canonical_correlations_", "x_rotations_", "y_rotations_", "x_mean_"]),
    (
        SVCCA(svd_components=4, algorithm="svd"),
        ["canonical_correlations_", "x_rotations_"],
    ),
    (PWCCA(), ["canonical_correlations_", "weights_", "x_rotations_", "y_rotations_"]),
    (PWCCA(weights_from="y", svd_components=0.95), ["weights_", "y_rotations_"]),
    (UnitMatcher(), ["correlation_", "match_", "match_correlation_"]),
    (UnitMatcher(method="semi-matching"), ["correlation_", "match_"]),
    (SparseLayerPredictor(decay=0), ["coef_", "intercept_", "standardized_coef_"]),
    (SparseLayerPredictor(decay=1e-3), ["coef_", "intercept_"]),
]


def _views(seed, dtype, dead=False):
    rng = np.random.RandomState(seed)
    Z = rng.randn(400, 4)
    X = Z @ rng.randn(4, 12) + 0.5 * rng.randn(400, 12)
    Y = Z @ rng.randn(4, 9) + 0.5 * rng.randn(400, 9)
    if dead:
        X[:, 2] = 3.0
        Y[:, 5] = 0.0
    return X.astype(dtype), Y.astype(dtype)


def _namespace_name(array):
    return type(array).__module__.split(".")[0]


def _close(actual, expected, rtol):
    actual = to_numpy(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape
    if actual.dtype.kind in "iub":
        np.testing.assert_array_equal(actual, expected)
        return
    scale = max(np.nanmax(np.abs(expected), initial=0.0), 1.0)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("convert", NAMESPACES)
@pytest.mark.parametrize(("estimator", "attributes"), ESTIMATORS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dead", [False, True])
def test_equal_to_numpy(convert, estimator, attributes, dtype, seed, dead):
    X, Y = _views(seed, dtype, dead)
    rtol = 1e-10 if dtype == "float64" else 1e-4
    train, test = slice(0, 300), slice(300, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadUnitWarning)
        ref = clone(estimator).fit(X[train], Y[train])
        ref_score = ref.score(X[test], Y[test])
        Xa, Ya = convert(X), convert(Y)
        with sklearn.config_context(array_api_dispatch=True):
            est = clone(estimator).fit(Xa[train, ...], Ya[train, ...])
            score = est.score(Xa[test, ...], Ya[test, ...])
            if hasattr(est, "predict"):
                output, expected = est.predict(Xa[test, ...]), ref.predict(X[test])
            elif isinstance(est, UnitMatcher):
                output, expected = est.transform(Xa), ref.transform(X)
            else:
                output, expected = est.transform(Xa[test, ...]), ref.transform(X[test])
    assert isinstance(score, float)
    assert abs(score - ref_score) <= rtol * max(abs(ref_score), 1.0)
    for name in attributes:
        value = getattr(est, name)
        assert _namespace_name(value) == _namespace_name(Xa), name
        assert value.device == Xa.device, name
        _close(value, getattr(ref, name), rtol)
    assert _namespace_name(output) == _namespace_name(Xa)
    assert output.device == Xa.device
    _close(output, expected, rtol)


@pytest.mark.parametrize("convert", NAMESPACES)
def test_dead_units_warn_and_count(convert):
    X, Y = _views(0, "float64", dead=True)
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.warns(DeadUnitWarning, match="constant"):
            est = SVCCA(svd_components=None).fit(convert(X), convert(Y))
    assert est.x_rank_ == 11 and est.y_rank_ == 8
    assert to_numpy(est.n_dropped_units_).tolist() == [1, 1]
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.warns(DeadUnitWarning, match="constant"):
            matcher = UnitMatcher().fit(convert(X), convert(Y))
    assert to_numpy(matcher.x_constant_).tolist() == [i == 2 for i in range(12)]
    assert to_numpy(matcher.correlation_)[2].tolist() == [0.0] * 9


@pytest.mark.parametrize("convert", NAMESPACES)
def test_partial_fit_refused_with_clear_error(convert):
    X, Y = _views(0, "float64")
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(TypeError, match="NumPy arrays only"):
            SVCCA().partial_fit(convert(X), convert(Y))
        est = SVCCA().fit(convert(X), convert(Y))
    with pytest.raises(TypeError, match="fit it again"):
        est.partial_fit(X, Y)


@pytest.mark.parametrize("convert", NAMESPACES)
@pytest.mark.parametrize(
    "estimator", [SVCCA(), UnitMatcher(), SparseLayerPredictor()], ids=repr
)
def test_merge_refused_with_clear_error(convert, estimator):
    X, Y = _views(0, "float64")
    numpy_fit = clone(estimator).fit(X[:60], Y[:60])
    with sklearn.config_context(array_api_dispatch=True):
        on_device = clone(estimator).fit(convert(X[60:]), convert(Y[60:]))
    for a, b in ((on_device, numpy_fit), (numpy_fit, on_device)):
        with pytest.raises(TypeError, match="array-API inputs.*Fit it"):
            a.merge(b)
    # Nothing was changed by the refusals.
    assert numpy_fit._accumulator.n_samples == 60
    assert numpy_fit.n_samples_seen_ == 60 and on_device.n_samples_seen_ == 340


@pytest.mark.parametrize("convert", NAMESPACES)
def test_score_from_moments_refused_after_an_array_api_fit(convert):
    X, Y = _views(0, "float64")
    with sklearn.config_context(array_api_dispatch=True):
        est = SVCCA().fit(convert(X), convert(Y))
    moments = est._held_out_accumulator(X.shape[1], Y.shape[1]).update(X, Y)
    with pytest.raises(TypeError, match="fitted on array-API inputs"):
        est._score_from_moments(moments)


def test_numpy_fit_scored_with_tensors_is_refused():
    X, Y = _views(0, "float64")
    est = SVCCA().fit(X, Y)
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match="same namespace"):
            est.score(_torch_cpu(X), _torch_cpu(Y))


def test_without_dispatch_tensors_take_the_numpy_path():
    X, Y = _views(0, "float64")
    est = SVCCA().fit(_torch_cpu(X), _torch_cpu(Y))
    assert isinstance(est.canonical_correlations_, np.ndarray)
    np.testing.assert_allclose(
        est.canonical_correlations_, SVCCA().fit(X, Y).canonical_correlations_
    )


@pytest.mark.parametrize("convert", NAMESPACES)
@pytest.mark.parametrize("products", ["all", "cross"])
def test_device_moments_fold_into_host_moments(convert, products):
    rng = np.random.RandomState(3)
    X, Y = rng.randn(300, 5) + 4.0, rng.randn(300, 3) - 2.0
    xp_moments = XpMoments(
        5, 3, xp=_namespace(convert(X)), device=convert(X).device,
        products=products, track_range=True,
    )  # fmt: skip
    for start in range(0, 300, 70):
        xp_moments.update(
            convert(X[start : start + 70]), convert(Y[start : start + 70])
        )
    host = Moments(5, 3, products=products, track_range=True)
    xp_moments.to_moments(host)
    expected = Moments(5, 3, products=products, track_range=True).update(X, Y)
    for got, want in zip(host.covariances(), expected.covariances()):
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10)
    np.testing.assert_array_equal(host.minimum, expected.minimum)
    np.testing.assert_allclose(host.squares, expected.squares, rtol=1e-12)


def _namespace(array):
    from array_api_compat import array_namespace

    return array_namespace(array)


@pytest.mark.parametrize("namespace", ["torch", "array_api_strict"])
@pytest.mark.parametrize("estimator", [SVCCA(), PWCCA(), UnitMatcher()])
def test_sklearn_array_api_check(namespace, estimator):
    pytest.importorskip(namespace)
    from sklearn.utils.estimator_checks import check_array_api_input

    assert estimator.__sklearn_tags__().array_api_support
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_array_api_input(
            type(estimator).__name__, estimator, namespace,
            dtype_name="float64", check_values=True,
        )  # fmt: skip


def test_sparse_predictor_code_types_stay_numpy():
    # code_type_ holds strings, which array namespaces have no dtype for: it
    # stays a NumPy array, the one reason sklearn's check_array_api_input
    # fails for SparseLayerPredictor.
    X, Y = _views(0, "float64")
    with sklearn.config_context(array_api_dispatch=True):
        est = SparseLayerPredictor(decay=0).fit(_torch_cpu(X), _torch_cpu(Y))
    assert isinstance(est.code_type_, np.ndarray)
    assert (
        est.code_type_.tolist()
        == SparseLayerPredictor(decay=0).fit(X, Y).code_type_.tolist()
    )


# -- what computes in NumPy under dispatch: the inputs go to the host --------


def _host_calls():
    from skrep import CKA, RSA, Procrustes, dead_units, rdm, rsa
    from skrep.inference import bootstrap_interval, permutation_test

    return {
        "CKA": lambda X, Y: CKA().fit(X, Y).score(X, Y),
        "CKA rbf": lambda X, Y: CKA(kernel="rbf").fit(X, Y).score(X, Y),
        "Procrustes": lambda X, Y: Procrustes().fit(X, Y).score(X, Y),
        "Procrustes transform": lambda X, Y: Procrustes().fit(X, Y).transform(X, Y),
        "RSA": lambda X, Y: RSA().fit(X, Y).score(X, Y),
        "rsa": rsa,
        "rdm": lambda X, Y: rdm(X),
        "dead_units": lambda X, Y: dead_units(X),
        "permutation_test": lambda X, Y: (
            permutation_test(
                UnitMatcher(), X, Y, n_permutations=9, random_state=0
            ).pvalue
        ),
        "bootstrap_interval": lambda X, Y: (
            bootstrap_interval(
                UnitMatcher(), X, Y, n_resamples=9, random_state=0
            ).ci_low
        ),
    }


@pytest.mark.parametrize("name", sorted(_host_calls()))
@pytest.mark.parametrize("convert", NAMESPACES[:2])
def test_numpy_only_measures_take_array_api_inputs_to_the_host(name, convert):
    # They declare no array-API support: under dispatch their tensor inputs
    # are copied to the host and they compute as on NumPy input (they used
    # to fail inside NumPy code with obscure TypeErrors).
    call = _host_calls()[name]
    rng = np.random.RandomState(0)
    X, Y = rng.randn(40, 5), rng.randn(40, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = call(X, Y)
        with sklearn.config_context(array_api_dispatch=True):
            got = call(convert(X), convert(Y))
    for g, e in zip(
        got if isinstance(got, tuple) else (got,),
        expected if isinstance(expected, tuple) else (expected,),
    ):
        assert isinstance(g, (float, np.ndarray, np.floating))
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
