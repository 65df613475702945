"""Warning classes of skrep.

Every warning skrep issues is a subclass of :class:`SkrepWarning`, itself a
:class:`UserWarning`, so that one filter silences (or turns into errors) a
whole family::

    import warnings
    from skrep.exceptions import DeadUnitWarning

    warnings.simplefilter("ignore", DeadUnitWarning)

Many fits (cross-validation, a grid of layer pairs) raise the same warning
many times; :func:`summarize_warnings` collects them and says each once,
with its count. :func:`skrep.compare_layers`, :mod:`skrep.inference` and
:class:`skrep.SparseLayerPredictorCV` use it for their own fits.
"""

import functools
import sys
import threading
import warnings

__all__ = [
    "BinningWarning",
    "DeadUnitWarning",
    "InSampleBiasWarning",
    "PrecisionWarning",
    "SkrepWarning",
    "TiedCorrelationsWarning",
    "TransposedInputWarning",
    "UnstableTruncationWarning",
    "summarize_warnings",
]


class SkrepWarning(UserWarning):
    """Base class of every warning issued by skrep."""


class DeadUnitWarning(SkrepWarning):
    """Constant (dead), duplicate or collinear units were dropped.

    They carry no information: their similarity counts as 0 and they take
    no canonical direction. Issued once per fit.
    """


class InSampleBiasWarning(SkrepWarning):
    """An in-sample similarity is biased upwards (few samples per unit).

    With more kept directions than samples, some in-sample canonical
    correlations are 1 whatever the data: score held-out data instead.
    """


class TiedCorrelationsWarning(SkrepWarning):
    """Canonical correlations are tied, so their directions are not unique.

    A measure that weights the pairs (PWCCA) then depends on which basis of
    the tied subspace the numerical route returned.
    """


class PrecisionWarning(SkrepWarning):
    """A result may have lost digits (ill-conditioned or badly scaled data)."""


class BinningWarning(SkrepWarning):
    """Histogram bins are too many for the samples: mutual information is biased."""


class TransposedInputWarning(SkrepWarning):
    """A view has far more columns than rows, as if rows and columns were swapped.

    skrep reads rows as samples and columns as units. A view with at most
    :data:`TRANSPOSED_MAX_SAMPLES` rows and at least
    :data:`TRANSPOSED_RATIO` times as many columns looks like a layer given
    as (units, samples). Wide layers with modestly more units than samples
    (a few times as many, or many more with more than
    :data:`TRANSPOSED_MAX_SAMPLES` samples) are common and valid and do not
    warn; when the rows really are samples, silence this class.
    """


class UnstableTruncationWarning(SkrepWarning):
    """Cross-validation folds kept different numbers of SVD directions.

    With a float ``svd_components`` (SVCCA's default 0.99), each fold keeps
    the fewest directions that reach the variance share on its own training
    rows; near the threshold folds disagree, and a fold that keeps fewer
    directions averages fewer canonical correlations, so its score is not
    comparable with the others'. Give ``svd_components`` as an int to fix
    the number of directions.
    """


#: A view with at most this many rows (samples) ...
TRANSPOSED_MAX_SAMPLES = 64
#: ... and at least this many times as many columns (units) warns
#: :class:`TransposedInputWarning`.
TRANSPOSED_RATIO = 10


def warn(message, category):
    """Issue a warning attributed to the user's line, not skrep's.

    The stack level is that of the first frame outside skrep and
    scikit-learn, so a warning from a fit deep inside ``partial_fit``'s lazy
    finalisation, a ``Pipeline`` or ``cross_val_score`` points at the user's
    call.

    Parameters
    ----------
    message : str
        The warning text.
    category : type
        A :class:`SkrepWarning` subclass (or any Warning class).
    """
    # Level 1 is this function, 2 its caller, and so on.
    frame, level = sys._getframe(1), 2
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(("skrep.", "sklearn.", "joblib.")) and module not in (
            "skrep",
            "contextlib",
        ):
            break
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def warn_imprecise_moments(directions, remedy):
    """Warn that a moments-route result may have lost digits (no fallback taken).

    For a fit forced onto the moments route, or a ``partial_fit``, whose
    result the route check would have sent to the data.

    Parameters
    ----------
    directions : str
        Which directions are too weak, and why they count, e.g. "Some kept
        directions are so weak (singular value below 1e-4 of the largest)".
    remedy : str
        What to do instead.
    """
    warn(
        f"{directions} that the moments route may have lost digits for them; {remedy}.",
        PrecisionWarning,
    )


