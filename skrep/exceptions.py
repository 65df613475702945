"""Warning classes of skrep.

Every warning skrep issues is a subclass of :class:`SkrepWarning`, itself a
:class:`UserWarning`, so that one filter silences (or turns into errors) a
whole family::

    import warnings
    from skrep.exceptions import DeadUnitWarning

    warnings.simplefilter("ignore", DeadUnitWarning)
"""

__all__ = [
    "BinningWarning",
    "DeadUnitWarning",
    "InSampleBiasWarning",
    "PrecisionWarning",
    "SkrepWarning",
    "TiedCorrelationsWarning",
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
    import sys
    import warnings

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
