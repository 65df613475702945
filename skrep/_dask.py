"""Moment-based measures on dask arrays: a tree reduction over row blocks.

A streaming measure (:class:`~skrep.base.StreamingMixin`) needs the rows
only through an exact, mergeable accumulator of their moments. On a
:class:`dask.array.Array` chunked along rows, each block pair ``(X_i, Y_i)``
is folded into its own accumulator on the worker that holds it; the
accumulators are merged pairwise in a binary tree, also on the workers, and
only the merged one (units x units numbers, whatever the number of rows)
comes back to the client, where the estimator finishes exactly as after
``partial_fit``. The rows never travel to the client.

:mod:`skrep.base` routes ``fit``, ``partial_fit`` and ``score`` here when an
argument is a dask collection; dask itself is imported only then.
"""

from __future__ import annotations

import copy
import sys

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils import check_array
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    check_is_fitted,
)

__all__ = ["fit", "is_dask_collection", "partial_fit", "score"]

FLOATS = [np.float64, np.float32]


def is_dask_collection(*objects):
    """Whether any of the objects is a dask collection (imports no dask).

    A dask collection can only exist once dask has been imported, so NumPy
    input never pays for the import.
    """
    dask = sys.modules.get("dask")
    if dask is None:
        return False
    return any(dask.is_dask_collection(obj) for obj in objects)


def refusal(estimator, method="fit"):
    """Return the TypeError for a measure whose ``method`` needs the rows."""
    name = type(estimator).__name__
    if method == "fit":
        what = f"{estimator!r} needs all the rows at once"
        alternative = (
            "or use a measure that streams: SVCCA, PWCCA, CKA (linear kernel), "
            "UnitMatcher (metric='correlation'), Procrustes, SparseLayerPredictor."
        )
    else:
        what = f"{name}.{method} needs the rows themselves, not their moments"
        alternative = (
            "Held-out scores on dask arrays: SVCCA, PWCCA, CKA (linear kernel), "
            "UnitMatcher (metric='correlation'), Procrustes."
        )
    return TypeError(
        f"{what}, so it does not take dask arrays (skrep reduces their moments "
        f"on the workers and never gathers the rows). Gather them first, e.g. "
        f"{method}(X.compute(), y.compute()), {alternative}"
    )


# ---------------------------------------------------------------------------
# Lazy validation: shapes, dtypes and chunks, never the values.
# ---------------------------------------------------------------------------


def _as_dask_array(A, name):
    import dask.array as da

    if is_dask_collection(A):
        if not isinstance(A, da.Array):
            raise TypeError(
                f"{name} is a {type(A).__name__}; skrep takes dask arrays. "
                "Convert it with .to_dask_array(lengths=True)."
            )
        return A
    if A is None:
        raise ValueError(f"{name} is None; pass the second view as y.")
    return da.asarray(np.asarray(A))


def _validate(estimator, X, y, *, reset, ensure_min_samples):
    """Check both views lazily and put them in row blocks that align.

    Returns 2-D dask arrays ``X`` and ``Y`` with every column in one chunk
    and ``Y``'s row chunks those of ``X`` (rechunked on the workers where
    needed). Records or checks the units as :meth:`_validate_views` does.
    """
    X, y = _as_dask_array(X, "X"), _as_dask_array(y, "y")
    for name, A, dims in (("X", X, (2,)), ("y", y, (1, 2))):
        if A.ndim not in dims:
            raise ValueError(
                f"Expected a 2-D {name} (rows are samples, columns units)"
                f"{' or a 1-D one (one unit)' if name == 'y' else ''}, got an "
                f"array of {A.ndim} dimension(s)."
            )
        if any(np.isnan(size) for size in A.shape):
            raise ValueError(
                f"{name} has unknown chunk sizes (shape {A.shape}); call "
                f"{name}.compute_chunk_sizes() first."
            )
        if A.dtype.kind not in "biuf":
            raise ValueError(
                f"{name} has dtype {A.dtype}; skrep compares real-valued "
                "activations (float64 or float32)."
            )
    Y = y.reshape(-1, 1) if y.ndim == 1 else y
    n, p = X.shape
    if Y.shape[0] != n:
        raise ValueError(
            f"X and y have different numbers of rows (samples): {n} and {Y.shape[0]}."
        )
    if n < ensure_min_samples:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={X.shape}) while a minimum "
            f"of {ensure_min_samples} is required by {type(estimator).__name__}."
        )
    for name, width in (("X", p), ("y", Y.shape[1])):
        if width == 0:
            raise ValueError(f"{name} has no units (0 columns).")
    _check_n_features(estimator, X, reset=reset)
    _check_feature_names(estimator, X, reset=reset)
    # dask arrays carry no column names: a stale feature_names_y_ is dropped
    estimator._record_second_view(
        X, Y, y.ndim == 1, reset=reset, is_fit=ensure_min_samples > 1
    )
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    if Y.chunks[0] != X.chunks[0] or len(Y.chunks[1]) > 1:
        Y = Y.rechunk({0: X.chunks[0], 1: -1})
    return X, Y


