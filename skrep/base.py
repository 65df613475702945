"""What every two-view measure of skrep shares.

A *two-view measure* compares two representations of the same samples:
``X`` (rows are samples, columns units) and the second view, passed as
scikit-learn's ``y`` so that splitters and scorers split both by rows.
:class:`TwoViewMixin` gives such an estimator

- its scikit-learn tags (``y`` required, one or many units);
- view validation: ``X`` first, then ``y`` (1-D is one unit, sparse
  matrices are refused, the number of units is remembered as
  ``n_features_y_``);
- the ``score`` template: validate, finalise, ``self._score(X, Y)``, a
  Python float;
- the ``partial_fit`` protocol, modelled on
  :class:`~sklearn.decomposition.IncrementalPCA`: each call adds the rows to
  an exact, mergeable accumulator (the first call starts one); the
  decompositions run once, lazily, when a fitted attribute, ``transform``,
  ``predict`` or ``score`` needs them. So many small batches cost one pass
  over the rows plus one decomposition, and ``partial_fit`` over any split
  of the rows equals ``fit`` on all of them.

:class:`SkrepTags` declares what the measure promises (its maximum, the maps
it is invariant to), and :func:`get_skrep_tags` reads it; the checks in
:mod:`skrep.utils.estimator_checks` test every promise of every estimator.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse
from sklearn import get_config
from sklearn.base import _fit_context
from sklearn.utils import check_array
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    _get_feature_names,
    check_is_fitted,
    validate_data,
)

from skrep import _dask
from skrep._core.correlation import unit_stats
from skrep.exceptions import (
    TRANSPOSED_MAX_SAMPLES,
    TRANSPOSED_RATIO,
    DeadUnitWarning,
    TransposedInputWarning,
    _note_fit,
    warn,
)

__all__ = [
    "INVARIANCES",
    "SkrepTags",
    "StreamingMixin",
    "TwoViewMixin",
    "get_skrep_tags",
]

FLOATS = (np.float64, np.float32)

#: Fitted attributes that validation sets and reads; everything else that
#: ends with "_" is derived from the accumulator, lazily after partial_fit.
_VALIDATION_ATTRIBUTES = frozenset(
    {
        "n_features_in_",
        "feature_names_in_",
        "n_features_y_",
        "feature_names_y_",
        "n_samples_seen_",
    }
)

#: The maps a measure may declare itself invariant to, applied to one view
#: (suffix ``_x`` or ``_y``) with the other left alone.
INVARIANCES = {
    "shift": "adding a constant to every unit",
    "isotropic_scaling": "multiplying every unit by the same positive number",
    "unit_scaling": "multiplying each unit by its own positive number",
    "unit_permutation": "permuting the units",
    "orthogonal": "an orthogonal map (rotation or reflection) of the units",
    "invertible_linear": "any invertible linear map of the units",
}


@dataclass
class SkrepTags:
    """What a two-view measure promises; read by the estimator checks.

    Attributes
    ----------
    maximum : float or None
        The score of identical views (``score(X, X)`` after ``fit(X, X)``),
        None when there is no such promise.
    invariances : frozenset of str
        Names ``f"{map}_{view}"`` with ``map`` a key of
        :data:`INVARIANCES` and ``view`` in ``{"x", "y"}``: the in-sample
        score does not change when that map is applied to that view.
    streaming : bool
        Whether ``partial_fit`` over batches equals ``fit``.
    held_out_below_in_sample : bool
        Whether, on small noisy data, the held-out score is expected below
        the in-sample one (the in-sample bias that held-out scoring removes).

    Examples
    --------
    >>> from skrep import PWCCA
    >>> tags = PWCCA().__skrep_tags__()
    >>> tags.maximum, "invertible_linear_y" in tags.invariances
    (1.0, True)
    >>> "orthogonal_x" in tags.invariances  # the weights sum over X's units
    False
    """

    maximum: float | None = 1.0
    invariances: frozenset = field(default_factory=frozenset)
    streaming: bool = True
    held_out_below_in_sample: bool = True


def _NO_PROMISES(estimator):  # noqa: N802 - reads as a constant
    """Tags of a measure that declares nothing: no promise to check."""
    return SkrepTags(
        maximum=None,
        invariances=frozenset(),
        streaming=hasattr(estimator, "partial_fit"),
        held_out_below_in_sample=False,
    )


def get_skrep_tags(estimator):
    """Return the :class:`SkrepTags` of an estimator (no promises if it has none).

    Parameters
    ----------
    estimator : estimator instance

    Returns
    -------
    tags : SkrepTags

    Examples
    --------
    >>> from skrep import SVCCA
    >>> from skrep.base import get_skrep_tags
    >>> sorted(get_skrep_tags(SVCCA(svd_components=None)).invariances)[:3]
    ['invertible_linear_x', 'invertible_linear_y', 'isotropic_scaling_x']
    """
    method = getattr(estimator, "__skrep_tags__", None)
    if method is None:
        return _NO_PROMISES(estimator)
    return method()


def both_views(*maps):
    """Invariance names for both views: ``both_views("shift")``."""
    return frozenset(f"{m}_{v}" for m in maps for v in ("x", "y"))


def array_api_namespace(*arrays):
    """Return the array-API namespace of (validated) inputs, or None for NumPy.

    Not None only under ``sklearn.config_context(array_api_dispatch=True)``
    with non-NumPy arrays (torch tensors, CuPy, array-api-strict): the
    estimators that declare ``array_api_support`` then compute in that
    namespace, on the inputs' device. Everything else takes the NumPy path.
    """
    if not get_config().get("array_api_dispatch", False):
        return None
    from sklearn.utils._array_api import _is_numpy_namespace, get_namespace

    xp, is_array_api = get_namespace(*arrays)
    if not is_array_api or _is_numpy_namespace(xp):
        return None
    return xp


def host_arrays(*arrays):
    """Array-API arrays as NumPy arrays on the host; anything else unchanged.

    For code that computes in NumPy alone (the measures that do not declare
    ``array_api_support``, :func:`~skrep.rdm`, :func:`~skrep.dead_units`,
    the inference functions): under ``array_api_dispatch`` their tensor
    (CuPy, array-api-strict) inputs are copied to the host, so that they
    compute as on NumPy input instead of failing inside NumPy code. Without
    dispatch scikit-learn's validation converts them anyway.

    Returns
    -------
    arrays : tuple
    """
    if not get_config().get("array_api_dispatch", False):
        return arrays
    from skrep._core.xp import to_numpy

    return tuple(
        to_numpy(a) if a is not None and array_api_namespace(a) is not None else a
        for a in arrays
    )


def _host_unless_supported(estimator, *arrays):
    """:func:`host_arrays` for an estimator without array-API support.

    Dispatch is read first (a setting lookup), the estimator's tags only
    under it, so that the common NumPy fit pays nothing for the check.
    """
    if not get_config().get("array_api_dispatch", False):
        return arrays
    from sklearn.utils import get_tags

    if getattr(get_tags(estimator), "array_api_support", False):
        return arrays
    return host_arrays(*arrays)


def _dtype_for(dtype, *arrays):
    """``dtype`` for ``check_array``: NumPy dtypes, or the namespace's ones."""
    dtypes = list(dtype) if isinstance(dtype, tuple) else dtype
    xp = array_api_namespace(*arrays)
    if xp is None or dtypes is None:
        return dtypes
    if isinstance(dtypes, list):
        return [getattr(xp, np.dtype(d).name) for d in dtypes]
    return getattr(xp, np.dtype(dtypes).name)


