r"""Centred kernel alignment: HSIC from feature-space moments or Gram matrices.

Kornblith et al. (2019) compare two views through the Gram matrices of their
samples, :math:`K = k(X, X)` and :math:`L = l(Y, Y)` (``n x n``), with
:math:`H = I - \frac{1}{n} 1 1^T`:

.. math::

    \mathrm{HSIC}(K, L) = \frac{\operatorname{tr}(K H L H)}{(n - 1)^2},
    \qquad
    \mathrm{CKA}(K, L) = \frac{\mathrm{HSIC}(K, L)}
                              {\sqrt{\mathrm{HSIC}(K, K)\, \mathrm{HSIC}(L, L)}}.

The unbiased estimator of Song et al. (2012) works on the Gram matrices with
their diagonals set to zero, :math:`\tilde K, \tilde L`:

.. math::

    \mathrm{HSIC}_u(K, L) = \frac{1}{n (n - 3)} \Big[
        \operatorname{tr}(\tilde K \tilde L)
        + \frac{1^T \tilde K 1 \; 1^T \tilde L 1}{(n - 1)(n - 2)}
        - \frac{2}{n - 2} 1^T \tilde K \tilde L 1 \Big].

Two routes compute them.

**Moments** (linear kernel). With :math:`X_c, Y_c` the centred views and
:math:`a_i = \|x_{c,i}\|^2`, :math:`b_i = \|y_{c,i}\|^2` the squared norms of
the centred rows, :math:`K = X_c X_c^T` has :math:`K 1 = 0`, so

.. math::

    \operatorname{tr}(K H L H) = \|X_c^T Y_c\|_F^2, \qquad
    n (n - 3)\, \mathrm{HSIC}_u = \|X_c^T Y_c\|_F^2
        - \frac{n}{n - 2} \sum_i a_i b_i
        + \frac{\sum_i a_i \sum_i b_i}{(n - 1)(n - 2)}

(:math:`\operatorname{tr}(\tilde K \tilde L) = \operatorname{tr}(KL) -
\sum_i a_i b_i`, :math:`1^T \tilde K 1 = -\sum_i a_i`,
:math:`1^T \tilde K \tilde L 1 = \sum_i a_i b_i`), and
:math:`\sum_i a_i = \operatorname{tr}(X_c^T X_c)`. Everything is a
centred cross-product (:class:`~skrep._core.moments.Moments`) or a row term
:math:`\sum_i a_i b_i`, :math:`\sum_i a_i^2`, :math:`\sum_i b_i^2`, which
:class:`LinearCKAMoments` accumulates exactly, batch by batch, with the
running means: a shift :math:`\Delta = (\delta, \varepsilon)` of the centre
changes them by terms in :math:`\sum_i a_i r_i`, :math:`\sum_i b_i r_i`
(:math:`r_i` the centred row of both views) and the co-moment
(:func:`_shift_row_terms` writes them out), like Chan et al.'s update of the
co-moment itself.

**Gram** (any kernel; linear when the units outnumber the samples). One
``n x n`` matrix is held: :math:`K`, built in place (a symmetric rank-k
update of the centred, float64 columns, block by block), turned into the
kernel and centred in place (:math:`HKH`, or the U-centring of Székely and
Rizzo (2014) for the unbiased estimator, :math:`\mathrm{HSIC}_u(K, L) =
\langle \tilde U(K), L \rangle / (n (n - 3))`). :math:`L` is never held
whole: it comes in blocks and each block adds to
:math:`\langle HKH, L\rangle`, :math:`\|L\|_F^2` and :math:`L 1`, from which
:math:`\|HLH\|_F^2 = \|L\|_F^2 - \frac{2}{n}\|L 1\|^2 + \frac{(1^T L 1)^2}
{n^2}` (and the unbiased counterpart) follow.

The RBF kernel is :math:`k(x, x') = \exp(-\|x - x'\|^2 / (2 \sigma^2))`;
the Gram route stores :math:`K - 1 1^T` (``expm1``), which centring does not
see and which keeps the digits of wide bandwidths. :math:`\sigma` is a
multiple of the median Euclidean distance between distinct samples, selected
exactly from the distance matrix without moving it (Floyd and Rivest: a
sample of pairs brackets the median, one pass counts and gathers), so that
X's distances become K in place; where that median is 0 (more than half the
pairs of samples coincide, as with class labels), the median over the pairs
that differ. Y's distances are formed once for its median and discarded;
:math:`L` is then formed in square blocks of its upper triangle (half the
products of whole rows).

Constant (dead) units, by :func:`~skrep._core.moments.constant_units`, are
left out of every kernel: their centred values are zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas

from skrep._core.backend import BLOCK_BYTES, block_rows
from skrep._core.correlation import unit_stats
from skrep._core.moments import Moments, check_finite_products

__all__ = [
    "CKAResult",
    "LinearCKAMoments",
    "gram_cka",
    "linear_cka",
    "linear_cka_from_moments",
    "median_distance",
]

#: A self-similarity below this fraction of the terms it is computed from is
#: round-off: the view carries nothing the kernel sees (CKA is then 0/0).
CANCELLATION_TOL = 1e-10


@dataclass(frozen=True)
class CKAResult:
    r"""CKA of two views, with what it was computed from.

    Attributes
    ----------
    cka : float
        The similarity; 0 when a view is degenerate.
    hsic_xy, hsic_xx, hsic_yy : float
        HSIC of the two views and of each view with itself: biased,
        divided by ``(n - 1)**2``, or unbiased, divided by ``n (n - 3)``.
    x_constant, y_constant : ndarray of bool
        Constant (dead) units of each view.
    x_degenerate, y_degenerate : bool
        Whether the view's centred kernel is zero (every unit constant, or
        samples the kernel cannot tell apart): CKA is 0/0, reported as 0.
    x_bandwidth, y_bandwidth : float or None
        RBF bandwidths :math:`\sigma` (in the units of the data), None for
        the linear kernel.
    route : str
        "moments" or "gram".
    """

    cka: float
    hsic_xy: float
    hsic_xx: float
    hsic_yy: float
    x_constant: np.ndarray
    y_constant: np.ndarray
    x_degenerate: bool
    y_degenerate: bool
    x_bandwidth: float | None = None
    y_bandwidth: float | None = None
    route: str = "moments"


def _check_debiased_samples(n_samples):
    if n_samples < 4:
        raise ValueError(
            "The unbiased HSIC estimator (debiased=True) needs at least 4 "
            f"samples (it divides by n (n - 3)); got {n_samples}."
        )


def _ratio(t_xy, t_xx, t_yy, x_degenerate, y_degenerate):
    if x_degenerate or y_degenerate:
        return 0.0
    return float(np.clip(t_xy / np.sqrt(t_xx * t_yy), -1.0, 1.0))


# ---------------------------------------------------------------------------
# The moments route (linear kernel).
# ---------------------------------------------------------------------------


def _power_of_two_scale(V, squares):
    """Return a power of two that brings a batch's spread (or size) near 1.

    From the largest unit standard deviation of the batch, or, when every
    unit is constant in it (a single row), its largest absolute value.
    """
    spread = np.sqrt(np.max(squares, initial=0.0) / V.shape[0])
    if not spread > 0:
        spread = max(float(np.max(V, initial=0.0)), -float(np.min(V, initial=0.0)))
    if not (spread > 0 and np.isfinite(spread)):
        return 1.0
    return float(np.ldexp(1.0, -np.frexp(spread)[1]))


def _row_terms(X, Y, mean, units):
    """Row terms of a batch about `mean`, in scaled units: (S, ra, rb).

    ``S = [sum a_i^2, sum a_i b_i, sum b_i^2]``, ``ra = sum_i a_i r_i`` and
    ``rb = sum_i b_i r_i`` with ``r_i`` the row of ``[X, Y]`` minus `mean`,
    its X part multiplied by ``units[0]`` and its Y part by ``units[1]``
    (powers of two, so that fourth powers of the activations neither
    overflow nor underflow), and ``a_i``, ``b_i`` the squared norms of those
    parts. One blocked pass in float64.
    """
    p, width = X.shape[1], X.shape[1] + Y.shape[1]
    squares, ra, rb = np.zeros(3), np.zeros(width), np.zeros(width)
    step = min(max(X.shape[0], 1), block_rows(width))
    block = np.empty((step, width))
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, X.shape[0], step):
            rows = min(step, X.shape[0] - start)
            out = block[:rows]
            np.subtract(X[start : start + rows], mean[:p], out=out[:, :p])
            np.subtract(Y[start : start + rows], mean[p:], out=out[:, p:])
            out[:, :p] *= units[0]
            out[:, p:] *= units[1]
            a = np.einsum("ij,ij->i", out[:, :p], out[:, :p])
            b = np.einsum("ij,ij->i", out[:, p:], out[:, p:])
            squares += (a @ a, a @ b, b @ b)
            ra += a @ out
            rb += b @ out
    check_finite_products(squares, ra, rb)
    return squares, ra, rb


def _convert_row_terms(terms, p, source, target):
    """Row terms in the units `source` re-expressed in the units `target`.

    ``a_i`` scales with the square of the X unit, ``r_i``'s X part with it
    once (and alike for Y); the ratios are powers of two, so this is exact.
    """
    rx, ry = target[0] / source[0], target[1] / source[1]
    if rx == 1.0 and ry == 1.0:
        return terms
    squares, ra, rb = terms
    x2, y2 = rx * rx, ry * ry
    squares = squares * (x2 * x2, x2 * y2, y2 * y2)
    ra = np.concatenate([ra[:p] * (x2 * rx), ra[p:] * (x2 * ry)])
    rb = np.concatenate([rb[:p] * (y2 * rx), rb[p:] * (y2 * ry)])
    return squares, ra, rb


def _shift_row_terms(n, cxx, cyy, cxy, terms, delta):
    r"""Row terms about the rows' mean, moved to the centre ``mean + delta``.

    With :math:`\tilde x_i`, :math:`\tilde y_i` centred on the rows' own
    mean (so :math:`\sum_i \tilde x_i = 0`), :math:`\delta, \varepsilon` the
    X and Y parts of `delta`, :math:`A = \operatorname{tr} C_{xx}`,
    :math:`B = \operatorname{tr} C_{yy}`, :math:`a'_i = a_i - 2 \tilde x_i
    \cdot \delta + \|\delta\|^2` (and :math:`b'_i` alike):

    .. math::

        \sum a'_i b'_i = \sum a_i b_i - 2 \varepsilon \cdot \sum a_i
        \tilde y_i - 2 \delta \cdot \sum b_i \tilde x_i + \|\varepsilon\|^2 A
        + \|\delta\|^2 B + 4 \delta^T C_{xy} \varepsilon
        + n \|\delta\|^2 \|\varepsilon\|^2,

        \sum a'_i r'_i = \sum a_i r_i - (A + n \|\delta\|^2) \Delta
        - 2 C \Delta_x,

    with :math:`C` the co-moment of :math:`[X, Y]`, :math:`\Delta = (\delta,
    \varepsilon)` and :math:`\Delta_x = (\delta, 0)`; the squares
    :math:`\sum a_i'^2` follow with :math:`b = a`.
    """
    squares, ra, rb = terms
    p = cxx.shape[0]
    d, e = delta[:p], delta[p:]
    A, B = np.trace(cxx), np.trace(cyy)
    dd, ee = d @ d, e @ e
    c_dx = np.concatenate([cxx @ d, cxy.T @ d])  # C (d, 0)
    c_dy = np.concatenate([cxy @ e, cyy @ e])  # C (0, e)
    s_aa, s_ab, s_bb = squares
    new_squares = np.array(
        [
            s_aa - 4 * (d @ ra[:p]) + 2 * dd * A + 4 * (d @ c_dx[:p]) + n * dd * dd,
            s_ab
            - 2 * (e @ ra[p:])
            - 2 * (d @ rb[:p])
            + ee * A
            + dd * B
            + 4 * (d @ c_dy[:p])
            + n * dd * ee,
            s_bb - 4 * (e @ rb[p:]) + 2 * ee * B + 4 * (e @ c_dy[p:]) + n * ee * ee,
        ]
    )
    new_ra = ra - (A + n * dd) * delta - 2 * c_dx
    new_rb = rb - (B + n * ee) * delta - 2 * c_dy
    return new_squares, new_ra, new_rb


class LinearCKAMoments:
    r"""Mergeable streaming moments for linear CKA, biased or debiased.

    The centred cross-products of both views (a
    :class:`~skrep._core.moments.Moments` with ``products="all"``) and, for
    the unbiased estimator, the row terms :math:`\sum_i a_i b_i`,
    :math:`\sum_i a_i^2`, :math:`\sum_i b_i^2` (squared norms of the
    centred rows), kept about the running mean and moved exactly when it
    moves. Memory grows with the units squared, not with the rows.

    Parameters
    ----------
    n_features_x : int
        Units of the first view.
    n_features_y : int
        Units of the second view.
    debiased : bool, default=False
        Also accumulate the row terms of the unbiased estimator (one more
        pass over each batch, linear in its size).

    Attributes
    ----------
    moments : Moments
        Means and centred cross-products of ``[X, Y]``.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.cka import LinearCKAMoments, linear_cka_from_moments
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 4)
    >>> Y = X @ rng.randn(4, 3) + rng.randn(200, 3)
    >>> a = LinearCKAMoments(4, 3, debiased=True).update(X[:50], Y[:50])
    >>> b = LinearCKAMoments(4, 3, debiased=True).update(X[50:], Y[50:])
    >>> whole = LinearCKAMoments(4, 3, debiased=True).update(X, Y)
    >>> merged = linear_cka_from_moments(a + b, debiased=True).cka
    >>> bool(np.isclose(merged, linear_cka_from_moments(whole, debiased=True).cka))
    True
    """

    def __init__(self, n_features_x, n_features_y, *, debiased=False):
        self.moments = Moments(n_features_x, n_features_y, products="all")
        self.debiased = bool(debiased)
        width = self.moments.width
        self._squares = np.zeros(3)
        self._ra = np.zeros(width)
        self._rb = np.zeros(width)
        # Powers of two applied to each view's centred rows in the row terms,
        # set by the first batch (the terms are fourth powers of the data).
        self._units = (1.0, 1.0)

    @property
    def n_samples(self):
        """Rows seen."""
        return self.moments.n_samples

    @property
    def n_features_x(self):
        """Units of the first view."""
        return self.moments.n_features_x

    @property
    def n_features_y(self):
        """Units of the second view."""
        return self.moments.n_features_y

    def update(self, X, Y):
        """Add rows of both views.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features_x)
            New rows of the first view (any float dtype; not modified).
        Y : ndarray of shape (n_samples, n_features_y)
            The same samples in the second view.

        Returns
        -------
        self : LinearCKAMoments
        """
        if not self.debiased:
            self.moments.update(X, Y)
            return self
        batch = Moments(self.n_features_x, self.n_features_y, products="all")
        batch.update(X, Y)
        if batch.n_samples == 0:
            return self
        if self.n_samples == 0:
            squares, p = batch.squares, self.n_features_x
            self._units = (
                _power_of_two_scale(X, squares[:p]),
                _power_of_two_scale(Y, squares[p:]),
            )
        terms = _row_terms(X, Y, batch.mean, self._units)
        self._fold(batch, terms, self._units)
        return self

    def _fold(self, other, other_terms, other_units):
        """Add the moments and row terms of other rows (about their mean)."""
        n_a, n_b = self.n_samples, other.n_samples
        if n_a == 0:
            self.moments = other.copy()
            self._squares, self._ra, self._rb = (t.copy() for t in other_terms)
            self._units = other_units
            return
        p = self.n_features_x
        other_terms = _convert_row_terms(other_terms, p, other_units, self._units)
        n = n_a + n_b
        shift = other.mean - self.moments.mean
        # Both parts moved to the merged mean (in scaled units), then added.
        mine = self._shift_scaled(n_a, self.moments, self._terms(), (n_b / n) * shift)
        theirs = self._shift_scaled(n_b, other, other_terms, -(n_a / n) * shift)
        self._squares = mine[0] + theirs[0]
        self._ra = mine[1] + theirs[1]
        self._rb = mine[2] + theirs[2]
        check_finite_products(self._squares, self._ra, self._rb)
        self.moments.merge(other)

    def _scaled(self, moments):
        """``C_xx, C_yy, C_xy`` of `moments` in the row terms' units."""
        tx, ty = self._units
        _, _, cxx, cyy, cxy = moments.covariances()
        return cxx * (tx * tx), cyy * (ty * ty), cxy * (tx * ty)

    def _shift_scaled(self, n, moments, terms, delta):
        p = self.n_features_x
        delta = np.concatenate([delta[:p] * self._units[0], delta[p:] * self._units[1]])
        return _shift_row_terms(n, *self._scaled(moments), terms, delta)

    def _terms(self):
        return self._squares, self._ra, self._rb

    @property
    def row_units(self):
        """Powers of two ``(t_x, t_y)`` the row terms' centred rows were scaled by."""
        return self._units

    @property
    def row_squares(self):
        """``[sum a_i^2, sum a_i b_i, sum b_i^2]`` about the mean (debiased only).

        In the units of :attr:`row_units`: divide by ``t_x**4``,
        ``t_x**2 t_y**2`` and ``t_y**4`` for those of the data.
        """
        if not self.debiased:
            raise ValueError("Row terms are accumulated only with debiased=True.")
        return self._squares.copy()

    def merge(self, other):
        """Fold in the moments of other rows, exactly (in place).

        Parameters
        ----------
        other : LinearCKAMoments
            Accumulated on other rows of the same views, with the same
            ``debiased``.

        Returns
        -------
        self : LinearCKAMoments
        """
        if not isinstance(other, LinearCKAMoments):
            raise TypeError(
                f"Can only merge LinearCKAMoments, got {type(other).__name__}."
            )
        same = (
            other.n_features_x == self.n_features_x
            and other.n_features_y == self.n_features_y
            and other.debiased == self.debiased
        )
        if not same:
            raise ValueError(
                "Cannot merge CKA moments of different views or estimators: "
                f"({self.n_features_x}, {self.n_features_y}, debiased="
                f"{self.debiased}) and ({other.n_features_x}, "
                f"{other.n_features_y}, debiased={other.debiased})."
            )
        if other.n_samples == 0:
            return self
        if not self.debiased:
            self.moments.merge(other.moments)
        else:
            self._fold(other.moments, other._terms(), other._units)
        return self

    def copy(self):
        """Return an independent copy."""
        new = LinearCKAMoments.__new__(LinearCKAMoments)
        new.moments = self.moments.copy()
        new.debiased = self.debiased
        new._squares, new._ra, new._rb = (t.copy() for t in self._terms())
        new._units = self._units
        return new

    def __add__(self, other):
        return self.copy().merge(other)

    def __iadd__(self, other):
        return self.merge(other)


