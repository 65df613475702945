"""Layer-by-layer similarity grids over many pairs of representations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import check_cv, cross_validate
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed

from skrep.exceptions import (
    UnstableTruncationWarning,
    _Collected,
    _gather,
    _Recorder,
    warn,
)

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
    pvalues : ndarray of shape (n_layers_a, n_layers_b) or None
        Permutation p-values of each cell (``inference="permutation"``,
        see :func:`skrep.inference.permutation_test`), else None.
    ci_low : ndarray of shape (n_layers_a, n_layers_b) or None
        Lower ends of the bootstrap confidence intervals
        (``inference="bootstrap"``, see
        :func:`skrep.inference.bootstrap_interval`), else None.
    ci_high : ndarray of shape (n_layers_a, n_layers_b) or None
        Upper ends of the bootstrap confidence intervals, else None.
    inference : str or None
        How ``pvalues`` or the intervals were obtained, None without
        inference.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import compare_layers
    >>> rng = np.random.RandomState(0)
    >>> x = rng.randn(100, 4)
    >>> net_b = {"b": 2 * x + 1, "c": rng.randn(100, 4)}
    >>> grid = compare_layers({"a": x}, net_b)
    >>> grid.layers_b, grid.evaluation
    (['b', 'c'], 'in-sample')
    >>> print(grid.to_text(precision=2))
           b      c
    a   1.00   0.21

    With permutation p-values (the smallest possible is 1 / (1 + 99)):

    >>> tested = compare_layers({"a": x}, net_b, inference="permutation",
    ...                         n_permutations=99, random_state=0)
    >>> print(tested.to_text(precision=2))
           b      c
    a   1.00   0.21
    <BLANKLINE>
    p-values
           b      c
    a  0.010  0.110
    """

    scores: np.ndarray
    scores_std: np.ndarray | None
    layers_a: list
    layers_b: list
    estimator: str
    evaluation: str
    pvalues: np.ndarray | None = None
    ci_low: np.ndarray | None = None
    ci_high: np.ndarray | None = None
    inference: str | None = None

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
            "pvalues": clean(self.pvalues),
            "ci_low": clean(self.ci_low),
            "ci_high": clean(self.ci_high),
            "inference": self.inference,
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
            Rows are ``layers_a``, columns ``layers_b``; below the scores,
            a table of ``pvalues`` or of the intervals ``[ci_low, ci_high]``
            when they were computed.
        """
        width = precision + 4
        tables = [self._table(self.scores, f"{{:.{precision}f}}", width)]
        if self.pvalues is not None:
            cell = f"{{:.{max(precision, 3)}f}}"
            tables.append("p-values\n" + self._table(self.pvalues, cell, width))
        if self.ci_low is not None and self.ci_high is not None:
            intervals = np.stack([self.ci_low, self.ci_high], axis=-1)
            cell = f"[{{:.{precision}f}}, {{:.{precision}f}}]"
            tables.append("intervals\n" + self._table(intervals, cell, width))
        return "\n\n".join(tables)

    def _table(self, grid, cell, min_width):
        """One aligned table; ``cell`` formats an entry, NaN shows as "-"."""
        texts = [
            [
                "-" if np.any(np.isnan(v)) else cell.format(*np.atleast_1d(v))
                for v in row
            ]
            for row in grid
        ]
        width = max(
            min_width,
            *(len(str(b)) for b in self.layers_b),
            *(len(t) for row in texts for t in row),
        )
        first = max(len(str(a)) for a in self.layers_a)
        lines = [" " * first + " " + " ".join(f"{b:>{width}}" for b in self.layers_b)]
        for name, row in zip(self.layers_a, texts):
            lines.append(f"{name:<{first}} " + " ".join(f"{t:>{width}}" for t in row))
        return "\n".join(lines)

    def __str__(self):
        header = f"{self.estimator}, {self.evaluation}"
        if self.inference is not None:
            header += f"; {self.inference}"
        return f"{header}\n{self.to_text()}"


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


def _fold_counts(fitted):
    """Canonical pairs kept by each fold's estimator (None if not a CCA)."""
    counts = [getattr(est, "n_components_", None) for est in fitted]
    if any(c is None or not isinstance(c, Integral) for c in counts):
        return None
    return [int(c) for c in counts]