def _column(y):
    """Reshape a 1-D view into one column (in its own namespace)."""
    xp = array_api_namespace(y)
    return y.reshape(-1, 1) if xp is None else xp.reshape(y, (-1, 1))


def _refuse_sparse(y):
    if scipy.sparse.issparse(y):
        raise TypeError(
            "y is a sparse matrix: skrep compares dense activations. Convert it "
            "with y.toarray() (activations are rarely sparse enough to gain)."
        )


def _check_second_view_names(estimator, y_names):
    """Check ``y``'s column names against the fit's, as scikit-learn does X's.

    ``y_names`` is what :func:`sklearn.utils.validation._get_feature_names`
    returned for the new ``y`` (None without string column names). Names in
    another order or other names raise ValueError (the fitted rotations or
    coefficients would meet the wrong units); names on one side only warn,
    with scikit-learn's wording for X.
    """
    fitted = getattr(estimator, "feature_names_y_", None)
    name = type(estimator).__name__
    if fitted is None and y_names is None:
        return
    if fitted is None:
        warnings.warn(
            f"y has feature names, but {name} was fitted without feature names",
            UserWarning,
            stacklevel=3,
        )
        return
    if y_names is None:
        warnings.warn(
            f"y does not have valid feature names, but {name} was fitted with "
            "feature names",
            UserWarning,
            stacklevel=3,
        )
        return
    if len(fitted) == len(y_names) and np.all(fitted == y_names):
        return
    unseen = sorted(set(y_names) - set(fitted))
    missing = sorted(set(fitted) - set(y_names))
    message = "The feature names of y should match those that were passed during fit."
    if unseen:
        message += (
            f" Unseen at fit time: {unseen[:5]}{' ...' if len(unseen) > 5 else ''}."
        )
    if missing:
        message += f" Seen at fit time, now missing: {missing[:5]}"
        message += f"{' ...' if len(missing) > 5 else ''}."
    if not unseen and not missing:
        message += " They must be in the same order as in fit."
    raise ValueError(message)