def linear_cka_from_moments(accumulator, *, debiased=False):
    """Linear CKA (and its HSICs) from accumulated moments.

    Constant (dead) units, by the one rule, are left out: their rows and
    columns of the co-moment are zeroed.

    Parameters
    ----------
    accumulator : LinearCKAMoments or Moments
        Two views, ``products="all"``; a :class:`LinearCKAMoments` with
        ``debiased=True`` for the unbiased estimator.
    debiased : bool, default=False
        Use the unbiased HSIC estimator (Song et al. 2012).

    Returns
    -------
    result : CKAResult

    Raises
    ------
    ValueError
        With ``debiased=True``, if the accumulator holds no row terms or
        fewer than 4 rows.
    """
    if isinstance(accumulator, LinearCKAMoments):
        moments = accumulator.moments
    else:
        moments = accumulator
    if debiased and not (
        isinstance(accumulator, LinearCKAMoments) and accumulator.debiased
    ):
        raise ValueError(
            "The unbiased estimator needs the row terms, which these moments "
            "were accumulated without (debiased=False); fit again with "
            "debiased=True."
        )
    n = moments.n_samples
    if debiased:
        _check_debiased_samples(n)
    p = moments.n_features_x
    _, _, cxx, cyy, cxy = moments.covariances()
    constant = moments.constant
    x_constant, y_constant = constant[:p], constant[p:]
    for matrix, rows, cols in (
        (cxx, x_constant, x_constant),
        (cyy, y_constant, y_constant),
        (cxy, x_constant, y_constant),
    ):
        matrix[rows, :] = 0.0
        matrix[:, cols] = 0.0
    A, B = float(np.trace(cxx)), float(np.trace(cyy))
    # Scale-free: every term divided by A or B (entries then at most 1), so
    # no square overflows; the HSICs are scaled back at the end.
    sx, sy = (A if A > 0 else 1.0), (B if B > 0 else 1.0)
    k_xx = _squared_norm(cxx / sx)
    k_yy = _squared_norm(cyy / sy)
    k_xy = _squared_norm(cxy / np.sqrt(sx) / np.sqrt(sy))
    a, b = A / sx, B / sy
    if debiased:
        # the row terms are in their own units: so are A and B here
        tx, ty = accumulator.row_units
        ax, by = A * tx * tx, B * ty * ty
        ax, by = (ax if ax > 0 else 1.0), (by if by > 0 else 1.0)
        s_aa, s_ab, s_bb = accumulator.row_squares
        s_aa, s_ab, s_bb = s_aa / ax / ax, s_ab / ax / by, s_bb / by / by
        c1, c2 = n / (n - 2.0), 1.0 / ((n - 1.0) * (n - 2.0))
        t_xy = k_xy - c1 * s_ab + c2 * a * b
        t_xx = k_xx - c1 * s_aa + c2 * a * a
        t_yy = k_yy - c1 * s_bb + c2 * b * b
        size_xx = k_xx + c1 * s_aa + c2 * a * a
        size_yy = k_yy + c1 * s_bb + c2 * b * b
        norm = n * (n - 3.0)
    else:
        t_xy, t_xx, t_yy = k_xy, k_xx, k_yy
        size_xx, size_yy = k_xx, k_yy
        norm = (n - 1.0) ** 2
    x_degenerate = A <= 0 or t_xx <= CANCELLATION_TOL * size_xx
    y_degenerate = B <= 0 or t_yy <= CANCELLATION_TOL * size_yy
    with np.errstate(over="ignore", under="ignore"):
        hsic = (t_xy * sx * sy / norm, t_xx * sx * sx / norm, t_yy * sy * sy / norm)
    return CKAResult(
        cka=_ratio(t_xy, t_xx, t_yy, x_degenerate, y_degenerate),
        hsic_xy=float(hsic[0]),
        hsic_xx=float(hsic[1]),
        hsic_yy=float(hsic[2]),
        x_constant=x_constant,
        y_constant=y_constant,
        x_degenerate=bool(x_degenerate),
        y_degenerate=bool(y_degenerate),
        route="moments",
    )


