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


def _n_rows(array):
    shape = getattr(array, "shape", None)
    if shape is not None:
        return shape[0] if len(shape) else None
    try:
        return len(array)
    except TypeError:
        return None


def _as_named(acts, prefix, label):
    """Layer names and activations, checked; ``label`` names the argument."""
    if isinstance(acts, Mapping):
        names, arrays = [str(name) for name in acts], list(acts.values())
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(
                f"{label} has layer names that are equal as strings: {duplicated}."
            )
    elif isinstance(acts, (np.ndarray, str, bytes)) or not isinstance(acts, Sequence):
        raise TypeError(
            f"{label} must be a dict {{layer name: activations}} or a list of "
            f"activation arrays, got {type(acts).__name__}."
        )
    else:
        names, arrays = [f"{prefix}{i}" for i in range(len(acts))], list(acts)
    for name, array in zip(names, arrays):
        if array is None:
            raise ValueError(
                f"Layer {name!r} of {label} is None: give its activations as an "
                "array of shape (n_samples, n_units)."
            )
        if _n_rows(array) is None:
            raise ValueError(
                f"Layer {name!r} of {label} is not an array of shape "
                f"(n_samples, n_units), got {type(array).__name__}."
            )
    return names, arrays


def _check_rows(arrays, what):
    n_samples = {_n_rows(a) for a in arrays}
    if len(n_samples) != 1:
        raise ValueError(
            f"Every layer of {what} must have the same number of rows (samples); "
            f"got {sorted(n_samples)}."
        )
    return n_samples.pop()


def _paired_test(test_acts, train_acts, names, prefix, label, train_label):
    """Held-out layers in the order of the training ``names``.

    Dicts are paired by name, lists by position; mixing the two is refused.
    """
    test_names, test_arrays = _as_named(test_acts, prefix, label)
    if isinstance(train_acts, Mapping) != isinstance(test_acts, Mapping):
        raise TypeError(
            f"{label} and {train_label} must both be dicts (layers paired by "
            "name) or both be lists (layers paired by position), got "
            f"{type(test_acts).__name__} and {type(train_acts).__name__}."
        )
    if isinstance(test_acts, Mapping):
        missing = [name for name in names if name not in test_names]
        extra = [name for name in test_names if name not in names]
        if missing or extra:
            raise ValueError(
                f"{label} must hold the same layers as {train_label}: "
                f"missing {missing}, extra {extra}."
            )
        by_name = dict(zip(test_names, test_arrays))
        return [by_name[name] for name in names]
    if len(test_arrays) != len(names):
        raise ValueError(
            f"{label} must hold the same layers as {train_label}: got "
            f"{len(test_arrays)} layers, expected {len(names)}."
        )
    return test_arrays


def _check_units(train_arrays, test_arrays, names, label):
    for name, train, test in zip(names, train_arrays, test_arrays):
        if np.shape(train)[1:] != np.shape(test)[1:]:
            raise ValueError(
                f"Layer {name!r} of {label} has shape {np.shape(test)}, but "
                f"{np.shape(train)} in the training data: the number of units "
                "must match."
            )