def _warn_if_transposed(X, Y):
    """Warn when a view looks like (units, samples) rather than (samples, units).

    The rule: at most ``TRANSPOSED_MAX_SAMPLES`` rows and at least
    ``TRANSPOSED_RATIO`` times as many columns (see
    :class:`~skrep.exceptions.TransposedInputWarning`).
    """
    n_samples = X.shape[0]
    if n_samples > TRANSPOSED_MAX_SAMPLES:
        return
    wide = [
        f"{name} is {n_samples} x {view.shape[1]}"
        for name, view in (("X", X), ("y", Y))
        if view.shape[1] >= TRANSPOSED_RATIO * n_samples
    ]
    if wide:
        warn(
            f"{' and '.join(wide)} (rows x columns): skrep reads rows as samples "
            "and columns as units, so this is "
            f"{n_samples} samples of {max(X.shape[1], Y.shape[1])} units; did you "
            "swap rows and columns? Pass activations as (n_samples, n_units), "
            "e.g. acts.T. If the rows really are samples, the similarity rests "
            "on very few samples (warned at most "
            f"{TRANSPOSED_MAX_SAMPLES} rows with at least {TRANSPOSED_RATIO} "
            "times as many units).",
            TransposedInputWarning,
        )


def _plain_dtypes(view_dtype):
    """Return the dtypes that ``check_array(dtype=view_dtype)`` keeps as they are.

    Only native float64 and float32 qualify, the dtypes the validation fast
    path takes (:func:`_plain_views`); any other dtype goes through
    scikit-learn's validation.
    """
    if isinstance(view_dtype, list):
        view_dtype = tuple(view_dtype)
    try:
        return _kept_floats(view_dtype)
    except TypeError:  # not a dtype NumPy knows: scikit-learn decides
        return ()


@functools.lru_cache(maxsize=32)
def _kept_floats(view_dtype):
    floats = (np.dtype(np.float64), np.dtype(np.float32))
    if view_dtype is None or (isinstance(view_dtype, str) and view_dtype == "numeric"):
        return floats
    if isinstance(view_dtype, tuple):
        kept = {np.dtype(d) for d in view_dtype}
    else:
        kept = {np.dtype(view_dtype)}
    return tuple(d for d in floats if d in kept)


def _plain_float(array):
    """Whether an ndarray is native float64 or float32 in C or Fortran order."""
    dtype = array.dtype
    flags = array.flags
    return (
        dtype.kind == "f"
        and dtype.itemsize in (4, 8)
        and dtype.isnative
        and (flags.c_contiguous or flags.f_contiguous)
    )