# ---------------------------------------------------------------------------
# The reduction.
# ---------------------------------------------------------------------------


def _block_accumulator(empty, X, Y, estimator_name):
    """On a worker: check one block pair and fold it into a fresh accumulator."""
    checked = [
        check_array(
            block,
            dtype=FLOATS,
            input_name=name,
            ensure_min_samples=0,
            estimator=estimator_name,
        )
        for name, block in (("X", X), ("y", Y))
    ]
    return copy.deepcopy(empty).update(*checked)


def _merged(a, b):
    """On a worker: two accumulators of disjoint rows as one (``a`` is consumed)."""
    return a.merge(b)


def reduce_moments(X, Y, empty, estimator_name="skrep"):
    """Accumulate the rows of two row-aligned dask arrays on the workers.

    Parameters
    ----------
    X, Y : dask.array.Array of shape (n_samples, n_units_x), (n_samples, n_units_y)
        Row chunks equal, every column in one chunk (see ``_validate``).
    empty : accumulator
        An empty accumulator (``update(X, Y)`` and ``merge``), copied for
        each block.
    estimator_name : str
        Named in the errors raised on the workers (NaN or infinite values).

    Returns
    -------
    accumulator
        The accumulator of all the rows: one per block, merged pairwise in a
        binary tree on the workers, computed with the current dask scheduler
        (a :class:`distributed.Client` when one is active).
    """
    import dask

    x_blocks = X.to_delayed().ravel()
    y_blocks = Y.to_delayed().ravel()
    block = dask.delayed(_block_accumulator, pure=True)
    merge = dask.delayed(_merged, pure=True)
    parts = [block(empty, xb, yb, estimator_name) for xb, yb in zip(x_blocks, y_blocks)]
    while len(parts) > 1:
        pairs = [merge(a, b) for a, b in zip(parts[::2], parts[1::2])]
        parts = pairs + ([parts[-1]] if len(parts) % 2 else [])
    (accumulator,) = dask.compute(parts[0])
    return accumulator


def _check_streams(estimator):
    from skrep.base import get_skrep_tags

    if not get_skrep_tags(estimator).streaming:
        raise refusal(estimator)
    from skrep.base import TwoViewMixin

    if type(estimator)._validate_views is not TwoViewMixin._validate_views:
        # Its own view validation (DFTCCA's maps) is not the lazy one here.
        raise TypeError(
            f"{type(estimator).__name__} validates its views in its own way and "
            "does not take dask arrays; feed it the blocks with partial_fit, "
            "e.g. for block in range(X.numblocks[0]): "
            "est.partial_fit(X.blocks[block].compute(), y.blocks[block].compute())."
        )


# ---------------------------------------------------------------------------
# fit, partial_fit, score.
# ---------------------------------------------------------------------------


@_fit_context(prefer_skip_nested_validation=True)
def fit(estimator, X, y):
    """``estimator.fit(X, y)`` for dask arrays: reduce the moments, finish.

    Equals ``partial_fit`` over the row blocks: the moments route, whatever
    ``algorithm`` says (as in streaming, the rows are not at hand).
    """
    _check_streams(estimator)
    estimator._start_fit()
    X, Y = _validate(estimator, X, y, reset=True, ensure_min_samples=2)
    empty = estimator._new_accumulator(X.shape[1], Y.shape[1])
    estimator._accumulator = reduce_moments(X, Y, empty, type(estimator).__name__)
    estimator.n_samples_seen_ = X.shape[0]
    estimator._pending = True
    estimator._finalize()
    return estimator


def partial_fit(estimator, X, y):
    """``estimator.partial_fit(X, y)`` for dask arrays: merge their moments."""
    _check_streams(estimator)
    first = "n_samples_seen_" not in estimator.__dict__
    X, Y = _validate(estimator, X, y, reset=first, ensure_min_samples=1)
    empty = estimator._new_accumulator(X.shape[1], Y.shape[1])
    part = reduce_moments(X, Y, empty, type(estimator).__name__)
    if first:
        estimator._accumulator = part
        estimator.n_samples_seen_ = 0
    else:
        estimator._accumulator.merge(part)
    estimator.n_samples_seen_ += X.shape[0]
    estimator._mark_pending()
    return estimator


def score(estimator, X, y):
    """``estimator.score(X, y)`` for dask arrays, from the moments of the rows.

    A measure whose held-out score depends on the rows only through moments
    (``_held_out_accumulator``: the CCA family, :class:`~skrep.UnitMatcher`
    (correlation), :class:`~skrep.Procrustes`, :class:`~skrep.CKA`
    (linear)) has them reduced on the workers like a fit's, then scores
    from them with ``_score_from_moments``.
    """
    estimator._finalize()
    check_is_fitted(estimator)
    if estimator._held_out_accumulator(1, 1) is None:
        raise refusal(estimator, "score")
    X, Y = _validate(estimator, X, y, reset=False, ensure_min_samples=2)
    empty = estimator._held_out_accumulator(X.shape[1], Y.shape[1])
    moments = reduce_moments(X, Y, empty, type(estimator).__name__)
    return estimator._score_from_moments(moments)
