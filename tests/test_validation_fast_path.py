"""The validation fast path for plain float arrays: same results, same errors.

``TwoViewMixin._validate_views`` checks plain NumPy float views itself
instead of calling scikit-learn's ``validate_data``; everything it does not
take goes through ``validate_data``. Each test runs the same inputs through
both paths (``slow`` turns the fast path off) and compares what the caller
sees: the returned arrays, the fitted attributes, the errors with their
messages, and the warnings.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import config_context

import skrep.base
from conftest import make_views
from skrep import CKA, PWCCA, SVCCA, Procrustes, UnitMatcher

ESTIMATORS = [
    pytest.param(lambda: SVCCA(svd_components=None), id="CCA"),
    pytest.param(SVCCA, id="SVCCA"),
    pytest.param(PWCCA, id="PWCCA"),
    pytest.param(CKA, id="CKA"),
    pytest.param(Procrustes, id="Procrustes"),
    pytest.param(UnitMatcher, id="UnitMatcher"),
]


class Sub(np.ndarray):
    """An ndarray subclass: validated by scikit-learn, not by the fast path."""


@pytest.fixture
def calls(monkeypatch):
    """Count the calls of scikit-learn's validate_data from the views' check."""
    seen = []
    original = skrep.base.validate_data

    def counting(*args, **kwargs):
        seen.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(skrep.base, "validate_data", counting)
    return seen


def run(action, *, slow):
    """Run ``action()`` on the fast path or (``slow``) without it.

    Returns what it returned, or the error's type and message, and the
    warnings it raised as (category, message) pairs.
    """
    original = skrep.base._plain_views
    if slow:
        skrep.base._plain_views = lambda *args: False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                outcome = action()
            except Exception as error:  # noqa: BLE001 - compared, not handled
                outcome = (type(error), str(error))
    finally:
        skrep.base._plain_views = original
    return outcome, [(w.category, str(w.message)) for w in caught]


def fitted(estimator):
    """The fitted attributes of ``estimator`` (public, ending with "_")."""
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_")
    }


def assert_same_attributes(fast, slow):
    fast, slow = fitted(fast), fitted(slow)
    assert fast.keys() == slow.keys()
    for name in fast:
        a, b = fast[name], slow[name]
        if isinstance(a, (np.ndarray, np.generic)) or isinstance(b, np.ndarray):
            assert type(a) is type(b), name
            assert np.asarray(a).dtype == np.asarray(b).dtype, name
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            assert a == b, name


def assert_same(action):
    """``action`` gives the same outcome and warnings on both paths."""
    fast, fast_warnings = run(action, slow=False)
    slow, slow_warnings = run(action, slow=True)
    assert fast_warnings == slow_warnings
    if isinstance(fast, tuple) and len(fast) == 2 and isinstance(fast[0], type):
        assert fast == slow
    return fast, slow


def validate(make, X, y, **kwargs):
    """A fresh estimator's ``_validate_views(X, y)``, and the estimator."""
    estimator = make()
    return lambda: (estimator._validate_views(X, y, **kwargs), estimator)


# --------------------------------------------------------------------------
# The fast path is taken, and changes nothing


@pytest.mark.parametrize("make", ESTIMATORS)
def test_fit_same_attributes(make, calls):
    X, Y = make_views(0, n_samples=80, n_x=6, n_y=5)
    fast = make().fit(X, Y)
    assert not calls  # the plain arrays took the fast path
    slow = make().fit(X.view(Sub), Y.view(Sub))
    assert calls  # the subclass did not
    assert_same_attributes(fast, slow)
    assert fast.score(X, Y) == slow.score(X, Y)


@pytest.mark.parametrize(
    "layout",
    ["C", "F", "1-D y", "float32", "float32 X", "float32 y", "read-only"],
)
def test_validated_views_are_the_inputs(layout, calls):
    X, Y = make_views(1, n_samples=40, n_x=4, n_y=3)
    if layout == "F":
        X, Y = np.asfortranarray(X), np.asfortranarray(Y)
    elif layout == "1-D y":
        Y = Y[:, 0].copy()
    elif layout == "float32":
        X, Y = X.astype(np.float32), Y.astype(np.float32)
    elif layout == "float32 X":
        X = X.astype(np.float32)
    elif layout == "float32 y":
        Y = Y.astype(np.float32)
    elif layout == "read-only":
        X.flags.writeable = Y.flags.writeable = False
    (fast_views, fast_est), _ = run(validate(SVCCA, X, Y), slow=False)
    assert not calls
    (slow_views, slow_est), _ = run(validate(SVCCA, X, Y), slow=True)
    assert calls
    # No copy on either path: the caller's arrays (a column view of a 1-D y).
    assert fast_views[0] is X and slow_views[0] is X
    for fast, slow in zip(fast_views, slow_views, strict=True):
        assert fast.dtype == slow.dtype
        assert fast.flags.writeable == slow.flags.writeable
        assert fast.flags.c_contiguous == slow.flags.c_contiguous
        assert fast.flags.f_contiguous == slow.flags.f_contiguous
        assert np.shares_memory(fast, slow)
        np.testing.assert_array_equal(fast, slow)
    assert_same_attributes(fast_est, slow_est)
    assert fast_est._y_is_1d == slow_est._y_is_1d == (layout == "1-D y")


