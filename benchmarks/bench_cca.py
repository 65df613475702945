"""Fit time of CCA, SVCCA and PWCCA against the three bare products.

Baseline, measured in the same run on the same data (float64): the three
BLAS products ``Xc^T Xc``, ``Yc^T Yc``, ``Xc^T Yc`` of the centred views,
which any exact method needs. For each size the script prints the best
wall-clock time of several repeats (the repeats of all four are interleaved,
so a change of load on a shared machine hits them alike) and the ratio of
each fit to the products, in wall-clock and in CPU time (the process's CPU
time over all BLAS threads, steadier than wall-clock on a loaded machine).
Each timed call starts after a pause (``--pause``, 0.2 s): after a call on
several threads OpenBLAS keeps its worker threads spinning for tens of
milliseconds, and without the pause each measurement would run beside the
previous one's spinning workers (on 2 cores this slowed the next call by up
to a half), so that the order of the measurements, not the code, would
decide the ratios.

SVCCA needs, by its definition, the leading eigenvectors of each view (the
directions holding 99% of the variance): the column "SVCCA floor" times
skrep's pass over the data (:func:`skrep._core.moments.raw_covariances`)
plus the two views' eigendecompositions as skrep runs them
(:func:`numpy.linalg.eigh`, concurrently where it pays), the least an exact
SVCCA does on this machine with LAPACK's fastest symmetric eigensolver.

- CCA: ``SVCCA(svd_components=None)``, plain CCA;
- SVCCA: ``SVCCA()`` (99% of the variance per view);
- PWCCA: ``PWCCA()``.

What is timed: ``fit`` followed by reading ``canonical_correlations_``
(CCA, SVCCA) or ``canonical_correlations_`` and ``weights_`` (PWCCA), i.e.
everything the in-sample similarity needs. On the moments route CCA and
SVCCA then compute the correlations from eigenvalues alone and leave the
canonical directions (``x_rotations_``, ``transform``, a held-out
``score``) to their first use; PWCCA's weights need one view's directions,
so it computes those in ``fit``. The second table times ``fit`` followed by the
first held-out ``score`` (on ``n // 4`` new rows), which computes the
directions.

With ``--split``, each fit is also divided into its pass over the data
(:func:`skrep._core.moments.raw_covariances`) and its unit x unit work
(:func:`skrep._core.cca.cca_from_covariances`).

Run ``python benchmarks/bench_cca.py`` (``--quick`` for a smoke run).
"""

import argparse
import time

import numpy as np

from skrep import PWCCA, SVCCA

SIZES = [(2000, 64), (10000, 512), (50000, 512), (10000, 2048)]
QUICK_SIZES = [(2000, 64), (4000, 128)]


def make_data(n, units, seed=0):
    """Two views sharing 32 latent signals, plus independent noise."""
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, 32)
    X = latent @ rng.randn(32, units) + rng.randn(n, units)
    Y = latent @ rng.randn(32, units) + rng.randn(n, units)
    return X, Y


def fit_and_read(make, X, Y):
    """Fit, then read what the in-sample similarity needs."""
    estimator = make().fit(X, Y)
    estimator.canonical_correlations_
    if isinstance(estimator, PWCCA):
        estimator.weights_
    return estimator


def products(Xc, Yc):
    """The floor: three BLAS products of the centred views."""
    return Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc


def svcca_floor(X, Y):
    """One pass over the data and both views' eigendecompositions (as skrep)."""
    from skrep._core.backend import decomposition_threads
    from skrep._core.cca import _both, _concurrent
    from skrep._core.moments import raw_covariances

    _, _, cxx, cyy, _ = raw_covariances(X, Y)
    units = max(cxx.shape[0], cyy.shape[0])
    concurrent = _concurrent(units)
    with decomposition_threads(units):
        return _both(
            lambda: np.linalg.eigh(cxx), lambda: np.linalg.eigh(cyy), concurrent
        )


