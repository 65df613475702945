"""Fit time and peak memory of SVCCA and PWCCA against two baselines.

Baselines, measured in the same run on the same data (float64):

- floor: the three BLAS products X^T X, Y^T Y, X^T Y, which any exact
  method needs (on uncentred data, so a little optimistic);
- reference: a straightforward implementation in the style of the public
  google/svcca code: ``np.cov`` of the stacked views, pseudo-inverse and
  eigendecomposition square root of each auto-covariance, SVD (with
  directions) of the whitened cross-covariance; for SVCCA, preceded by an
  SVD of each centred view to keep 99% of the variance.

Run ``python benchmarks/bench_cca.py`` (``--quick`` for a smoke run).
"""

import argparse
import time
import tracemalloc

import numpy as np

from skrep import PWCCA, SVCCA


def make_data(n, units, seed=0):
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, 32)
    X = latent @ rng.randn(32, units) + rng.randn(n, units)
    Y = latent @ rng.randn(32, units) + rng.randn(n, units)
    return X, Y


def floor(X, Y):
    return X.T @ X, Y.T @ Y, X.T @ Y


def _psd_sqrt(C):
    w, V = np.linalg.eigh(C)
    return (V * np.sqrt(np.clip(w, 0, None))) @ V.T


def reference_cca(X, Y):
    """CCA the way the public reference code does it (rows are samples here).

    Covariance of the stacked views, rescaled; pseudo-inverse of each
    auto-covariance, its matrix square root by eigendecomposition; SVD (with
    directions, which a transform needs) of the whitened cross-covariance.
    """
    p = X.shape[1]
    cov = np.cov(np.hstack([X, Y]), rowvar=False)
    sxx, syy, sxy = cov[:p, :p], cov[p:, p:], cov[:p, p:]
    xmax, ymax = np.abs(sxx).max(), np.abs(syy).max()
    sxx, syy, sxy = sxx / xmax, syy / ymax, sxy / np.sqrt(xmax * ymax)
    isqrt_x = _psd_sqrt(np.linalg.pinv(sxx))
    isqrt_y = _psd_sqrt(np.linalg.pinv(syy))
    u, s, vt = np.linalg.svd(isqrt_x @ sxy @ isqrt_y)
    return s


def reference_svcca(X, Y, share=0.99):
    reduced = []
    for V in (X, Y):
        Vc = V - V.mean(0)
        U, s, _ = np.linalg.svd(Vc, full_matrices=False)
        k = int(np.searchsorted(np.cumsum(s**2) / np.sum(s**2), share)) + 1
        reduced.append(U[:, :k] * s[:k])
    return reference_cca(*reduced)


def best_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_memory(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = (
        [(4000, 128), (2000, 512)]
        if args.quick
        else [(20000, 512), (50000, 512), (10000, 2048)]
    )
    header = (
        f"{'n':>6} {'units':>5} | {'floor s':>8} | {'SVCCA s':>8} {'x floor':>7} "
        f"{'x ref':>6} | {'PWCCA s':>8} {'x floor':>7} {'x ref':>6} | "
        f"{'ref CCA s':>9} {'ref SVCCA s':>11} | {'peak/input':>10} {'route':>7}"
    )
    print(header)
    print("-" * len(header))
    for n, units in sizes:
        X, Y = make_data(n, units)
        repeat = 1 if units >= 2048 else args.repeat
        t_floor = best_time(lambda: floor(X, Y), repeat)
        t_svcca = best_time(lambda: SVCCA().fit(X, Y), repeat)
        t_pwcca = best_time(lambda: PWCCA().fit(X, Y), repeat)
        t_ref_cca = best_time(lambda: reference_cca(X, Y), repeat)
        t_ref_svcca = best_time(lambda: reference_svcca(X, Y), repeat)
        peak = peak_memory(lambda: PWCCA().fit(X, Y))
        route = PWCCA().fit(X, Y).algorithm_
        print(
            f"{n:>6} {units:>5} | {t_floor:8.3f} | {t_svcca:8.3f} "
            f"{t_svcca / t_floor:7.2f} {t_svcca / t_ref_svcca:6.2f} | "
            f"{t_pwcca:8.3f} {t_pwcca / t_floor:7.2f} {t_pwcca / t_ref_cca:6.2f} | "
            f"{t_ref_cca:9.3f} {t_ref_svcca:11.3f} | "
            f"{peak / (X.nbytes + Y.nbytes):10.2f} {route:>7}"
        )
        if units >= 2048:
            # where O(units^3) decompositions dominate, show them apart
            from skrep._core.cca import cca_from_covariances, raw_covariances

            t_pass = best_time(lambda: raw_covariances(X, Y), 1)
            raw = raw_covariances(X, Y)
            t_decomp = best_time(
                lambda: cca_from_covariances(
                    *raw,
                    n,
                    x_components=None,
                    y_components=None,
                    n_components=None,
                    rank_tol=1e-6,
                ),  # fmt: skip
                1,
            )
            print(
                f"{'':>13}   PWCCA split: one pass over the data (cross-products) "
                f"{t_pass:.3f} s, unit x unit eigen/SVD work {t_decomp:.3f} s"
            )
    print(
        "\nx floor: fit time / time of X^T X + Y^T Y + X^T Y; "
        "x ref: fit time / reference-style implementation (SVCCA vs ref SVCCA, "
        "PWCCA vs ref CCA); peak/input: traced peak memory of PWCCA.fit / "
        "bytes of X and Y."
    )


if __name__ == "__main__":
    main()