@pytest.mark.parametrize("make", [SVCCA, PWCCA])
def test_float32_fit(make, calls):
    X, Y = make_views(2, n_samples=120, n_x=5, n_y=4)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    fast = make().fit(X, Y)
    assert not calls
    assert_same_attributes(fast, make().fit(X.view(Sub), Y.view(Sub)))


def test_caller_arrays_unchanged():
    X, Y = make_views(3, n_samples=50, n_x=4, n_y=4)
    X0, Y0 = X.copy(), Y.copy()
    for make in (SVCCA, PWCCA, CKA, Procrustes):
        make().fit(X, Y).partial_fit(X, Y).score(X, Y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


def test_other_inputs_take_the_slow_path(calls):
    X, Y = make_views(4, n_samples=30, n_x=3, n_y=3)
    others = [
        (X.tolist(), Y),
        (X, Y.tolist()),
        (pd.DataFrame(X), Y),
        (X, pd.DataFrame(Y)),
        (X.view(Sub), Y),
        (X, Y.view(Sub)),
        (X[:, ::2], Y),  # neither C nor Fortran order
        (X, Y[::2].repeat(2, axis=0)[:, ::-1]),
        (X.astype(np.int64), Y),
        (X.astype(np.float16), Y),
        (X.astype(">f8"), Y),  # not native byte order
        (X, Y.astype(np.int32)),
    ]
    for i, (A, B) in enumerate(others, start=1):
        SVCCA().fit(A, B)
        assert len(calls) == i


def test_dtype_the_estimator_does_not_keep(monkeypatch, calls):
    """float32 X goes to scikit-learn when the estimator wants float64 only."""
    X, Y = make_views(5, n_samples=30, n_x=3, n_y=3)
    monkeypatch.setattr(SVCCA, "_view_dtype", np.float64, raising=False)
    (views, _), _ = run(validate(SVCCA, X.astype(np.float32), Y), slow=False)
    assert calls and views[0].dtype == np.float64
    calls.clear()
    monkeypatch.setattr(SVCCA, "_view_dtype", [np.float64, np.float32], raising=False)
    (views, _), _ = run(validate(SVCCA, X.astype(np.float32), Y), slow=False)
    assert not calls and views[0].dtype == np.float32


# --------------------------------------------------------------------------
# Errors and warnings: the same on both paths


def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


X0, Y0 = make_views(6, n_samples=20, n_x=3, n_y=2)

BAD_VIEWS = {
    "NaN in X": (_with(X0, (3, 1), np.nan), Y0),
    "NaN in y": (X0, _with(Y0, (5, 0), np.nan)),
    "inf in X": (_with(X0, (0, 0), np.inf), Y0),
    "-inf in y": (X0, _with(Y0, (19, 1), -np.inf)),
    "inf and -inf in X": (_with(_with(X0, (1, 1), np.inf), (2, 2), -np.inf), Y0),
    "NaN in float32 X": (_with(X0, (3, 1), np.nan).astype(np.float32), Y0),
    "inf in 1-D y": (X0, _with(Y0[:, 0], 4, np.inf)),
    "NaN in both": (_with(X0, (3, 1), np.nan), _with(Y0, (5, 0), np.nan)),
    "1-D X": (X0[:, 0].copy(), Y0),
    "0-D X": (np.array(1.0), Y0),
    "3-D X": (X0.reshape(20, 3, 1), Y0),
    "3-D y": (X0, Y0.reshape(20, 2, 1)),
    "no rows": (X0[:0], Y0[:0]),
    "no columns in X": (X0[:, :0], Y0),
    "no columns in y": (X0, Y0[:, :0]),
    "empty 1-D y": (X0[:0], Y0[:0, 0]),
    "mismatched rows": (X0, Y0[:-1]),
    "mismatched 1-D y": (X0, Y0[:-1, 0]),
    "one sample": (X0[:1], Y0[:1]),
    "complex X": (X0 + 1j, Y0),
    "complex y": (X0, Y0 + 1j),
    "NaN in X, mismatched rows": (_with(X0, (3, 1), np.nan), Y0[:-1]),
}


@pytest.mark.parametrize("make", ESTIMATORS)
@pytest.mark.parametrize("case", list(BAD_VIEWS))
def test_fit_errors_are_the_same(make, case):
    X, Y = BAD_VIEWS[case]
    fast, _ = assert_same(lambda: make().fit(X, Y))
    assert isinstance(fast, tuple) and issubclass(fast[0], Exception), fast


@pytest.mark.parametrize("case", list(BAD_VIEWS))
def test_partial_fit_errors_are_the_same(case):
    X, Y = BAD_VIEWS[case]
    assert_same(lambda: SVCCA().partial_fit(X, Y))
    fitted_on = SVCCA().fit(X0, Y0)
    assert_same(lambda: fitted_on.partial_fit(X, Y))


def test_error_messages():
    """The messages are scikit-learn's (spot checks of the comparisons above)."""
    est = SVCCA()
    for case, message in [
        ("NaN in X", "Input X contains NaN.\nSVCCA does not accept missing values"),
        ("NaN in y", "Input y contains NaN."),
        ("inf in X", "Input X contains infinity or a value too large for"),
        ("1-D X", "Expected 2D array, got 1D array instead"),
        ("one sample", "Found array with 1 sample(s) (shape=(1, 3)) while a minimum"),
        ("mismatched rows", "Found input variables with inconsistent numbers"),
        ("complex X", "Complex data not supported"),
    ]:
        X, Y = BAD_VIEWS[case]
        with pytest.raises(ValueError) as error:
            est.fit(X, Y)
        assert str(error.value).startswith(message), (case, str(error.value))


def test_overflowing_sum_is_no_error(calls):
    """Finite values whose sum overflows pass, as scikit-learn's exact check says."""
    X = np.full((10, 2), 1e308)
    Y = make_views(7, n_samples=10, n_x=2, n_y=2)[1]
    (fast_views, _), fast_warnings = run(validate(SVCCA, X, Y), slow=False)
    assert fast_views[0] is X and not fast_warnings
    assert len(calls) == 1  # the inconclusive pre-check handed over
    (slow_views, _), slow_warnings = run(validate(SVCCA, X, Y), slow=True)
    assert slow_views[0] is X and fast_warnings == slow_warnings


@pytest.mark.parametrize("case", ["NaN in X", "inf in X", "-inf in y"])
def test_assume_finite(case, calls):
    X, Y = BAD_VIEWS[case]
    with config_context(assume_finite=True):
        (fast_views, _), fast_warnings = run(validate(SVCCA, X, Y), slow=False)
        assert not calls
        (slow_views, _), slow_warnings = run(validate(SVCCA, X, Y), slow=True)
    assert fast_views[0] is slow_views[0] is X
    assert fast_warnings == slow_warnings == []


def test_minimum_samples_of_a_batch(calls):
    """partial_fit takes one row, fit needs two; no row is an error."""
    X, Y = X0[:1], Y0[:1]
    fast, _ = assert_same(lambda: SVCCA().partial_fit(X, Y).n_samples_seen_)
    assert fast == 1
    fast, _ = assert_same(lambda: SVCCA().partial_fit(X0[:0], Y0[:0]))
    assert fast[0] is ValueError


def test_feature_names_dropped_after_dataframe_fit():
    X, Y = make_views(8, n_samples=30, n_x=3, n_y=2)
    columns_x, columns_y = ["a", "b", "c"], ["u", "v"]
    frames = pd.DataFrame(X, columns=columns_x), pd.DataFrame(Y, columns=columns_y)

    def refit():
        est = SVCCA().fit(*frames)
        assert list(est.feature_names_in_) == columns_x
        assert list(est.feature_names_y_) == columns_y
        return est.fit(X, Y)

    fast, slow = assert_same(refit)
    assert_same_attributes(fast, slow)
    for est in (fast, slow):
        assert not hasattr(est, "feature_names_in_")
        assert not hasattr(est, "feature_names_y_")
    np.testing.assert_array_equal(fast.get_feature_names_out(), ["svcca0", "svcca1"])


def test_feature_names_warning_of_a_later_batch():
    X, Y = make_views(9, n_samples=30, n_x=3, n_y=2)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])

    def batches():
        return SVCCA().partial_fit(frame[:15], Y[:15]).partial_fit(X[15:], Y[15:])

    fast, slow = assert_same(batches)
    _, caught = run(batches, slow=False)
    assert caught == [
        (
            UserWarning,
            "X does not have valid feature names, but SVCCA was fitted with "
            "feature names",
        )
    ]
    assert_same_attributes(fast, slow)
    np.testing.assert_array_equal(fast.feature_names_in_, ["a", "b", "c"])