def _plain_views(X, y, view_dtype, ensure_min_samples):
    """Whether ``validate_data`` would accept ``X`` and ``y`` unchanged.

    True only for the common case, checked without scikit-learn's general
    machinery: ``X`` and ``y`` are NumPy arrays (exactly ``np.ndarray``,
    neither subclasses nor dataframes), ``X`` 2-D of a float dtype that
    ``view_dtype`` keeps, ``y`` 1-D or 2-D of float64 or float32 (the
    validation keeps ``y``'s dtype), both contiguous, non-empty, with the
    same number of rows, at least ``ensure_min_samples`` of them, and (unless
    ``assume_finite`` is set) a finite sum, which no NaN or infinity has.
    For these inputs ``validate_data`` returns ``X`` and ``y`` themselves
    without a copy and raises nothing but the feature-name and -count
    checks, which the caller runs. Anything else, including finite values
    whose sum overflows, is left to ``validate_data``: it raises the
    errors, with their messages, and gives the exact verdict.
    """
    if type(X) is not np.ndarray or type(y) is not np.ndarray:
        return False
    if X.ndim != 2 or y.ndim not in (1, 2):
        return False
    n_samples, n_units = X.shape
    if (
        n_samples < max(ensure_min_samples, 1)
        or n_units < 1
        or y.shape[0] != n_samples
        or (y.ndim == 2 and y.shape[1] < 1)
    ):
        return False
    if X.dtype not in _plain_dtypes(view_dtype) or not _plain_float(X):
        return False
    if not _plain_float(y):
        return False
    config = get_config()
    if config.get("array_api_dispatch", False):
        return False
    if config["assume_finite"]:
        return True
    # A NaN or an infinity makes the sum NaN or infinite, whatever the order
    # of the additions, so a finite sum proves every value finite; a sum that
    # is not finite (NaN, infinity, or an overflow of finite values) is left
    # to scikit-learn's exact check. The flags raised here are silenced:
    # that check raises its own.
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(
            np.isfinite(np.add.reduce(X, axis=None))
            and np.isfinite(np.add.reduce(y, axis=None))
        )


def _fitted_in_array_api(estimator):
    """Whether fitted attributes are arrays of another namespace than NumPy."""
    return any(
        hasattr(value, "shape")
        and hasattr(value, "dtype")
        and not isinstance(value, (np.ndarray, np.generic))
        for name, value in estimator.__dict__.items()
        if name.endswith("_") and not name.startswith("__")
    )


