"""The checks every skrep measure inherits: its promises, tested on data.

scikit-learn's :func:`~sklearn.utils.estimator_checks.parametrize_with_checks`
tests the estimator API. The checks here test what a *two-view measure*
promises on top of it, read from its :class:`~skrep.base.SkrepTags` and its
methods:

- identical views give the declared maximum;
- the declared invariances hold (shifts, scalings, permutations, rotations,
  invertible maps of either view leave the in-sample score unchanged);
- on small noisy data the held-out score is below the in-sample one;
- ``partial_fit`` over any split of the rows equals ``fit``, continues after
  ``fit``, and accumulators built on different rows merge into the full fit;
- float32 input agrees with float64;
- constant (dead) units warn and never give NaN;
- the caller's arrays are never changed;
- bad input (NaN, inf, mismatched rows, 1-D X, empty or sparse views) raises;
- the second view's column names are checked like X's (scikit-learn's rule).

Each check is a function ``check_xxx(name, estimator)`` that raises
:class:`AssertionError` with a message saying what broke. It works on a
clone, so the estimator passed in is left alone. Rows are samples, columns
units; the second view is passed as ``y``. The data are synthetic: two views
of a shared latent code plus noise, small except where a property needs
many more samples than units.

:func:`parametrize_with_skrep_checks` turns the checks that apply to some
estimators into a pytest parametrization, like scikit-learn's; a new
measure that subclasses :class:`skrep.base.TwoViewMixin` (and is exported
from :mod:`skrep`) is checked by ``tests/test_common.py`` without being
listed anywhere. :func:`check_skrep_estimator` runs them all at once.

Examples
--------
>>> from skrep import SVCCA
>>> from skrep.utils.estimator_checks import check_skrep_estimator
>>> check_skrep_estimator(SVCCA(svd_components=None))
"""

from __future__ import annotations

import contextlib
import inspect
import re
import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
import scipy.sparse
from scipy.stats import ortho_group
from sklearn.base import clone
from sklearn.utils import get_tags

from skrep.base import INVARIANCES, SkrepTags, TwoViewMixin, get_skrep_tags

__all__ = [
    "check_accumulators_merge",
    "check_bad_input_raises",
    "check_dead_units_never_nan",
    "check_float32_agrees_with_float64",
    "check_held_out_below_in_sample",
    "check_identical_views_maximum",
    "check_inputs_not_modified",
    "check_invariances",
    "check_partial_fit_continues_fit",
    "check_partial_fit_equals_fit",
    "check_second_view_names",
    "check_skrep_estimator",
    "check_skrep_tags",
    "parametrize_with_skrep_checks",
]

#: Tolerance on ``score(X, X)`` against the declared maximum.
MAXIMUM_ATOL = 1e-8
#: Relative tolerance on the in-sample score under a declared invariance.
INVARIANCE_RTOL = 1e-7
#: Tolerance of partial_fit against fit, relative to each array's largest
#: absolute value.
STREAMING_RTOL = 1e-9
#: Absolute tolerance on the score between float32 and float64 input.
FLOAT32_ATOL = 1e-4


# -- data and helpers -------------------------------------------------------


def _make_views(seed=0, n_samples=100, n_x=5, n_y=4, n_latent=3, noise=0.5):
    """Two views of a shared latent code plus noise (rows are samples).

    The defaults are well conditioned: a few units, many more samples, and
    at least as many X units as Y units (so that a one-to-one matching pairs
    every Y unit).
    """
    rng = np.random.RandomState(seed)
    latent = rng.randn(n_samples, n_latent)
    X = latent @ rng.randn(n_latent, n_x) + noise * rng.randn(n_samples, n_x)
    Y = latent @ rng.randn(n_latent, n_y) + noise * rng.randn(n_samples, n_y)
    return X, Y


def _fresh(estimator):
    """Clone, fixing the random state when there is one."""
    estimator = clone(estimator)
    if "random_state" in estimator.get_params(deep=False):
        estimator.set_params(random_state=0)
    return estimator


