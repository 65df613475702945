"""The checks of skrep.utils catch broken estimators, and discovery finds all.

Each broken estimator below subclasses a real one and breaks one promise
the way a real bug would; the check for that promise must raise an
AssertionError saying so.
"""

import importlib.util
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.preprocessing import StandardScaler

from skrep import (
    PWCCA,
    SVCCA,
    SparseLayerPredictor,
    SparseLayerPredictorCV,
    UnitMatcher,
)
from skrep._core.moments import Moments
from skrep.base import SkrepTags, TwoViewMixin, get_skrep_tags
from skrep.utils import all_estimators
from skrep.utils.estimator_checks import (
    _documented_nan_attributes,
    _yield_skrep_checks,
    check_accumulators_merge,
    check_bad_input_raises,
    check_dead_units_never_nan,
    check_float32_agrees_with_float64,
    check_held_out_below_in_sample,
    check_identical_views_maximum,
    check_inputs_not_modified,
    check_invariances,
    check_partial_fit_continues_fit,
    check_partial_fit_equals_fit,
    check_skrep_estimator,
    check_skrep_tags,
    parametrize_with_skrep_checks,
)

# -- broken estimators ------------------------------------------------------


class CentresInPlace(SVCCA):
    """Centres the caller's X in place before fitting."""

    def fit(self, X, y):
        if isinstance(X, np.ndarray) and X.flags.writeable:
            X -= X.mean(axis=0)
        return super().fit(X, y)


class LocksInput(SVCCA):
    """Marks the caller's arrays read-only."""

    def fit(self, X, y):
        if isinstance(X, np.ndarray):
            X.setflags(write=False)
        return super().fit(X, y)


class NaNForDeadUnits(SVCCA):
    """Returns NaN as soon as a unit is constant."""

    def _score(self, X, Y):
        if np.any(np.ptp(X, axis=0) == 0) or np.any(np.ptp(Y, axis=0) == 0):
            return np.nan
        return super()._score(X, Y)


