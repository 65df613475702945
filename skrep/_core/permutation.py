"""Numerics of resampling inference: draws, and fast paths for moment measures.

Two kinds of draws serve :mod:`skrep.inference`:

- *permutations* of the rows of the second view, within exchangeable blocks
  (whole groups of equal size trade places; their rows stay aligned in
  order);
- *resamples*: units (rows, or whole groups) drawn with replacement, given
  as index arrays or as per-row counts (weights).

Every draw comes from ``numpy.random.default_rng([seed, chunk])`` for its
chunk of :data:`CHUNK` consecutive draws, so the draws depend on the seed
alone: not on the number of jobs, nor on the route (fast or refit) that
scores them.

The fast paths rest on one observation: permuting the rows of ``Y``
changes neither ``Y``'s mean nor ``Yc^T Yc``; only the cross-product
``Xc^T P Yc`` moves. So each view's reduced orthonormal basis (the SVD
truncation of SVCCA depends on ``Xc^T Xc`` alone) is computed once, and a
permutation costs one ``k_x x n`` by ``n x k_y`` product and a small SVD.
A bootstrap resample, in turn, is a reweighting of the rows: its moments
are weighted sums, and the decompositions run on ``d x d`` matrices.
Nothing here imports scikit-learn.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.optimize import linear_sum_assignment
from threadpoolctl import ThreadpoolController

from skrep._core.backend import BLOCK_BYTES, SINGLE_THREAD_MAX_UNITS
from skrep._core.cca import (
    _cca_from_data,
    cca_from_covariances,
    needs_accurate_route,
)
from skrep._core.correlation import correlation_matrix
from skrep._core.moments import check_finite_products, constant_units
from skrep._core.spectral import spectrum_from_data

__all__ = [
    "CHUNK",
    "CCAPermutationNull",
    "CCAResampledScores",
    "MatchingPermutationNull",
    "MatchingResampledScores",
    "all_permutations",
    "count_permutations",
    "draw_permutations",
    "draw_resamples",
    "exchangeable_blocks",
    "resampling_units",
    "row_counts",
    "rows_of",
]

#: Draws per random generator: draw ``i`` comes from the generator of chunk
#: ``i // CHUNK``.
CHUNK = 64


# ---------------------------------------------------------------------------
# Permutations within exchangeable blocks.
# ---------------------------------------------------------------------------


def exchangeable_blocks(n_samples, groups=None):
    """Rows that may trade places under the permutation null.

    Without groups every row is its own unit and any permutation of the
    rows is allowed. With groups, whole groups trade places, and only with
    groups of the same size (so that row ``k`` of one group takes the place
    of row ``k`` of the other, rows taken in their order of appearance).

    Parameters
    ----------
    n_samples : int
        Number of rows.
    groups : ndarray of shape (n_samples,) or None
        Group label of each row.

    Returns
    -------
    blocks : list of ndarray of shape (n_groups_of_that_size, size)
        One matrix per group size shared by at least two groups: row ``g``
        lists the rows of one group, in order.
    n_fixed_rows : int
        Rows in groups whose size no other group has: they never move.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.permutation import exchangeable_blocks
    >>> blocks, fixed = exchangeable_blocks(5, np.array([0, 1, 0, 1, 2]))
    >>> blocks[0].tolist(), fixed
    ([[0, 2], [1, 3]], 1)
    """
    if groups is None:
        return [np.arange(n_samples).reshape(-1, 1)], 0
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    members = [order[s : s + size] for s, size in zip(starts, sizes)]
    blocks, n_fixed = [], 0
    for size in np.unique(sizes):
        same = [members[g] for g in np.flatnonzero(sizes == size)]
        if len(same) < 2:
            n_fixed += int(size)
            continue
        blocks.append(np.array(same))
    return blocks, n_fixed


def count_permutations(blocks, limit):
    """Count the distinct permutations, up to ``limit + 1``.

    Parameters
    ----------
    blocks : list of ndarray
        From :func:`exchangeable_blocks`.
    limit : int
        Counting stops above this.

    Returns
    -------
    count : int
    """
    count = 1
    for block in blocks:
        for factor in range(2, block.shape[0] + 1):
            count *= factor
            if count > limit:
                return limit + 1
    return count


def draw_permutations(seed, chunk, n_samples, blocks, size=CHUNK):
    """Random permutations of the rows for one chunk of draws.

    Parameters
    ----------
    seed : int
        Seed of the whole sequence of draws.
    chunk : int
        Which chunk: its draws are numbers ``chunk * CHUNK`` onwards.
    n_samples : int
        Number of rows.
    blocks : list of ndarray
        From :func:`exchangeable_blocks`.
    size : int, default=CHUNK
        Draws to return (the first ``size`` of the chunk).

    Returns
    -------
    permutations : ndarray of shape (size, n_samples)
        Row ``b`` is a permutation ``perm``: row ``i`` of X is paired with
        row ``perm[i]`` of Y.
    """
    rng = np.random.default_rng([seed, chunk])
    perms = np.tile(np.arange(n_samples), (CHUNK, 1))
    for block in blocks:
        moves = rng.permuted(np.tile(np.arange(block.shape[0]), (CHUNK, 1)), axis=1)
        perms[:, block.ravel()] = block[moves].reshape(CHUNK, -1)
    return perms[:size]


def all_permutations(n_samples, blocks):
    """Every distinct permutation within the blocks, the identity first.

    Parameters
    ----------
    n_samples : int
        Number of rows.
    blocks : list of ndarray
        From :func:`exchangeable_blocks`.

    Returns
    -------
    permutations : ndarray of shape (n_distinct, n_samples)
    """
    choices = [itertools.permutations(range(b.shape[0])) for b in blocks]
    perms = []
    for moves in itertools.product(*choices):
        perm = np.arange(n_samples)
        for block, move in zip(blocks, moves):
            perm[block.ravel()] = block[list(move)].ravel()
        perms.append(perm)
    return np.array(perms).reshape(-1, n_samples)


# ---------------------------------------------------------------------------
# Resampling with replacement.
# ---------------------------------------------------------------------------


def resampling_units(n_samples, groups=None):
    """Find the units the bootstrap draws: rows, or whole groups.

    Parameters
    ----------
    n_samples : int
        Number of rows.
    groups : ndarray of shape (n_samples,) or None
        Group label of each row.

    Returns
    -------
    unit_of_row : ndarray of int of shape (n_samples,) or None
        The unit each row belongs to (None without groups: row ``i`` is
        unit ``i``).
    members : list of ndarray or None
        The rows of each unit (None without groups: unit ``i`` is row
        ``i``).
    """
    if groups is None:
        return None, None
    _, unit_of_row = np.unique(groups, return_inverse=True)
    order = np.argsort(unit_of_row, kind="stable")
    sizes = np.bincount(unit_of_row)
    members = np.split(order, np.cumsum(sizes)[:-1])
    return unit_of_row, members


def draw_resamples(seed, chunk, n_units, size=CHUNK):
    """Units drawn with replacement for one chunk of bootstrap resamples.

    Parameters
    ----------
    seed : int
        Seed of the whole sequence of draws.
    chunk : int
        Which chunk.
    n_units : int
        Rows or groups to draw from.
    size : int, default=CHUNK
        Draws to return.

    Returns
    -------
    units : ndarray of shape (size, n_units)
        Row ``b`` lists the units of resample ``b``.
    """
    rng = np.random.default_rng([seed, chunk])
    return rng.integers(0, n_units, size=(CHUNK, n_units))[:size]


def rows_of(units, members):
    """Row indices of a resample given its units.

    Parameters
    ----------
    units : ndarray of int of shape (n_drawn,)
    members : list of ndarray or None
        From :func:`resampling_units`.

    Returns
    -------
    rows : ndarray of int
    """
    if members is None:
        return units
    return np.concatenate([members[u] for u in units])


def row_counts(units, unit_of_row, n_units):
    """How many times each row is in each resample.

    Parameters
    ----------
    units : ndarray of int of shape (n_resamples, n_drawn)
    unit_of_row : ndarray of int of shape (n_samples,) or None
        From :func:`resampling_units` (None: each row is a unit).
    n_units : int

    Returns
    -------
    counts : ndarray of float of shape (n_resamples, n_samples)
    """
    m = units.shape[0]
    flat = (units + n_units * np.arange(m)[:, None]).ravel()
    per_unit = np.bincount(flat, minlength=m * n_units).reshape(m, n_units)
    if unit_of_row is not None:
        per_unit = per_unit[:, unit_of_row]
    return per_unit.astype(np.float64)


# ---------------------------------------------------------------------------
# Fast permutation nulls.
# ---------------------------------------------------------------------------


_controller = None


def _map_threads(func, items, n_units):
    """``map(func, items)``, on as many Python threads as BLAS has.

    Each BLAS call then runs on one thread. For the many small, independent
    products and decompositions of a permutation null this beats one
    BLAS-threaded call after another, by a wide margin on a busy machine
    (two-thread BLAS waits on a core another process holds). Inside a
    joblib worker whose BLAS is limited to one thread, it runs serially.
    Beyond :data:`~skrep._core.backend.SINGLE_THREAD_MAX_UNITS` units the
    decompositions are large enough to use every BLAS thread themselves,
    and the items run one after another.
    """
    global _controller
    if n_units > SINGLE_THREAD_MAX_UNITS or len(items) < 2:
        return map(func, items)
    if _controller is None:
        _controller = ThreadpoolController()
    blas = _controller.select(user_api="blas")
    n_threads = max([info["num_threads"] for info in blas.info()] or [1])
    with blas.limit(limits=1):
        if n_threads < 2:
            return [func(item) for item in items]
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            return list(pool.map(func, items))


def _normalise(weights):
    total = weights.sum(axis=-1, keepdims=True)
    uniform = np.full(weights.shape, 1.0 / weights.shape[-1])
    return np.where(total > 0, weights / np.where(total > 0, total, 1.0), uniform)


class CCAPermutationNull:
    """(SV)CCA and PWCCA scores of permuted data, without refitting.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
        First view (float64).
    Y : ndarray of shape (n_samples, n_features_y)
        Second view; its rows are permuted.
    x_directions, y_directions : int
        SVD directions kept per view, as the fit on the unpermuted data
        found them (permuting Y's rows changes neither count).
    n_pairs : int
        Canonical pairs kept.
    weights_from : {"x", "y"} or None
        None: the mean canonical correlation (SVCCA); "x" or "y": the
        projection weights of PWCCA from that view.
    X_test, Y_test : ndarray or None
        Held-out rows: each permuted fit is scored on them, as `score`
        does, instead of in-sample.

    Notes
    -----
    With ``Q_x``, ``Q_y`` orthonormal bases of the kept directions of the
    centred views, a permutation ``P`` of Y's rows gives the whitened
    cross-product ``Q_x^T P Q_y``; its singular values are the in-sample
    canonical correlations and its singular vectors ``A``, ``B`` the
    directions. Held out, the variates are ``T_x A`` and ``T_y B`` with
    ``T_x`` the test rows projected on the whitened basis, and their
    correlations and PWCCA weights follow from the small matrices
    ``T_x^T T_x``, ``T_y^T T_y``, ``T_x^T T_y`` and ``T_x^T X_test``,
    formed once. Every quantity is invariant to the choice of basis, so the
    scores equal those of a refit to round-off (ties among canonical
    correlations aside, where PWCCA's weights depend on the basis).
    """

    def __init__(self, X, Y, x_directions, y_directions, n_pairs,
                 weights_from=None, X_test=None, Y_test=None):  # fmt: skip
        self.n_pairs = int(n_pairs)
        self.weights_from = weights_from
        self.held_out = X_test is not None
        bases, loadings, whitening, means = [], [], [], []
        for V, k in ((X, x_directions), (Y, y_directions)):
            mean = V.mean(axis=0)
            centred = V - mean
            check_finite_products(mean, centred)
            left, s, directions = spectrum_from_data(centred)
            bases.append(np.ascontiguousarray(left[:, :k]))
            loadings.append(s[:k, None] * directions[:, :k].T)
            whitening.append(directions[:, :k] / s[:k])
            means.append(mean)
        self.x_basis, self.y_basis = bases
        if not self.held_out:
            # In-sample: the loadings of the unit-norm variates Q a_i on the
            # centred units are a_i^T (Q^T Xc) = a_i^T S V^T.
            self.loadings = loadings[0] if weights_from == "x" else loadings[1]
            return
        projected = []
        for V, mean, W in zip((X_test, Y_test), means, whitening):
            T = (V - mean) @ W
            projected.append(T)
        Tx, Ty = projected
        self.x_test_mean, self.y_test_mean = Tx.mean(axis=0), Ty.mean(axis=0)
        Txc, Tyc = Tx - self.x_test_mean, Ty - self.y_test_mean
        self.n_test = Tx.shape[0]
        self.cxx, self.cyy, self.cxy = Txc.T @ Txc, Tyc.T @ Tyc, Txc.T @ Tyc
        if weights_from is not None:
            data, T = (X_test, Txc) if weights_from == "x" else (Y_test, Tyc)
            self.test_loadings = T.T @ (data - data.mean(axis=0))

    def _batches(self, permutations):
        """Sub-batches of permutations whose arrays fit in a block each."""
        n, kx = self.x_basis.shape
        ky = self.y_basis.shape[1]
        units = 0
        if self.weights_from is not None:
            units = (self.loadings if not self.held_out else self.test_loadings).shape[
                1
            ]
        per_draw = 8 * max(n * (kx + ky), self.n_pairs * units, 1)
        step = max(1, BLOCK_BYTES // per_draw)
        for start in range(0, permutations.shape[0], step):
            yield start, permutations[start : start + step]

    def scores(self, permutations):
        """Scores of the data with Y's rows permuted.

        Parameters
        ----------
        permutations : ndarray of int of shape (n_draws, n_samples)

        Returns
        -------
        scores : ndarray of shape (n_draws,)
        """
        out = np.empty(permutations.shape[0])
        batches = list(self._batches(permutations))
        k = max(self.x_basis.shape[1], self.y_basis.shape[1])
        for (start, batch), scores in zip(
            batches, _map_threads(self._score, batches, k)
        ):
            out[start : start + batch.shape[0]] = scores
        return out

    def _score(self, start_batch):
        # Q_x^T P Q_y for each permutation of the batch, then the stacked
        # small SVDs (the threading is decided by :func:`_map_threads`).
        batch = start_batch[1]
        cross = np.matmul(self.x_basis.T, self.y_basis[batch])
        if self.weights_from is None and not self.held_out:
            rho = np.linalg.svd(cross, compute_uv=False)
            return np.clip(rho[:, : self.n_pairs], 0.0, 1.0).mean(axis=1)
        a, rho, bt = np.linalg.svd(cross, full_matrices=False)
        a = a[:, :, : self.n_pairs]
        b = np.swapaxes(bt[:, : self.n_pairs, :], 1, 2)
        rho = np.clip(rho[:, : self.n_pairs], 0.0, 1.0)
        if self.held_out:
            return self._held_out(a, b)
        return self._pw(a, b, rho)

    def _pw(self, a, b, rho):
        pairs = a if self.weights_from == "x" else b
        loadings = np.matmul(np.swapaxes(pairs, 1, 2), self.loadings)
        weights = _normalise(np.abs(loadings).sum(axis=2))
        return np.sum(weights * rho, axis=1)

    def _held_out(self, a, b):
        var_u = np.sum(a * np.matmul(self.cxx, a), axis=1)
        var_v = np.sum(b * np.matmul(self.cyy, b), axis=1)
        cov = np.sum(a * np.matmul(self.cxy, b), axis=1)
        n = self.n_test
        constant = constant_units(
            np.einsum("i,bij->bj", self.x_test_mean, a), var_u / n
        ) | constant_units(np.einsum("i,bij->bj", self.y_test_mean, b), var_v / n)
        scale = np.sqrt(np.where(constant, 1.0, np.maximum(var_u * var_v, 0.0)))
        corr = np.where(constant, 0.0, cov / np.where(scale > 0, scale, 1.0))
        corr = np.clip(corr, -1.0, 1.0)
        if self.weights_from is None:
            return corr.mean(axis=1)
        pairs, var = (a, var_u) if self.weights_from == "x" else (b, var_v)
        norms = np.sqrt(np.maximum(var, 0.0))
        norms = np.where(norms > 0, norms, 1.0)
        loadings = np.matmul(np.swapaxes(pairs, 1, 2), self.test_loadings)
        weights = _normalise(np.abs(loadings).sum(axis=2) / norms)
        return np.sum(weights * corr, axis=1)


def _standardised(V):
    mean = V.mean(axis=0)
    centred = V - mean
    squares = np.einsum("ij,ij->j", centred, centred)
    check_finite_products(mean, squares)
    constant = constant_units(mean, squares / V.shape[0])
    norms = np.where(constant, 1.0, np.sqrt(squares))
    centred /= norms
    centred[:, constant] = 0.0
    return centred


def _matched_means(corr, method, values=None):
    """Mean similarity of the matched pairs of each matrix of a stack.

    ``corr`` (n_draws, n_x, n_y) decides the matching; ``values`` (n_x,
    n_y), when given, re-measures the matched pairs (held-out data).
    """
    n_draws, p, q = corr.shape
    if method == "semi-matching" or q == 1 or p == 1:
        # A maximum: each Y unit's best X unit; or, with one X unit and
        # the one-to-one matching, the single best Y unit.
        axis = 2 if (p == 1 and method == "matching") else 1
        best = np.argmax(corr, axis=axis)
        if values is None:
            return np.take_along_axis(corr, np.expand_dims(best, axis), axis=axis).mean(
                axis=(1, 2)
            )
        if axis == 2:
            return values[0, best[:, 0]]
        return values[best, np.arange(q)].mean(axis=1)
    out = np.empty(n_draws)
    for b, matrix in enumerate(corr):
        rows, cols = linear_sum_assignment(matrix, maximize=True)
        out[b] = (matrix if values is None else values)[rows, cols].mean()
    return out


class MatchingPermutationNull:
    """Correlation-matching scores of permuted data, without refitting.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
    Y : ndarray of shape (n_samples, n_features_y)
        Its rows are permuted.
    method : {"matching", "semi-matching"}
        As in :class:`~skrep.UnitMatcher`.
    X_test, Y_test : ndarray or None
        Held-out rows: the pairs matched on each permuted fit are
        re-measured on them.

    Notes
    -----
    The units' means and norms do not change under a permutation of Y's
    rows, so the correlation matrix is ``Z_x^T P Z_y`` with the
    standardised views formed once (constant units are zero columns: their
    correlations are 0).
    """

    def __init__(self, X, Y, method, X_test=None, Y_test=None):
        self.method = method
        self.x_std, self.y_std = _standardised(X), _standardised(Y)
        self.test_correlation = (
            None if X_test is None else correlation_matrix(X_test, Y_test)[0]
        )

    def scores(self, permutations):
        """Scores of the data with Y's rows permuted.

        Parameters
        ----------
        permutations : ndarray of int of shape (n_draws, n_samples)

        Returns
        -------
        scores : ndarray of shape (n_draws,)
        """
        n, q = self.y_std.shape
        p = self.x_std.shape[1]
        step = max(1, BLOCK_BYTES // (8 * max(n * q, p * q)))
        batches = [
            permutations[s : s + step] for s in range(0, len(permutations), step)
        ]
        return np.concatenate(
            list(_map_threads(self._score, batches, max(p, q))) or [np.empty(0)]
        )

    def _score(self, batch):
        corr = np.clip(np.matmul(self.x_std.T, self.y_std[batch]), -1.0, 1.0)
        return _matched_means(corr, self.method, self.test_correlation)


# ---------------------------------------------------------------------------
# Fast bootstrap: in-sample scores of reweighted rows.
# ---------------------------------------------------------------------------


def _weighted_moments(centred_x, centred_y, weights):
    """Totals, mean offsets and centred cross-products of reweighted rows."""
    total = weights.sum()
    dx = weights @ centred_x / total
    dy = weights @ centred_y / total
    wx = centred_x * weights[:, None]
    cxx = wx.T @ centred_x - total * np.outer(dx, dx)
    cyy = (centred_y * weights[:, None]).T @ centred_y - total * np.outer(dy, dy)
    cxy = wx.T @ centred_y - total * np.outer(dx, dy)
    return total, dx, dy, 0.5 * (cxx + cxx.T), 0.5 * (cyy + cyy.T), cxy


class CCAResampledScores:
    """In-sample (SV)CCA and PWCCA scores of reweighted rows (bootstrap).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
    Y : ndarray of shape (n_samples, n_features_y)
    params : dict
        ``x_components``, ``y_components``, ``n_components``, ``rank_tol``
        of :func:`~skrep._core.cca.cca_from_covariances`.
    weights_from : {"x", "y"} or None
        None for SVCCA's mean, else PWCCA's weights from that view.
    algorithm : {"auto", "moments", "svd"}
        The route the estimator's `fit` takes; followed per resample as
        :func:`~skrep._core.cca.fit_cca` would (the SVD of the resampled
        rows when it asks for it, or when the moments lose digits).

    Notes
    -----
    A resample in which row ``i`` appears ``w_i`` times has the weighted
    moments ``sum_i w_i x_i``, ``sum_i w_i x_i x_i^T``, ...; they are
    formed on rows centred once on the full-sample mean (so the correction
    for the resample's own mean cancels no digits), then decomposed as by
    a fit on the resampled rows.
    """

    def __init__(self, X, Y, params, weights_from=None, algorithm="auto"):
        self.X, self.Y = X, Y
        self.params = params
        self.weights_from = weights_from
        self.algorithm = algorithm
        self.mean_x, self.mean_y = X.mean(axis=0), Y.mean(axis=0)
        self.centred_x, self.centred_y = X - self.mean_x, Y - self.mean_y
        check_finite_products(self.centred_x, self.centred_y)

    def _score(self, result):
        rho = result.correlations
        if self.weights_from is None:
            return rho.mean()
        loadings = result.x_loadings if self.weights_from == "x" else result.y_loadings
        return _normalise(np.abs(loadings).sum(axis=1)) @ rho

    def scores(self, counts):
        """In-sample scores of each reweighting of the rows.

        Parameters
        ----------
        counts : ndarray of shape (n_resamples, n_samples)
            How many times each row is in each resample.

        Returns
        -------
        scores : ndarray of shape (n_resamples,)
        """
        out = np.empty(counts.shape[0])
        p, q = self.X.shape[1], self.Y.shape[1]
        for b, weights in enumerate(counts):
            total = weights.sum()
            result = None
            if self.algorithm != "svd" and total >= max(p, q):
                n, dx, dy, cxx, cyy, cxy = _weighted_moments(
                    self.centred_x, self.centred_y, weights
                )
                result = cca_from_covariances(
                    self.mean_x + dx, self.mean_y + dy, cxx, cyy, cxy, int(n),
                    eager_directions=self.weights_from or False, **self.params,
                )  # fmt: skip
                if self.algorithm == "auto" and needs_accurate_route(result):
                    result = None
            if result is None:
                rows = np.repeat(np.arange(weights.size), weights.astype(np.intp))
                result = _cca_from_data(self.X[rows], self.Y[rows], **self.params)
            out[b] = self._score(result)
        return out


class MatchingResampledScores:
    """In-sample correlation-matching scores of reweighted rows (bootstrap).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
    Y : ndarray of shape (n_samples, n_features_y)
    method : {"matching", "semi-matching"}

    Notes
    -----
    The weighted correlations of every resample of a chunk come from a few
    matrix products over the chunk's counts (for small layers, all pairs of
    units at once); the matching then runs per resample, except where it
    is a maximum (semi-matching, or a single unit on either side).
    """

    #: Largest ``n_features_x * n_features_y`` for which the cross-products
    #: of a whole chunk are formed in one product.
    BATCHED_PAIRS = 64

    def __init__(self, X, Y, method):
        self.method = method
        self.mean_x, self.mean_y = X.mean(axis=0), Y.mean(axis=0)
        self.centred_x, self.centred_y = X - self.mean_x, Y - self.mean_y
        check_finite_products(self.centred_x, self.centred_y)

    def correlations(self, counts):
        """Weighted correlation matrices, shape (n_resamples, n_x, n_y).

        Parameters
        ----------
        counts : ndarray of shape (n_resamples, n_samples)

        Returns
        -------
        correlations : ndarray of shape (n_resamples, n_features_x, n_features_y)
        """
        cx, cy = self.centred_x, self.centred_y
        n, p = cx.shape
        q = cy.shape[1]
        total = counts.sum(axis=1)
        dx = counts @ cx / total[:, None]
        dy = counts @ cy / total[:, None]
        sxx = counts @ (cx * cx) - total[:, None] * dx * dx
        syy = counts @ (cy * cy) - total[:, None] * dy * dy
        if p * q <= self.BATCHED_PAIRS:
            pairs = (cx[:, :, None] * cy[:, None, :]).reshape(n, p * q)
            cxy = (counts @ pairs).reshape(-1, p, q)
        else:
            cxy = np.stack([(cx * w[:, None]).T @ cy for w in counts])
        cxy -= total[:, None, None] * dx[:, :, None] * dy[:, None, :]
        check_finite_products(sxx, syy, cxy)
        x_const = constant_units(self.mean_x + dx, sxx / total[:, None])
        y_const = constant_units(self.mean_y + dy, syy / total[:, None])
        nx = np.sqrt(np.where(x_const, 1.0, np.maximum(sxx, 0.0)))
        ny = np.sqrt(np.where(y_const, 1.0, np.maximum(syy, 0.0)))
        corr = cxy / (nx[:, :, None] * ny[:, None, :])
        corr[np.broadcast_to(x_const[:, :, None], corr.shape)] = 0.0
        corr[np.broadcast_to(y_const[:, None, :], corr.shape)] = 0.0
        return np.clip(corr, -1.0, 1.0)

    def scores(self, counts):
        """In-sample scores of each reweighting of the rows.

        Parameters
        ----------
        counts : ndarray of shape (n_resamples, n_samples)

        Returns
        -------
        scores : ndarray of shape (n_resamples,)
        """
        p, q = self.centred_x.shape[1], self.centred_y.shape[1]
        step = max(1, BLOCK_BYTES // (8 * p * q))
        return np.concatenate(
            [
                _matched_means(self.correlations(counts[s : s + step]), self.method)
                for s in range(0, counts.shape[0], step)
            ]
        )