@contextlib.contextmanager
def _quiet():
    """Silence skrep's (and scikit-learn's) user warnings.

    Only :class:`UserWarning` and its subclasses: deprecation and future
    warnings keep whatever filter the caller set (errors under skrep's test
    configuration).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _is_two_view(estimator):
    """Whether the estimator compares two views (``y`` is the second one)."""
    if isinstance(estimator, TwoViewMixin) or _declares_tags(estimator):
        return True
    return bool(get_tags(estimator).target_tags.required) and hasattr(
        estimator, "score"
    )


def _declares_tags(estimator):
    return getattr(type(estimator), "__skrep_tags__", None) is not None


def _streams(estimator):
    """Whether ``partial_fit`` is promised to work (streaming tag and method)."""
    return bool(get_skrep_tags(estimator).streaming) and hasattr(
        estimator, "partial_fit"
    )


def _fitted_names(estimator):
    """Public fitted attributes set so far (names ending with ``_``)."""
    return sorted(
        name
        for name in vars(estimator)
        if name.endswith("_") and not name.startswith("_")
    )


def _accepts_y(method):
    try:
        return "y" in inspect.signature(method).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False


def _outputs(estimator, X, Y):
    """Return what the fitted estimator gives on (X, Y): score, transform, predict."""
    outputs = {"score": estimator.score(X, Y)}
    if hasattr(estimator, "transform"):
        outputs["transform"] = estimator.transform(X)
    if hasattr(estimator, "predict"):
        outputs["predict"] = estimator.predict(X)
    return outputs


def _difference(actual, desired, rtol):
    """Return why two fitted values differ, or None when they agree.

    Integers and booleans must be equal; floats agree to ``rtol`` times the
    largest absolute value of `desired` (NaN where `desired` is NaN). Other
    values (strings, estimators) are not compared.
    """
    if isinstance(desired, (bool, np.bool_, Integral)):
        if actual != desired:
            return f"{actual!r} instead of {desired!r}"
        return None
    if isinstance(desired, Real):
        desired = np.asarray(float(desired))
    if not isinstance(desired, np.ndarray) or desired.dtype.kind not in "biufc":
        return None
    actual = np.asarray(actual)
    if actual.shape != desired.shape:
        return f"shape {actual.shape} instead of {desired.shape}"
    if desired.dtype.kind in "biu":
        if not np.array_equal(actual, desired):
            return f"{actual!r} instead of {desired!r}"
        return None
    finite = np.isfinite(desired)
    scale = np.max(np.abs(desired[finite]), initial=0.0)
    atol = rtol * scale + 1e-12
    if not np.array_equal(np.isfinite(actual), finite) or not np.array_equal(
        actual[~finite], desired[~finite], equal_nan=True
    ):
        return "NaN or inf in different places"
    gap = np.abs(np.where(finite, actual - desired, 0.0))
    gap = np.max(gap, initial=0.0)
    if not gap <= atol:
        return f"differs by {gap:.3g} (allowed {atol:.3g})"
    return None


def _assert_same_fit(name, actual, desired, X, Y, what):
    """Fitted attributes and outputs of `actual` equal those of `desired`."""
    errors = []
    for attribute in _fitted_names(desired):
        try:
            value = getattr(actual, attribute)
        except AttributeError:
            errors.append(f"{attribute}: missing")
            continue
        except Exception as exc:  # noqa: BLE001 - reported as the failure
            raise AssertionError(
                f"{name}: after {what}, reading {attribute} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        reason = _difference(value, getattr(desired, attribute), STREAMING_RTOL)
        if reason:
            errors.append(f"{attribute}: {reason}")
    want = _outputs(desired, X, Y)
    try:
        got = _outputs(actual, X, Y)
    except Exception as exc:  # noqa: BLE001 - reported as the failure
        raise AssertionError(
            f"{name}: after {what}, score/transform/predict raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    for method, value in want.items():
        reason = _difference(got[method], value, STREAMING_RTOL)
        if reason:
            errors.append(f"{method}(): {reason}")
    if errors:
        raise AssertionError(
            f"{name}: {what} does not equal fit on all the rows:\n  "
            + "\n  ".join(errors)
        )


def _split_rows(n_samples, n_batches, rng):
    """Shuffled row indices cut into batches of unequal sizes, one of 1 row."""
    order = rng.permutation(n_samples)
    if n_batches == 1:
        return [order]
    # one batch of a single row, the others cut at distinct random points
    cuts = np.sort(rng.choice(np.arange(2, n_samples - 1), n_batches - 2, False))
    cuts = np.concatenate([[1], cuts])
    batches = np.split(order, cuts)
    rng.shuffle(batches)
    return batches


def _documented_nan_attributes(estimator):
    """Fitted attributes whose docstring (Attributes section) mentions NaN."""
    doc = inspect.getdoc(type(estimator)) or ""
    match = re.search(
        r"^Attributes\n-+\n(.*?)(?=^\S[^\n]*\n-{3,}\n|\Z)", doc, re.M | re.S
    )
    if not match:
        return frozenset()
    allowed = set()
    names, description = [], []
    # an entry is "name : type" (or "name, other_ : type") at the margin,
    # then its description, indented
    for line in match.group(1).splitlines() + ["end"]:
        if line and not line[0].isspace():
            if names and re.search(r"\bnan\b", " ".join(description), re.I):
                allowed.update(names)
            names = [part.strip() for part in line.split(" : ")[0].split(",")]
            description = []
        else:
            description.append(line)
    return frozenset(allowed)


def _raises(func, *, kinds=(ValueError, TypeError)):
    """None if ``func()`` raises one of `kinds`; else why not, as text."""
    try:
        with _quiet():
            func()
    except kinds:
        return None
    except Exception as exc:  # noqa: BLE001 - reported to the caller
        return f"raised {type(exc).__name__}({exc}) instead of ValueError/TypeError"
    return "raised nothing"


def _invariance_map(map_name, V, rng):
    """Apply one of :data:`skrep.base.INVARIANCES` to a view (a new array)."""
    n_units = V.shape[1]
    if map_name == "shift":
        return V + rng.normal(scale=5.0, size=n_units)
    if map_name == "isotropic_scaling":
        return V * 10.0 ** rng.uniform(-1.0, 1.0)
    if map_name == "unit_scaling":
        return V * 10.0 ** rng.uniform(-0.7, 0.7, size=n_units)
    if map_name == "unit_permutation":
        permutation = rng.permutation(n_units)
        while n_units > 1 and np.array_equal(permutation, np.arange(n_units)):
            permutation = rng.permutation(n_units)
        return V[:, permutation]
    if map_name == "orthogonal":
        if n_units == 1:
            return -V
        return V @ ortho_group.rvs(n_units, random_state=rng)
    if map_name == "invertible_linear":
        if n_units == 1:
            return -2.5 * V
        left = ortho_group.rvs(n_units, random_state=rng)
        right = ortho_group.rvs(n_units, random_state=rng)
        singular_values = 10.0 ** rng.uniform(-0.3, 0.3, size=n_units)
        return V @ (left * singular_values) @ right
    raise ValueError(f"Unknown invariance map {map_name!r}.")


def _split_invariance(name):
    map_name, _, view = name.rpartition("_")
    return map_name, view


# -- the checks -------------------------------------------------------------


def check_skrep_tags(name, estimator):
    """Check that the estimator's skrep tags are well formed.

    :func:`~skrep.base.get_skrep_tags` returns a
    :class:`~skrep.base.SkrepTags`; every invariance is a key of
    :data:`~skrep.base.INVARIANCES` with suffix ``_x`` or ``_y``; the
    maximum is None or a finite number; a streaming estimator has
    ``partial_fit``.

    Parameters
    ----------
    name : str
        The estimator's name, for messages.
    estimator : estimator instance
        The two-view measure to check.

    Raises
    ------
    AssertionError
        If a tag is malformed.
    """
    tags = get_skrep_tags(estimator)
    assert isinstance(tags, SkrepTags), (
        f"{name}: __skrep_tags__ returned {type(tags).__name__}, not SkrepTags."
    )
    assert isinstance(tags.invariances, (set, frozenset)), (
        f"{name}: tags.invariances must be a set of names, got "
        f"{type(tags.invariances).__name__}."
    )
    unknown = []
    for invariance in sorted(tags.invariances):
        map_name, view = _split_invariance(str(invariance))
        if map_name not in INVARIANCES or view not in ("x", "y"):
            unknown.append(invariance)
    assert not unknown, (
        f"{name} declares unknown invariances {unknown}: each must be "
        f"'<map>_x' or '<map>_y' with <map> in {sorted(INVARIANCES)}."
    )
    assert tags.maximum is None or (
        isinstance(tags.maximum, Real) and np.isfinite(tags.maximum)
    ), f"{name}: tags.maximum must be None or a finite number, got {tags.maximum!r}."
    assert not tags.streaming or hasattr(estimator, "partial_fit"), (
        f"{name} declares streaming=True but has no partial_fit."
    )


def check_identical_views_maximum(name, estimator):
    """Check that identical views give the declared maximum.

    After ``fit(X, X)``, ``score(X, X)`` equals ``tags.maximum`` within
    :data:`MAXIMUM_ATOL` (1e-8), on three seeds, and so it does after
    ``partial_fit(X, X)`` over three batches for a streaming measure. An
    estimator that does not reach its maximum on identical views declares
    ``maximum=None``.

    Parameters
    ----------
    name : str
        The estimator's name, for messages.
    estimator : estimator instance
        The two-view measure to check.

    Raises
    ------
    AssertionError
        If some ``score(X, X)`` is off the maximum.
    """
    maximum = get_skrep_tags(estimator).maximum
    if maximum is None:
        return
    routes = ["fit"] + (["partial_fit"] if _streams(estimator) else [])
    for seed in range(3):
        X, _ = _make_views(seed, n_samples=60)
        for route in routes:
            est = _fresh(estimator)
            with _quiet():
                if route == "fit":
                    est.fit(X, X)
                else:
                    for rows in np.array_split(np.arange(X.shape[0]), 3):
                        est.partial_fit(X[rows], X[rows])
                score = est.score(X, X)
            assert abs(score - maximum) <= MAXIMUM_ATOL, (
                f"{name}: identical views (seed {seed}, {route}) score {score!r}, "
                f"but the tags promise maximum={maximum!r} (tolerance "
                f"{MAXIMUM_ATOL}). Fix the estimator, or declare maximum=None if "
                "it has no such promise."
            )


def check_invariances(name, estimator):
    """Check that each declared invariance leaves the in-sample score unchanged.

    For every name ``f"{map}_{view}"`` in ``tags.invariances``, the map is
    applied to that view only (a random shift of every unit; one positive
    factor; a positive factor per unit; a random permutation of the units;
    a random orthogonal matrix; a random invertible matrix of condition
    number at most 4), a clone is refitted, and its in-sample score must
    equal the original's to a relative :data:`INVARIANCE_RTOL` (1e-7). Two
    seeds; all broken invariances are reported together.

    Parameters
    ----------
    name : str
        The estimator's name, for messages.
    estimator : estimator instance
        The two-view measure to check.

    Raises
    ------
    AssertionError
        If a declared invariance does not hold.
    """
    invariances = sorted(get_skrep_tags(estimator).invariances)
    broken = []
    for seed in range(2):
        rng = np.random.RandomState(seed)
        X, Y = _make_views(seed, n_samples=80)
        with _quiet():
            reference = _fresh(estimator).fit(X, Y).score(X, Y)
        for invariance in invariances:
            map_name, view = _split_invariance(invariance)
            if map_name not in INVARIANCES or view not in ("x", "y"):
                broken.append(f"{invariance}: not a known invariance")
                continue
            if view == "x":
                X_mapped, Y_mapped = _invariance_map(map_name, X, rng), Y
            else:
                X_mapped, Y_mapped = X, _invariance_map(map_name, Y, rng)
            with _quiet():
                est = _fresh(estimator).fit(X_mapped, Y_mapped)
                score = est.score(X_mapped, Y_mapped)
            if not np.isclose(score, reference, rtol=INVARIANCE_RTOL, atol=1e-12):
                broken.append(
                    f"{invariance} ({INVARIANCES[map_name]}, applied to "
                    f"{view.upper()}; seed {seed}): score {score!r} instead of "
                    f"{reference!r}"
                )
    assert not broken, (
        f"{name} declares invariances that do not hold (relative tolerance "
        f"{INVARIANCE_RTOL}):\n  " + "\n  ".join(broken)
    )


def check_held_out_below_in_sample(name, estimator):
    """Check that the held-out score is below the in-sample one on noisy data.

    Views of 20 units each, weakly related (3 latent dimensions under
    strong noise), 60 training and 60 held-out rows; the in-sample and the
    held-out scores are averaged over four seeds and the held-out mean must
    be lower: the in-sample bias that held-out scoring exists to remove.

    Parameters
    ----------
    name : str
        The estimator's name, for messages.
    estimator : estimator instance
        The two-view measure to check.

    Raises
    ------
    AssertionError
        If the mean held-out score is not below the mean in-sample score.
    """
    in_sample, held_out = [], []
    for seed in range(4):
        X, Y = _make_views(seed, n_samples=120, n_x=20, n_y=20, noise=2.0)
        with _quiet():
            est = _fresh(estimator).fit(X[:60], Y[:60])
            in_sample.append(est.score(X[:60], Y[:60]))
            held_out.append(est.score(X[60:], Y[60:]))
    assert np.mean(held_out) < np.mean(in_sample), (
        f"{name}: on small noisy data (60 rows, 20 units per view) the mean "
        f"held-out score {np.mean(held_out):.6g} is not below the mean in-sample "
        f"score {np.mean(in_sample):.6g} (seeds: in-sample {np.round(in_sample, 4)},"
        f" held-out {np.round(held_out, 4)}). Declare "
        "held_out_below_in_sample=False if the measure has no in-sample bias."
    )


def check_partial_fit_equals_fit(name, estimator):
    """Check that ``partial_fit`` over any split of the rows equals ``fit``.

    The rows (300 samples, 5 and 4 units, well conditioned, float64) are
    shuffled and cut into 1, 3 and 7 batches of unequal sizes, one of them a
    single row. Every public fitted attribute that is a number or a numeric
    array must equal the full fit's (integers exactly, floats to
    :data:`STREAMING_RTOL` times the array's largest absolute value), and so
    must ``score``, ``transform`` and ``predict``. Each batch is overwritten
    with NaN after its ``partial_fit``, as a streaming sink reusing its
    buffer would: the estimator must not keep references to the batches.

    Parameters
    ----------
    name : str
        The estimator's name, for messages.
    estimator : estimator instance
        The two-view measure to check; it has ``partial_fit``.

    Raises
    ------
    AssertionError
        If some fitted attribute or output differs from the full fit.
    """
    for seed, n_batches in enumerate((1, 3, 7)):
        rng = np.random.RandomState(seed)
        X, Y = _make_views(seed, n_samples=300)
        with _quiet():
            full = _fresh(estimator).fit(X, Y)
            streamed = _fresh(estimator)
            for rows in _split_rows(X.shape[0], n_batches, rng):
                X_batch, Y_batch = X[rows], Y[rows]
                streamed.partial_fit(X_batch, Y_batch)
                X_batch[...] = np.nan
                Y_batch[...] = np.nan
            _assert_same_fit(
                name,
                streamed,
                full,
                X,
                Y,
                f"partial_fit over {n_batches} batch(es) (seed {seed})",
            )


def check_partial_fit_continues_fit(name, estimator):
    """Check that ``partial_fit`` continues ``fit`` and ``fit`` starts afresh.

    ``fit`` on the first half of the rows then ``partial_fit`` on the second
    half equals ``fit`` on all rows; and ``fit`` after some ``partial_fit``
    calls forgets them (equals a fresh ``fit``).

    Parameters
    ----------
    name : str
        The estimator's name, for messages.
    estimator : estimator instance
        The two-view measure to check; it has ``partial_fit``.

    Raises
    ------
    AssertionError
        If either sequence differs from the plain fit.
    """
    X, Y = _make_views(3, n_samples=200)
    half = 97
    with _quiet():
        full = _fresh(estimator).fit(X, Y)
        continued = _fresh(estimator).fit(X[:half], Y[:half])
        continued.partial_fit(X[half:], Y[half:])
        _assert_same_fit(
            name,
            continued,
            full,
            X,
            Y,
            "fit on the first rows + partial_fit on the rest",
        )
        other_X, other_Y = _make_views(4, n_samples=50)
        refitted = _fresh(estimator)
        refitted.partial_fit(other_X, other_Y)
        refitted.fit(X, Y)
        _assert_same_fit(
            name, refitted, full, X, Y, "fit after partial_fit on other rows"
        )


def check_accumulators_merge(name, estimator):
    """Check that accumulators built on different rows merge into the full fit.

    Two clones accumulate disjoint parts of the rows with ``partial_fit``
    (as two workers of a cluster would); the first one's ``_accumulator``
    then merges the second's (``merge``), takes the sum of the rows seen,
    and must equal ``fit`` on all the rows: the promise of
    :class:`~skrep.base.TwoViewMixin` that accumulators are exact and
    mergeable.

    Parameters
    ----------
    name : str
        The estimator's name, for messages.
    estimator : estimator instance
        A streaming :class:`~skrep.base.TwoViewMixin` measure.

    Raises
    ------
    AssertionError
        If there is no mergeable accumulator or the merged fit differs.
    """
    X, Y = _make_views(5, n_samples=240)
    rng = np.random.RandomState(5)
    batches = _split_rows(X.shape[0], 4, rng)
    with _quiet():
        full = _fresh(estimator).fit(X, Y)
        first, second = _fresh(estimator), _fresh(estimator)
        for rows in batches[:2]:
            first.partial_fit(X[rows], Y[rows])
        for rows in batches[2:]:
            second.partial_fit(X[rows], Y[rows])
        accumulator = first.__dict__.get("_accumulator")
        assert accumulator is not None and callable(
            getattr(accumulator, "merge", None)
        ), (
            f"{name}: after partial_fit there is no _accumulator with a merge "
            "method; TwoViewMixin measures keep an exact, mergeable accumulator."
        )
        merged = accumulator.merge(second._accumulator)
        first._accumulator = accumulator if merged is None else merged
        first.n_samples_seen_ += second.n_samples_seen_
        first._mark_pending()
        _assert_same_fit(
            name, first, full, X, Y, "merging the accumulators of two row sets"
        )


def check_float32_agrees_with_float64(name, estimator):
    """Check that float32 copies of the views give the float64 score.

    In-sample scores of a fit on float64 views and of a fit on their
    float32 copies agree within :data:`FLOAT32_ATOL` (1e-4) on
    well-conditioned data (100 rows, 5 and 4 units, with means between 10
    and 100 as after a ReLU), and the float32 outputs are finite.

    Parameters
    ----------
    name : str
        The estimator's name, for messages.
    estimator : estimator instance
        The two-view measure to check.

    Raises
    ------
    AssertionError
        If the scores differ by more than the tolerance.
    """
    X, Y = _make_views(6, n_samples=100)
    # units with large means, as after a ReLU: float32 keeps ~7 digits of them
    rng = np.random.RandomState(6)
    X = X + rng.uniform(10.0, 100.0, size=X.shape[1])
    Y = Y + rng.uniform(10.0, 100.0, size=Y.shape[1])
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    with _quiet():
        score64 = _fresh(estimator).fit(X, Y).score(X, Y)
        est32 = _fresh(estimator).fit(X32, Y32)
        outputs = _outputs(est32, X32, Y32)
    assert abs(outputs["score"] - score64) <= FLOAT32_ATOL, (
        f"{name}: the score of float32 views is {outputs['score']!r}, that of the "
        f"same views in float64 {score64!r} (tolerance {FLOAT32_ATOL})."
    )
    for method, value in outputs.items():
        assert np.all(np.isfinite(value)), (
            f"{name}: {method}() of float32 views is not finite."
        )


_DEAD_UNITS = (
    ("a constant unit", 3.5),
    ("an all-zero unit", 0.0),
    ("a unit constant at 1e8", 1e8),
)

_DEAD_WORDS = re.compile(r"constant|dead", re.IGNORECASE)


def _fit_dead(estimator, X, Y, route):
    """Fit by `route` under recorded warnings; outputs and fitted attributes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        est = _fresh(estimator)
        if route == "fit":
            est.fit(X, Y)
        else:
            for rows in np.array_split(np.arange(X.shape[0]), 3):
                est.partial_fit(X[rows], Y[rows])
        outputs = _outputs(est, X, Y)
        attributes = {name: getattr(est, name) for name in _fitted_names(est)}
    warned = any(
        issubclass(w.category, UserWarning) and _DEAD_WORDS.search(str(w.message))
        for w in caught
    )
    return warned, outputs, attributes


