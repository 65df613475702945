"""Lasso and least squares from moments: the sparse layer prediction's solvers.

Every Y unit is predicted from the same standardised X, so one problem is
reduced once to its moments (:class:`StandardizedProblem`: the Gram matrix of
standardised X, its cross-products with standardised Y, and Y's mean
squares), formed from a :class:`~skrep._core.moments.Moments` accumulator
(which is what lets it stream). Every Lasso is then solved on those small
matrices alone, never from the data again:

- :func:`least_squares`: ``decay = 0``, a Cholesky solve, or the
  minimum-norm solution where the Gram is rank-deficient (null directions
  by the one rank rule, :func:`~skrep._core.spectral.null_mask`);
- :func:`lasso_gram`: coordinate descent per Y unit, warm-started, with
  scikit-learn's compiled Gram solver when it is present and passes a known
  case (it is imported lazily, the core itself imports no scikit-learn), or a
  NumPy solver vectorised over targets.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
from joblib import Parallel, delayed, effective_n_jobs
from scipy.linalg.blas import dger

from skrep._core.moments import Moments
from skrep._core.spectral import null_mask

__all__ = [
    "RANK_TOL",
    "StandardizedProblem",
    "heldout_problem",
    "lasso_gram",
    "least_squares",
    "problem_from_moments",
    "unit_losses",
]

#: With ``decay=0`` (least squares), directions of standardised X whose
#: singular value is below this fraction of the largest are null (constant,
#: duplicate or collinear units, or more units than samples): the
#: minimum-norm solution ignores them. The same rule and default as the
#: CCA estimators' ``rank_tol``.
RANK_TOL = 1e-6


@dataclass
class StandardizedProblem:
    """One standardised prediction problem, reduced to its moments.

    ``gram = Xs.T @ Xs / n``, ``xy = Xs.T @ Ys / n`` and
    ``yy = (Ys ** 2).mean(axis=0)`` with ``Xs``, ``Ys`` the views
    standardised per unit (mean and ddof=0 standard deviation); constant
    units (the one rule, :func:`~skrep._core.moments.constant_units`) are
    exactly zero in them and have scale 1.
    """

    x_mean: np.ndarray
    x_scale: np.ndarray
    x_constant: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray
    y_constant: np.ndarray
    gram: np.ndarray
    xy: np.ndarray
    yy: np.ndarray
    n_samples: int

    @property
    def x_factor(self):
        """Multipliers that standardise X: 1 / scale, 0 for constant units."""
        return np.where(self.x_constant, 0.0, 1.0 / self.x_scale)


def _factor(scale, constant):
    return np.where(constant, 0.0, 1.0 / scale)


def problem_from_moments(moments):
    """Standardise both views from their moments alone.

    Parameters
    ----------
    moments : Moments
        Two views, ``products="all"``, ideally with ``track_range=True``:
        then a Y unit that is exactly constant keeps its exact value as its
        mean, so that its prediction (the intercept) reproduces it exactly.

    Returns
    -------
    problem : StandardizedProblem
    """
    n, p = moments.n_samples, moments.n_features_x
    mean_x, mean_y, cxx, _, cxy = moments.covariances()
    variance = moments.variance
    constant = moments.constant
    scale = np.where(constant, 1.0, np.sqrt(variance))
    if moments.track_range:
        exact = moments.minimum[p:] == moments.maximum[p:]
        mean_y = np.where(exact, moments.minimum[p:], mean_y)
    x_factor = _factor(scale[:p], constant[:p])
    y_factor = _factor(scale[p:], constant[p:])
    gram = (cxx * x_factor[:, None] * x_factor) / n
    gram = 0.5 * (gram + gram.T)
    xy = (cxy * x_factor[:, None] * y_factor) / n
    yy = moments.squares[p:] * y_factor**2 / n
    return StandardizedProblem(
        mean_x, scale[:p], constant[:p], mean_y, scale[p:], constant[p:],
        gram, xy, yy, n,
    )  # fmt: skip


def heldout_problem(problem, X, Y):
    """Moments of other rows, standardised with ``problem``'s statistics.

    X units constant in the fit are zero (their weight is zero); Y units
    constant in the fit are compared in raw units (their scale is 1).

    Parameters
    ----------
    problem : StandardizedProblem
        The fitted statistics.
    X, Y : ndarray
        The other rows.

    Returns
    -------
    gram, xy, yy : ndarray
        As in :class:`StandardizedProblem`, about the fitted means.
    """
    moments = Moments(X.shape[1], Y.shape[1]).update(X, Y)
    n, p = moments.n_samples, moments.n_features_x
    mean_x, mean_y, cxx, cyy, cxy = moments.covariances()
    # Second moments about the fitted means: C + n (m - c)(m - c)^T.
    dx, dy = mean_x - problem.x_mean, mean_y - problem.y_mean
    fx, fy = problem.x_factor, 1.0 / problem.y_scale
    gram = (cxx + n * np.outer(dx, dx)) * fx[:, None] * fx / n
    xy = (cxy + n * np.outer(dx, dy)) * fx[:, None] * fy / n
    yy = (np.diag(cyy) + n * dy * dy) * fy**2 / n
    del p
    return 0.5 * (gram + gram.T), xy, yy


@functools.cache
def _compiled_solver():
    """scikit-learn's compiled Gram coordinate descent (private API), or None.

    Imported on first use, so that the core imports no scikit-learn.
    """
    try:
        from sklearn.linear_model._cd_fast import enet_coordinate_descent_gram
    except ImportError:  # pragma: no cover - depends on the scikit-learn version
        return None
    return enet_coordinate_descent_gram


def _convergence_warning():
    try:
        from sklearn.exceptions import ConvergenceWarning
    except ImportError:  # pragma: no cover
        return UserWarning
    return ConvergenceWarning


def unit_losses(gram, xy, yy, W):
    """Per Y unit, half the mean squared error of ``Xs @ W`` against ``Ys``.

    ``0.5 * (yy - 2 xy.w + w.G.w)`` from the moments; clipped at 0 against
    round-off.
    """
    fitted = np.einsum("ij,ij->j", W, gram @ W)
    cross = np.einsum("ij,ij->j", W, xy)
    return np.maximum(0.5 * (yy - 2.0 * cross + fitted), 0.0)


def least_squares(gram, xy):
    """Minimum-norm least squares from the moments (``decay = 0``).

    A Cholesky solve when the Gram of the non-constant inputs is safely
    positive definite (LAPACK's condition estimate above ``RANK_TOL``
    squared, with a margin), else an eigendecomposition in which directions
    whose singular value is below ``RANK_TOL`` times the largest are null
    (:func:`~skrep._core.spectral.null_mask`, the one rank rule).
    """
    W = np.zeros_like(xy)
    inputs = np.flatnonzero(np.diag(gram) > 0)
    if inputs.size == 0:
        return W
    G = gram[np.ix_(inputs, inputs)]
    factor, info = scipy.linalg.lapack.dpotrf(G, lower=True)
    if info == 0:
        rcond, info = scipy.linalg.lapack.dpocon(
            factor, np.abs(G).sum(axis=0).max(), uplo="L"
        )
        if info == 0 and rcond > 1e3 * RANK_TOL**2:
            W[inputs] = scipy.linalg.cho_solve(
                (factor, True), xy[inputs], check_finite=False
            )
            return W
    eigenvalues, eigenvectors = scipy.linalg.eigh(G, check_finite=False)
    singular = np.sqrt(np.clip(eigenvalues, 0.0, None))
    keep = ~null_mask(singular[::-1], RANK_TOL)[::-1]
    basis = eigenvectors[:, keep]
    W[inputs] = basis @ ((basis.T @ xy[inputs]) / eigenvalues[keep, None])
    return W


def _duality_gaps(gram, xy, yy, alpha, W, residual):
    """Lasso duality gap of each column of W, in scikit-learn's formulation.

    ``residual`` is ``xy - gram @ W`` (X.T times the residual, over n).
    """
    fitted = np.einsum("ij,ij->j", W, xy - residual)
    cross = np.einsum("ij,ij->j", W, xy)
    residual_norm2 = yy - 2.0 * cross + fitted
    dual_norm = np.max(np.abs(residual), axis=0, initial=0.0)
    scale = np.ones_like(dual_norm)
    over = dual_norm > alpha
    scale[over] = alpha / dual_norm[over]
    primal = 0.5 * residual_norm2 + alpha * np.abs(W).sum(axis=0)
    dual = -0.5 * scale**2 * residual_norm2 + scale * (yy - cross)
    return primal - dual


def _lasso_numpy(gram, xy, yy, alpha, W, tol, max_iter):
    """Cyclic coordinate descent on the Gram, vectorised over targets.

    Each coordinate update moves that input's weight for every target still
    running (one rank-one BLAS update of ``X.T @ residual``). A target stops
    once its duality gap is at most ``tol * yy`` (scikit-learn's rule);
    converged targets leave the working arrays.

    Returns
    -------
    W : ndarray of shape (n_units_x, n_targets)
    n_iter : ndarray of int, shape (n_targets,)
    converged : ndarray of bool, shape (n_targets,)
    """
    n_targets = xy.shape[1]
    W = np.array(W, dtype=np.float64, order="C")
    n_iter = np.zeros(n_targets, dtype=np.intp)
    converged = np.zeros(n_targets, dtype=bool)
    diag = np.diag(gram).copy()
    inputs = diag > 0
    running = np.arange(n_targets)
    Wr, xyr, yyr = W, xy, yy
    residual = xyr - gram @ Wr
    gaps = _duality_gaps(gram, xyr, yyr, alpha, Wr, residual)
    done = gaps <= tol * yyr
    for iteration in range(1, max_iter + 1):
        if done.any():
            W[:, running[done]] = Wr[:, done]
            converged[running[done]] = True
            keep = ~done
            running = running[keep]
            if running.size == 0:
                break
            Wr = np.ascontiguousarray(Wr[:, keep])
            residual = np.ascontiguousarray(residual[:, keep])
            xyr, yyr = xyr[:, keep], yyr[keep]
        step_max = np.zeros(running.size)
        weight_max = np.zeros(running.size)
        candidates = np.flatnonzero(
            inputs & ((Wr != 0).any(axis=1) | (np.abs(residual) > alpha).any(axis=1))
        )
        for k in candidates:
            old = Wr[k]
            z = residual[k] + diag[k] * old
            new = np.sign(z) * np.maximum(np.abs(z) - alpha, 0.0) / diag[k]
            step = new - old
            if step.any():
                # residual -= outer(gram[:, k], step), in place (gram symmetric).
                residual = dger(-1.0, step, gram[k], a=residual.T, overwrite_a=True).T
                np.maximum(step_max, np.abs(step), out=step_max)
                Wr[k] = new
            np.maximum(weight_max, np.abs(new), out=weight_max)
        n_iter[running] = iteration
        check = (weight_max == 0) | (step_max <= tol * weight_max)
        if iteration == max_iter:
            check[:] = True
        done = np.zeros(running.size, dtype=bool)
        if check.any():
            residual = np.ascontiguousarray(xyr - gram @ Wr)  # drop round-off
            gaps = _duality_gaps(gram, xyr, yyr, alpha, Wr, residual)
            done = check & (gaps <= tol * yyr)
    else:
        W[:, running[done]] = Wr[:, done]
        converged[running[done]] = True
        W[:, running[~done]] = Wr[:, ~done]
    return W, n_iter, converged


def _lasso_sklearn(gram, xy, yy, alpha, W, tol, max_iter):
    """Per-target Gram coordinate descent with scikit-learn's compiled solver.

    Same contract as :func:`_lasso_numpy`. Runs without the GIL, so threads
    run targets in parallel. The solver's own ConvergenceWarning is left to
    the caller (see :func:`lasso_gram`).
    """
    gram = np.ascontiguousarray(gram)
    WT = np.array(W.T, dtype=np.float64, order="C")
    xyT = np.ascontiguousarray(xy.T)
    n_iter = np.zeros(xy.shape[1], dtype=np.intp)
    converged = np.zeros(xy.shape[1], dtype=bool)
    rng = np.random.RandomState(0)  # unused: cyclic coordinate order
    for j in range(xy.shape[1]):
        w, gap, scaled_tol, iterations = _compiled_solver()(
            WT[j], alpha, 0.0, gram, xyT[j], np.array([np.sqrt(yy[j])]),
            max_iter, tol, rng, False, False,
        )  # fmt: skip
        WT[j] = w
        n_iter[j] = iterations
        converged[j] = gap <= scaled_tol
    return WT.T, n_iter, converged


@functools.cache
def _sklearn_solver_works():
    """Whether scikit-learn's private solver exists and solves a known case.

    Lasso with ``gram = I``, ``xy = (2, 0.5)`` and ``alpha = 1``: the
    solution is the soft-thresholded ``xy``, ``(1, 0)``.
    """
    if _compiled_solver() is None:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            W, _, converged = _lasso_sklearn(
                np.eye(2), np.array([[2.0], [0.5]]), np.array([4.25]), 1.0,
                np.zeros((2, 1)), 1e-10, 100,
            )  # fmt: skip
    except Exception:  # any incompatibility means: do not use it
        return False
    return bool(converged[0]) and np.allclose(W[:, 0], [1.0, 0.0], atol=1e-8)


def lasso_gram(gram, xy, yy, alpha, W, *, tol, max_iter, n_jobs, solver="auto"):
    """Lasso for every Y unit from the moments, warm-started at W.

    Minimises, per column w of W,
    ``0.5 * (yy - 2 xy.w + w.gram.w) + alpha * |w|_1``.

    Parameters
    ----------
    gram, xy, yy : ndarray
        Moments of the standardised problem (see :class:`_Problem`).
    alpha : float
        L1 penalty, > 0.
    W : ndarray of shape (n_units_x, n_units_y)
        Starting weights (not modified).
    tol, max_iter : float, int
        Stop a unit when its duality gap is at most ``tol * yy``, or after
        ``max_iter`` sweeps.
    n_jobs : int or None
        Threads over chunks of Y units.
    solver : {"auto", "sklearn", "numpy"}
        "auto" uses scikit-learn's compiled solver when it is available and
        works, else the NumPy one.

    Returns
    -------
    W : ndarray of shape (n_units_x, n_units_y)
    n_iter : ndarray of int, shape (n_units_y,)
    converged : ndarray of bool, shape (n_units_y,)
    """
    if solver == "auto":
        solver = "sklearn" if _sklearn_solver_works() else "numpy"
    solve = _lasso_sklearn if solver == "sklearn" else _lasso_numpy
    q = xy.shape[1]
    n_chunks = min(effective_n_jobs(n_jobs), q)
    with warnings.catch_warnings():
        # Non-convergence is reported once, by the estimator.
        warnings.simplefilter("ignore", _convergence_warning())
        if n_chunks <= 1:
            return solve(gram, xy, yy, alpha, W, tol, max_iter)
        chunks = np.array_split(np.arange(q), n_chunks)
        results = Parallel(n_jobs=n_chunks, prefer="threads")(
            delayed(solve)(gram, xy[:, idx], yy[idx], alpha, W[:, idx], tol, max_iter)
            for idx in chunks
        )
    W_out = np.empty_like(xy)
    n_iter = np.empty(q, dtype=np.intp)
    converged = np.empty(q, dtype=bool)
    for idx, (W_chunk, n_iter_chunk, converged_chunk) in zip(chunks, results):
        W_out[:, idx] = W_chunk
        n_iter[idx] = n_iter_chunk
        converged[idx] = converged_chunk
    return W_out, n_iter, converged