def test_n_features_mismatch_of_a_later_batch():
    X, Y = make_views(10, n_samples=30, n_x=3, n_y=2)
    est = SVCCA().fit(X, Y)
    for A, B, message in [
        (X[:, :2], Y, "X has 2 features, but SVCCA is expecting 3 features as input."),
        (X, Y[:, :1], "y has 1 units, but SVCCA was fitted with 2."),
        (X, Y[:, 0], "y has 1 units, but SVCCA was fitted with 2."),
    ]:
        fast, _ = assert_same(lambda A=A, B=B: est.partial_fit(A, B))
        assert fast == (ValueError, message)
        fast, _ = assert_same(lambda A=A, B=B: est.score(A, B))
        assert fast[0] is ValueError
    # The failed batches left the estimator as it was.
    assert est.n_samples_seen_ == 30


def test_transposed_warning_is_the_same(calls):
    rng = np.random.RandomState(11)
    X, Y = rng.randn(5, 60), rng.randn(5, 50)
    fast, slow = assert_same(lambda: SVCCA().fit(X, Y))
    assert_same_attributes(fast, slow)
    calls.clear()
    _, caught = run(lambda: SVCCA().fit(X, Y), slow=False)
    assert not calls
    assert any("did you swap rows and columns" in message for _, message in caught)