def _assert_finite(what, outputs, attributes=None, allowed_nan=frozenset()):
    for method, output in outputs.items():
        assert np.all(np.isfinite(output)), (
            f"{what}: {method}() is not finite: {output!r}"
        )
    for attribute, value in (attributes or {}).items():
        if attribute in allowed_nan:
            continue
        array = np.asarray(value) if isinstance(value, Real) else value
        if isinstance(array, np.ndarray) and array.dtype.kind in "fc":
            assert not np.any(np.isnan(array)), (
                f"{what}: fitted attribute {attribute} holds NaN (document it "
                "in the class's Attributes section if that is intended)."
            )


def check_dead_units_never_nan(name, estimator):
    """Check that constant (dead) units warn and never give NaN.

    A constant unit (3.5), an all-zero unit and a unit constant at 1e8 are
    inserted in turn into X and into y. ``fit`` (and, for a streaming
    measure, ``partial_fit`` over three batches) must issue a
    :class:`UserWarning` whose message says "constant" or "dead" (skrep's
    :class:`~skrep.exceptions.DeadUnitWarning`), and ``score``,
    ``transform`` and ``predict`` must be finite, and so must every float
    fitted attribute, except those whose docstring (Attributes section)
    documents NaN. A view whose every unit is constant may instead be
    refused with a :class:`ValueError`. A fit on live units scored on data
    where a unit is constant must give finite outputs too.

    Parameters
    ----------
    name : str
        The estimator's name, for messages.
    estimator : estimator instance
        The two-view measure to check.

    Raises
    ------
    AssertionError
        If no such warning is issued, or a NaN (or infinite output) appears.
    """
    allowed_nan = _documented_nan_attributes(estimator)
    routes = ["fit"] + (["partial_fit"] if _streams(estimator) else [])
    X, Y = _make_views(7, n_samples=60)
    with _quiet():
        live = _fresh(estimator).fit(X, Y)
    for view in ("X", "y"):
        for description, value in _DEAD_UNITS:
            if view == "X":
                X_dead, Y_dead = np.insert(X, 1, value, axis=1), Y
            else:
                X_dead, Y_dead = X, np.insert(Y, 1, value, axis=1)
            for route in routes:
                what = f"{name} with {description} in {view} ({route})"
                warned, outputs, attributes = _fit_dead(
                    estimator, X_dead, Y_dead, route
                )
                assert warned, (
                    f"{what}: no warning saying 'constant' or 'dead'; a dead "
                    "unit must be reported (skrep.exceptions.DeadUnitWarning)."
                )
                _assert_finite(what, outputs, attributes, allowed_nan)
            # live units in fit, a dead one in the data scored
            X_held, Y_held = X.copy(), Y.copy()
            (X_held if view == "X" else Y_held)[:, 1] = value
            with _quiet():
                outputs = _outputs(live, X_held, Y_held)
            _assert_finite(
                f"{name} fitted on live units, given data with {description} in {view}",
                outputs,
            )
        X_dead = np.full_like(X, 2.0) if view == "X" else X
        Y_dead = np.full_like(Y, 2.0) if view == "y" else Y
        for route in routes:
            what = f"{name} with every unit of {view} constant ({route})"
            try:
                warned, outputs, attributes = _fit_dead(
                    estimator, X_dead, Y_dead, route
                )
            except ValueError:
                continue  # refusing a view without information is fine
            assert warned, f"{what}: no warning saying 'constant' or 'dead'."
            _assert_finite(what, outputs, attributes, allowed_nan)


