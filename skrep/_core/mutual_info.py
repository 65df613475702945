r"""Plug-in mutual information between units, Miller-Madow corrected.

Binning. Each unit (column) is discretised on its own, by rank, into at most
``n_bins`` bins numbered from 0 upwards in the order of the values:

- A unit with at most ``n_bins`` distinct values gets one bin per value:
  distinct values are never merged.
- A unit with no negative value and some exact zeros (a ReLU unit) puts its
  zeros in bin 0, and its positive values in bins 1, 2, ...
- Otherwise the values are split into equal-mass bins at their quantiles:
  with :math:`n` samples and :math:`L` bins, bin :math:`k` starts at the
  sample of rank :math:`\lfloor k n / L \rfloor` (for a ReLU unit the
  positive values are split the same way into :math:`L - 1` bins above the
  zero bin).
- A bin edge is a data value and a value goes to the bin whose lower edge it
  reaches, so equal values (ties) always share a bin. An edge that falls
  inside a run of tied values moves to the start of the run, and never to or
  below the previous edge: when that start is the previous edge (or the
  minimum), the edge moves up to the next larger value instead. An edge also
  leaves at least one distinct value to each bin still to come. Whenever ties
  move an edge, the samples from that edge on are split again into equal
  shares among the bins left.

So every bin holds at least one value, a unit with :math:`m` distinct values
uses :math:`\min(m, L)` bins, and on tie-free data the bins are the equal-mass
quantile bins.

The estimator. With :math:`n_c` the samples in cell :math:`c` of a histogram
(of one unit, or the 2-D histogram of a pair) and :math:`m` its non-empty
cells, the Miller-Madow entropy (Miller 1955) is

.. math::

    \hat H = -\sum_c \frac{n_c}{n} \log \frac{n_c}{n} + \frac{m - 1}{2n},
    \qquad \hat I(x; y) = \hat H(x) + \hat H(y) - \hat H(x, y),

in nats. The correction removes the first-order bias of the plug-in
estimate, so independent units score close to 0 (slightly negative values
happen), and a unit against itself scores its own Miller-Madow entropy. A unit
whose values all fall in one bin (a constant unit) has mutual information
exactly 0 with every unit. The estimate is meaningful only with several
samples per joint cell: :func:`warn_if_too_many_bins` warns when
``n_bins**2 > n_samples``.

Computation. :func:`mutual_info_matrix` gets the joint histograms of a block
of X units against all Y units from one product of one-hot codes (a float32
BLAS ``gemm``, exact for counts below :math:`2^{24}`); no array of shape
(n_x, n_y, n_bins, n_bins) is formed, and the working memory stays a few
times :data:`MI_BLOCK_BYTES`. :func:`paired_mutual_info` counts the joint
histograms of column pairs directly.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import get_blas_funcs
from scipy.special import xlogy

from skrep.exceptions import BinningWarning, warn

__all__ = [
    "MI_BLOCK_BYTES",
    "bin_counts",
    "bin_units",
    "mutual_info_matrix",
    "paired_mutual_info",
    "warn_if_too_many_bins",
]

#: Working-memory budget (bytes) of the blocks in the mutual-information path:
#: sorted unit blocks, one-hot blocks and joint-count blocks each stay near it,
#: so the path's peak working memory is a few times this, whatever the widths.
MI_BLOCK_BYTES = 64 * 2**20


def warn_if_too_many_bins(n_samples, n_bins):
    """Warn when the joint histograms have fewer samples than cells.

    With ``n_bins**2 > n_samples`` the expected count per cell of a joint
    histogram is below 1 and the mutual information is mostly bias: with
    ``n_bins >= n_samples`` every pair of tie-free units scores the same.

    Parameters
    ----------
    n_samples : int
        Samples the histograms are built from.
    n_bins : int
        Bins per unit.

    Warns
    -----
    BinningWarning
        When ``n_bins**2 > n_samples``, with the expected count per joint
        cell and a number of bins that avoids it; attributed to the first
        line outside skrep (:func:`skrep.exceptions.warn`).

    Examples
    --------
    >>> import warnings
    >>> from skrep._core.mutual_info import warn_if_too_many_bins
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_too_many_bins(20, 64)
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    n_bins=64 gives 4096 joint histogram cells for 20 samples, ...
    """
    cells = n_bins * n_bins
    if cells <= n_samples:
        return
    fewer = max(2, math.isqrt(n_samples))
    warn(
        f"n_bins={n_bins} gives {cells} joint histogram cells for {n_samples} "
        f"samples, {n_samples / cells:.3g} expected per cell: the mutual "
        "information is mostly estimation bias. Use fewer bins, "
        f"n_bins <= {fewer} (n_bins**2 <= n_samples), or more samples.",
        BinningWarning,
    )


def bin_units(X, n_bins):
    """Discretise each column of X on its own into at most `n_bins` bins.

    The rules are in the module docstring: one bin per distinct value when
    there are at most `n_bins` of them; a zero bin for non-negative columns
    with exact zeros; otherwise equal-mass bins whose edges are data values,
    so that ties share a bin and no bin is empty.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite values; rows are samples, columns units.
    n_bins : int
        At most this many bins per column, ``2 <= n_bins <= 256``.

    Returns
    -------
    bins : ndarray of uint8 of shape (n_samples, n_features)
        Bin index of every value. Within a column the bins used are
        ``0, 1, ..., b - 1`` with ``b <= n_bins``, each non-empty, and the
        bin index never decreases as the value increases.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.mutual_info import bin_units
    >>> X = np.array([[-1.0, 0.0, 0.3],
    ...               [-1.0, 0.0, 0.1],
    ...               [-1.0, 2.0, 0.4],
    ...               [ 1.0, 3.0, 0.2]])
    >>> bin_units(X, 2)
    array([[0, 0, 1],
           [0, 0, 0],
           [0, 1, 1],
           [1, 1, 0]], dtype=uint8)
    """
    X = np.asarray(X)
    n, d = X.shape
    bins = np.zeros((n, d), dtype=np.uint8)
    if n == 0:
        return bins
    # Per sample of a block: the sorted copy (8 bytes), run numbers (8), the
    # run-start mask and comparison temporaries.
    step = max(1, MI_BLOCK_BYTES // (24 * n))
    for start in range(0, d, step):
        block = X[:, start : start + step]
        edges, n_edges = _bin_edges(
            np.sort(np.ascontiguousarray(block.T), axis=1), n_bins
        )
        out = bins[:, start : start + step]
        reached = np.empty(block.shape, dtype=bool)
        for k in range(int(n_edges.max())):
            np.greater_equal(block, edges[:, k], out=reached)
            reached &= k < n_edges
            out += reached
    return bins


def _bin_edges(ordered, n_bins):
    """Lower edges of bins 1 .. n_bins - 1 of every sorted row.

    Parameters
    ----------
    ordered : ndarray of shape (n_rows, n_samples)
        Each row sorted in increasing order.
    n_bins : int

    Returns
    -------
    edges : ndarray of shape (n_rows, n_bins - 1)
        ``edges[i, k - 1]`` is the smallest value of bin ``k`` in row ``i``,
        increasing along a row, for ``k <= n_edges[i]``; the rest is filler.
    n_edges : ndarray of int of shape (n_rows,)
        Edges of each row: the row uses bins ``0 .. n_edges[i]``.
    """
    width, n = ordered.shape
    rows = np.arange(width)
    offsets = rows * n
    # A "run" is a maximal set of equal values. run[offsets[i] + p] is the
    # run number of sample p (in sorted order) of row i, plus offsets[i], so
    # the flat array is sorted and one searchsorted finds the first sample
    # of any run of any row.
    starts = np.empty((width, n), dtype=bool)
    starts[:, 0] = True
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=starts[:, 1:])
    run = np.cumsum(starts, axis=1, dtype=np.intp)
    del starts
    run += (offsets - 1)[:, None]
    run = run.ravel()
    n_runs = run[offsets + n - 1] - offsets + 1
    levels = np.minimum(n_bins, n_runs)
    zero_bin = (ordered[:, 0] == 0) & (n_runs > 1)

    edges = np.repeat(ordered[:, :1], n_bins - 1, axis=1)
    previous = np.zeros(width, dtype=np.intp)  # run of the previous lower edge
    # Equal shares from `anchor` (a sample) split among the bins from
    # `anchor_bin` on; ties that move an edge re-anchor the split there.
    anchor = np.zeros(width, dtype=np.intp)
    anchor_bin = np.zeros(width, dtype=np.intp)
    for k in range(1, n_bins):
        active = k < levels
        if not active.any():
            break
        target = anchor + (k - anchor_bin) * (n - anchor) // np.maximum(
            levels - anchor_bin, 1
        )
        np.minimum(target, n - 1, out=target)
        # The edge snaps down to the first value of the run holding the target
        # (the zero bin's edge is the first positive value), then stays above
        # the previous edge and leaves a run to each bin still to come.
        edge_run = run[offsets + target] - offsets
        if k == 1:
            edge_run[zero_bin] = 1
        edge_run = np.minimum(np.maximum(edge_run, previous + 1), n_runs - levels + k)
        position = np.searchsorted(run, offsets + edge_run) - offsets
        moved = position != target
        if k == 1:
            moved |= zero_bin
        moved &= active
        anchor[moved] = position[moved]
        anchor_bin[moved] = k
        previous = edge_run
        edges[active, k - 1] = ordered[rows[active], position[active]]
    return edges, levels - 1


def bin_counts(bins, n_bins):
    """Count the samples in each bin of every column.

    Parameters
    ----------
    bins : ndarray of int of shape (n_samples, n_features)
        Bin indices in ``[0, n_bins)``, as from :func:`bin_units`.
    n_bins : int

    Returns
    -------
    counts : ndarray of int64 of shape (n_features, n_bins)
    """
    return np.stack(
        [np.count_nonzero(bins == b, axis=0) for b in range(n_bins)], axis=1
    ).astype(np.int64)


def _xlogx_table(n_samples):
    """``c * log(c)`` for every count c in 0..n_samples (0 for c = 0)."""
    counts = np.arange(n_samples + 1, dtype=np.float64)
    return xlogy(counts, counts)


def _mutual_info_from_sums(n, sum_x, cells_x, sum_y, cells_y, sum_xy, cells_xy):
    r"""Miller-Madow mutual information from :math:`\sum_c n_c \log n_c` sums.

    With :math:`\hat H = \log n - S / n + (m - 1) / (2n)` for each of the
    two marginals and the joint histogram, :math:`S` the sum and :math:`m`
    the non-empty cells.
    """
    return (
        np.log(n)
        + (sum_xy - sum_x - sum_y) / n
        + (cells_x + cells_y - cells_xy - 1) / (2.0 * n)
    )


def _one_hot(bins, n_levels, dtype):
    """One-hot codes of bins ``0 .. n_levels-1`` (bin ``n_levels`` gets none).

    Returns an array of shape (n_samples, n_features * n_levels), the
    levels of a feature contiguous.
    """
    codes = np.empty(bins.shape + (n_levels,), dtype=dtype)
    levels = np.arange(n_levels, dtype=bins.dtype)
    np.equal(bins[:, :, None], levels, out=codes, casting="unsafe")
    return codes.reshape(bins.shape[0], -1)


def mutual_info_matrix(X, Y, n_bins, *, x_constant=None, y_constant=None):
    """Mutual information of every X unit with every Y unit.

    Joint histograms of a block of X units against all Y units come from
    one product of one-hot codes ``onehot(X_block).T @ onehot(Y)``, both
    without their last bin: those counts follow from the marginals. The
    products are exact in float32 (0/1 entries, integer sums below 2**24).
    Working memory stays near :data:`MI_BLOCK_BYTES` per block; no
    (n_x, n_y, n_bins, n_bins) array is formed.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_x)
        First view; rows are samples, columns units.
    Y : ndarray of shape (n_samples, n_y)
        Second view, on the same samples.
    n_bins : int
        At most this many bins per unit (see :func:`bin_units`).
    x_constant, y_constant : ndarray of bool, optional
        Units whose mutual information is set to exactly 0, besides those
        whose values all fall in one bin (always 0).

    Returns
    -------
    mutual_info : ndarray of shape (n_x, n_y)
        In nats, Miller-Madow corrected.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.mutual_info import mutual_info_matrix
    >>> x = np.repeat([-1.0, 1.0], [360, 240])
    >>> mi = mutual_info_matrix(x[:, None], np.column_stack([x, np.ones(600)]), 2)
    >>> mi.round(4)  # the entropy of x, then 0 against a constant
    array([[0.6738, 0.    ]])
    """
    n = X.shape[0]
    n_x, n_y = X.shape[1], Y.shape[1]
    levels = n_bins - 1
    x_bins, y_bins = bin_units(X, n_bins), bin_units(Y, n_bins)
    x_counts, y_counts = bin_counts(x_bins, n_bins), bin_counts(y_bins, n_bins)
    table = _xlogx_table(n)
    sum_x, cells_x = table[x_counts].sum(axis=1), np.count_nonzero(x_counts, axis=1)
    sum_y, cells_y = table[y_counts].sum(axis=1), np.count_nonzero(y_counts, axis=1)

    dtype = np.float32 if n < 2**24 else np.float64
    itemsize = np.dtype(dtype).itemsize
    x_step = max(1, MI_BLOCK_BYTES // (itemsize * levels * levels * n_y))
    row_step = max(1, MI_BLOCK_BYTES // (itemsize * levels * n_y))
    y_codes = _one_hot(y_bins, levels, dtype) if row_step >= n else None

    gemm = get_blas_funcs("gemm", dtype=dtype)

    mutual_info = np.empty((n_x, n_y))
    for start in range(0, n_x, x_step):
        stop = min(start + x_step, n_x)
        width = stop - start
        block_bins = x_bins[:, start:stop]
        if y_codes is not None:
            joint = _one_hot(block_bins, levels, dtype).T @ y_codes
        else:
            joint = np.zeros((width * levels, n_y * levels), dtype=dtype)
            for row in range(0, n, row_step):
                rows = slice(row, row + row_step)
                x_codes = _one_hot(block_bins[rows], levels, dtype)
                # joint += x_codes.T @ y_codes, in place: BLAS accumulates
                # into joint.T, which is Fortran-ordered.
                gemm(
                    1.0,
                    _one_hot(y_bins[rows], levels, dtype).T,
                    x_codes.T,
                    beta=1.0,
                    c=joint.T,
                    trans_b=1,
                    overwrite_c=1,
                )
        # joint[i, a, j, b]: samples with X unit i in bin a and Y unit j in b,
        # for a, b below the last bin; the rest follows from the marginals.
        joint = joint.reshape(width, levels, n_y, levels)
        block_counts = x_counts[start:stop]
        x_rest = block_counts[:, :levels, None] - joint.sum(axis=3).astype(np.int64)
        y_rest = y_counts[None, :, :levels] - joint.sum(axis=1).astype(np.int64)
        corner = block_counts[:, levels, None] - y_rest.sum(axis=2)
        sum_xy = table[x_rest].sum(axis=1) + table[y_rest].sum(axis=2) + table[corner]
        cells_xy = (
            np.count_nonzero(x_rest, axis=1)
            + np.count_nonzero(y_rest, axis=2)
            + (corner > 0)
        )
        for a in range(levels):
            counts = joint[:, a].astype(np.intp)
            sum_xy += table[counts].sum(axis=2)
            cells_xy += np.count_nonzero(counts, axis=2)
        mutual_info[start:stop] = _mutual_info_from_sums(
            n,
            sum_x[start:stop, None],
            cells_x[start:stop, None],
            sum_y[None, :],
            cells_y[None, :],
            sum_xy,
            cells_xy,
        )
    mutual_info[cells_x <= 1, :] = 0.0
    mutual_info[:, cells_y <= 1] = 0.0
    if x_constant is not None:
        mutual_info[x_constant, :] = 0.0
    if y_constant is not None:
        mutual_info[:, y_constant] = 0.0
    return mutual_info


def paired_mutual_info(X, Y, n_bins):
    """Mutual information of column j of X with column j of Y, for every j.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_pairs)
        First unit of each pair.
    Y : ndarray of shape (n_samples, n_pairs)
        Second unit of each pair, on the same samples.
    n_bins : int
        At most this many bins per unit (see :func:`bin_units`).

    Returns
    -------
    mutual_info : ndarray of shape (n_pairs,)
        In nats, Miller-Madow corrected; exactly 0 for a pair with a unit
        whose values all fall in one bin.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.mutual_info import paired_mutual_info
    >>> x = np.repeat([1.0, 2.0, 3.0], 300)
    >>> mi = paired_mutual_info(np.column_stack([x, x]), np.column_stack([x, -x]), 3)
    >>> mi.round(6)  # log(3) + (3 - 1) / (2 * 900) for both pairs
    array([1.099723, 1.099723])
    """
    n, n_pairs = X.shape
    cells = n_bins * n_bins
    x_bins, y_bins = bin_units(X, n_bins), bin_units(Y, n_bins)
    x_counts, y_counts = bin_counts(x_bins, n_bins), bin_counts(y_bins, n_bins)
    table = _xlogx_table(n)
    mutual_info = np.empty(n_pairs)
    step = max(1, MI_BLOCK_BYTES // (8 * max(n, cells)))
    for start in range(0, n_pairs, step):
        stop = min(start + step, n_pairs)
        codes = x_bins[:, start:stop].astype(np.intp) * n_bins + y_bins[:, start:stop]
        codes += np.arange(stop - start) * cells
        joint = np.bincount(codes.ravel(), minlength=(stop - start) * cells)
        joint = joint.reshape(stop - start, cells)
        xc, yc = x_counts[start:stop], y_counts[start:stop]
        mutual_info[start:stop] = _mutual_info_from_sums(
            n,
            table[xc].sum(axis=1),
            np.count_nonzero(xc, axis=1),
            table[yc].sum(axis=1),
            np.count_nonzero(yc, axis=1),
            table[joint].sum(axis=1),
            np.count_nonzero(joint, axis=1),
        )
    one_bin = (np.count_nonzero(x_counts, axis=1) <= 1) | (
        np.count_nonzero(y_counts, axis=1) <= 1
    )
    mutual_info[one_bin] = 0.0
    return mutual_info
