"""Dask: a fit on a dask array chunked along rows against the NumPy fit.

The same rows (float64, ``--units`` units per view, ``--blocks`` row blocks)
are fitted once from the NumPy arrays and once from dask arrays of them,
whose moments are reduced block by block with a binary tree of merges. Both
run in the same process, best of ``--repeat``; the ratio is dask / NumPy, so
it measures what the reduction costs (tasks, scheduling, one accumulator per
block) on one machine. ``--scheduler`` picks dask's threaded scheduler
("threads", the default) or a local distributed cluster on the loopback
interface ("distributed", two workers of one thread, which also pays for
starting tasks in other processes).

Run ``python benchmarks/bench_dask.py`` (``--quick`` for a smoke run).
"""

import argparse
import logging
import time
import warnings

import dask
import dask.array as da
import numpy as np

from skrep import CKA, SVCCA, SparseLayerPredictor, UnitMatcher


def make_data(n, units, seed=0):
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, 32)
    X = latent @ rng.randn(32, units) + rng.randn(n, units)
    Y = latent @ rng.randn(32, units) + rng.randn(n, units)
    return X, Y


ESTIMATORS = {
    "SVCCA": (lambda: SVCCA(), "canonical_correlations_"),
    "CKA": (lambda: CKA(), "cka_"),
    "UnitMatcher": (lambda: UnitMatcher(), "match_"),
    "SparseLayerPredictor": (lambda: SparseLayerPredictor(decay=0), "coef_"),
}


def best_time(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def run(make, attribute, X, Y):
    est = make().fit(X, Y)
    return getattr(est, attribute)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--scheduler", choices=["threads", "distributed"], default="threads"
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.units, args.blocks, args.repeat = 4000, 16, 4, 1
    X, Y = make_data(args.rows, args.units)
    rows = -(-args.rows // args.blocks)
    Xd = da.from_array(X, chunks=(rows, args.units))
    Yd = da.from_array(Y, chunks=(rows, args.units))
    client = cluster = None
    if args.scheduler == "distributed":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        Xd, Yd = client.persist([Xd, Yd])  # the rows live on the workers
    print(
        f"{args.rows} rows in {Xd.numblocks[0]} blocks, {args.units} + "
        f"{args.units} units, float64, scheduler={args.scheduler}, "
        f"best of {args.repeat}"
    )
    print(
        f"{'estimator':>22} {'numpy (s)':>10} {'dask (s)':>9} {'ratio':>7} {'equal':>6}"
    )
    try:
        for name, (make, attribute) in ESTIMATORS.items():
            with (
                warnings.catch_warnings(),
                dask.config.set(scheduler=client or "threads"),
            ):
                warnings.simplefilter("ignore")
                numpy_s = best_time(lambda: run(make, attribute, X, Y), args.repeat)
                dask_s = best_time(lambda: run(make, attribute, Xd, Yd), args.repeat)
                equal = np.allclose(
                    run(make, attribute, X, Y),
                    run(make, attribute, Xd, Yd),
                    rtol=1e-10,
                    atol=1e-10,
                )
            print(
                f"{name:>22} {numpy_s:>10.3f} {dask_s:>9.3f} "
                f"{dask_s / numpy_s:>6.2f}x {str(equal):>6}"
            )
    finally:
        if client is not None:
            client.close()
            cluster.close()


if __name__ == "__main__":
    main()