def _layouts(X, Y):
    """List the caller's arrays in several layouts: (name, X, y)."""
    read_only_X, read_only_Y = X.copy(), Y.copy()
    read_only_X.setflags(write=False)
    read_only_Y.setflags(write=False)
    return [
        ("C-ordered float64", X.copy(), Y.copy()),
        ("Fortran-ordered float64", np.asfortranarray(X), np.asfortranarray(Y)),
        ("float32", X.astype(np.float32), Y.astype(np.float32)),
        ("read-only float64", read_only_X, read_only_Y),
        ("1-D y", X.copy(), Y[:, 0].copy()),
    ]


def _flags(array):
    flags = array.flags
    return (flags.writeable, flags.c_contiguous, flags.f_contiguous, array.dtype)


def check_inputs_not_modified(name, estimator):
    """Check that the caller's arrays are never changed.

    With X and y C-ordered, Fortran-ordered, float32, read-only and with a
    1-D y, the estimator runs ``fit``, ``score``, ``transform`` (with and
    without ``y`` where it takes one), ``predict``, ``fit_transform`` and
    ``partial_fit`` (twice, then ``score``); after each call the arrays
    must hold the same values, dtype and flags (writeable, contiguity) as
    before, and read-only arrays must be accepted.

    Parameters
    ----------
    name : str
        The estimator's name, for messages.
    estimator : estimator instance
        The two-view measure to check.

    Raises
    ------
    AssertionError
        If a call changes its input, or fails on read-only input.
    """
    X, Y = _make_views(8, n_samples=40)
    for layout, X_in, Y_in in _layouts(X, Y):
        saved = X_in.copy(), Y_in.copy()
        flags = _flags(X_in), _flags(Y_in)
        est = _fresh(estimator)
        calls = [("fit", lambda: est.fit(X_in, Y_in))]
        calls.append(("score", lambda: est.score(X_in, Y_in)))
        if hasattr(est, "transform"):
            calls.append(("transform(X)", lambda: est.transform(X_in)))
            if _accepts_y(est.transform):
                calls.append(("transform(X, y)", lambda: est.transform(X_in, Y_in)))
        if hasattr(est, "predict"):
            calls.append(("predict", lambda: est.predict(X_in)))
        if hasattr(est, "fit_transform"):
            calls.append(("fit_transform", lambda: est.fit_transform(X_in, Y_in)))
        if _streams(est):
            calls.append(("partial_fit", lambda: est.partial_fit(X_in, Y_in)))
            calls.append(("partial_fit", lambda: est.partial_fit(X_in, Y_in)))
            calls.append(("score after partial_fit", lambda: est.score(X_in, Y_in)))
        for method, call in calls:
            try:
                with _quiet():
                    call()
            except Exception as exc:  # noqa: BLE001 - reported as the failure
                raise AssertionError(
                    f"{name}.{method} fails on {layout} input: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            for label, array, before, flag in (
                ("X", X_in, saved[0], flags[0]),
                ("y", Y_in, saved[1], flags[1]),
            ):
                assert np.array_equal(array, before), (
                    f"{name}.{method} changed the values of the caller's {label} "
                    f"({layout})."
                )
                assert _flags(array) == flag, (
                    f"{name}.{method} changed the flags or dtype of the caller's "
                    f"{label} ({layout}): {_flags(array)} instead of {flag}."
                )


