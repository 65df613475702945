"""Fit time of the generalised shape metric (Procrustes) against baselines.

Measured in the same run on the same data (float64), best of ``--repeat``:

- floor: the three BLAS products X^T X, Y^T Y, X^T Y, which any exact
  method needs (on uncentred data, so a little optimistic);
- netrep-style: the steps of netrep's ``LinearMetric.fit`` followed by
  ``score`` on the same rows (centre each view, eigendecomposition of its
  cross-product, whitened copy ``X Z`` of the data, SVD of the whitened
  cross-product; then the aligned copies of both views and their angle);
- Gram: the n x n route of the kernel formulations (centred Gram matrices
  K = Xc Xc^T; the Procrustes nuclear norm is the trace of
  (Kx^1/2 Ky Kx^1/2)^1/2), at ``--gram-n`` rows, where its three n x n
  matrices fit in memory.

Run ``python benchmarks/bench_procrustes.py`` (``--quick`` for a smoke run).
"""

import argparse
import os
import time
import tracemalloc
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from skrep._procrustes import Procrustes

ALPHAS = (1.0, 0.5, 0.0)


def make_data(n, units, seed=0):
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, 32)
    X = latent @ rng.randn(32, units) + rng.randn(n, units)
    Y = latent @ rng.randn(32, units) + rng.randn(n, units)
    return X, Y


def floor(X, Y):
    return X.T @ X, Y.T @ Y, X.T @ Y


def netrep_style(X, Y, alpha):
    """fit + score the way netrep's LinearMetric does them (equal widths)."""
    whitened, maps, means = [], [], []
    for V in (X, Y):
        mean = V.mean(axis=0)
        Vc = V - mean
        if alpha == 1.0:  # netrep returns early: no whitening
            Z = np.eye(V.shape[1])
            whitened.append(Vc)
        else:
            lam, E = np.linalg.eigh(Vc.T @ Vc)
            lam = np.maximum(lam, 1e-7)
            d = alpha + (1 - alpha) / np.sqrt(lam)
            Z = (E * d) @ E.T
            whitened.append(Vc @ Z)
        maps.append(Z)
        means.append(mean)
    U, _, Vt = np.linalg.svd(whitened[0].T @ whitened[1])
    Wx, Wy = maps[0] @ U, maps[1] @ Vt.T
    # score: the aligned copies of both views and the angle between them
    A, B = (X - means[0]) @ Wx, (Y - means[1]) @ Wy
    cosine = np.vdot(A, B) / (np.linalg.norm(A) * np.linalg.norm(B))
    return np.arccos(np.clip(cosine, -1.0, 1.0))


def _psd_sqrt(K):
    w, V = np.linalg.eigh(K)
    return (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T


def gram_procrustes(X, Y):
    """Procrustes similarity from n x n centred Gram matrices."""
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    Kx, Ky = Xc @ Xc.T, Yc @ Yc.T
    root = _psd_sqrt(Kx)
    eigenvalues = np.linalg.eigvalsh(root @ Ky @ root)
    nuclear = np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None)))
    return nuclear / np.sqrt(np.trace(Kx) * np.trace(Ky))


def best_time(fn, repeat):
    """Best wall-clock time over `repeat` runs, in seconds."""
    return timed(fn, repeat)[0]


def timed(fn, repeat):
    """Best wall-clock and CPU (process) time over `repeat` runs, in seconds.

    CPU time is the steadier measure on a shared machine, where other
    processes take turns on the cores; both are printed.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return min(walls), min(cpus)


def peak_memory(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def fit(X, Y, alpha):
    return Procrustes(alpha=alpha).fit(X, Y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--gram-n", type=int, default=None, help="rows of the n x n Gram baseline"
    )
    parser.add_argument(
        "--blas-threads", type=int, default=None, help="limit BLAS to this many"
    )
    args = parser.parse_args(argv)
    if args.blas_threads:
        with threadpool_limits(limits=args.blas_threads, user_api="blas"):
            return run(args)
    return run(args)


def run(args):
    sizes = [(4000, 128), (2000, 256)] if args.quick else [(10000, 512), (50000, 512)]
    gram_n = args.gram_n or (500 if args.quick else 2000)
    gram_units = 128 if args.quick else 512
    warnings.simplefilter("ignore", UserWarning)

    header = (
        f"{'n':>6} {'units':>5} {'alpha':>5} | {'floor s':>8} | {'fit s':>7} "
        f"{'x floor':>7} {'cpu x':>6} | {'netrep s':>8} {'x netrep':>8} | "
        f"{'peak/input':>10} {'route':>7}"
    )
    print(
        f"load average at start: {os.getloadavg()[0]:.2f}; BLAS threads: "
        f"{args.blas_threads or 'default'}"
    )
    print(header)
    print("-" * len(header))
    for n, units in sizes:
        X, Y = make_data(n, units)
        floor(X, Y)  # warm up BLAS threads
        # interleaved: each repeat times the floor next to every fit, so that
        # the load of a shared machine drifts less between them
        t_floor = np.full(2, np.inf)
        t_fit = {alpha: np.full(2, np.inf) for alpha in ALPHAS}
        t_netrep = {alpha: np.full(2, np.inf) for alpha in ALPHAS}
        for _ in range(args.repeat):
            t_floor = np.minimum(t_floor, timed(lambda: floor(X, Y), 1))
            for alpha in ALPHAS:
                t_fit[alpha] = np.minimum(
                    t_fit[alpha], timed(lambda a=alpha: fit(X, Y, a), 1)
                )
                t_netrep[alpha] = np.minimum(
                    t_netrep[alpha], timed(lambda a=alpha: netrep_style(X, Y, a), 1)
                )
        for alpha in ALPHAS:
            peak = peak_memory(lambda a=alpha: fit(X, Y, a))
            route = fit(X, Y, alpha).algorithm_
            (wall, cpu), (wall_netrep, _) = t_fit[alpha], t_netrep[alpha]
            print(
                f"{n:>6} {units:>5} {alpha:>5.2f} | {t_floor[0]:8.3f} | "
                f"{wall:7.3f} {wall / t_floor[0]:7.2f} {cpu / t_floor[1]:6.2f} | "
                f"{wall_netrep:8.3f} {wall / wall_netrep:8.2f} | "
                f"{peak / (X.nbytes + Y.nbytes):10.2f} {route:>7}"
            )

    X, Y = make_data(gram_n, gram_units, seed=1)
    t_gram = best_time(lambda: gram_procrustes(X, Y), 1)
    t_fit = best_time(lambda: fit(X, Y, 1.0), args.repeat)
    agree = abs(gram_procrustes(X, Y) - fit(X, Y, 1.0).similarity_)
    print(
        f"\nGram route at n={gram_n}, units={gram_units} (alpha=1): "
        f"{t_gram:.3f} s and {3 * gram_n**2 * 8 / 2**20:.0f} MiB of n x n "
        f"matrices; Procrustes.fit {t_fit:.3f} s ({t_fit / t_gram:.3f} x Gram); "
        f"similarities differ by {agree:.1e}."
    )
    print(
        "\nx floor: fit wall time / wall time of X^T X + Y^T Y + X^T Y (cpu x: "
        "the same in CPU time); x netrep: fit time / netrep-style fit + score; "
        "peak/input: traced peak memory of fit / bytes of X and Y; route: the "
        "algorithm that ran."
    )


if __name__ == "__main__":
    main()