class SilentDeadUnits(SVCCA):
    """Drops dead units without telling anyone."""

    def fit(self, X, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return super().fit(X, y)

    def _fit_accumulator(self, accumulator):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            super()._fit_accumulator(accumulator)


class RelativeSpread(SVCCA):
    """Stores each X unit's spread relative to its mean: NaN for a zero unit.

    Attributes
    ----------
    x_relative_spread_ : ndarray of shape (n_units_x,)
        Standard deviation over absolute mean of each X unit.
    """

    def fit(self, X, y):
        super().fit(X, y)
        X = np.asarray(X, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.x_relative_spread_ = X.std(axis=0) / np.abs(X.mean(axis=0))
        return self


class DocumentedRelativeSpread(RelativeSpread):
    """The same, with the NaN documented.

    Attributes
    ----------
    x_relative_spread_ : ndarray of shape (n_units_x,)
        Standard deviation over absolute mean of each X unit, NaN for an
        all-zero unit.
    """


class ForgetsBatches(SVCCA):
    """partial_fit restarts on every call."""

    def partial_fit(self, X, y):
        self._start_fit()
        return super().partial_fit(X, y)


class FitDropsAccumulator(SVCCA):
    """fit leaves nothing for partial_fit to continue from."""

    def fit(self, X, y):
        super().fit(X, y)
        del self._accumulator
        del self.n_samples_seen_
        return self


class _ReferenceKeeper:
    """An accumulator that keeps references to the batches (folded in late)."""

    def __init__(self, n_units_x, n_units_y):
        self.shape = (n_units_x, n_units_y)
        self.batches = []

    def update(self, X, Y):
        self.batches.append((X, Y))

    def merge(self, other):
        self.batches.extend(other.batches)
        return self

    def moments(self):
        moments = Moments(*self.shape)
        for X, Y in self.batches:
            moments.update(X, Y)
        return moments


class KeepsBatchReferences(SVCCA):
    """partial_fit keeps the caller's batches and reads them only at the end."""

    def _new_accumulator(self, n_units_x, n_units_y):
        return _ReferenceKeeper(n_units_x, n_units_y)

    def _fit_accumulator(self, accumulator):
        if isinstance(accumulator, _ReferenceKeeper):
            accumulator = accumulator.moments()
        super()._fit_accumulator(accumulator)


class _NoMerge(Moments):
    def merge(self, other):
        return self


class MergeDoesNothing(SVCCA):
    """Its accumulators' merge forgets the other rows."""

    def _new_accumulator(self, n_units_x, n_units_y):
        return _NoMerge(n_units_x, n_units_y)


class ClaimsRotationsOfX(PWCCA):
    """Declares invariances PWCCA (weights from X) does not have."""

    def __skrep_tags__(self):
        tags = super().__skrep_tags__()
        tags.invariances = tags.invariances | {"orthogonal_x", "unit_scaling_x"}
        return tags


class MisspelledInvariance(SVCCA):
    def __skrep_tags__(self):
        tags = super().__skrep_tags__()
        tags.invariances = tags.invariances | {"rotation_x"}
        return tags


class ClaimsMaximum(SparseLayerPredictor):
    """A lasso does not predict a layer from itself perfectly."""

    def __skrep_tags__(self):
        tags = super().__skrep_tags__()
        tags.maximum = 1.0
        return tags


class ScoresTheFit(SVCCA):
    """score ignores its data and returns the in-sample similarity."""

    def _score(self, X, Y):
        return float(np.mean(self.canonical_correlations_))


def _half(array):
    array = np.asarray(array)
    if array.dtype == np.float32:
        return array.astype(np.float16).astype(np.float32)
    return array


class HalfPrecision(SVCCA):
    """Rounds float32 input to float16 (a low-precision accumulation)."""

    def fit(self, X, y):
        return super().fit(_half(X), _half(y))

    def _score(self, X, Y):
        return super()._score(_half(X), _half(Y))


class ZeroesNaN(SVCCA):
    """Replaces NaN by 0 instead of refusing it."""

    def fit(self, X, y):
        if isinstance(X, np.ndarray) and X.ndim == 2:
            X = np.nan_to_num(X)
        return super().fit(X, y)


class StreamingClaimWithoutPartialFit(SparseLayerPredictorCV):
    def __skrep_tags__(self):
        tags = super().__skrep_tags__()
        tags.streaming = True
        return tags


BROKEN = [
    (CentresInPlace(), check_inputs_not_modified, "changed the values"),
    (LocksInput(), check_inputs_not_modified, "changed the flags"),
    (NaNForDeadUnits(), check_dead_units_never_nan, "score() is not finite"),
    (SilentDeadUnits(), check_dead_units_never_nan, "no warning"),
    (RelativeSpread(), check_dead_units_never_nan, "x_relative_spread_ holds NaN"),
    (ForgetsBatches(), check_partial_fit_equals_fit, "partial_fit over"),
    (ForgetsBatches(), check_partial_fit_continues_fit, "does not equal fit"),
    (KeepsBatchReferences(), check_partial_fit_equals_fit, "partial_fit"),
    (FitDropsAccumulator(), check_partial_fit_continues_fit, "partial_fit on"),
    (MergeDoesNothing(), check_accumulators_merge, "merging the accumulators"),
    (ClaimsRotationsOfX(), check_invariances, "orthogonal_x"),
    (ClaimsRotationsOfX(), check_invariances, "unit_scaling_x"),
    (MisspelledInvariance(), check_skrep_tags, "rotation_x"),
    (MisspelledInvariance(), check_invariances, "rotation_x"),
    (ClaimsMaximum(), check_identical_views_maximum, "maximum=1.0"),
    (ScoresTheFit(), check_held_out_below_in_sample, "is not below"),
    (HalfPrecision(), check_float32_agrees_with_float64, "float32"),
    (ZeroesNaN(), check_bad_input_raises, "fit with X with NaN: raised nothing"),
    (StreamingClaimWithoutPartialFit(), check_skrep_tags, "no partial_fit"),
]


@pytest.mark.parametrize(
    "estimator, check, message",
    BROKEN,
    ids=[f"{type(e).__name__}-{c.__name__}" for e, c, _ in BROKEN],
)
def test_check_catches_broken_estimator(estimator, check, message):
    with pytest.raises(
        AssertionError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        check(type(estimator).__name__, estimator)


def test_documented_nan_is_allowed():
    assert _documented_nan_attributes(DocumentedRelativeSpread()) == {
        "x_relative_spread_"
    }
    check_dead_units_never_nan("DocumentedRelativeSpread", DocumentedRelativeSpread())
    assert _documented_nan_attributes(UnitMatcher()) == {
        "match_correlation_",
        "match_similarity_",
    }
    assert _documented_nan_attributes(SVCCA()) == frozenset()


def test_the_originals_pass_what_their_subclasses_break():
    # The broken estimators fail because of their bug, not the check's data.
    for estimator, check, _ in BROKEN:
        original = type(estimator).__mro__[1]
        if original in (SVCCA, PWCCA, SparseLayerPredictor, SparseLayerPredictorCV):
            if check in _yield_skrep_checks(original()) or check is check_skrep_tags:
                check(original.__name__, original())


def test_checks_leave_the_estimator_alone():
    estimator = SVCCA()
    check_partial_fit_equals_fit("SVCCA", estimator)
    check_invariances("SVCCA", estimator)
    assert not hasattr(estimator, "n_features_in_")
    assert estimator.get_params() == SVCCA().get_params()


# -- which checks apply -----------------------------------------------------


def _names(estimator):
    return [check.__name__ for check in _yield_skrep_checks(estimator)]


def test_checks_follow_tags_and_methods():
    assert "check_identical_views_maximum" in _names(SVCCA())
    assert "check_partial_fit_equals_fit" in _names(SVCCA())
    assert "check_accumulators_merge" in _names(SVCCA())
    # maximum=None: no maximum check
    assert get_skrep_tags(SparseLayerPredictor()).maximum is None
    assert "check_identical_views_maximum" not in _names(SparseLayerPredictor())
    # no partial_fit: no streaming checks
    cv_checks = _names(SparseLayerPredictorCV())
    assert not any("partial_fit" in name or "merge" in name for name in cv_checks)
    assert "check_dead_units_never_nan" in cv_checks
    # not a two-view measure: no skrep check
    assert _names(StandardScaler()) == []


class _UndeclaredTwoView(BaseEstimator):
    """Takes a second view (y required) but declares no skrep tags."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def fit(self, X, y):
        return self

    def score(self, X, y):
        return 0.0


def test_undeclared_estimators_are_promised_nothing():
    names = _names(_UndeclaredTwoView())
    assert "check_inputs_not_modified" in names
    assert not {
        "check_identical_views_maximum",
        "check_invariances",
        "check_held_out_below_in_sample",
        "check_partial_fit_equals_fit",
    } & set(names)


def test_streaming_false_skips_streaming_checks():
    class NoStream(SVCCA):
        def __skrep_tags__(self):
            tags = super().__skrep_tags__()
            tags.streaming = False
            return tags

    assert not any("partial_fit" in name for name in _names(NoStream()))


def test_parametrize_with_skrep_checks_marks_expected_failures():
    reason = "declares rotations of X it does not have"
    decorator = parametrize_with_skrep_checks(
        [ClaimsRotationsOfX()],
        expected_failed_checks=lambda est: {"check_invariances": reason},
    )
    argnames, params = decorator.mark.args[:2]
    assert argnames == "estimator, check"
    by_name = {}
    for param in params:
        values = getattr(param, "values", param)
        marks = getattr(param, "marks", ())
        by_name[values[1].func.__name__] = marks
    assert [mark.kwargs["reason"] for mark in by_name["check_invariances"]] == [reason]
    assert by_name["check_inputs_not_modified"] == ()


def test_parametrize_with_skrep_checks_refuses_classes():
    with pytest.raises(TypeError, match="instances"):
        parametrize_with_skrep_checks([SVCCA])


def test_check_skrep_estimator_runs_all_but_expected_failures():
    with pytest.raises(AssertionError, match="orthogonal_x"):
        check_skrep_estimator(ClaimsRotationsOfX())
    check_skrep_estimator(
        ClaimsRotationsOfX(),
        expected_failed_checks={"check_invariances": "declares too much"},
    )


# -- discovery --------------------------------------------------------------


def test_all_estimators_finds_the_public_estimators():
    estimators = all_estimators()
    names = [name for name, _ in estimators]
    assert names == sorted(names)
    expected = {"PWCCA", "SVCCA", "SparseLayerPredictor", "SparseLayerPredictorCV"}
    assert expected | {"UnitMatcher"} <= set(names)
    for name, cls in estimators:
        assert issubclass(cls, BaseEstimator)
        assert not name.startswith("_")
        assert cls.__module__.startswith("skrep.")
        assert cls.__name__ == name
    has_torch = importlib.util.find_spec("torch") is not None
    assert ("TorchActivationExtractor" in names) == has_torch


def test_all_estimators_type_filter():
    two_view = dict(all_estimators(type_filter="two_view"))
    assert {"PWCCA", "SVCCA"} <= set(two_view)
    assert all(issubclass(cls, TwoViewMixin) for cls in two_view.values())
    assert "TorchActivationExtractor" not in two_view
    regressors = dict(all_estimators(type_filter="regressor"))
    assert "SparseLayerPredictor" in regressors and "SVCCA" not in regressors
    transformers = dict(all_estimators(type_filter="transformer"))
    assert "SVCCA" in transformers and "SparseLayerPredictor" not in transformers
    both = dict(all_estimators(type_filter=["regressor", "transformer"]))
    assert set(both) == set(regressors) | set(transformers)
    with pytest.raises(ValueError, match="type_filter"):
        all_estimators(type_filter="classifier")


def test_all_estimators_skips_torch_without_torch(monkeypatch):
    find_spec = importlib.util.find_spec

    def without_torch(name, *args, **kwargs):
        if name == "torch":
            return None
        return find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_torch)
    names = [name for name, _ in all_estimators()]
    assert "TorchActivationExtractor" not in names
    assert "SVCCA" in names


def test_skrep_tags_defaults_are_a_dataclass():
    # the checks read SkrepTags fields by name
    assert {"maximum", "invariances", "streaming", "held_out_below_in_sample"} <= set(
        SkrepTags.__dataclass_fields__
    )