def _bad_views(X, Y):
    """Invalid (X, y) pairs with a description."""
    X_nan, X_inf, Y_nan, Y_inf = X.copy(), X.copy(), Y.copy(), Y.copy()
    X_nan[3, 1] = np.nan
    X_inf[2, 0] = np.inf
    Y_nan[4, 1] = np.nan
    Y_inf[5, 0] = -np.inf
    return [
        ("X with NaN", X_nan, Y),
        ("X with inf", X_inf, Y),
        ("y with NaN", X, Y_nan),
        ("y with -inf", X, Y_inf),
        ("X and y with different numbers of rows", X, Y[:-1]),
        ("1-D X", X[:, 0], Y),
        ("empty X and y", X[:0], Y[:0]),
        ("sparse y", X, scipy.sparse.csr_matrix(Y)),
    ]


def check_bad_input_raises(name, estimator):
    """Check that invalid views raise ValueError or TypeError.

    ``fit`` and ``partial_fit`` (on a fresh clone), and ``score`` after a
    valid fit, must raise :class:`ValueError` or :class:`TypeError` for
    views holding NaN or inf, views with different numbers of rows, a 1-D
    X, empty views and a sparse y; ``score`` also for a y with another
    number of units than in ``fit``; ``transform`` and ``predict`` for an X
    with NaN, a 1-D X, an empty X or another number of units.

    Parameters
    ----------
    name : str
        The estimator's name, for messages.
    estimator : estimator instance
        The two-view measure to check.

    Raises
    ------
    AssertionError
        Listing every invalid input that was accepted or raised another
        exception.
    """
    X, Y = _make_views(9, n_samples=30)
    failures = []
    with _quiet():
        fitted = _fresh(estimator).fit(X, Y)
    cases = _bad_views(X, Y)
    for description, X_bad, Y_bad in cases:
        methods = ["fit"] + (
            ["partial_fit"] if hasattr(estimator, "partial_fit") else []
        )
        for method in methods:
            reason = _raises(
                lambda m=method, a=X_bad, b=Y_bad: getattr(_fresh(estimator), m)(a, b)
            )
            if reason:
                failures.append(f"{method} with {description}: {reason}")
        reason = _raises(lambda a=X_bad, b=Y_bad: fitted.score(a, b))
        if reason:
            failures.append(f"score with {description}: {reason}")
    reason = _raises(lambda: fitted.score(X, np.hstack([Y, Y[:, :1]])))
    if reason:
        failures.append(f"score with an extra unit in y: {reason}")
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    for method in ("transform", "predict"):
        if not hasattr(fitted, method):
            continue
        for description, X_bad in (
            ("X with NaN", X_nan),
            ("1-D X", X[:, 0]),
            ("empty X", X[:0]),
            ("X with an extra unit", np.hstack([X, X[:, :1]])),
        ):
            reason = _raises(lambda m=method, a=X_bad: getattr(fitted, m)(a))
            if reason:
                failures.append(f"{method} with {description}: {reason}")
    assert not failures, f"{name} does not refuse invalid input:\n  " + "\n  ".join(
        failures
    )