def _score_pair(estimator, A, B, A_test, B_test, cv, groups):
    if cv is not None:
        scores = cross_val_score(clone(estimator), A, B, groups=groups, cv=cv)
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
    groups=None,
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
        Held-out activations: each pair is fitted on ``acts_a``/``acts_b``
        and scored on these. Each side has the layout of its training
        side: dicts are paired with the training layers by name (the same
        names, in any order), lists by position. For a within-network grid
        (``acts_b=None``) give ``(acts_a_test, None)``; with two networks
        ``acts_b_test`` is required.
    cv : int, cross-validation generator or iterable, default=None
        If given, each pair is scored by ``cross_val_score`` over these
        splits of the samples and the grid holds the mean (``scores_std``
        the spread). Give ``test`` or ``cv``, not both.
    groups : array-like of shape (n_samples,), default=None
        Group label of each sample, passed to the ``cv`` splitter (e.g.
        :class:`~sklearn.model_selection.GroupKFold`), so that correlated
        samples, such as the positions of one image, stay in one fold.
        Requires ``cv``.
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

    Raises
    ------
    TypeError
        If a set of layers is neither a dict nor a list, if ``test`` is not
        a pair ``(acts_a_test, acts_b_test)``, or if a held-out side is a
        dict where its training side is a list (or the reverse).
    ValueError
        If a layer is None, if two layer names are equal as strings, if
        the layers (or the held-out layers) differ in their number of
        samples, if the held-out layers do not match the training layers
        (the message names the missing and extra ones) or their units, if
        ``acts_b_test`` is None while ``acts_b`` is given, if both ``test``
        and ``cv`` are given, or if ``groups`` is given without ``cv`` or
        with the wrong length.

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

    Held-out layers are paired with the training layers by name:

    >>> train = {name: acts[:150] for name, acts in net.items()}
    >>> test = {name: net[name][150:] for name in ["fc", "conv2", "conv1"]}
    >>> held_out = compare_layers(train, estimator=SVCCA(), test=(test, None))
    >>> held_out.layers_a, held_out.evaluation
    (['conv1', 'conv2', 'fc'], 'held-out')
    """
    from skrep._cca import SVCCA

    estimator = SVCCA() if estimator is None else estimator
    if pairs not in ("all", "diagonal"):
        raise ValueError(f"pairs must be 'all' or 'diagonal', got {pairs!r}.")
    names_a, arrays_a = _as_named(acts_a, "a", "acts_a")
    names_b, arrays_b = (
        (names_a, arrays_a) if acts_b is None else _as_named(acts_b, "b", "acts_b")
    )
    if not arrays_a or not arrays_b:
        raise ValueError("Give at least one layer on each side.")
    n_samples = _check_rows(arrays_a + arrays_b, "acts_a and acts_b")
    if test is not None and cv is not None:
        raise ValueError(
            "Give either test (a held-out set) or cv (cross-validation), not both."
        )
    if groups is not None:
        if cv is None:
            raise ValueError(
                "groups is only used with cv (to keep each group in one fold)."
            )
        groups = np.asarray(groups)
        if groups.ndim != 1 or groups.shape[0] != n_samples:
            raise ValueError(
                f"groups must have shape (n_samples,) = ({n_samples},), got "
                f"{groups.shape}."
            )
    tests_a = tests_b = None
    if test is not None:
        if not isinstance(test, (tuple, list)) or len(test) != 2:
            raise TypeError(
                "test must be a pair (acts_a_test, acts_b_test) of held-out "
                f"layers, got {type(test).__name__}"
                + (f" of length {len(test)}." if isinstance(test, Sequence) else ".")
            )
        test_a, test_b = test
        tests_a = _paired_test(test_a, acts_a, names_a, "a", "test[0]", "acts_a")
        _check_units(arrays_a, tests_a, names_a, "test[0]")
        if acts_b is None:
            if test_b is not None and test_b is not test_a:
                raise ValueError(
                    "acts_b is None (a within-network grid), so give test as "
                    "(acts_a_test, None)."
                )
            tests_b = tests_a
        else:
            if test_b is None:
                raise ValueError(
                    "test=(acts_a_test, None) is only for a within-network grid "
                    "(acts_b=None); with acts_b given, give its held-out layers: "
                    "test=(acts_a_test, acts_b_test)."
                )
            tests_b = _paired_test(test_b, acts_b, names_b, "b", "test[1]", "acts_b")
            _check_units(arrays_b, tests_b, names_b, "test[1]")
        _check_rows(tests_a + tests_b, "test")
        evaluation = "held-out"
    elif cv is not None:
        cv = check_cv(cv)
        n_splits = cv.get_n_splits(arrays_a[0], None, groups)
        evaluation = f"cross-validated ({n_splits} folds)"
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
            groups,
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
