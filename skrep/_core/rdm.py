r"""Representational dissimilarity matrices (RDMs) and their comparison.

An RDM holds, for every pair of samples (rows), the dissimilarity of their
activation patterns over the units (columns). Two views are compared
through the upper triangles of their RDMs, flattened in the order of
:func:`scipy.spatial.distance.pdist` (the *condensed* vectors: pairs
``(0, 1), (0, 2), ..., (1, 2), ...``).

Dissimilarities (``metric``):

- ``"correlation"``: :math:`1 - r(x_i, x_j)`, the Pearson correlation of two
  patterns across the units (scipy's ``pdist(X, "correlation")``);
- ``"euclidean"``: :math:`\lVert x_i - x_j \rVert_2` (scipy's
  ``"euclidean"``);
- ``"sqeuclidean"``: :math:`\lVert x_i - x_j \rVert_2^2` (scipy's
  ``"sqeuclidean"``; rsatoolbox's ``"euclidean"`` is this divided by the
  number of units).

Numerics. Every RDM comes from blocks of a Gram matrix (BLAS), never from a
loop over pairs: each block holds the products of a slice of rows with all
later rows (about :data:`BLOCK_BYTES`) and yields the condensed entries of
those rows, so one block is formed at a time. All arithmetic is in float64,
whatever the input dtype.

- Integer data (labels, one-hot and binary codes, counts; generally any view
  that becomes integers of moderate size when scaled by a power of two)
  take an exact route: the Gram products and sums of such integers are
  exact in float64, so equal distances come out equal and the ties of a
  category model survive (a rounding difference would break them at
  random, and rank comparisons would follow). Euclidean distances are
  then exactly scipy's; correlations are exact up to the final division.
- Few distinct patterns (at most :data:`DISTINCT_MAX`, some repeated: a
  category or factorial model whose codes are not integers, e.g. one-hot
  codes times 1/3): the distances of the distinct patterns are computed
  each from the difference of two rows, then gathered for every pair, so
  that distances equal in exact arithmetic come out equal (as in scipy's
  ``pdist``) and the ties survive.
- Correlation, otherwise: each pattern is scaled by a power of two
  (exact), centred over its units and divided by its norm; then
  :math:`d_{ij} = 1 - \hat z_i^\top \hat z_j`. A *constant pattern*
  (every unit equal, e.g. an all-zero row), decided by the one constant
  rule :func:`~skrep._core.moments.constant_units` applied across the units
  of the row, has no correlation: it gets :math:`\hat z = 0`, i.e.
  correlation 0 and distance 1 with every sample (scipy returns NaN).
- Euclidean, otherwise: the view is scaled by a power of two, centred per
  unit (the distances do not change) and scaled again, so that neither
  large means nor very large or small activations cost digits or
  overflow; then :math:`d_{ij}^2 = s_i + s_j - 2 z_i^\top z_j` with
  :math:`s_i = \lVert z_i \rVert^2`.
- The Gram route loses digits when a distance is small next to the
  quantities subtracted. Entries with :math:`d^2_{ij} <` :data:`REFINE_RTOL`
  :math:`(s_i + s_j)` (for correlation: :math:`d_{ij} <`
  :data:`REFINE_RTOL`) are recomputed from the difference of the two rows,
  so identical patterns have distance exactly 0 and close ones keep their
  relative precision.

Comparison (``compare``): Pearson correlation of the condensed vectors,
Spearman's :math:`\rho` (Pearson correlation of their average ranks, as
:func:`scipy.stats.spearmanr`) or Kendall's :math:`\tau_b`
(:func:`scipy.stats.kendalltau`). An RDM whose entries span at most
:data:`RDM_RTOL` of their scale (every pair equally dissimilar, as when every
unit or every pattern is constant) carries no information: the comparison
is undefined and reported as 0.

Memory. Pearson streams over the blocks: nothing of size
:math:`m = n(n-1)/2` is stored, only a few blocks. Spearman holds one
condensed vector and its sort order at a time (:math:`16m` bytes) plus the
doubled average ranks of both views as 32-bit integers (:math:`4m` bytes
each): about :math:`21m` bytes at the peak, 2.6 times one float64
condensed vector. Kendall holds both condensed vectors and the working
arrays of :func:`scipy.stats.kendalltau` (about 7 times one).

Nothing here imports scikit-learn or torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau

from skrep._core.backend import block_rows
from skrep._core.moments import constant_units

__all__ = [
    "COMPARISONS",
    "METRICS",
    "RDM_RTOL",
    "REFINE_RTOL",
    "RDMComparison",
    "compare_condensed",
    "condensed_rdm",
    "n_pairs",
    "rdm_similarity",
]

#: Dissimilarities between patterns.
METRICS = ("correlation", "euclidean", "sqeuclidean")
#: Ways of comparing two RDMs.
COMPARISONS = ("spearman", "pearson", "kendall")

#: A squared distance (correlation: a distance) below this fraction of the
#: quantities the Gram route subtracts is recomputed from the rows'
#: difference. The Gram route's absolute error is about ``k * 1e-16`` of those
#: quantities for ``k`` units (``sqrt(k) * 1e-16`` typically), so above the
#: threshold the relative error stays below ``k * 1e-10``.
REFINE_RTOL = 1e-6

#: An RDM whose largest and smallest entries differ by at most this fraction
#: of its scale (the largest entry; 1 for correlation distances, which are
#: differences from 1) is constant: it carries no information.
RDM_RTOL = 1e-10

#: A view with at most this many distinct patterns (rows), and fewer than
#: rows, takes the distinct-pattern route: the distances of the distinct
#: patterns, each from the difference of the two rows, then gathered for
#: every pair. A category or factorial model (one-hot codes scaled by 1/3,
#: say) repeats a few patterns and has many distances that are equal in
#: exact arithmetic; from differences of rows with equal entries they come
#: out bit-equal, as scipy's pdist gives them, so the ties survive for the
#: rank comparisons (through the Gram products they differed in the last
#: bit, and Spearman's rho changed by 0.03).
DISTINCT_MAX = 1024

#: Bytes of one Gram block (rows x samples, float64).
BLOCK_BYTES = 8 * 2**20

#: Elements per chunk when a pass gathers or scatters a condensed vector.
_CHUNK = 1 << 20


def n_pairs(n_samples):
    """Return the number of pairs of distinct samples, ``n (n - 1) / 2``.

    Parameters
    ----------
    n_samples : int

    Returns
    -------
    n_pairs : int

    Examples
    --------
    >>> from skrep._core.rdm import n_pairs
    >>> n_pairs(10_000)
    49995000
    """
    return n_samples * (n_samples - 1) // 2


class _Patterns:
    """The rows of one view, prepared for the Gram route of one metric.

    Attributes
    ----------
    Z : ndarray of shape (n_samples, n_units), float64
        Exact route: the view times ``2**shift``, integers. Otherwise, for
        correlation: the centred, unit-norm patterns (0 for constant ones);
        for euclidean: the view, scaled by a power of two and centred per
        unit.
    squares : ndarray of shape (n_samples,)
        Squared norms of the rows of ``Z``.
    constant : ndarray of bool of shape (n_samples,)
        Constant patterns (correlation only; all False otherwise).
    exact : bool
        Whether the integer route is taken (every product and sum exact).
    exponent : int
        Euclidean: the distances of ``Z`` are those of the view times
        ``2**-exponent``.
    """

    def __init__(self, X, metric):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")
        self.metric = metric
        self.X = X
        Z = np.array(X, dtype=np.float64, order="C")  # a copy, never the input
        n, p = Z.shape
        if metric == "correlation":
            bound = np.sqrt(2.0**52) / max(p, 1)  # 2 p^2 max^2 <= 2^53
        else:
            bound = np.sqrt(2.0**51 / max(p, 1))  # 4 p max^2 <= 2^53
        shift = _integer_exponent(Z, bound)
        self.exact = shift is not None
        self.constant = np.zeros(n, dtype=bool)
        if self.exact:
            np.ldexp(Z, shift, out=Z)
            self.squares = np.einsum("ij,ij->i", Z, Z)
            self.first, self.exponent = -shift, -shift
            if metric == "correlation":
                self.sums = Z.sum(axis=1)
                spread = p * self.squares - self.sums * self.sums  # p^2 variance
                self.constant = spread == 0
                self.root = np.sqrt(np.where(self.constant, np.inf, spread))
        elif metric == "correlation":
            row_exponent = _exponent(np.max(np.abs(Z), axis=1)) if p else np.zeros(n)
            np.ldexp(Z, -row_exponent[:, None], out=Z)
            mean = Z.mean(axis=1)
            Z -= mean[:, None]
            squares = np.einsum("ij,ij->i", Z, Z)
            self.constant = constant_units(mean, squares / max(p, 1))
            norms = np.sqrt(squares)
            norms[self.constant] = np.inf  # their patterns become 0
            Z /= norms[:, None]
            self.squares = np.einsum("ij,ij->i", Z, Z)
        else:
            first = _exponent(np.max(np.abs(Z))) if Z.size else 0
            np.ldexp(Z, -first, out=Z)
            Z -= Z.mean(axis=0)
            second = _exponent(np.max(np.abs(Z))) if Z.size else 0
            np.ldexp(Z, -second, out=Z)
            self.first, self.exponent = first, first + second
            self.squares = np.einsum("ij,ij->i", Z, Z)
        self.Z = Z
        self.table = None if self.exact else self._distinct_table()

    def _distinct_table(self):
        """Return ``(table, pattern of each row)`` for few distinct patterns.

        ``table[u, v]`` is the block value (see :meth:`blocks`) of two rows
        with the distinct patterns ``u`` and ``v``, each from the difference
        of one representative row of each (:meth:`refined`); None when the
        view has more than :data:`DISTINCT_MAX` distinct patterns or none
        repeated.
        """
        n = self.n_samples
        if n < 3:
            return None
        # A few columns first: distinct there means distinct, and activations
        # of a network are distinct in their first units, so the sort of
        # whole rows below is for views that repeat patterns.
        if np.unique(self.X[:, :8], axis=0).shape[0] > DISTINCT_MAX:
            return None
        _, first, inverse = np.unique(
            np.ascontiguousarray(self.X), axis=0, return_index=True,
            return_inverse=True,
        )  # fmt: skip
        u = first.size
        if u >= n or u > DISTINCT_MAX:
            return None
        iu, ju = np.triu_indices(u, k=1)
        table = np.zeros((u, u))
        table[iu, ju] = table[ju, iu] = self.refined(first[iu], first[ju])
        if self.metric == "correlation":
            np.clip(table, 0.0, 2.0, out=table)
            # As on the Gram route, a constant pattern has no correlation,
            # so distance 1 to every pattern, a copy of itself included
            # (refined would give 0.5 against a unit pattern, 0 against 0).
            constant = self.constant[first]
            table[constant, :] = table[:, constant] = 1.0
        return table, inverse.ravel()

    @property
    def n_samples(self):
        return self.Z.shape[0]

    def _unit_patterns(self, rows):
        """Centred, unit-norm patterns of some rows (0 for constant ones)."""
        if not self.exact:
            return self.Z[rows]
        U = self.Z[rows]
        U -= U.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(U, axis=1, keepdims=True)
        return U / np.where(norms > 0, norms, np.inf)

    def refined(self, rows, cols):
        """Recompute the (squared) distances of some pairs from differences."""
        out = np.empty(rows.size)
        step = block_rows(self.Z.shape[1])
        for start in range(0, rows.size, step):
            i, j = rows[start : start + step], cols[start : start + step]
            if self.metric == "correlation":
                diff = self._unit_patterns(i) - self._unit_patterns(j)
                out[start : start + step] = 0.5 * np.einsum("ij,ij->i", diff, diff)
            else:
                # The rows themselves (not the centred ones): identical rows
                # give exactly 0, and close rows subtract without error.
                diff = np.ldexp(self.X[i], -self.first, dtype=np.float64)
                diff -= np.ldexp(self.X[j], -self.first, dtype=np.float64)
                np.ldexp(diff, self.first - self.exponent, out=diff)
                out[start : start + step] = np.einsum("ij,ij->i", diff, diff)
        return out

    def blocks(self):
        """Yield the condensed RDM, one contiguous slice per block of rows.

        Yields
        ------
        values : ndarray of float64
            The entries of rows ``a .. b-1`` against all later rows, in
            condensed order; correlation distances or (scaled) squared
            euclidean distances (see :meth:`finish`).
        """
        Z, n = self.Z, self.n_samples
        step = max(1, _rows_per_block(n))
        largest = float(self.squares.max()) if n else 0.0
        for a in range(0, n - 1, step):
            b = min(a + step, n - 1)
            if self.table is not None:
                table, pattern = self.table
                yield _upper_rows(table[np.ix_(pattern[a:b], pattern[a:])], a, b, n)
                continue
            gram = Z[a:b] @ Z[a:].T  # column c is sample a + c
            if self.metric == "correlation":
                if self.exact:
                    # p cov_ij / sqrt(p^2 var_i p^2 var_j): integers up to here
                    gram *= self.Z.shape[1]
                    gram -= np.multiply.outer(self.sums[a:b], self.sums[a:])
                    # one symmetric product: pairs with the same integers and
                    # the two roots swapped get the same value
                    gram /= np.multiply.outer(self.root[a:b], self.root[a:])
                np.subtract(1.0, gram, out=gram)
                candidates = gram < REFINE_RTOL
            else:
                gram *= -2.0
                gram += self.squares[a:b, None]
                gram += self.squares[None, a:]
                # exact integers need no refinement; otherwise a cheap bound
                # (s_j <= largest) finds the candidates, checked exactly below
                threshold = 0.0 if self.exact else REFINE_RTOL
                candidates = gram < threshold * (self.squares[a:b, None] + largest)
            rows, cols = np.nonzero(candidates)
            del candidates
            keep = cols > rows  # the upper triangle only
            rows, cols = rows[keep], cols[keep]
            if rows.size and self.metric != "correlation":
                scale = self.squares[a + rows] + self.squares[a + cols]
                keep = gram[rows, cols] < REFINE_RTOL * scale
                rows, cols = rows[keep], cols[keep]
            if rows.size:
                gram[rows, cols] = self.refined(rows + a, cols + a)
            values = _upper_rows(gram, a, b, n)
            del gram
            if self.metric == "correlation":
                np.clip(values, 0.0, 2.0, out=values)
            else:
                np.maximum(values, 0.0, out=values)
            yield values

    def finish(self, values, scaled=True):
        """Turn block values into distances (in place); unscaled if asked."""
        if self.metric == "correlation":
            return values
        if self.metric == "euclidean":
            np.sqrt(values, out=values)
        if not scaled:
            power = self.exponent * (1 if self.metric == "euclidean" else 2)
            with np.errstate(over="ignore"):  # inf: the caller refuses it
                np.ldexp(values, power, out=values)
        return values

    def condensed(self, scaled=True):
        """Return the whole condensed RDM (float64, ``n_pairs`` entries)."""
        out = np.empty(n_pairs(self.n_samples))
        start = 0
        for values in self.blocks():
            out[start : start + values.size] = self.finish(values, scaled)
            start += values.size
        return out

    def scale(self, largest):
        """Return the scale the constant-RDM rule is relative to."""
        return 1.0 if self.metric == "correlation" else largest


def _upper_rows(gram, a, b, n):
    """Return the condensed entries of rows ``a .. b-1`` from their block ``gram``.

    ``gram[t, c]`` is the value of samples ``a + t`` and ``a + c``; row
    ``t`` keeps its columns ``t + 1 .. n - a - 1`` (the later samples).
    """
    values = np.empty((b - a) * (n - a) - (b - a) * (b - a + 1) // 2)
    start = 0
    for t in range(b - a):
        stop = start + n - a - t - 1
        values[start:stop] = gram[t, t + 1 :]
        start = stop
    return values


def _rows_per_block(n_samples):
    """Rows per Gram block: about :data:`BLOCK_BYTES` per block, at least 8.

    Smaller than the core's default blocks: a block lives alongside a few
    temporaries of its size (per view, for two views at once), and on the
    Pearson route these are all the memory there is.
    """
    return max(8, BLOCK_BYTES // (8 * max(n_samples, 1)))


def _exponent(largest):
    """Exponents ``e`` with ``largest * 2**-e`` in [0.5, 1) (0 for zeros)."""
    largest = np.asarray(largest, dtype=np.float64)
    exponent = np.frexp(largest)[1]
    exponent = np.where(largest > 0, exponent, 0)
    return exponent if exponent.ndim else int(exponent)


def _integer_exponent(Z, bound, limit=60):
    """Smallest ``k >= 0`` with ``Z * 2**k`` integers of magnitude <= `bound`.

    None when there is none (up to ``2**limit``): the data are not dyadic
    rationals of few digits, e.g. any continuous activations. Labels, one-hot
    and binary codes and counts take ``k = 0``. A nonzero ``x = M 2**(e-53)``
    (``M`` the 53-bit mantissa, with ``t`` trailing zero bits) needs
    ``k >= 53 - e - t``. Stops at the first block of rows that rules it out.
    """
    largest = float(np.max(np.abs(Z))) if Z.size else 0.0
    if largest == 0.0:
        return 0
    if largest > bound:
        return None
    shift = 0
    step = block_rows(Z.shape[1])
    for start in range(0, Z.shape[0], step):
        block = Z[start : start + step]
        values = block[block != 0]
        if not values.size:
            continue
        mantissa, exponent = np.frexp(values)
        digits = np.ldexp(mantissa, 53).astype(np.int64)
        lowest = (digits & -digits).astype(np.float64)  # 2**t
        trailing = np.frexp(lowest)[1] - 1
        shift = max(shift, int(np.max(53 - exponent - trailing)))
        if shift > limit or np.ldexp(largest, shift) > bound:
            return None
    return shift


def _is_constant(smallest, largest, scale):
    return bool(largest - smallest <= RDM_RTOL * scale)


def condensed_rdm(X, metric="correlation"):
    """Return the condensed RDM of the rows of X (the order of scipy's pdist).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_units)
        Activation patterns, one row per sample (float32 or float64; not
        modified).
    metric : {"correlation", "euclidean", "sqeuclidean"}, default="correlation"
        The dissimilarity of two patterns.

    Returns
    -------
    rdm : ndarray of shape (n_samples * (n_samples - 1) // 2,), float64
        ``rdm[k]`` is the dissimilarity of the ``k``-th pair ``i < j``, in
        the order of :func:`scipy.spatial.distance.pdist`. A constant
        pattern has correlation distance 1 to every pattern.
    constant : ndarray of bool of shape (n_samples,)
        Constant patterns (for ``metric="correlation"``; all False
        otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.rdm import condensed_rdm
    >>> X = np.array([[0.0, 3.0], [4.0, 0.0], [0.0, 0.0]])
    >>> condensed_rdm(X, "euclidean")[0].tolist()
    [5.0, 3.0, 4.0]
    """
    patterns = _Patterns(X, metric)
    return patterns.condensed(scaled=False), patterns.constant


@dataclass
class RDMComparison:
    """The comparison of two views' RDMs and what made parts of it undefined.

    Attributes
    ----------
    similarity : float
        The correlation of the two condensed RDMs, in [-1, 1]; 0 when
        either RDM is constant.
    x_constant_patterns, y_constant_patterns : int
        Samples whose pattern is constant in each view (correlation RDMs;
        0 otherwise).
    x_constant_rdm, y_constant_rdm : bool
        Whether each view's RDM is constant.
    """

    similarity: float
    x_constant_patterns: int = 0
    y_constant_patterns: int = 0
    x_constant_rdm: bool = False
    y_constant_rdm: bool = False


def rdm_similarity(X, Y, metric="correlation", compare="spearman"):
    """Compare the RDMs of two views of the same samples.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_units_x)
        First view (not modified).
    Y : ndarray of shape (n_samples, n_units_y)
        Second view, same samples in the same order.
    metric : {"correlation", "euclidean", "sqeuclidean"}, default="correlation"
        The dissimilarity of two patterns (the same for both views).
    compare : {"spearman", "pearson", "kendall"}, default="spearman"
        How the two condensed RDMs are correlated.

    Returns
    -------
    result : RDMComparison

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.rdm import rdm_similarity
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(30, 5)
    >>> rdm_similarity(X, 2 * X + 1, "euclidean", "pearson").similarity
    1.0
    """
    if compare not in COMPARISONS:
        raise ValueError(f"compare must be one of {COMPARISONS}, got {compare!r}.")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"X and Y must have the same rows (samples): {X.shape[0]} and {Y.shape[0]}."
        )
    if X.shape[0] < 3:
        raise ValueError(
            f"An RDM comparison needs at least 3 samples, got {X.shape[0]}: "
            "2 samples give a single dissimilarity, whose correlation is undefined."
        )
    px, py = _Patterns(X, metric), _Patterns(Y, metric)
    result = RDMComparison(
        0.0, int(px.constant.sum()), int(py.constant.sum()), False, False
    )
    if compare == "pearson":
        similarity, constant_x, constant_y = _pearson_streaming(px, py)
    elif compare == "spearman":
        similarity, constant_x, constant_y = _spearman(px, py)
    else:
        similarity, constant_x, constant_y = _kendall(px, py)
    result.x_constant_rdm, result.y_constant_rdm = constant_x, constant_y
    if not (constant_x or constant_y):
        result.similarity = float(np.clip(similarity, -1.0, 1.0))
    return result


def compare_condensed(rdm_x, rdm_y, compare="spearman"):
    """Correlate two condensed RDMs (0 when either is constant).

    A reference for precomputed RDMs: the same ranks and the same
    constant-RDM rule as :func:`rdm_similarity` (whose Pearson route
    streams instead of storing the vectors).

    Parameters
    ----------
    rdm_x, rdm_y : ndarray of shape (n_pairs,)
        Condensed RDMs, same pairs in the same order, finite.
    compare : {"spearman", "pearson", "kendall"}, default="spearman"

    Returns
    -------
    similarity : float
    constant_x, constant_y : bool
        Whether each RDM is constant (spans at most :data:`RDM_RTOL` of its
        largest absolute entry).

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.rdm import compare_condensed
    >>> compare_condensed(np.array([1.0, 2.0, 3.0]), np.array([1.0, 4.0, 9.0]))
    (1.0, False, False)
    """
    if compare not in COMPARISONS:
        raise ValueError(f"compare must be one of {COMPARISONS}, got {compare!r}.")
    rdm_x = np.asarray(rdm_x, dtype=np.float64)
    rdm_y = np.asarray(rdm_y, dtype=np.float64)
    if rdm_x.shape != rdm_y.shape or rdm_x.ndim != 1:
        raise ValueError("The condensed RDMs must be 1-D and of the same length.")
    flags = [
        _is_constant(v.min(), v.max(), np.max(np.abs(v))) if v.size else True
        for v in (rdm_x, rdm_y)
    ]
    if any(flags):
        return 0.0, *flags
    if compare == "pearson":
        a, b = rdm_x - rdm_x.mean(), rdm_y - rdm_y.mean()
        value = (a @ b) / np.sqrt((a @ a) * (b @ b))
    elif compare == "spearman":
        ranks_x = _doubled_ranks([rdm_x])[0]
        ranks_y = _doubled_ranks([rdm_y])[0]
        value = _pearson_of_doubled_ranks(ranks_x, ranks_y)
    else:
        value = kendalltau(rdm_x, rdm_y).statistic
    return float(np.clip(value, -1.0, 1.0)), *flags


# -- Pearson, streamed --------------------------------------------------------


def _pearson_streaming(px, py):
    """Pearson correlation of two condensed RDMs, block by block.

    Each block's sums are centred on the block's means and merged with the
    pairwise update of Chan, Golub and LeVeque, so no condensed vector is
    stored and no digits are lost to large means.
    """
    count, mean_x, mean_y = 0, 0.0, 0.0
    sxx = syy = sxy = 0.0
    low_x = low_y = np.inf
    high_x = high_y = -np.inf
    for values_x, values_y in zip(px.blocks(), py.blocks()):
        dx, dy = px.finish(values_x), py.finish(values_y)
        k = dx.size
        low_x, high_x = min(low_x, dx.min()), max(high_x, dx.max())
        low_y, high_y = min(low_y, dy.min()), max(high_y, dy.max())
        bx, by = dx.mean(), dy.mean()
        dx -= bx
        dy -= by
        bxx, byy, bxy = dx @ dx, dy @ dy, dx @ dy
        total = count + k
        delta_x, delta_y = bx - mean_x, by - mean_y
        factor = count * k / total
        sxx += bxx + factor * delta_x * delta_x
        syy += byy + factor * delta_y * delta_y
        sxy += bxy + factor * delta_x * delta_y
        mean_x += delta_x * k / total
        mean_y += delta_y * k / total
        count = total
    constant_x = _is_constant(low_x, high_x, px.scale(high_x))
    constant_y = _is_constant(low_y, high_y, py.scale(high_y))
    if constant_x or constant_y:
        return 0.0, constant_x, constant_y
    return sxy / np.sqrt(sxx * syy), False, False


# -- Spearman: ranks ----------------------------------------------------------


def _doubled_ranks(box):
    """Twice the average ranks (1-based) of some values, as exact integers.

    Ties get the average of their ranks, as :func:`scipy.stats.rankdata`
    (``method="average"``); twice an average rank is an integer, stored in
    32 bits while ``2 * (m + 1)`` fits. The values come in a list of one
    array, which is emptied: once sorted, the array is freed here, halfway
    (an argument would stay referenced by the caller's frame).

    Returns
    -------
    ranks : ndarray of uint32 or uint64
    smallest, largest : float
        The extreme values.
    """
    values = box.pop()
    m = values.size
    order = np.argsort(values)
    same = np.empty(m, dtype=bool)  # sorted[k] == sorted[k - 1]
    same[:1] = False
    last = None
    for start in range(0, m, _CHUNK):
        chunk = values[order[start : start + _CHUNK]]
        np.equal(chunk[1:], chunk[:-1], out=same[start + 1 : start + chunk.size])
        if last is not None:
            same[start] = chunk[0] == last
        last = chunk[-1]
    smallest, largest = values[order[0]], values[order[-1]]
    del values, chunk  # the condensed vector is no longer needed
    dtype = np.uint32 if 2 * (m + 1) < 2**32 else np.uint64
    ranks = np.empty(m, dtype=dtype)
    for start in range(0, m, _CHUNK):
        stop = min(start + _CHUNK, m)
        ranks[order[start:stop]] = np.arange(2 * start + 2, 2 * stop + 2, 2)
    # tie groups: sorted positions s..e share the rank (s + e + 2) / 2
    starts = np.flatnonzero(~same[:-1] & same[1:])
    if starts.size:
        ends = np.flatnonzero(same & ~np.append(same[1:], False))
        del same
        lengths = ends - starts + 1
        doubled = (starts + ends + 2).astype(dtype)
        cumulative = np.cumsum(lengths)  # group ends, the groups laid end to end
        first = 0
        while first < starts.size:
            if lengths[first] > _CHUNK:  # one large group, in pieces
                for lo in range(int(starts[first]), int(ends[first]) + 1, _CHUNK):
                    hi = min(lo + _CHUNK, int(ends[first]) + 1)
                    ranks[order[lo:hi]] = doubled[first]
                first += 1
                continue
            # groups first..last-1: at most _CHUNK positions together
            base = cumulative[first] - lengths[first]
            last = int(np.searchsorted(cumulative, base + _CHUNK, side="right"))
            sizes = lengths[first:last]
            offsets = np.repeat(starts[first:last] - (np.cumsum(sizes) - sizes), sizes)
            positions = offsets + np.arange(sizes.sum())
            ranks[order[positions]] = np.repeat(doubled[first:last], sizes)
            first = last
    return ranks, float(smallest), float(largest)


def _pearson_of_doubled_ranks(ranks_x, ranks_y):
    """Pearson correlation of two doubled-rank vectors, in chunks.

    Average ranks sum to ``m (m + 1) / 2`` with or without ties, so the
    doubled ranks centre exactly on ``m + 1`` (integers in float64).
    """
    m = ranks_x.size
    sxx = syy = sxy = 0.0
    for start in range(0, m, _CHUNK):
        a = ranks_x[start : start + _CHUNK].astype(np.float64)
        b = ranks_y[start : start + _CHUNK].astype(np.float64)
        a -= m + 1
        b -= m + 1
        sxx += a @ a
        syy += b @ b
        sxy += a @ b
    return sxy / np.sqrt(sxx * syy)


def _spearman(px, py):
    ranks_x, low_x, high_x = _doubled_ranks([px.condensed()])
    constant_x = _is_constant(low_x, high_x, px.scale(high_x))
    ranks_y, low_y, high_y = _doubled_ranks([py.condensed()])
    constant_y = _is_constant(low_y, high_y, py.scale(high_y))
    if constant_x or constant_y:
        return 0.0, constant_x, constant_y
    return _pearson_of_doubled_ranks(ranks_x, ranks_y), False, False


# -- Kendall ------------------------------------------------------------------


def _kendall(px, py):
    rdm_x, rdm_y = px.condensed(), py.condensed()
    constant_x = _is_constant(rdm_x.min(), rdm_x.max(), px.scale(rdm_x.max()))
    constant_y = _is_constant(rdm_y.min(), rdm_y.max(), py.scale(rdm_y.max()))
    if constant_x or constant_y:
        return 0.0, constant_x, constant_y
    tau = kendalltau(rdm_x, rdm_y).statistic
    return (0.0 if np.isnan(tau) else tau), False, False
