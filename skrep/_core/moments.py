"""Streaming moments of one or two views, and the one constant-unit rule.

:class:`Moments` accumulates, batch by batch, everything the moment-based
measures need: the number of rows, the means, the centred cross-products
(co-moments) and optionally each unit's range. Accumulators built on
different rows merge exactly (``a + b`` or :meth:`Moments.merge`), so the
rows can be spread over workers and reduced.

Numerics. Each batch is centred on the mean of its first block before its
products are taken (so large means, as after a ReLU, cost no digits), then
folded into the running totals with the pairwise update of Chan, Golub and
LeVeque (1979)::

    n = n_a + n_b,   d = mean_b - mean_a,
    M = M_a + M_b + (n_a n_b / n) d d^T.

Everything is accumulated in float64, whatever the input dtype.

The constant-unit rule. A unit is *constant* (dead) when its standard
deviation is at most :data:`CONSTANT_TOL` times its root-mean-square value,
``std <= CONSTANT_TOL * sqrt(mean**2 + std**2)``, which includes units that
are exactly constant or exactly zero. The rule is relative to each unit's own
scale, so a unit at 1e8 varying by 1e-3 (eleven digits below its mean, well
within float64's sixteen) is signal, while the round-off left by centring a
truly constant unit (about 1e-16 of its value or less) is not. Every
estimator, in ``fit`` and in ``score``, decides deadness with
:func:`constant_units`.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.blas import dsyr, dsyrk

from skrep._core.backend import blas_threads, block_rows, in_two_lanes

__all__ = [
    "CONSTANT_TOL",
    "SMALLEST_SCALE",
    "Moments",
    "ScaleError",
    "check_finite_products",
    "check_scale",
    "constant_units",
    "fit_by_route",
    "raw_covariances",
]

#: A unit whose standard deviation is at most this fraction of its
#: root-mean-square value is constant (dead).
CONSTANT_TOL = 1e-12


def check_finite_products(*arrays):
    """Refuse products that overflowed float64 (activations of about 1e150).

    Parameters
    ----------
    *arrays : ndarray
        Sums, means or cross-products just formed from finite data.

    Raises
    ------
    ValueError
        If any of them is infinite or NaN: the squares of the data exceed
        float64's range. Similarity measures are scale-invariant, so dividing
        the activations by a constant (e.g. their largest absolute value)
        changes nothing but this.
    """
    for array in arrays:
        if array is not None and not np.all(np.isfinite(array)):
            raise ValueError(
                "The activations are so large that their squares overflow "
                "float64 (values above about 1e150). Divide them by a constant, "
                "e.g. their largest absolute value: the similarity measures are "
                "scale-invariant."
            )


#: The smallest scale of a view's activations (the largest absolute mean or
#: root mean square over its units) the moments route takes: squares of
#: smaller values fall below float64's normal range (about 1e-308) and lose
#: digits, then underflow to 0, which would make every unit look constant.
SMALLEST_SCALE = 1e-140


class ScaleError(ValueError):
    """Activations too small for the cross-products (see :data:`SMALLEST_SCALE`)."""


def check_scale(mean, squares, n_samples, name):
    """Refuse a view whose squares underflow float64 (activations below 1e-140).

    Parameters
    ----------
    mean : ndarray of shape (n_units,)
        Per-unit means of the view.
    squares : ndarray of shape (n_units,)
        Per-unit centred sums of squares.
    n_samples : int
    name : str
        The view's name, for the message.

    Raises
    ------
    ScaleError
        A :class:`ValueError`, if every unit of the view is nonzero but below
        :data:`SMALLEST_SCALE` in scale. A view of zeros is left to the dead
        unit rules.
    """
    if mean.size == 0 or n_samples == 0:
        return
    scale = max(
        float(np.max(np.abs(mean))),
        float(np.sqrt(max(float(np.max(squares)), 0.0) / n_samples)),
    )
    if 0.0 < scale < SMALLEST_SCALE:
        raise ScaleError(
            f"The activations of {name} are so small (at most about {scale:.1e}) "
            "that their squares underflow float64. Multiply them by a constant, "
            "e.g. 1 / their largest absolute value: the similarity measures are "
            "scale-invariant."
        )


def constant_units(mean, variance):
    """Apply the one constant-unit rule: which units are constant (dead).

    Parameters
    ----------
    mean : ndarray of shape (n_units,)
        Per-unit mean.
    variance : ndarray of shape (n_units,)
        Per-unit variance (any normalisation: the rule is scale-free only in
        the ratio, so give the population variance, ``1/n``).

    Returns
    -------
    constant : ndarray of bool, shape (n_units,)
        True where ``std <= CONSTANT_TOL * sqrt(mean**2 + std**2)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.moments import constant_units
    >>> constant_units(np.array([1e8, 1e8, 0.0]), np.array([1e-6, 1e-40, 0.0]))
    array([False,  True,  True])
    """
    variance = np.maximum(np.asarray(variance, dtype=np.float64), 0.0)
    mean = np.asarray(mean, dtype=np.float64)
    return ~(variance > CONSTANT_TOL**2 * (mean * mean + variance))


class Moments:
    """Mergeable streaming means and centred cross-products of one or two views.

    Parameters
    ----------
    n_features_x : int
        Number of units (columns) of the first view.
    n_features_y : int or None, default=None
        Number of units of the second view, or None for a single view.
    products : {"all", "cross"}, default="all"
        "all" keeps the full co-moment of ``[X, Y]`` (``Xc^T Xc``,
        ``Yc^T Yc`` and ``Xc^T Yc``); "cross" keeps ``Xc^T Yc`` and the
        per-unit sums of squares only (what correlations need, at half the
        cost for two views of equal width).
    track_range : bool, default=False
        Also keep each unit's minimum and maximum.

    Attributes
    ----------
    n_samples : int
        Rows seen.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.moments import Moments
    >>> rng = np.random.RandomState(0)
    >>> X, Y = rng.randn(100, 3), rng.randn(100, 2)
    >>> a = Moments(3, 2).update(X[:60], Y[:60])
    >>> b = Moments(3, 2).update(X[60:], Y[60:])
    >>> mean_x, mean_y, cxx, cyy, cxy = (a + b).covariances()
    >>> bool(np.allclose(cxy, (X - X.mean(0)).T @ (Y - Y.mean(0))))
    True
    """

    def __init__(self, n_features_x, n_features_y=None, *, products="all",
                 track_range=False):  # fmt: skip
        if products not in ("all", "cross"):
            raise ValueError(f"products must be 'all' or 'cross', got {products!r}.")
        if products == "cross" and n_features_y is None:
            raise ValueError("products='cross' needs two views.")
        self.n_features_x = int(n_features_x)
        self.n_features_y = None if n_features_y is None else int(n_features_y)
        self.products = products
        self.track_range = track_range
        self.n_samples = 0
        width = self.width
        self._mean = np.zeros(width)
        # The exact mean is _mean + _mean_error: the rounding of each update's
        # new mean is carried, so that later batches, centred on the rounded
        # mean, are folded in exactly (see _update_all).
        self._mean_error = np.zeros(width)
        if products == "all":
            # The co-moment about the running mean, upper triangle only, plus
            # a scratch last column where each batch's sums land: updated in
            # place by BLAS (one symmetric rank-k product and one rank-one
            # correction per block), never copied.
            self._acc_array = np.zeros((width + 1, width + 1), order="F")
        else:
            self._comoment = np.zeros((self.n_features_x, self.n_features_y))
            self._squares = np.zeros(width)
        self.minimum = np.full(width, np.inf) if track_range else None
        self.maximum = np.full(width, -np.inf) if track_range else None

    @property
    def _acc(self):
        """The accumulator array; filled from the stored blocks on first use."""
        blocks = self.__dict__.pop("_blocks", None)
        if blocks is not None:
            cxx, cyy, cxy = blocks
            p, width = self.n_features_x, self.width
            acc = np.zeros((width + 1, width + 1), order="F")
            # Only the upper triangle of the accumulator is read.
            acc[:p, :p] = cxx
            acc[:p, p:width] = cxy
            acc[p:width, p:width] = cyy
            self._acc_array = acc
        return self._acc_array

    @_acc.setter
    def _acc(self, value):
        self.__dict__.pop("_blocks", None)
        self._acc_array = value

    @property
    def width(self):
        """Units of both views together."""
        return self.n_features_x + (self.n_features_y or 0)

    @property
    def two_views(self):
        """Whether a second view is accumulated."""
        return self.n_features_y is not None

    # -- accumulation -------------------------------------------------------

    def update(self, X, Y=None):
        """Add rows of X (and the matching rows of Y).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features_x)
            New rows of the first view (any float dtype; not modified).
        Y : ndarray of shape (n_samples, n_features_y), optional
            The same samples in the second view.

        Returns
        -------
        self : Moments
            The accumulator, updated.
        """
        if X.ndim != 2 or X.shape[1] != self.n_features_x:
            raise ValueError(
                f"X must have {self.n_features_x} columns, got shape {X.shape}."
            )
        if self.two_views:
            if Y is None or Y.ndim != 2 or Y.shape[0] != X.shape[0]:
                raise ValueError("Y must be given with as many rows as X.")
            if Y.shape[1] != self.n_features_y:
                raise ValueError(
                    f"Y must have {self.n_features_y} columns, got {Y.shape[1]}."
                )
        n = X.shape[0]
        if n == 0:
            return self
        if self.products == "all":
            with np.errstate(over="ignore", invalid="ignore"):
                self._update_all(X, Y)
        else:
            mean, error, comoment, squares = self._batch_moments(X, Y)
            self._combine(n, mean, comoment, squares, error)
        squares = (
            np.diag(self._acc)[: self.width]
            if self.products == "all"
            else self._squares
        )
        p = self.n_features_x
        check_scale(self._mean[:p], squares[:p], self.n_samples, "X")
        if self.two_views:
            check_scale(self._mean[p:], squares[p:], self.n_samples, "y")
        if self.track_range:
            views = [X] if not self.two_views else [X, Y]
            low = np.concatenate([V.min(axis=0) for V in views])
            high = np.concatenate([V.max(axis=0) for V in views])
            np.minimum(self.minimum, low, out=self.minimum)
            np.maximum(self.maximum, high, out=self.maximum)
        return self

    def _update_all(self, X, Y):
        r"""Fold a batch into the full co-moment, in place.

        The batch is centred on the stored running mean :math:`c` (the first
        block's mean for the first batch). The exact mean of the rows so far
        is :math:`c + e` (``e``, the rounding of ``c``, is carried), so the
        old rows contribute :math:`n_a e` to the sum of the shifted rows and
        :math:`M_a + n_a e e^T` to their products. With :math:`z` the
        shifted new rows, :math:`s = n_a e + \sum z` and
        :math:`S = \sum z z^T`, the co-moment about the new mean
        :math:`c + s / n` is :math:`M_a + n_a e e^T + S - s s^T / n`
        (:math:`n` all rows so far): exact, and robust to large means. Without
        ``e``, a small spread on a large mean (1e-4 on 1e6) lost about 1e-8
        of the correlations to the rounding of the stored mean.
        """
        n_b, p, width = X.shape[0], self.n_features_x, self.width
        views = [X] if not self.two_views else [X, Y]
        n_a = self.n_samples
        if n_a:
            shift = self._mean
        else:
            first = block_rows(width)
            shift = np.concatenate(
                [V[:first].mean(axis=0, dtype=np.float64) for V in views]
            )
        step = min(n_b, block_rows(width + 1))
        block = np.empty((step, width + 1))
        block[:, width] = 1.0
        acc = self._acc
        for start in range(0, n_b, step):
            rows = min(step, n_b - start)
            out = block[:rows]
            np.subtract(X[start : start + rows], shift[:p], out=out[:, :p])
            if self.two_views:
                np.subtract(Y[start : start + rows], shift[p:], out=out[:, p:width])
            # out.T is Fortran-ordered: acc += out.T @ out with no copy.
            acc = dsyrk(1.0, out.T, beta=1.0, c=acc, trans=0, lower=0, overwrite_c=1)
        sums = acc[:width, width].copy()
        acc[:, width] = 0.0
        n = n_a + n_b
        check_finite_products(sums, np.diag(acc)[:width])
        correction = np.zeros(width + 1)
        if n_a:
            error = self._carried_error()
            correction[:width] = error
            acc = dsyr(float(n_a), correction, a=acc, lower=0, overwrite_a=1)
            sums += n_a * error
        correction[:width] = sums
        acc = dsyr(-1.0 / n, correction, a=acc, lower=0, overwrite_a=1)
        self._acc = acc
        self._set_mean(shift, sums / n)
        self.n_samples = n

    def _carried_error(self):
        """Return the rounding error of the stored mean (zeros for old pickles)."""
        error = self.__dict__.get("_mean_error")
        return np.zeros(self.width) if error is None else error

    def _set_mean(self, base, step):
        """Store the mean ``base + step`` rounded, and carry its rounding error."""
        mean = base + step
        # base and mean are close, so base - mean is exact (Sterbenz); adding
        # step recovers what the rounding of base + step lost.
        self._mean_error = (base - mean) + step
        self._mean = mean

    def _comoment_all(self):
        """Return the full symmetric co-moment (``products="all"``), a new array."""
        width = self.width
        upper = np.triu(self._acc[:width, :width])
        return upper + np.triu(upper, 1).T

    def _batch_moments(self, X, Y):
        """One batch's moments (``products="cross"``).

        Returns its mean (rounded), the rounding error of that mean, and its
        cross co-moment and squares about its exact mean.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            return self._batch_moments_unchecked(X, Y)

    def _batch_moments_unchecked(self, X, Y):
        n, p, width = X.shape[0], self.n_features_x, self.width
        if self.n_samples:
            # The running mean is close to the batch's: centring on it costs
            # no digits and no extra pass over the batch.
            shift = self._mean.copy()
        else:
            first = block_rows(width)
            shift = np.concatenate(
                [V[:first].mean(axis=0, dtype=np.float64) for V in (X, Y)]
            )
        total = np.zeros(width)
        comoment = np.zeros_like(self._comoment)
        squares = np.zeros(width)
        step = min(n, block_rows(width))
        block = np.empty((step, width))
        for start in range(0, n, step):
            rows = min(step, n - start)
            out = block[:rows]
            np.subtract(X[start : start + rows], shift[:p], out=out[:, :p])
            np.subtract(Y[start : start + rows], shift[p:], out=out[:, p:])
            total += out.sum(axis=0)
            comoment += out[:, :p].T @ out[:, p:]
            squares += np.einsum("ij,ij->j", out, out)
        check_finite_products(total, comoment, squares)
        offset = total / n
        comoment -= n * np.outer(offset[:p], offset[p:])
        squares -= n * offset * offset
        np.maximum(squares, 0.0, out=squares)
        mean = shift + offset
        return mean, (shift - mean) + offset, comoment, squares

    def _combine(self, n_b, mean_b, comoment_b, squares_b, error_b=None):
        """Chan et al.'s pairwise update with another set of moments.

        ``mean_b + error_b`` is the other set's exact mean (``error_b``, the
        rounding of ``mean_b``, None for none); the difference of the two
        exact means is formed from the rounded ones and their errors, so
        that it keeps its digits when both means are large and close.
        """
        n_a = self.n_samples
        error_b = np.zeros(self.width) if error_b is None else error_b
        if n_a == 0:
            self.n_samples = n_b
            self._mean = mean_b.copy()
            self._mean_error = np.array(error_b, dtype=np.float64)
            if self.products == "all":
                self._acc[: self.width, : self.width] = comoment_b
            else:
                self._comoment = comoment_b.copy()
                self._squares = squares_b.copy()
            return
        n = n_a + n_b
        error_a = self._carried_error()
        delta = (mean_b - self._mean) + (error_b - error_a)
        factor = n_a * n_b / n
        self._set_mean(self._mean, error_a + delta * (n_b / n))
        if self.products == "all":
            full = self._comoment_all() + comoment_b + factor * np.outer(delta, delta)
            self._acc[: self.width, : self.width] = full
        else:
            p = self.n_features_x
            self._comoment += comoment_b + factor * np.outer(delta[:p], delta[p:])
            self._squares += squares_b + factor * delta * delta
        self.n_samples = n

    def merge(self, other):
        """Fold in the moments of other rows, exactly (in place).

        Parameters
        ----------
        other : Moments
            Accumulated on other rows of the same views, with the same
            ``products`` and ``track_range``.

        Returns
        -------
        self : Moments
        """
        if not isinstance(other, Moments):
            raise TypeError(f"Can only merge Moments, got {type(other).__name__}.")
        same = (
            other.n_features_x == self.n_features_x
            and other.n_features_y == self.n_features_y
            and other.products == self.products
            and other.track_range == self.track_range
        )
        if not same:
            raise ValueError(
                "Cannot merge moments of different views: "
                f"({self.n_features_x}, {self.n_features_y}, {self.products!r}) "
                f"and ({other.n_features_x}, {other.n_features_y}, "
                f"{other.products!r})."
            )
        if other.n_samples:
            self._combine(
                other.n_samples,
                other._mean,
                other._comoment_all() if self.products == "all" else other._comoment,
                other._squares if self.products == "cross" else None,
                other._carried_error(),
            )
            if self.track_range:
                np.minimum(self.minimum, other.minimum, out=self.minimum)
                np.maximum(self.maximum, other.maximum, out=self.maximum)
        return self

    def copy(self):
        """Return an independent copy."""
        new = Moments.__new__(Moments)
        new.__dict__ = {
            key: value.copy(order="K") if isinstance(value, np.ndarray) else value
            for key, value in self.__dict__.items()
        }
        return new

    def __add__(self, other):
        return self.copy().merge(other)

    def __iadd__(self, other):
        return self.merge(other)

    @classmethod
    def from_covariances(cls, n_samples, mean_x, mean_y, cxx, cyy, cxy, *, copy=True):
        """Moments (``products="all"``) from already centred cross-products.

        Parameters
        ----------
        n_samples : int
        mean_x, mean_y : ndarray
        cxx, cyy, cxy : ndarray
            ``Xc^T Xc``, ``Yc^T Yc``, ``Xc^T Yc`` (not divided by n).
        copy : bool, default=True
            Copy the products; False hands them over (the caller must not
            modify them afterwards).

        Returns
        -------
        moments : Moments
        """
        p, q = cxx.shape[0], cyy.shape[0]
        new = cls.__new__(cls)
        new.n_features_x, new.n_features_y = p, q
        new.products, new.track_range = "all", False
        new.minimum = new.maximum = None
        new.n_samples = int(n_samples)
        new._mean = np.concatenate([mean_x, mean_y]).astype(np.float64)
        new._mean_error = np.zeros(new._mean.shape)
        # The (p + q + 1)^2 accumulator is filled only when something reads
        # it (covariances, streaming on): a fit that never streams skips it.
        blocks = (cxx, cyy, cxy)
        new._blocks = tuple(b.copy() for b in blocks) if copy else blocks
        return new

    # -- results ------------------------------------------------------------

    def _check_samples(self):
        if self.n_samples == 0:
            raise ValueError("No samples were accumulated.")

    def covariances(self):
        """Means and centred cross-products of what was seen.

        Returns
        -------
        mean_x : ndarray of shape (n_features_x,)
        mean_y : ndarray of shape (n_features_y,) or None
        cxx : ndarray of shape (n_features_x, n_features_x) or None
            ``Xc.T @ Xc`` with ``Xc`` the column-centred rows (not divided
            by the number of samples); None with ``products="cross"``.
        cyy : ndarray of shape (n_features_y, n_features_y) or None
        cxy : ndarray of shape (n_features_x, n_features_y) or None
        """
        self._check_samples()
        p = self.n_features_x
        mean = self._mean
        if self.products == "cross":
            return mean[:p], mean[p:], None, None, self._comoment.copy()
        C = self._comoment_all()
        if not self.two_views:
            return mean.copy(), None, C.copy(), None, None
        return mean[:p], mean[p:], C[:p, :p].copy(), C[p:, p:].copy(), C[:p, p:].copy()

    @property
    def mean(self):
        """Per-unit mean of ``[X, Y]``."""
        self._check_samples()
        return self._mean.copy()

    @property
    def squares(self):
        """Per-unit centred sums of squares of ``[X, Y]`` (the co-moment's diagonal)."""
        self._check_samples()
        if self.products == "cross":
            return self._squares.copy()
        return np.maximum(np.diag(self._acc)[: self.width].copy(), 0.0)

    @property
    def variance(self):
        """Per-unit population variance (``1/n``) of ``[X, Y]``."""
        return self.squares / self.n_samples

    @property
    def constant(self):
        """Constant (dead) units of ``[X, Y]``, by :func:`constant_units`.

        With ``track_range``, a unit whose minimum equals its maximum is
        constant whatever the rule says.
        """
        constant = constant_units(self.mean, self.variance)
        if self.track_range:
            constant |= self.minimum == self.maximum
        return constant


def raw_covariances(X, Y):
    """Centred cross-products from the raw products, without copying the data.

    ``Xc^T Xc = X^T X - n m m^T``: the three BLAS products on the caller's
    arrays and a rank-one correction. The correction cancels digits in
    proportion to the means' energy ``n ||m||^2``, which
    :func:`needs_accurate_route` takes into account.
    """
    n = X.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        # The column sums as one matrix-vector product (BLAS): two to three
        # times faster than X.mean(axis=0) on C-ordered rows, same rounding
        # bound (n * eps, a sum of n terms either way).
        sum_x, sum_y, cxx, cyy, cxy = _products(X, Y)
        mean_x, mean_y = sum_x / n, sum_y / n
        # n m m^T as the outer product of sqrt(n) m with itself: exactly
        # symmetric, like the products of contiguous views. (NumPy alone:
        # alternating with SciPy's own BLAS costs tens of milliseconds while
        # one library's idle threads spin.)
        root = np.sqrt(n)
        sx, sy = root * mean_x, root * mean_y
        cxx -= np.outer(sx, sx)
        cyy -= np.outer(sy, sy)
        cxy -= np.outer(sx, sy)
    check_finite_products(cxx, cyy, cxy)
    check_scale(mean_x, np.diag(cxx), n, "X")
    check_scale(mean_y, np.diag(cyy), n, "y")
    return mean_x, mean_y, _symmetric(cxx, X), _symmetric(cyy, Y), cxy


#: From this many units (the wider view) on, on a machine where BLAS runs
#: two threads, :func:`raw_covariances` forms its products in two lanes.
LANES_MIN_UNITS = 256


def _products(X, Y):
    """Column sums and the products ``X^T X``, ``Y^T Y``, ``X^T Y``.

    Where BLAS runs exactly two threads (a 2-core machine) and a view has
    :data:`LANES_MIN_UNITS` units or more, two Python threads with one BLAS
    thread each share the work, balanced in flops: one forms ``X^T X`` and
    the first rows of ``X^T Y``, the other ``Y^T Y`` and the rest
    (:mod:`numpy` releases the GIL in BLAS). Each product runs at
    single-core BLAS speed, as fast in all as one product on two BLAS
    threads, and BLAS's own worker threads stay asleep: after a call on
    two BLAS threads, OpenBLAS's idle worker spins for tens of
    milliseconds, and the two-threaded decompositions that follow
    (:func:`~skrep._core.cca.cca_from_covariances`) would share the cores
    with it (at 512 units this cost SVCCA a quarter of its time).
    """
    n, p = X.shape
    q = Y.shape[1]
    ones = np.ones(n)
    if max(p, q) < LANES_MIN_UNITS or blas_threads() != 2:
        return ones @ X, ones @ Y, X.T @ X, Y.T @ Y, X.T @ Y
    # Rows [0, h) of X^T Y go with X^T X: n p^2 + 2 n h q flops each side.
    h = int(np.clip(round((q * q - p * p + 2 * p * q) / (4 * q)), 0, p))
    cxy = np.empty((p, q), dtype=np.result_type(X, Y))

    def first_lane():
        np.matmul(X[:, :h].T, Y, out=cxy[:h])
        return ones @ X, X.T @ X

    def second_lane():
        np.matmul(X[:, h:].T, Y, out=cxy[h:])
        return ones @ Y, Y.T @ Y

    (sum_x, cxx), (sum_y, cyy) = in_two_lanes(first_lane, second_lane)
    return sum_x, sum_y, cxx, cyy, cxy


def _symmetric(product, data):
    """``data.T @ data`` made exactly symmetric where it may not be.

    NumPy computes the product of a contiguous array with its own
    transpose by one ``syrk`` and copies one triangle into the other, so
    it is exactly symmetric; other layouts are averaged with the
    transpose.
    """
    if data.flags.c_contiguous or data.flags.f_contiguous:
        return product
    return 0.5 * (product + product.T)


def fit_by_route(
    X, Y, *, algorithm, keep_moments, from_data, from_covariances, imprecise
):  # fmt: skip
    """Fit a moment-based measure by the fastest route that keeps its digits.

    The one route policy of the core, shared by every measure with a
    moments route and an accurate data route (CCA, the shape metric):

    - "svd" (or "auto" with fewer samples than units): ``from_data``;
    - float64 input: the raw products on the caller's arrays
      (:func:`raw_covariances`), kept unless ``imprecise`` says subtracting
      the means afterwards cost digits that matter;
    - otherwise a :class:`Moments` pass over blocks centred first, and with
      "auto", ``from_data`` if even that result is ``imprecise``.

    Parameters
    ----------
    X, Y : ndarray
        The two views, rows are samples. Not modified.
    algorithm : {"auto", "moments", "svd"}
        The route asked for.
    keep_moments : bool
        Also return the :class:`Moments` of ``(X, Y)`` (so that streaming
        can continue from this fit); the data route then forms them in one
        extra pass.
    from_data : callable
        ``from_data(X, Y) -> result``, the accurate route.
    from_covariances : callable
        ``from_covariances(mean_x, mean_y, cxx, cyy, cxy, n, **offsets) ->
        result``; ``offsets`` (``x_offset_energy``, ``y_offset_energy``) is
        the energy removed after the products, given on the raw-products
        path (the numbers ``imprecise`` gets), empty otherwise.
    imprecise : callable
        ``imprecise(result, x_offset_energy=..., y_offset_energy=...)``:
        whether a moments-route result may have lost digits.

    Returns
    -------
    result : object
        What the chosen route returned.
    moments : Moments or None
    """
    n, p = X.shape
    q = Y.shape[1]
    if algorithm not in ("auto", "moments", "svd"):
        raise ValueError(f"Unknown algorithm {algorithm!r}.")
    if algorithm == "svd" or (algorithm == "auto" and n < max(p, q)):
        result = from_data(X, Y)
        return result, Moments(p, q).update(X, Y) if keep_moments else None
    if X.dtype == np.float64 and Y.dtype == np.float64:
        # Fastest: the raw products on the caller's arrays, kept only when
        # subtracting the means afterwards cost no digits that matter.
        raw = raw_covariances(X, Y)
        offsets = {
            "x_offset_energy": 2 * n * (raw[0] @ raw[0]),
            "y_offset_energy": 2 * n * (raw[1] @ raw[1]),
        }
        result = from_covariances(*raw, n, **offsets)
        if not imprecise(result, **offsets):
            if not keep_moments:
                return result, None
            # The products are this function's own: hand them over.
            return result, Moments.from_covariances(n, *raw, copy=False)
    moments = Moments(p, q).update(X, Y)
    result = from_covariances(*moments.covariances(), n)
    if algorithm == "auto" and imprecise(result):
        result = from_data(X, Y)
    return result, moments if keep_moments else None