class TwoViewMixin:
    """Tags, view validation, the score template and lazy finalisation.

    Put it left of :class:`~sklearn.base.BaseEstimator`. A subclass defines

    - ``_new_accumulator(n_units_x, n_units_y)``: an empty accumulator with
      ``update(X, Y)`` and ``merge`` (e.g.
      :class:`~skrep._core.moments.Moments`); a measure whose settings
      cannot stream raises a clear ``ValueError`` from it;
    - ``_fit_accumulator(accumulator)``: the fitted attributes from it;
    - ``_score(X, Y)``: the similarity on validated views;
    - optionally ``_held_out_accumulator`` and ``_score_moments(moments)``:
      the same similarity from the moments of the rows (see
      :meth:`_score_from_moments`);

    and may override ``fit`` with a faster route, as long as it leaves an
    accumulator of its rows in ``_accumulator`` (so that ``partial_fit``
    continues from it) and sets ``n_samples_seen_``. A measure that cannot
    stream at all (it needs the rows, as cross-validation does) uses this
    mixin alone; one that can uses :class:`StreamingMixin`, which adds
    ``partial_fit``.

    Examples
    --------
    A measure that cannot stream: the similarity of the first units.

    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from skrep.base import TwoViewMixin
    >>> class FirstUnits(TwoViewMixin, BaseEstimator):
    ...     def fit(self, X, y):
    ...         X, Y = self._validate_views(X, y)
    ...         self.n_samples_seen_ = X.shape[0]
    ...         return self
    ...     def _score(self, X, Y):
    ...         return np.corrcoef(X[:, 0], Y[:, 0])[0, 1]
    >>> X = np.arange(10.0).reshape(5, 2)
    >>> FirstUnits().fit(X, -X).score(X, -X)
    -1.0
    """

    _view_dtype = FLOATS
    _parameter_constraints: dict = {}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def __skrep_tags__(self):
        return _NO_PROMISES(self)

    # -- validation ---------------------------------------------------------

    def _validate_views(self, X, y, *, reset=True, ensure_min_samples=2):
        """Validate both views in ``fit``/``partial_fit``; return 2-D arrays.

        Records ``n_features_in_`` (and ``feature_names_in_``) and
        ``n_features_y_`` (and ``feature_names_y_``, when ``y`` is a
        DataFrame with string column names) when ``reset``; checks the
        numbers otherwise.
        """
        X, y = _host_unless_supported(self, X, y)
        if _plain_views(X, y, self._view_dtype, ensure_min_samples):
            # What validate_data does for such arrays: no copy, no
            # conversion; the checks of names and counts, in its order. An
            # ndarray has no feature names: a fit forgets those of an earlier
            # fit, and a later batch warns (scikit-learn's own warning) if
            # the estimator has some.
            if reset:
                if hasattr(self, "feature_names_in_"):
                    delattr(self, "feature_names_in_")
            elif getattr(self, "feature_names_in_", None) is not None:
                _check_feature_names(self, X, reset=False)
            _check_n_features(self, X, reset=reset)
            y_names = None
        else:
            if _dask.is_dask_collection(X, y):
                raise _dask.refusal(self)
            _refuse_sparse(y)
            y_names = _get_feature_names(y)
            X, y = validate_data(
                self,
                X,
                y,
                reset=reset,
                multi_output=True,
                y_numeric=True,
                ensure_min_samples=ensure_min_samples,
                dtype=_dtype_for(self._view_dtype, X, y),
            )
        Y = _column(y) if y.ndim == 1 else y
        self._record_second_view(
            X, Y, y.ndim == 1, reset=reset, is_fit=ensure_min_samples > 1,
            y_names=y_names,
        )  # fmt: skip
        return X, Y

    def _record_second_view(self, X, Y, y_is_1d, *, reset, is_fit, y_names=None):
        """Record (``reset``) or check the second view after validation.

        Shared by every validation of both views (NumPy, array API, dask):
        ``reset`` counts a fit for :func:`skrep.exceptions.summarize_warnings`,
        records ``n_features_y_``, ``feature_names_y_`` (or forgets a stale
        one) and whether ``y`` was 1-D, and, for a fit (``is_fit``, not a
        ``partial_fit`` batch), warns on a transposed-looking view;
        otherwise the width of ``Y`` must match the fit's, and ``y_names``
        (``y``'s column names, None for arrays) the fit's names.
        """
        if reset:
            _note_fit()
            self.n_features_y_ = Y.shape[1]
            self.__dict__.pop("feature_names_y_", None)
            if y_names is not None:
                self.feature_names_y_ = y_names
            self._y_is_1d = y_is_1d
            if is_fit:
                _warn_if_transposed(X, Y)
        else:
            if Y.shape[1] != self.n_features_y_:
                raise ValueError(
                    f"y has {Y.shape[1]} units, but {type(self).__name__} was "
                    f"fitted with {self.n_features_y_}."
                )
            _check_second_view_names(self, y_names)

    def _validate_second_view(self, y, n_samples, *, dtype=None):
        """Validate ``y`` after ``fit`` (transform, score, ...): 2-D.

        ``y``'s column names, if any, must be the fit's, in the same order.
        """
        _refuse_sparse(y)
        _check_second_view_names(self, _get_feature_names(y))
        (y,) = _host_unless_supported(self, y)
        dtype = self._view_dtype if dtype is None else dtype
        Y = check_array(y, ensure_2d=False, dtype=_dtype_for(dtype, y), input_name="y")
        if Y.ndim == 1:
            Y = _column(Y)
        if Y.ndim != 2:
            raise ValueError(f"y must be 1-D or 2-D, got {Y.ndim} dimensions.")
        if Y.shape[0] != n_samples:
            raise ValueError(
                "X and y have different numbers of rows (samples): "
                f"{n_samples} and {Y.shape[0]}."
            )
        if Y.shape[1] != self.n_features_y_:
            raise ValueError(
                f"y has {Y.shape[1]} units, but {type(self).__name__} was "
                f"fitted with {self.n_features_y_}."
            )
        return Y

    def _validate_heldout(self, X, y, *, ensure_min_samples=2):
        """Validate both views after ``fit`` (score and friends)."""
        check_is_fitted(self)
        if _dask.is_dask_collection(X, y):
            raise _dask.refusal(self, "score")
        X, y = _host_unless_supported(self, X, y)
        X = validate_data(
            self,
            X,
            reset=False,
            dtype=_dtype_for(self._view_dtype, X),
            ensure_min_samples=ensure_min_samples,
        )
        return X, self._validate_second_view(y, X.shape[0])

    # -- streaming ----------------------------------------------------------

    def _new_accumulator(self, n_units_x, n_units_y):
        raise NotImplementedError

    def _fit_accumulator(self, accumulator):
        raise NotImplementedError

    #: Whether ``_in_sample_score`` reads the score on the fitted rows from
    #: fitted attributes (then streaming needs no second look at the rows).
    _scores_from_fit = False

    def _in_sample_score(self):
        """Return the score on the rows seen, from fitted attributes alone.

        A measure whose score on its own training rows is a fitted attribute
        (computed from the accumulated moments) sets ``_scores_from_fit``
        and overrides this, together with ``_score``; streaming consumers
        such as :func:`skrep.torch.compare_models` then read in-sample scores
        without keeping the rows.
        """
        raise NotImplementedError(
            f"{type(self).__name__} needs the rows to score itself in-sample."
        )

    def _held_out_accumulator(self, n_units_x, n_units_y):
        """Return an empty accumulator of held-out rows, or None (the default).

        A measure whose ``score`` depends on the rows only through moments
        that an accumulator (``update(X, Y)`` and ``merge``, e.g.
        :class:`~skrep._core.moments.Moments`) gathers returns an empty one
        here and overrides ``_score_moments``; streaming consumers
        (:mod:`skrep._dask`, :func:`skrep.torch.compare_models`) then score
        held-out rows with :meth:`_score_from_moments`, without keeping
        them. None means that ``score`` needs the rows themselves.
        """
        return None

    def _score_from_moments(self, moments):
        """Return ``score(X, y)`` from the accumulated moments of ``(X, y)``.

        ``moments`` is an accumulator from ``_held_out_accumulator`` filled
        with the rows; the result (and the warnings) are those of ``score``
        on the rows themselves, to round-off.
        """
        self._finalize()
        check_is_fitted(self)
        name = type(self).__name__
        if self._held_out_accumulator(1, 1) is None:
            raise NotImplementedError(
                f"{name} needs the rows to score them, not their moments."
            )
        if _fitted_in_array_api(self):
            raise TypeError(
                f"This {name} was fitted on array-API inputs: score it on "
                "array-API rows, or fit it on NumPy arrays to score from moments."
            )
        widths = (moments.n_features_x, moments.n_features_y)
        if widths != (self.n_features_in_, self.n_features_y_):
            raise ValueError(
                f"Moments of {widths[0]} and {widths[1]} units (X, Y), but {name} "
                f"was fitted with {self.n_features_in_} and {self.n_features_y_}."
            )
        if moments.n_samples < 2:
            raise ValueError(
                f"Found {moments.n_samples} sample(s) while a minimum of 2 is "
                f"required by {name}."
            )
        return float(self._score_moments(moments))

    def _score_moments(self, moments):
        raise NotImplementedError

    def _mark_pending(self):
        """Forget derived attributes; they are recomputed on first use."""
        keep = _VALIDATION_ATTRIBUTES
        for name in [k for k in self.__dict__ if k.endswith("_") and k not in keep]:
            if not name.startswith("__"):
                del self.__dict__[name]
        self._pending = True

    def _finalize(self):
        """Run the decompositions for the rows accumulated so far."""
        if not self.__dict__.get("_pending", False):
            return
        self._pending = False
        try:
            if self.n_samples_seen_ < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 samples; "
                    f"partial_fit has seen {self.n_samples_seen_}."
                )
            self._fit_accumulator(self._accumulator)
        except BaseException:
            self._pending = True
            raise

    def __getattr__(self, name):
        # Only called for attributes that are missing: fitted attributes
        # after partial_fit are computed here, on first use. The attributes
        # set by validation itself never trigger it (scikit-learn probes
        # feature_names_in_ on every call).
        if (
            name.endswith("_")
            and not name.startswith("__")
            and name not in _VALIDATION_ATTRIBUTES
            and self.__dict__.get("_pending", False)
        ):
            self._finalize()
            if name in self.__dict__:
                return self.__dict__[name]
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
        )

    def _start_fit(self):
        """Forget everything a previous fit or partial_fit accumulated."""
        for name in ("n_samples_seen_", "_accumulator", "_pending"):
            self.__dict__.pop(name, None)

    def _fit_by_accumulating(self, X, Y):
        """Fit through the streaming path: one accumulator over all rows."""
        self._accumulator = self._new_accumulator(X.shape[1], Y.shape[1])
        self._accumulator.update(X, Y)
        self.n_samples_seen_ = X.shape[0]
        self._pending = True
        self._finalize()
        return self

    def _warn_null_directions(self, X, Y, ranks, *, moments=None, outcome=""):
        """Warn once per fit about each view's null directions.

        Counts how many of a view's null directions (below ``rank_tol``)
        come from constant (dead) units, by the one constant-unit rule, and
        how many from duplicate or collinear units. ``moments`` (when the
        rows are gone) or ``X`` and ``Y`` give the constant units; ``outcome``
        is a sentence on what the measure then does, formatted with
        ``name`` and ``rank``, or a function ``outcome(name, rank)`` that
        returns it.
        """
        n = self.n_samples_seen_
        widths = (self.n_features_in_, self.n_features_y_)
        dead = None
        for i, name in enumerate(("X", "Y")):
            spanned = min(widths[i], n - 1)
            if ranks[i] >= spanned:
                continue
            if dead is None:
                if moments is not None:
                    constant = moments.constant
                    dead = (constant[: widths[0]], constant[widths[0] :])
                else:
                    dead = (unit_stats(X)[2], unit_stats(Y)[2])
            n_dead = int(np.count_nonzero(dead[i]))
            n_null = spanned - ranks[i]
            warn(
                f"{name} has {n_null} null direction(s): {n_dead} constant (dead) "
                f"unit(s) and {max(n_null - n_dead, 0)} duplicate or collinear "
                "unit direction(s). They carry no information and were dropped "
                f"(relative tolerance rank_tol={self.rank_tol}); "
                + (
                    outcome(name, ranks[i])
                    if callable(outcome)
                    else outcome.format(name=name, rank=ranks[i])
                ),
                DeadUnitWarning,
            )

    # -- scoring ------------------------------------------------------------

    def score(self, X, y):
        """Similarity of the two views on the data given (higher is better).

        What was learned in `fit` (directions, pairs, weights) is evaluated
        on ``X`` and ``y``, so this is a held-out similarity when they are
        held-out data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer.
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            Activations of the second layer on the same samples.

        Returns
        -------
        score : float
            The similarity; see the class documentation for its range.
        """
        if _dask.is_dask_collection(X, y):
            return _dask.score(self, X, y)
        self._finalize()
        X, Y = self._validate_heldout(X, y)
        return float(self._score(X, Y))

    def _score(self, X, Y):
        raise NotImplementedError


