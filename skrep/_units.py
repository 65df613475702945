"""Per-unit diagnostics that every measure agrees on."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array

from skrep._core.correlation import unit_stats
from skrep._core.moments import check_scale
from skrep.base import host_arrays

__all__ = ["dead_units"]


def dead_units(X):
    r"""Which units are constant (dead) on these samples, by skrep's one rule.

    A unit is dead when its standard deviation is at most :math:`10^{-12}`
    times its root-mean-square value,

    .. math::

        \sigma_j \le 10^{-12} \sqrt{\mu_j^2 + \sigma_j^2},

    the rule every estimator applies in ``fit`` and in ``score``: such a
    unit carries no information, gets correlation 0 and takes no canonical
    direction. The rule is relative to each unit's own scale, so a unit at
    :math:`10^8` that varies by :math:`10^{-3}` is alive.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_units)
        Activations: rows are samples, columns units.

    Returns
    -------
    dead : ndarray of bool of shape (n_units,)
        True for the constant units.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import dead_units
    >>> X = np.array([[0.0, 1.0, 1e8], [0.0, 2.0, 1e8 + 1e-3], [0.0, 3.0, 1e8]])
    >>> dead_units(X)
    array([ True, False, False])
    """
    (X,) = host_arrays(X)
    X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
    mean, std, constant = unit_stats(X)
    # Squares below float64's range would make every unit look constant.
    check_scale(mean, X.shape[0] * std**2, X.shape[0], "X")
    return constant