def best_times(functions, repeat, pause=0.0):
    """Best wall-clock and CPU seconds of each function, repeats interleaved.

    Each call starts ``pause`` seconds after the previous one ended (see the
    module docstring).
    """
    wall = dict.fromkeys(functions, np.inf)
    cpu = dict.fromkeys(functions, np.inf)
    for _ in range(repeat):
        for name, fn in functions.items():
            time.sleep(pause)
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name] = min(wall[name], time.perf_counter() - start_wall)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
    return wall, cpu


def repeats_for(units, repeat):
    """More repeats where one fit takes milliseconds."""
    if units <= 128:
        return max(repeat, 1) * 20
    return repeat


def split(X, Y):
    """Seconds of the pass over the data and of the unit x unit work."""
    from skrep._core.cca import cca_from_covariances
    from skrep._core.moments import raw_covariances

    start = time.perf_counter()
    raw = raw_covariances(X, Y)
    middle = time.perf_counter()
    cca_from_covariances(*raw, X.shape[0])
    return middle - start, time.perf_counter() - middle


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--split", action="store_true", help="also time pass and unit x unit work"
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.2,
        help="seconds between timed calls (OpenBLAS's idle workers spin)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    fits = {
        "CCA": lambda: SVCCA(svd_components=None),
        "SVCCA": lambda: SVCCA(),
        "PWCCA": lambda: PWCCA(),
    }
    header = (
        f"{'n':>6} {'units':>5} | {'products s':>10} | "
        + " | ".join(f"{name + ' s':>8} {'x':>5} {'x cpu':>5}" for name in fits)
        + f" | {'SVCCA floor x':>13} | {'route':>7}"
    )
    print(header)
    print("-" * len(header))
    held_out_rows = []
    for n, units in sizes:
        X, Y = make_data(n, units)
        X_test, Y_test = make_data(n // 4, units, seed=1)
        Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
        functions = {
            "products": lambda: products(Xc, Yc),
            "SVCCA floor": lambda: svcca_floor(X, Y),
        }
        for name, make in fits.items():
            functions[name] = lambda make=make: fit_and_read(make, X, Y)
            functions[name + " held-out"] = lambda make=make: (
                make().fit(X, Y).score(X_test, Y_test)
            )
        wall, cpu = best_times(functions, repeats_for(units, args.repeat), args.pause)
        route = PWCCA().fit(X, Y).algorithm_
        cells = " | ".join(
            f"{wall[name]:8.4f} {wall[name] / wall['products']:5.2f} "
            f"{cpu[name] / cpu['products']:5.2f}"
            for name in fits
        )
        floor = wall["SVCCA floor"] / wall["products"]
        print(
            f"{n:>6} {units:>5} | {wall['products']:10.4f} | {cells} | "
            f"{floor:13.2f} | {route:>7}"
        )
        held_out_rows.append(
            f"{n:>6} {units:>5} | {wall['products']:10.4f} | "
            + " | ".join(
                f"{wall[name + ' held-out']:8.4f} "
                f"{wall[name + ' held-out'] / wall['products']:5.2f}"
                for name in fits
            )
        )
        if args.split:
            times = [split(X, Y) for _ in range(repeats_for(units, args.repeat))]
            data_pass, unit_work = np.min(times, axis=0)
            print(
                f"{'':>12} | plain CCA: pass over the data {data_pass:.4f} s, "
                f"unit x unit work {unit_work:.4f} s"
            )
    print(
        "\nx: best time of fit + reading canonical_correlations_ (PWCCA: and "
        "weights_) / best time of Xc^T Xc + Yc^T Yc + Xc^T Yc (wall clock); "
        "x cpu: the same with the process's CPU time. CCA is "
        "SVCCA(svd_components=None); SVCCA keeps 99% of the variance. SVCCA "
        "floor x: the pass over the data plus both views' eigendecompositions "
        "/ the products."
    )
    print("\nfit + first held-out score (n // 4 new rows; computes the directions):")
    print(
        f"{'n':>6} {'units':>5} | {'products s':>10} | "
        + " | ".join(f"{name + ' s':>8} {'x':>5}" for name in fits)
    )
    print("\n".join(held_out_rows))


if __name__ == "__main__":
    main()
