"""Layer-by-layer similarity grids over many pairs of representations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import check_cv, cross_val_score
from sklearn.utils.parallel import Parallel, delayed

__all__ = ["LayerComparison", "compare_layers"]


@dataclass
class LayerComparison:
    """The result of :func:`compare_layers`: a labelled grid of similarities.

    Attributes
    ----------
    scores : ndarray of shape (n_layers_a, n_layers_b)
        ``scores[i, j]`` is the similarity of layer ``layers_a[i]`` with
        layer ``layers_b[j]`` (NaN where a pair was not computed, see
        ``pairs``).
    scores_std : ndarray of shape (n_layers_a, n_layers_b) or None
        Standard deviation over the cross-validation folds when ``cv`` was
        given, else None.
    layers_a : list of str
        Names of the rows.
    layers_b : list of str
        Names of the columns.
    estimator : str
        The estimator that scored each pair, as its repr.
    evaluation : str
        "in-sample", "held-out" (a test set) or "cross-validated (k folds)".

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import compare_layers
    >>> rng = np.random.RandomState(0)
    >>> x = rng.randn(100, 4)
    >>> grid = compare_layers({"a": x}, {"b": 2 * x + 1, "c": rng.randn(100, 4)})
    >>> grid.layers_b, grid.evaluation
    (['b', 'c'], 'in-sample')
    >>> print(grid.to_text(precision=2))
           b      c
    a   1.00   0.21
    """

    scores: np.ndarray
    scores_std: np.ndarray | None
    layers_a: list
    layers_b: list
    estimator: str
    evaluation: str

    def diagonal(self):
        """Similarities of corresponding layers (same position in a and b).

        Returns
        -------
        scores : dict
            ``{(layer_a, layer_b): score}`` along the diagonal.
        """
        k = min(len(self.layers_a), len(self.layers_b))
        return {
            (self.layers_a[i], self.layers_b[i]): float(self.scores[i, i])
            for i in range(k)
        }

    def to_dict(self):
        """Return the grid as a JSON-serialisable dictionary (NaN becomes None).

        Returns
        -------
        result : dict
            Layers, scores, spread and provenance.
        """

        def clean(array):
            if array is None:
                return None
            return [[None if np.isnan(v) else float(v) for v in row] for row in array]

        return {
            "layers_a": list(self.layers_a),
            "layers_b": list(self.layers_b),
            "scores": clean(self.scores),
            "scores_std": clean(self.scores_std),
            "estimator": self.estimator,
            "evaluation": self.evaluation,
        }

    def to_text(self, precision=3):
        """Format the grid as an aligned plain-text table.

        Parameters
        ----------
        precision : int, default=3
            Decimals shown.

        Returns
        -------
        table : str
            Rows are ``layers_a``, columns ``layers_b``.
        """
        width = max(precision + 4, *(len(str(b)) for b in self.layers_b))
        first = max(len(str(a)) for a in self.layers_a)
        lines = [" " * first + " " + " ".join(f"{b:>{width}}" for b in self.layers_b)]
        for name, row in zip(self.layers_a, self.scores):
            cells = " ".join(
                f"{'-':>{width}}" if np.isnan(v) else f"{v:>{width}.{precision}f}"
                for v in row
            )
            lines.append(f"{name:<{first}} {cells}")
        return "\n".join(lines)

    def __str__(self):
        return f"{self.estimator}, {self.evaluation}\n{self.to_text()}"


def _as_named(acts, prefix):
    if isinstance(acts, Mapping):
        return [str(name) for name in acts], list(acts.values())
    if isinstance(acts, np.ndarray) or not isinstance(acts, Sequence):
        raise TypeError(
            f"{prefix} must be a dict {{layer name: activations}} or a list of "
            f"activation arrays, got {type(acts).__name__}."
        )
    return [f"{prefix}{i}" for i in range(len(acts))], list(acts)


def _score_pair(estimator, A, B, A_test, B_test, cv):
    if cv is not None:
        scores = cross_val_score(clone(estimator), A, B, cv=cv)
        return float(np.mean(scores)), float(np.std(scores))
    fitted = clone(estimator).fit(A, B)
    if A_test is None:
        return float(fitted.score(A, B)), np.nan
    return float(fitted.score(A_test, B_test)), np.nan


def compare_layers(
    acts_a,
    acts_b=None,
    estimator=None,
    *,
    test=None,
    cv=None,
    pairs="all",
    n_jobs=None,
    verbose=0,
):
    """Score every pair of layers of two networks with a skrep estimator.

    Each pair ``(layer i of a, layer j of b)`` is fitted with a fresh clone
    of ``estimator`` and scored, in parallel with joblib: wrapping the call
    in ``joblib.parallel_config(backend=...)`` runs it on any joblib backend
    (loky, threads, Dask, Ray) without change. The workers see the caller's
    warning filters and scikit-learn configuration.

    Parameters
    ----------
    acts_a : dict of {str: array of shape (n_samples, n_units)} or list of arrays
        Activations of the first network's layers, rows aligned across
        layers (the same samples).
    acts_b : dict or list of arrays, default=None
        The second network's layers on the same samples. None compares
        ``acts_a`` with itself (a layer x layer grid within one network).
    estimator : estimator, default=None
        Any two-view skrep estimator with ``fit(X, y)`` and ``score(X, y)``
        (e.g. :class:`~skrep.SVCCA`, :class:`~skrep.PWCCA`,
        :class:`~skrep.UnitMatcher`). None means ``SVCCA()``.
    test : tuple (acts_a_test, acts_b_test), default=None
        Held-out activations, same layout as ``acts_a``/``acts_b``: each
        pair is fitted on ``acts_a``/``acts_b`` and scored on these (for a
        within-network grid, give ``(acts_a_test, None)``).
    cv : int, cross-validation generator or iterable, default=None
        If given (and ``test`` is not), each pair is scored by
        ``cross_val_score`` over these splits of the samples and the grid
        holds the mean (``scores_std`` the spread).
    pairs : {"all", "diagonal"}, default="all"
        "diagonal" scores only corresponding layers (same position); the
        other cells are NaN.
    n_jobs : int, default=None
        Number of parallel jobs (joblib semantics; -1 uses every core).
    verbose : int, default=0
        joblib verbosity (progress messages).

    Returns
    -------
    result : LayerComparison
        The grid with its labels, drawn by
        :func:`skrep.plotting.plot_layer_similarity`.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import SVCCA, compare_layers
    >>> rng = np.random.RandomState(0)
    >>> x = rng.randn(200, 10)
    >>> net = {
    ...     "conv1": x,
    ...     "conv2": np.tanh(x @ rng.randn(10, 12)),
    ...     "fc": rng.randn(200, 5),
    ... }
    >>> grid = compare_layers(net, estimator=SVCCA(svd_components=None))
    >>> grid.scores.round(2)
    array([[1.  , 0.79, 0.21],
           [0.79, 1.  , 0.2 ],
           [0.21, 0.2 , 1.  ]])
    """
    from skrep._cca import SVCCA

    estimator = SVCCA() if estimator is None else estimator
    if pairs not in ("all", "diagonal"):
        raise ValueError(f"pairs must be 'all' or 'diagonal', got {pairs!r}.")
    names_a, arrays_a = _as_named(acts_a, "a")
    names_b, arrays_b = (
        (names_a, arrays_a) if acts_b is None else _as_named(acts_b, "b")
    )
    if not arrays_a or not arrays_b:
        raise ValueError("Give at least one layer on each side.")
    n_samples = {len(a) for a in arrays_a + arrays_b}
    if len(n_samples) != 1:
        raise ValueError(
            "Every layer must have the same number of rows (samples); got "
            f"{sorted(n_samples)}."
        )
    tests_a = tests_b = None
    if test is not None:
        test_a, test_b = test
        tests_a = _as_named(test_a, "a")[1]
        tests_b = tests_a if test_b is None else _as_named(test_b, "b")[1]
        if len(tests_a) != len(arrays_a) or len(tests_b) != len(arrays_b):
            raise ValueError("test must hold the same layers as the training data.")
        evaluation = "held-out"
        cv = None
    elif cv is not None:
        cv = check_cv(cv)
        evaluation = f"cross-validated ({cv.get_n_splits()} folds)"
    else:
        evaluation = "in-sample"
    cells = [
        (i, j)
        for i in range(len(arrays_a))
        for j in range(len(arrays_b))
        if pairs == "all" or i == j
    ]
    results = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(_score_pair)(
            estimator,
            arrays_a[i],
            arrays_b[j],
            None if tests_a is None else tests_a[i],
            None if tests_b is None else tests_b[j],
            cv,
        )
        for i, j in cells
    )
    scores = np.full((len(arrays_a), len(arrays_b)), np.nan)
    spread = np.full_like(scores, np.nan) if cv is not None else None
    for (i, j), (mean, std) in zip(cells, results):
        scores[i, j] = mean
        if spread is not None:
            spread[i, j] = std
    return LayerComparison(
        scores, spread, names_a, names_b, repr(estimator), evaluation
    )