def _reduces_dask_arrays(fit):
    """Route a streaming measure's ``fit`` on dask arrays to a reduction."""

    @functools.wraps(fit)
    def fit_or_reduce(self, X, y):
        if _dask.is_dask_collection(X, y):
            return _dask.fit(self, X, y)
        return fit(self, X, y)

    return fit_or_reduce


class StreamingMixin(TwoViewMixin):
    """:class:`TwoViewMixin` plus ``partial_fit``: exact streaming over batches.

    The subclass defines ``_new_accumulator`` and ``_fit_accumulator`` (see
    :class:`TwoViewMixin`); ``fit`` may call ``_fit_by_accumulating``.

    Dask arrays chunked along rows go to :mod:`skrep._dask` instead: the
    subclass's ``fit``, and ``partial_fit`` and ``score``, reduce the blocks'
    accumulators on the workers and finish from the merged one.

    Examples
    --------
    A streaming measure in a few lines: the correlation of the first units,
    from exact moments.

    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from skrep._core.correlation import correlation_from_moments
    >>> from skrep._core.moments import Moments
    >>> from skrep.base import StreamingMixin
    >>> class FirstUnits(StreamingMixin, BaseEstimator):
    ...     def fit(self, X, y):
    ...         self._start_fit()
    ...         return self._fit_by_accumulating(*self._validate_views(X, y))
    ...     def _new_accumulator(self, n_units_x, n_units_y):
    ...         return Moments(n_units_x, n_units_y, products="cross")
    ...     def _fit_accumulator(self, moments):
    ...         self.correlation_ = correlation_from_moments(moments)[0][0, 0]
    ...     def _score(self, X, Y):
    ...         return np.corrcoef(X[:, 0], Y[:, 0])[0, 1]
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 2)
    >>> Y = X + rng.randn(100, 2)
    >>> streamed = FirstUnits().partial_fit(X[:30], Y[:30]).partial_fit(X[30:], Y[30:])
    >>> bool(np.isclose(streamed.correlation_, FirstUnits().fit(X, Y).correlation_))
    True
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "fit" in cls.__dict__:
            cls.fit = _reduces_dask_arrays(cls.__dict__["fit"])

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y):
        """Add a batch of rows; the fit equals `fit` on all rows seen.

        The first call starts an exact accumulator of the rows' moments and
        fixes the number of units of each view; each call adds its rows.
        Nothing is decomposed until a fitted attribute, ``transform``,
        ``predict`` or ``score`` is used, so many calls cost one pass over
        the rows and one decomposition. After `fit`, `partial_fit` continues
        from the rows `fit` saw.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            A batch of the first view's activations (one row or more).
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            The same samples in the second view.

        Returns
        -------
        self : object
            The estimator, holding the rows seen so far.
        """
        if _dask.is_dask_collection(X, y):
            return _dask.partial_fit(self, X, y)
        first = "n_samples_seen_" not in self.__dict__
        X, Y = self._validate_views(X, y, reset=first, ensure_min_samples=1)
        if array_api_namespace(X, Y) is not None or (
            not first and self._accumulator is None
        ):
            raise TypeError(
                f"{type(self).__name__}.partial_fit takes NumPy arrays only: "
                "with array-API inputs (array_api_dispatch=True) call fit on all "
                "the rows. An estimator fitted on array-API inputs cannot "
                "continue with partial_fit: fit it again."
            )
        if first:
            self._accumulator = self._new_accumulator(X.shape[1], Y.shape[1])
            self.n_samples_seen_ = 0
        self._accumulator.update(X, Y)
        self.n_samples_seen_ += X.shape[0]
        self._mark_pending()
        return self

    def merge(self, other):
        """Fold in the rows another estimator of the same kind has seen.

        Exact: ``a.merge(b)`` after ``a.partial_fit(X1, y1)`` and
        ``b.partial_fit(X2, y2)`` equals ``partial_fit`` over both batches
        (to round-off), so estimators filled on separate workers reduce to
        one, e.g. ``functools.reduce(lambda a, b: a.merge(b), parts)``. Like
        ``partial_fit``, it decomposes nothing until a result is used.

        Parameters
        ----------
        other : estimator
            Of the same class, with the same parameters and units, fitted or
            partially fitted on other rows. Not modified.

        Returns
        -------
        self : object
            This estimator, now holding the rows of both.

        Examples
        --------
        >>> import numpy as np
        >>> from skrep import SVCCA
        >>> rng = np.random.RandomState(0)
        >>> X, Y = rng.randn(200, 4), rng.randn(200, 3)
        >>> a = SVCCA().partial_fit(X[:120], Y[:120])
        >>> b = SVCCA().partial_fit(X[120:], Y[120:])
        >>> merged = a.merge(b).canonical_correlations_
        >>> bool(np.allclose(merged, SVCCA().fit(X, Y).canonical_correlations_))
        True
        """
        if type(other) is not type(self):
            raise TypeError(
                f"Can only merge a {type(self).__name__}, got {type(other).__name__}."
            )
        if not get_skrep_tags(self).streaming:
            raise ValueError(
                f"{self!r} does not stream, so it cannot merge rows seen by "
                "another estimator: fit it on all the rows."
            )
        for est, which in ((self, "this estimator"), (other, "other")):
            if "n_samples_seen_" not in est.__dict__:
                raise ValueError(
                    f"{which} has seen no rows: call fit or partial_fit first."
                )
            if _fitted_in_array_api(est):
                raise TypeError(
                    f"{type(self).__name__}.merge takes estimators fitted on "
                    f"NumPy arrays only: {which} was fitted on array-API inputs "
                    "(array_api_dispatch=True), which keeps no mergeable "
                    "moments. Fit it on all the rows at once, or on NumPy "
                    "arrays with fit or partial_fit."
                )
        if self.get_params(deep=False) != other.get_params(deep=False):
            raise ValueError(
                "Cannot merge estimators with different parameters: "
                f"{self!r} and {other!r}."
            )
        widths = (self.n_features_in_, self.n_features_y_)
        other_widths = (other.n_features_in_, other.n_features_y_)
        if widths != other_widths:
            raise ValueError(
                f"Cannot merge estimators fitted on {widths} and {other_widths} "
                "units (X, Y)."
            )
        self._accumulator.merge(other._accumulator)
        self.n_samples_seen_ += other.n_samples_seen_
        self._mark_pending()
        return self