# ---------------------------------------------------------------------------
# Aggregation of repeated warnings.
# ---------------------------------------------------------------------------

#: Recorders active in this process, innermost last; shared by threads.
_ACTIVE = []
_LOCK = threading.Lock()
#: Per thread: the label (e.g. a layer pair) of the work it is running.
_LOCAL = threading.local()


def _note_fit():
    """Count one fit in every active recorder (called when a fit starts)."""
    with _LOCK:
        for recorder in _ACTIVE:
            recorder.n_fits += 1


class _Recorder:
    """Collect the warnings of a category, grouped by (category, message).

    While active, a warning of ``category`` that the caller's filters would
    show is recorded instead (filters that say "ignore" or "error" keep
    their effect; "default", "once" and "module", which would hide repeats,
    count every one); other warnings pass through. ``records`` maps
    ``(category, message)`` to ``[count, labels]`` in order of first
    appearance, and ``n_fits`` counts the fits started meanwhile.
    """

    def __init__(self, category=SkrepWarning):
        self.category = category
        self.records = {}
        self.n_fits = 0

    def add(self, category, message, count=1, labels=()):
        entry = self.records.setdefault((category, message), [0, []])
        entry[0] += count
        for label in labels:
            if label not in entry[1]:
                entry[1].append(label)

    def merge(self, records, n_fits=0):
        """Add records returned by another recorder (e.g. a joblib worker)."""
        for (category, message), (count, labels) in records.items():
            self.add(category, message, count, labels)
        with _LOCK:
            self.n_fits += n_fits

    def _showwarning(self, message, category, filename, lineno, file=None, line=None):
        if issubclass(category, self.category):
            label = getattr(_LOCAL, "label", None)
            with _LOCK:
                self.add(category, str(message), 1, () if label is None else (label,))
        else:
            self._previous_show(message, category, filename, lineno, file, line)

    def __enter__(self):
        # Inside an active recorder that collects this category (a function
        # that summarizes, called in compare_layers' threads), the outer one
        # counts everything: installing a second hook from several threads
        # would race on the global warning state.
        with _LOCK:
            self._passive = any(
                issubclass(self.category, outer.category) for outer in _ACTIVE
            )
        if self._passive:
            return self
        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        self._previous_show = warnings.showwarning
        filters = []
        for action, message, category, module, lineno in warnings.filters:
            if action in ("default", "once", "module"):
                if issubclass(category, self.category):
                    action = "always"
                elif issubclass(self.category, category):
                    # e.g. "default" for every UserWarning: count skrep's
                    # repeats, and leave the others to the filter as it is.
                    filters.append(("always", message, self.category, module, lineno))
            filters.append((action, message, category, module, lineno))
        warnings.filters[:] = filters
        # Where no filter decides, Python's default would show a repeat once.
        # (Adding a filter also tells the warnings module that they changed.)
        warnings.filterwarnings("always", category=self.category, append=True)
        warnings.showwarning = self._showwarning
        with _LOCK:
            _ACTIVE.append(self)
        return self

    def __exit__(self, *exc_info):
        if self._passive:
            return False
        with _LOCK:
            _ACTIVE.remove(self)
        self._catcher.__exit__(*exc_info)
        return False

    def emit(self, *, labelled=None, labels=None):
        """Issue each recorded warning once, with its count, at the user's line.

        ``labelled`` names what the labels are (e.g. "layer pairs") and
        ``labels`` lists all of them in order; a warning then also says in
        which of them it was raised.
        """
        order = {label: i for i, label in enumerate(labels or ())}
        for (category, message), (count, raised_in) in self.records.items():
            if count == 1 and self.n_fits <= 1 and len(order) <= 1:
                warn(message, category)
                continue
            times = "once" if count == 1 else f"{count} times"
            where = f" during {self.n_fits} fits" if self.n_fits else ""
            if raised_in and labelled is not None:
                raised_in = sorted(raised_in, key=lambda label: order.get(label, 0))
                shown = ", ".join(raised_in[:3]) + (
                    ", ..." if len(raised_in) > 3 else ""
                )
                where += f", in {len(raised_in)} of {len(order)} {labelled}: {shown}"
            warn(f"{message} [raised {times}{where}]", category)


