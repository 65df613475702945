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