def _score_pair(estimator, A, B, A_test, B_test, cv, groups):
    """(mean, std, canonical pairs kept per fold or None)."""
    if cv is not None:
        result = cross_validate(
            clone(estimator), A, B, groups=groups, cv=cv, return_estimator=True
        )
        scores = result["test_score"]
        counts = _fold_counts(result["estimator"])
        return float(np.mean(scores)), float(np.std(scores)), counts
    fitted = clone(estimator).fit(A, B)
    if A_test is None:
        return float(fitted.score(A, B)), np.nan, None
    return float(fitted.score(A_test, B_test)), np.nan, None


def _infer_pair(estimator, A, B, A_test, B_test, cv, groups, inference, options):
    """Score one pair, then its p-value or interval.

    Returns ``(mean, std, p, low, high)`` and the canonical pairs kept per
    cross-validation fold (None when not cross-validated or not a CCA).
    """
    from skrep.inference import bootstrap_interval, permutation_test

    mean, std, counts = _score_pair(estimator, A, B, A_test, B_test, cv, groups)
    pvalue = low = high = np.nan
    if inference == "permutation":
        pvalue = permutation_test(
            estimator,
            A,
            B,
            groups=groups,
            cv=cv,
            test=None if A_test is None else (A_test, B_test),
            n_permutations=options["n_permutations"],
            random_state=options["seed"],
        ).pvalue
    elif inference == "bootstrap":
        result = bootstrap_interval(
            estimator,
            A,
            B,
            groups=groups,
            n_resamples=options["n_resamples"],
            confidence_level=options["confidence_level"],
            method=options["bootstrap_method"],
            random_state=options["seed"],
        )
        low, high = result.ci_low, result.ci_high
    return (mean, std, pvalue, low, high), counts


def _warn_unstable_folds(fold_counts, estimator):
    """One warning naming the layer pairs whose folds kept different counts."""
    unstable = {label: c for label, c in fold_counts.items() if len(set(c)) > 1}
    if not unstable:
        return
    shown = "; ".join(
        f"{label}: {counts}" for label, counts in list(unstable.items())[:5]
    ) + ("; ..." if len(unstable) > 5 else "")
    typical = int(np.median([c for counts in unstable.values() for c in counts]))
    warn(
        f"The cross-validation folds kept different numbers of canonical pairs "
        f"(n_components_) in {len(unstable)} of {len(fold_counts)} layer pairs "
        f"({shown}). Each fold keeps the directions that reach "
        f"svd_components={getattr(estimator, 'svd_components', None)!r} of the "
        "variance on its own rows, and a fold with fewer pairs averages fewer "
        "correlations, so its score is not comparable with the others'. Fix "
        f"the number of directions with an int, e.g. svd_components={typical}.",
        UnstableTruncationWarning,
    )


def _check_inference(inference, test, cv, n_permutations, n_resamples,
                     confidence_level, bootstrap_method):  # fmt: skip
    """Validate the inference options; return the description of the grid's."""
    if inference not in (None, "permutation", "bootstrap"):
        raise ValueError(
            f"inference must be None, 'permutation' or 'bootstrap', got {inference!r}."
        )
    if inference == "permutation":
        if not isinstance(n_permutations, Integral) or n_permutations < 1:
            raise ValueError(
                f"n_permutations must be a positive int, got {n_permutations!r}."
            )
        return f"permutation test, {n_permutations} permutations of acts_b's rows"
    if inference == "bootstrap":
        if test is not None or cv is not None:
            raise ValueError(
                "inference='bootstrap' gives intervals for in-sample scores (each "
                "resample is refitted and scored in-sample); drop test and cv, or "
                "use inference='permutation' for held-out or cross-validated "
                "scores."
            )
        if not isinstance(n_resamples, Integral) or n_resamples < 2:
            raise ValueError(f"n_resamples must be an int >= 2, got {n_resamples!r}.")
        if not isinstance(confidence_level, Real) or not 0 < confidence_level < 1:
            raise ValueError(
                f"confidence_level must be in (0, 1), got {confidence_level!r}."
            )
        if bootstrap_method not in ("percentile", "bca"):
            raise ValueError(
                "bootstrap_method must be 'percentile' or 'bca', got "
                f"{bootstrap_method!r}."
            )
        return (
            f"{confidence_level:.0%} {bootstrap_method} bootstrap intervals, "
            f"{n_resamples} resamples"
        )
    return None