def check_second_view_names(name, estimator):
    """Check that ``y``'s column names are held to the fit's, like X's.

    scikit-learn checks X's column names after ``fit``; the second view
    ``y`` of a two-view measure is data of the same kind, and its units in
    another order would meet the wrong fitted directions, weights or
    coefficients without any error. After a ``fit`` on DataFrames,
    ``score`` (and ``transform(X, y)``, and a later ``partial_fit`` batch,
    where offered) must raise :class:`ValueError` for ``y`` with its columns
    reordered or renamed, warn (:class:`UserWarning`) for a ``y`` without
    names, and give the same score for ``y`` as fitted. Skipped without
    pandas.

    Parameters
    ----------
    name : str
        The estimator's name, for messages.
    estimator : estimator instance
        The two-view measure to check.

    Raises
    ------
    AssertionError
        Listing every case handled otherwise.
    """
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a test dependency
        return
    X, Y = _make_views(11, n_samples=60)
    Xd = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    Yd = pd.DataFrame(Y, columns=[f"y{j}" for j in range(Y.shape[1])])
    reordered = Yd[Yd.columns[::-1]]
    renamed = Yd.rename(columns={"y0": "other"})
    failures = []
    with _quiet():
        fitted = _fresh(estimator).fit(Xd, Yd)
        expected = fitted.score(Xd, Yd)
    calls = {"score": lambda b: fitted.score(Xd, b)}
    if hasattr(fitted, "transform") and _accepts_y(fitted.transform):
        calls["transform(X, y)"] = lambda b: fitted.transform(Xd, b)
    if _streams(estimator):

        def stream(b):
            pending = _fresh(estimator)
            with _quiet():
                pending.partial_fit(Xd.iloc[:30], Yd.iloc[:30])
            return pending.partial_fit(Xd.iloc[30:], b.iloc[30:])

        calls["a later partial_fit batch"] = stream
    for method, call in calls.items():
        for description, Y_bad in (
            ("reordered", reordered),
            ("renamed", renamed),
        ):
            try:
                with _quiet():
                    call(Y_bad)
            except ValueError:
                continue
            except Exception as error:  # noqa: BLE001 - reported below
                failures.append(
                    f"{method} with y's columns {description}: "
                    f"{type(error).__name__}: {error}"
                )
                continue
            failures.append(f"{method} accepted y's columns {description}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted.score(Xd, Yd.to_numpy())
    if not any("feature names" in str(w.message) for w in caught):
        failures.append("score with an unnamed y after a named fit did not warn")
    with _quiet():
        again = fitted.score(Xd, Yd)
    if again != expected:
        failures.append(f"score with y as fitted changed: {expected} then {again}")
    assert not failures, f"{name} does not check y's column names:\n  " + (
        "\n  ".join(failures)
    )


# -- selection and parametrization ------------------------------------------


def _yield_skrep_checks(estimator):
    """Yield the checks that apply to an estimator, from its tags and methods.

    Estimators that do not compare two views (transformers without a
    required ``y``, such as the torch extractor) get none. Every two-view
    estimator gets the checks of its input handling (tags, no mutation,
    bad input, dead units, float32). The checks of promises (maximum,
    invariances, held-out bias, streaming) come from tags the estimator
    declares with ``__skrep_tags__`` (every :class:`~skrep.base.TwoViewMixin`
    subclass does); an estimator that declares none is promised nothing.

    Parameters
    ----------
    estimator : estimator instance

    Yields
    ------
    check : callable
        ``check(name, estimator)``.
    """
    if not _is_two_view(estimator):
        return
    yield check_skrep_tags
    yield check_inputs_not_modified
    yield check_bad_input_raises
    yield check_second_view_names
    yield check_dead_units_never_nan
    yield check_float32_agrees_with_float64
    if not _declares_tags(estimator):
        return
    tags = get_skrep_tags(estimator)
    if tags.maximum is not None:
        yield check_identical_views_maximum
    if tags.invariances:
        yield check_invariances
    if tags.held_out_below_in_sample:
        yield check_held_out_below_in_sample
    if _streams(estimator):
        yield check_partial_fit_equals_fit
        yield check_partial_fit_continues_fit
        if isinstance(estimator, TwoViewMixin):
            yield check_accumulators_merge


def _check_id(value):
    if isinstance(value, partial):
        return value.func.__name__
    if hasattr(value, "get_params"):
        return re.sub(r"\s", "", str(value))
    return None


def _expected_failures(estimator, expected_failed_checks):
    if expected_failed_checks is None:
        return {}
    return dict(expected_failed_checks(estimator) or {})


def parametrize_with_skrep_checks(estimators, *, expected_failed_checks=None):
    """Pytest decorator running skrep's checks on each estimator.

    The skrep counterpart of scikit-learn's
    :func:`~sklearn.utils.estimator_checks.parametrize_with_checks`: the
    test receives ``estimator`` and ``check`` and should call
    ``check(estimator)``. Test ids are the estimator's repr (without
    whitespace) and the check's name, so ``pytest -k check_invariances``
    selects a check.

    Parameters
    ----------
    estimators : list of estimator instances
        Estimators to check (instances, not classes).
    expected_failed_checks : callable or None, default=None
        ``expected_failed_checks(estimator)`` returns a dict
        ``{check name: reason}``; those checks are marked ``xfail`` with the
        reason.

    Returns
    -------
    decorator : pytest.mark.parametrize
        Parametrizes ``"estimator, check"``.

    Raises
    ------
    TypeError
        If a class is passed instead of an instance.

    Examples
    --------
    >>> from skrep import SVCCA
    >>> from skrep.utils.estimator_checks import parametrize_with_skrep_checks
    >>> @parametrize_with_skrep_checks([SVCCA()])
    ... def test_skrep(estimator, check):
    ...     check(estimator)
    """
    import pytest

    for estimator in estimators:
        if isinstance(estimator, type):
            raise TypeError(
                "Pass estimator instances, not classes: "
                f"{estimator.__name__}() instead of {estimator.__name__}."
            )

    def params():
        for estimator in estimators:
            name = type(estimator).__name__
            failures = _expected_failures(estimator, expected_failed_checks)
            for check in _yield_skrep_checks(estimator):
                bound = partial(check, name)
                reason = failures.get(check.__name__)
                if reason is None:
                    yield estimator, bound
                else:
                    yield pytest.param(
                        estimator, bound, marks=pytest.mark.xfail(reason=reason)
                    )

    return pytest.mark.parametrize("estimator, check", list(params()), ids=_check_id)


def check_skrep_estimator(estimator, *, expected_failed_checks=None):
    """Run every skrep check that applies to an estimator; raise on failure.

    The counterpart of :func:`sklearn.utils.estimator_checks.check_estimator`
    for skrep's promises; run both on a new measure.

    Parameters
    ----------
    estimator : estimator instance
        The estimator to check.
    expected_failed_checks : dict or None, default=None
        ``{check name: reason}`` of checks to skip.

    Raises
    ------
    AssertionError
        From the first check that fails.

    Examples
    --------
    >>> from skrep import PWCCA
    >>> from skrep.utils.estimator_checks import check_skrep_estimator
    >>> check_skrep_estimator(PWCCA())
    """
    skipped = dict(expected_failed_checks or {})
    name = type(estimator).__name__
    for check in _yield_skrep_checks(estimator):
        if check.__name__ not in skipped:
            check(name, estimator)
