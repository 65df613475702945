"""Parameter constraints: scikit-learn's, with bools refused as numbers.

``True`` is an :class:`numbers.Integral` (and a :class:`numbers.Real`) in
Python, so scikit-learn's ``Interval(Integral, 1, None)`` accepts
``n_components=True`` as 1 pair and ``decay=True`` as 1.0: never what a user
meant. Every numeric constraint in skrep is this :class:`Interval`, which
refuses Python and NumPy bools with scikit-learn's
``InvalidParameterError`` (NumPy's ``np.True_`` is refused by scikit-learn
already, being neither Integral nor Real).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils._param_validation import Interval as _SklearnInterval

__all__ = ["Interval"]


class Interval(_SklearnInterval):
    """:class:`sklearn.utils._param_validation.Interval` refusing bools.

    Examples
    --------
    >>> from numbers import Integral
    >>> from skrep._params import Interval
    >>> count = Interval(Integral, 1, None, closed="left")
    >>> count.is_satisfied_by(3), count.is_satisfied_by(True)
    (True, False)
    """

    def is_satisfied_by(self, val):
        if isinstance(val, (bool, np.bool_)):
            return False
        return super().is_satisfied_by(val)