class _Collected:
    """A joblib task whose skrep warnings reach the caller's recorder.

    In the caller's process (sequential or threads) the active recorder
    sees them directly, tagged with ``label``; in another process (loky)
    the task records them itself and returns them with its result. Call
    :func:`_gather` on the list of outputs.
    """

    def __init__(self, function, label=None):
        # Not "function": scikit-learn's delayed copies this __dict__ onto
        # its own wrapper, whose "function" is this object.
        self._task, self._label = function, label

    def __call__(self, *args, **kwargs):
        previous = getattr(_LOCAL, "label", None)
        _LOCAL.label = self._label
        try:
            if _ACTIVE:
                return self._task(*args, **kwargs), None
            with _Recorder() as recorder:
                result = self._task(*args, **kwargs)
            return result, (recorder.records, recorder.n_fits)
        finally:
            _LOCAL.label = previous


def _gather(outputs):
    """Results of :class:`_Collected` tasks; their warnings go to the recorder."""
    results = []
    for result, recorded in outputs:
        if recorded is not None and _ACTIVE:
            _ACTIVE[-1].merge(*recorded)
        results.append(result)
    return results


def summarize_warnings(category=SkrepWarning):
    """Say each repeated skrep warning once, with a count.

    A context manager: inside it, the warnings of ``category`` (by default
    every :class:`SkrepWarning`) are collected; on leaving, each distinct
    warning (same class and text) is issued once, followed by how many
    times it was raised and during how many fits, e.g. ``[raised 5 times
    during 5 fits]``. Your warning filters keep their effect: a warning
    you ignore is not counted, and one you turn into an error raises where
    it happens. Other warnings pass through unchanged.

    The warnings raised in threads (joblib's ``threading`` backend) are
    collected too. Warnings raised in other processes (joblib's default
    ``loky`` backend with ``n_jobs`` above 1) are printed by those
    processes; run parallel work with ``joblib.parallel_config(
    backend="threading")`` inside this context to collect them, or use
    :func:`skrep.compare_layers`, which collects its workers' warnings from
    threads and processes alike. Inside another such context (or inside
    :func:`skrep.compare_layers`), the outer one does the counting.

    Parameters
    ----------
    category : type, default=SkrepWarning
        The warning class to collect (its subclasses included).

    Returns
    -------
    summary : context manager
        Entered with ``with summarize_warnings() as summary:``; after the
        block, ``summary.counts`` is ``{(category, message): count}`` of
        what was collected (in order of first appearance) and
        ``summary.n_fits`` the skrep fits started inside the block (in this
        process).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sklearn.model_selection import cross_val_score
    >>> from skrep import SVCCA
    >>> from skrep.exceptions import summarize_warnings
    >>> rng = np.random.RandomState(0)
    >>> X, Y = rng.randn(100, 4), rng.randn(100, 3)
    >>> X[:, 0] = 1.0  # a dead unit: every fold warns about it
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     with summarize_warnings() as summary:
    ...         scores = cross_val_score(SVCCA(svd_components=None), X, Y, cv=5)
    >>> len(caught), summary.n_fits
    (1, 5)
    >>> str(caught[0].message).endswith("[raised 5 times during 5 fits]")
    True
    """
    return _Summary(category)


class _Summary:
    """The context manager of :func:`summarize_warnings`."""

    def __init__(self, category):
        self.category = category

    def __enter__(self):
        self._recorder = _Recorder(self.category)
        self._recorder.__enter__()
        return self

    def __exit__(self, *exc_info):
        recorder = self._recorder
        recorder.__exit__(*exc_info)
        self.counts = {key: count for key, (count, _) in recorder.records.items()}
        self.n_fits = recorder.n_fits
        recorder.emit()
        return False


def _summarized(function):
    """Decorate a function that fits many times: its warnings come once, counted."""

    @functools.wraps(function)
    def summarized(*args, **kwargs):
        recorder = _Recorder()
        try:
            with recorder:
                return function(*args, **kwargs)
        finally:  # what was raised before an error is said too
            recorder.emit()

    return summarized