def compare_layers(
    acts_a,
    acts_b=None,
    estimator=None,
    *,
    test=None,
    cv=None,
    groups=None,
    pairs="all",
    inference=None,
    n_permutations=999,
    n_resamples=999,
    confidence_level=0.95,
    bootstrap_method="percentile",
    random_state=None,
    n_jobs=None,
    verbose=0,
):
    """Score every pair of layers of two networks with a skrep estimator.

    Each pair ``(layer i of a, layer j of b)`` is fitted with a fresh clone
    of ``estimator`` and scored, in parallel with joblib: wrapping the call
    in ``joblib.parallel_config(backend=...)`` runs it on any joblib backend
    (loky, threads, Dask, Ray) without change. The workers see the caller's
    warning filters and scikit-learn configuration.

    Warnings are collected over all the fits, whether the workers are
    threads or processes, and each
    distinct warning is issued once, with how many times it was raised and
    in which layer pairs, e.g. ``[raised 9 times during 27 fits, in 3 of 9
    layer pairs: l1 x l0, l1 x l1, l1 x l2]``. With ``cv``, when the folds
    of a layer pair keep different numbers of canonical pairs
    (``n_components_``, as SVCCA's float ``svd_components`` can), one
    :class:`~skrep.exceptions.UnstableTruncationWarning` names those pairs
    and the counts per fold.

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
        samples, such as the positions of one image, stay in one fold; with
        ``inference``, whole groups are also permuted or resampled together.
        Requires ``cv`` or ``inference``.
    pairs : {"all", "diagonal"}, default="all"
        "diagonal" scores only corresponding layers (same position); the
        other cells are NaN.
    inference : {"permutation", "bootstrap"} or None, default=None
        Also compute, for each cell, a permutation p-value
        (:func:`skrep.inference.permutation_test`, on the grid's evaluation:
        held-out, cross-validated or in-sample; in ``pvalues``) or a
        bootstrap confidence interval for the in-sample score
        (:func:`skrep.inference.bootstrap_interval`; in ``ci_low`` and
        ``ci_high``; not with ``test`` or ``cv``). The p-values are per
        cell: correct them for the number of cells (e.g. Holm) before
        reading the grid as a whole.
    n_permutations : int, default=999
        Permutations per cell with ``inference="permutation"``.
    n_resamples : int, default=999
        Bootstrap resamples per cell with ``inference="bootstrap"``.
    confidence_level : float, default=0.95
        Coverage of the bootstrap intervals.
    bootstrap_method : {"percentile", "bca"}, default="percentile"
        Interval of :func:`skrep.inference.bootstrap_interval`.
    random_state : int, RandomState instance or None, default=None
        Seeds the permutations or resamples; each cell gets its own seed
        drawn from it, so the grid does not depend on ``n_jobs``.
    n_jobs : int, default=None
        Number of parallel jobs (joblib semantics; -1 uses every core). The
        pairs run in threads unless ``joblib.parallel_config`` names another
        backend: the work is BLAS and LAPACK, which release the GIL, and
        threads start at no cost, where worker processes (joblib's ``loky``)
        take seconds to start and copy the activations to each worker. On
        a 2-core machine (``benchmarks/bench_compare_layers.py``), for
        5 x 5 layers of 8 to 32 units on 1203 samples, ``n_jobs=2`` in
        threads took 0.5 to 0.9 times the time of ``n_jobs=1``, loky's
        first call 7 to 36 times (starting its workers: 10 to 16 s); for
        3 x 3 layers of 256 to 512 units on 2000 samples, threads took 0.6
        to 1.0 times, loky with warm workers 0.65 to 0.9 times; for a grid
        that takes milliseconds (2 x 2 layers of 8 and 16 units on 300
        samples, 5 to 9 ms with ``n_jobs=1``), threads took 1.3 to 2.5
        times as long, a few milliseconds of dispatch. So ``n_jobs`` pays
        when there are more cores than BLAS uses well on one fit: many
        small layers, or many cores; loky pays only when each pair takes
        seconds and its workers are already running. These timings come
        from a machine shared with other work and vary from run to run.
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
        and ``cv`` are given, if ``groups`` is given without ``cv`` or
        ``inference`` or with the wrong length, or if the inference options
        are invalid (``inference="bootstrap"`` with ``test`` or ``cv``).

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

    With a permutation p-value for each held-out score:

    >>> tested = compare_layers(train, estimator=SVCCA(), test=(test, None),
    ...                         inference="permutation", n_permutations=99,
    ...                         random_state=0)
    >>> tested.pvalues.round(2)
    array([[0.01, 0.01, 0.71],
           [0.01, 0.01, 0.99],
           [0.69, 0.95, 0.01]])
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
    description = _check_inference(
        inference, test, cv, n_permutations, n_resamples, confidence_level,
        bootstrap_method,
    )  # fmt: skip
    if groups is not None:
        if cv is None and inference is None:
            raise ValueError(
                "groups is only used with cv (to keep each group in one fold) "
                "or with inference (to permute or resample whole groups)."
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
    seeds = np.zeros(len(cells), dtype=int)
    if inference is not None:  # without inference, no random state is drawn
        seeds = check_random_state(random_state).randint(
            np.iinfo(np.int32).max, size=len(cells)
        )
    options = {
        "n_permutations": n_permutations,
        "n_resamples": n_resamples,
        "confidence_level": confidence_level,
        "bootstrap_method": bootstrap_method,
    }
    labels = [f"{names_a[i]} x {names_b[j]}" for i, j in cells]
    prefer = "threads"
    recorder = _Recorder()
    try:
        with recorder:
            outputs = _gather(
                Parallel(n_jobs=n_jobs, verbose=verbose, prefer=prefer)(
                    delayed(_Collected(_infer_pair, label))(
                        estimator,
                        arrays_a[i],
                        arrays_b[j],
                        None if tests_a is None else tests_a[i],
                        None if tests_b is None else tests_b[j],
                        cv,
                        groups,
                        inference,
                        {**options, "seed": int(seed)},
                    )
                    for (i, j), seed, label in zip(cells, seeds, labels)
                )
            )
    finally:  # what was raised before an error is said too
        recorder.emit(labelled="layer pairs", labels=labels)
    results = [result for result, _ in outputs]
    fold_counts = {
        label: counts
        for label, (_, counts) in zip(labels, outputs)
        if counts is not None
    }
    _warn_unstable_folds(fold_counts, estimator)
    scores = np.full((len(arrays_a), len(arrays_b)), np.nan)
    spread = np.full_like(scores, np.nan) if cv is not None else None
    pvalues = np.full_like(scores, np.nan) if inference == "permutation" else None
    bootstrap = inference == "bootstrap"
    ci_low = np.full_like(scores, np.nan) if bootstrap else None
    ci_high = np.full_like(scores, np.nan) if bootstrap else None
    for (i, j), (mean, std, pvalue, low, high) in zip(cells, results):
        scores[i, j] = mean
        if spread is not None:
            spread[i, j] = std
        if pvalues is not None:
            pvalues[i, j] = pvalue
        if bootstrap:
            ci_low[i, j], ci_high[i, j] = low, high
    if description is not None and groups is not None:
        description += ", whole groups"
    return LayerComparison(
        scores, spread, names_a, names_b, repr(estimator), evaluation, pvalues,
        ci_low, ci_high, description,
    )  # fmt: skip