def _squared_norm(matrix):
    flat = matrix.reshape(-1)
    return float(flat @ flat)


def linear_cka(X, Y, *, debiased=False):
    """Linear CKA of two views through their moments (one blocked pass).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
    Y : ndarray of shape (n_samples, n_features_y)
    debiased : bool, default=False
        Use the unbiased HSIC estimator.

    Returns
    -------
    result : CKAResult

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.cka import linear_cka
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 5)
    >>> round(linear_cka(X, 3 * X + 1).cka, 12)
    1.0
    """
    accumulator = LinearCKAMoments(X.shape[1], Y.shape[1], debiased=debiased)
    return linear_cka_from_moments(accumulator.update(X, Y), debiased=debiased)


# ---------------------------------------------------------------------------
# The Gram route (any kernel).
# ---------------------------------------------------------------------------


class _CentredView:
    """One view's centred float64 columns, constant units left out.

    The columns come in blocks of ``n_samples x width`` (about
    ``BLOCK_BYTES``), scaled by a power of two (exact) that brings the
    largest unit's standard deviation into [0.5, 1), so that no product of
    n x n sums overflows or underflows; every kernel here is invariant to
    that scaling (the RBF bandwidth scales with the median distance). When
    one block holds every column it is kept (it is no larger than the data).
    """

    def __init__(self, V):
        self.V = V
        self.n_samples = V.shape[0]
        self.mean, std, self.constant = unit_stats(V)
        self.keep = np.flatnonzero(~self.constant)
        top = float(std[self.keep].max()) if self.keep.size else 0.0
        self.scale = float(np.ldexp(1.0, -np.frexp(top)[1])) if top > 0 else 1.0
        width = max(1, BLOCK_BYTES // (8 * max(self.n_samples, 1)))
        if self.keep.size == V.shape[1]:
            self._columns = [
                slice(start, min(start + width, V.shape[1]))
                for start in range(0, V.shape[1], width)
            ]
        else:
            self._columns = [
                self.keep[start : start + width]
                for start in range(0, self.keep.size, width)
            ]
        self._cache = None

    @property
    def empty(self):
        """Whether every unit is constant."""
        return self.keep.size == 0

    def _centred(self, columns, rows=None):
        values = self.V[:, columns] if rows is None else self.V[rows, columns]
        block = np.subtract(values, self.mean[columns], dtype=np.float64)
        block *= self.scale
        return block

    def blocks(self):
        """Yield the centred, scaled column blocks (n_samples x width)."""
        if len(self._columns) == 1:
            if self._cache is None:
                self._cache = self._centred(self._columns[0])
            yield self._cache
            return
        for columns in self._columns:
            yield self._centred(columns)

    def row_blocks(self, rows):
        """Yield the column blocks of the centred, scaled `rows` (a slice)."""
        if len(self._columns) == 1:
            yield next(self.blocks())[rows]
            return
        for columns in self._columns:
            yield self._centred(columns, rows)

    def release(self):
        """Forget the cached centred columns."""
        self._cache = None

    def row_squares(self):
        """Squared norms of the centred, scaled rows."""
        squares = np.zeros(self.n_samples)
        for block in self.blocks():
            squares += np.einsum("ij,ij->i", block, block)
        return squares


#: Bytes of one block of rows of an n x n matrix (and of each temporary
#: formed from it): small next to the matrix itself.
ROW_BLOCK_BYTES = 8 * 2**20

#: Rows and columns of the square blocks in which L is formed: large enough
#: for matrix products at full speed, small next to n x n.
PAIR_BLOCK = 1024

#: Pairs of samples drawn to bracket the median distance (the selection is
#: exact whatever the draw; a narrow bracket saves gathering many values).
MEDIAN_SAMPLE = 20000


def _row_slices(n):
    step = max(16, ROW_BLOCK_BYTES // (8 * max(n, 1)))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def _gram_into(view, out):
    """``out = Vc Vc^T`` (exactly symmetric), by rank-k updates of blocks."""
    if view.empty:
        out.fill(0.0)
        return out
    first = True
    for block in view.blocks():
        if first and len(view._columns) == 1:
            # numpy takes the symmetric product (syrk) and fills both halves
            np.matmul(block, block.T, out=out)
            return out
        # out.T is Fortran-ordered: syrk fills its upper half, out's lower
        blas.dsyrk(
            1.0, block.T, beta=0.0 if first else 1.0, c=out.T, trans=1, lower=0,
            overwrite_c=1,
        )  # fmt: skip
        first = False
    _mirror_lower(out)
    return out


def _mirror_lower(out):
    """Copy the lower triangle of `out` onto its upper triangle, in blocks."""
    n = out.shape[0]
    for rows in _row_slices(n):
        start, stop = rows.start, rows.stop
        out[start:stop, stop:] = out[stop:, start:stop].T
        diagonal = out[start:stop, start:stop]
        upper = np.triu_indices(stop - start, 1)
        diagonal[upper] = diagonal.T[upper]


def _gram_pair(view, rows, columns, out):
    """``out = Vc[rows] Vc[columns]^T``, one block of the Gram matrix."""
    first = True
    for left, right in zip(view.row_blocks(rows), view.row_blocks(columns)):
        if first:
            np.matmul(left, right.T, out=out)
            first = False
        else:
            out += left @ right.T
    return out


def _squared_distances(gram, row_squares, column_squares, diagonal):
    """Turn a block of Gram entries into squared distances, in place.

    ``(|v_i|^2 + |v_j|^2) - 2 <v_i, v_j>``, clipped at 0; `diagonal` gives
    the block's positions ``(i, i)``, set to exactly 0.
    """
    gram *= -2.0
    gram += np.add.outer(row_squares, column_squares)
    np.maximum(gram, 0.0, out=gram)
    if diagonal is not None:
        gram[diagonal, diagonal] = 0.0
    return gram


def _distances_into(view, out):
    """``out`` = squared distances between the centred, scaled samples."""
    _gram_into(view, out)
    squares = np.diagonal(out).copy()
    for rows in _row_slices(view.n_samples):
        index = np.arange(rows.stop - rows.start)
        diagonal = (index, index + rows.start)
        block = _squared_distances(out[rows], squares[rows], squares, None)
        block[diagonal] = 0.0
    return out


def _upper_blocks(distances):
    """Yield the strict upper triangle of `distances`, flat, block by block."""
    n = distances.shape[0]
    for rows in _row_slices(n):
        start, stop = rows.start, rows.stop
        diagonal = distances[start:stop, start:stop]
        yield diagonal[np.triu_indices(stop - start, 1)]
        yield distances[start:stop, stop:].reshape(-1)


def _select_pairs(distances, ranks, positive, total):
    """Order statistics `ranks` of the pairs' values, without moving them.

    Floyd and Rivest's selection: a sample of pairs brackets the wanted
    ranks, one pass over the strict upper triangle counts the values below
    the bracket and gathers those inside, and the ranks are selected among
    the few gathered. The counts make it exact whatever the sample; a
    bracket that misses is widened to the whole range. With `positive`,
    only the nonzero values count; `total` is how many values count.
    """
    n = distances.shape[0]
    rng = np.random.RandomState(0)
    size = min(MEDIAN_SAMPLE, n * n)
    i, j = rng.randint(0, n, size), rng.randint(0, n, size)
    sample = np.sort(distances[i[i != j], j[i != j]])
    if positive:
        sample = sample[sample > 0.0]
    low, high = -np.inf, np.inf
    if sample.size:
        quantiles = np.array(ranks, dtype=float) / max(total, 1)
        margin = 5.0 * np.sqrt(0.25 / sample.size) + 2.0 / sample.size
        at = np.floor((quantiles[0] - margin) * sample.size).astype(int)
        if at >= 0:
            low = sample[at]
        at = np.ceil((quantiles[-1] + margin) * sample.size).astype(int)
        if at < sample.size:
            high = sample[at]
    for _ in range(2):
        below, inside = 0, []
        for values in _upper_blocks(distances):
            if positive:
                values = values[values > 0.0]
            below += int(np.count_nonzero(values < low))
            inside.append(values[(values >= low) & (values <= high)])
        inside = np.concatenate(inside)
        if below <= ranks[0] and ranks[-1] < below + inside.size:
            inside.partition([k - below for k in ranks])
            return inside[[k - below for k in ranks]]
        low, high = -np.inf, np.inf  # the sample misled: take everything
    raise AssertionError("unreachable: the whole range holds every rank")


def _median_of_pairs(distances):
    """Median distance over distinct pairs from squared distances (kept).

    The median of the ``n (n - 1) / 2`` distances (the mean of the two middle
    ones for an even count); when it is 0 (more than half the pairs
    coincide), the median of the nonzero distances; 0 if there are none.
    """
    n = distances.shape[0]
    pairs = n * (n - 1) // 2
    median = _pair_median(distances, pairs, positive=False)
    if median == 0.0:
        positive = sum(
            int(np.count_nonzero(values > 0.0)) for values in _upper_blocks(distances)
        )
        median = _pair_median(distances, positive, positive=True)
    return median


def _pair_median(distances, count, positive):
    if count == 0:
        return 0.0
    ranks = sorted({(count - 1) // 2, count // 2})
    values = _select_pairs(distances, ranks, positive, count)
    return float(np.sqrt(values).mean())


def median_distance(V):
    """Median Euclidean distance between distinct samples (rows) of `V`.

    Constant units are left out (they add nothing to any distance). Costs
    one ``n x n`` float64 matrix.

    Parameters
    ----------
    V : ndarray of shape (n_samples, n_features)

    Returns
    -------
    median : float
        The median of the ``n (n - 1) / 2`` distances (the mean of the two
        middle ones when their number is even); where it is 0 (more than
        half the pairs coincide), the median of the nonzero distances.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.cka import median_distance
    >>> median_distance(np.array([[0.0], [1.0], [3.0]]))
    2.0
    """
    view = _CentredView(V)
    if view.empty:
        return 0.0
    buffer = _distances_into(view, np.empty((view.n_samples, view.n_samples)))
    return _median_of_pairs(buffer) / view.scale


def _centre_in_place(K, unbiased):
    """Double centring (HKH), or the U-centring of Székely and Rizzo (2014)."""
    n = K.shape[0]
    if unbiased:
        np.fill_diagonal(K, 0.0)
        sums = K.sum(axis=1)
        offsets = sums / (n - 2.0) - sums.sum() / (2.0 * (n - 1.0) * (n - 2.0))
    else:
        means = K.mean(axis=1)
        offsets = means - means.mean() / 2.0
    for rows in _row_slices(n):
        block = K[rows]
        block -= offsets[rows, None]
        block -= offsets[None, :]
    if unbiased:
        np.fill_diagonal(K, 0.0)
    return K


def _kernel_in_place(block, gamma):
    """RBF kernel minus 1 from squared distances, in place."""
    block *= -gamma
    return np.expm1(block, out=block)


def gram_cka(X, Y, *, kernel="linear", debiased=False, sigma=1.0, bandwidths=None):
    """CKA through Gram matrices, holding one ``n x n`` matrix at a time.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
    Y : ndarray of shape (n_samples, n_features_y)
    kernel : {"linear", "rbf"}, default="linear"
    debiased : bool, default=False
        Use the unbiased HSIC estimator (Song et al. 2012).
    sigma : float, default=1.0
        RBF bandwidth as a multiple of each view's median distance between
        distinct samples.
    bandwidths : tuple of two floats, default=None
        Explicit RBF bandwidths ``(sigma_x, sigma_y)`` in the units of the
        data, instead of ``sigma`` times the medians.

    Returns
    -------
    result : CKAResult

    Raises
    ------
    ValueError
        With ``debiased=True`` and fewer than 4 samples.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.cka import gram_cka, linear_cka
    >>> rng = np.random.RandomState(0)
    >>> X, Y = rng.randn(50, 3), rng.randn(50, 4)
    >>> bool(np.isclose(gram_cka(X, Y).cka, linear_cka(X, Y).cka))
    True
    """
    n = X.shape[0]
    if debiased:
        _check_debiased_samples(n)
    rbf = kernel == "rbf"
    x_view, y_view = _CentredView(X), _CentredView(Y)
    buffer = np.empty((n, n))

    # Bandwidths (scaled units): Y's distances first, then X's, which stay in
    # the buffer to become K.
    scaled, sigmas = [None, None], (None, None)
    if rbf:
        if bandwidths is None:
            for index, view in ((1, y_view), (0, x_view)):
                if not view.empty:
                    _distances_into(view, buffer)
                    scaled[index] = sigma * _median_of_pairs(buffer)
        else:
            scaled = [bandwidths[0] * x_view.scale, bandwidths[1] * y_view.scale]
        sigmas = tuple((s or 0.0) / v.scale for s, v in zip(scaled, (x_view, y_view)))
    x_empty = x_view.empty or (rbf and not scaled[0])
    y_empty = y_view.empty or (rbf and not scaled[1])

    # K: built, made a kernel and centred in place.
    if x_empty:
        buffer.fill(0.0)
        k_size = 0.0
    else:
        if not rbf:
            _gram_into(x_view, buffer)
        else:
            if bandwidths is not None:
                _distances_into(x_view, buffer)
            gamma = 0.5 / (scaled[0] * scaled[0])
            for rows in _row_slices(n):
                _kernel_in_place(buffer[rows], gamma)
        if debiased:
            np.fill_diagonal(buffer, 0.0)
        k_size = _squared_norm(buffer)
        _centre_in_place(buffer, unbiased=debiased)
    x_view.release()
    t_xx = _squared_norm(buffer)

    # L: in square blocks of the upper triangle, never whole (L and K are
    # symmetric, so each block off the diagonal counts twice).
    cross, l_fro = 0.0, 0.0
    l_sums = np.zeros(n)
    if not y_empty:
        y_squares = y_view.row_squares()
        step = min(PAIR_BLOCK, n)
        starts = range(0, n, step)
        work = np.empty((step, step))
        gamma = 0.5 / (scaled[1] * scaled[1]) if rbf else None
        for first in starts:
            rows = slice(first, min(first + step, n))
            for second in starts:
                if second < first:
                    continue
                columns = slice(second, min(second + step, n))
                block = work[: rows.stop - rows.start, : columns.stop - columns.start]
                _gram_pair(y_view, rows, columns, block)
                on_diagonal = first == second
                index = np.arange(rows.stop - rows.start) if on_diagonal else None
                if rbf:
                    _squared_distances(
                        block, y_squares[rows], y_squares[columns], index
                    )
                    _kernel_in_place(block, gamma)
                if debiased and on_diagonal:
                    block[index, index] = 0.0
                weight = 1.0 if on_diagonal else 2.0
                cross += weight * float(np.vdot(buffer[rows, columns], block))
                l_fro += weight * _squared_norm(block)
                l_sums[rows] += block.sum(axis=1)
                if not on_diagonal:
                    l_sums[columns] += block.sum(axis=0)
    sums_squared, total = float(l_sums @ l_sums), float(l_sums.sum())
    if debiased:
        c1, c2 = 2.0 / (n - 2.0), 1.0 / ((n - 1.0) * (n - 2.0))
        t_yy = l_fro + c2 * total * total - c1 * sums_squared
        size_yy = l_fro + c2 * total * total + c1 * sums_squared
        norm = n * (n - 3.0)
    else:
        t_yy = l_fro - 2.0 * sums_squared / n + total * total / (n * n)
        size_yy = l_fro + 2.0 * sums_squared / n + total * total / (n * n)
        norm = (n - 1.0) ** 2
    x_degenerate = x_empty or t_xx <= CANCELLATION_TOL**2 * k_size
    y_degenerate = y_empty or t_yy <= CANCELLATION_TOL * size_yy
    # Undo the power-of-two scaling of the data (the RBF kernel has none).
    x_unit = 1.0 if rbf else x_view.scale**-2
    y_unit = 1.0 if rbf else y_view.scale**-2
    with np.errstate(over="ignore", under="ignore"):
        hsic = (
            cross * x_unit * y_unit / norm,
            t_xx * x_unit * x_unit / norm,
            t_yy * y_unit * y_unit / norm,
        )
    return CKAResult(
        cka=_ratio(cross, t_xx, t_yy, x_degenerate, y_degenerate),
        hsic_xy=float(hsic[0]),
        hsic_xx=float(hsic[1]),
        hsic_yy=float(hsic[2]),
        x_constant=x_view.constant,
        y_constant=y_view.constant,
        x_degenerate=bool(x_degenerate),
        y_degenerate=bool(y_degenerate),
        x_bandwidth=sigmas[0],
        y_bandwidth=sigmas[1],
        route="gram",
    )
