"""Input validation shared by the two-view estimators.

The second view is scikit-learn's ``y``: it may be 1-D (one unit) and must
have as many rows as ``X``; after ``fit`` it must keep its number of units.
"""

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

FLOATS = (np.float64, np.float32)


def validate_views(estimator, X, y, *, dtype=FLOATS, return_1d=False):
    """Validate both views in ``fit``; record the second view's width.

    Parameters
    ----------
    estimator : estimator
        Gets ``n_features_in_`` (and ``feature_names_in_``) from
        scikit-learn's ``validate_data`` and ``n_features_y_`` here.
    X : array-like of shape (n_samples, n_units_x)
        First view.
    y : array-like of shape (n_samples, n_units_y) or (n_samples,)
        Second view.
    dtype : dtype or tuple of dtypes, default=(float64, float32)
        Accepted float types (others are converted to the first).
    return_1d : bool, default=False
        Also return whether ``y`` was 1-D (for estimators whose outputs
        follow its shape, like a regressor's ``predict``).

    Returns
    -------
    X : ndarray of shape (n_samples, n_units_x)
    Y : ndarray of shape (n_samples, n_units_y)
        Always 2-D.
    y_is_1d : bool
        Only with ``return_1d=True``.
    """
    X, y = validate_data(
        estimator,
        X,
        y,
        multi_output=True,
        y_numeric=True,
        ensure_min_samples=2,
        dtype=list(dtype) if isinstance(dtype, tuple) else dtype,
    )
    Y = y.reshape(-1, 1) if y.ndim == 1 else y
    estimator.n_features_y_ = Y.shape[1]
    return (X, Y, y.ndim == 1) if return_1d else (X, Y)


def check_second_view(estimator, y, n_samples, *, dtype=FLOATS):
    """Validate the second view after ``fit`` (transform, score, ...).

    Parameters
    ----------
    estimator : fitted estimator
        With ``n_features_y_``.
    y : array-like of shape (n_samples, n_units_y) or (n_samples,)
        Second view.
    n_samples : int
        Rows of the first view given with it.
    dtype : dtype or tuple of dtypes, default=(float64, float32)
        Accepted float types.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_units_y)
        Always 2-D.
    """
    Y = check_array(
        y,
        ensure_2d=False,
        dtype=list(dtype) if isinstance(dtype, tuple) else dtype,
        input_name="y",
    )
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2:
        raise ValueError(f"y must be 1-D or 2-D, got {Y.ndim} dimensions.")
    if Y.shape[0] != n_samples:
        raise ValueError(
            "X and y have different numbers of rows (samples): "
            f"{n_samples} and {Y.shape[0]}."
        )
    if Y.shape[1] != estimator.n_features_y_:
        raise ValueError(
            f"y has {Y.shape[1]} units, but {type(estimator).__name__} was "
            f"fitted with {estimator.n_features_y_}."
        )
    return Y
