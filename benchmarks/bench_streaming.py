"""Streaming: many ``partial_fit`` calls against one ``fit`` on all the rows.

For each streaming estimator, the same rows (float64, ``--units`` units per
view) are fitted once with ``fit`` and once as ``--batches`` calls of
``partial_fit`` with ``--batch-rows`` rows each, followed by one use of a
fitted attribute (which runs the decompositions, once). Both are timed in
the same run, best of ``--repeat``; the ratio is streamed / fit, in wall
time and in CPU time (steadier on a shared machine). Streaming keeps the
moments (units squared), not the rows: its peak traced memory beyond one
batch is reported too.

The target: 200 batches of 1000 rows at 512 units within 1.3x of one fit.

Run ``python benchmarks/bench_streaming.py`` (``--quick`` for a smoke run).
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from skrep import PWCCA, SVCCA, SparseLayerPredictor, UnitMatcher


def make_data(n, units, seed=0):
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, 32)
    X = latent @ rng.randn(32, units) + rng.randn(n, units)
    Y = latent @ rng.randn(32, units) + rng.randn(n, units)
    return X, Y


ESTIMATORS = {
    "SVCCA": (lambda: SVCCA(), "canonical_correlations_"),
    "PWCCA": (lambda: PWCCA(), "weights_"),
    "UnitMatcher": (lambda: UnitMatcher(), "match_"),
    "SparseLayerPredictor": (lambda: SparseLayerPredictor(decay=0), "coef_"),
}


def run_fit(make, attribute, X, Y):
    est = make().fit(X, Y)
    getattr(est, attribute)
    return est


def run_stream(make, attribute, X, Y, batch_rows):
    est = make()
    for start in range(0, X.shape[0], batch_rows):
        est.partial_fit(X[start : start + batch_rows], Y[start : start + batch_rows])
    getattr(est, attribute)
    return est


def best_time(function, repeat):
    """Best wall-clock and CPU (process) time over `repeat` runs, in seconds.

    CPU time is the steadier measure on a shared machine; both are printed.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return min(walls), min(cpus)


def peak_memory(function):
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=None, help="BLAS threads (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = parser.parse_args()
    if args.threads is not None:
        threadpool_limits(args.threads)
    if args.quick:
        args.batches, args.batch_rows, args.units, args.repeat = 20, 100, 32, 1
    n = args.batches * args.batch_rows
    X, Y = make_data(n, args.units)
    batch_mib = 2 * args.batch_rows * args.units * 8 / 2**20
    print(
        f"{args.batches} batches x {args.batch_rows} rows = {n} rows, "
        f"{args.units} + {args.units} units, float64, best of {args.repeat}"
    )
    print(
        f"{'estimator':>22} {'fit (s)':>9} {'stream (s)':>11} {'ratio':>7} "
        f"{'cpu ratio':>9} {'stream peak MiB':>16} {'(one batch MiB)':>16}"
    )
    for name, (make, attribute) in ESTIMATORS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_s, fit_cpu = best_time(
                lambda: run_fit(make, attribute, X, Y), args.repeat
            )
            stream_s, stream_cpu = best_time(
                lambda: run_stream(make, attribute, X, Y, args.batch_rows),
                args.repeat,
            )
            peak = peak_memory(
                lambda: run_stream(make, attribute, X, Y, args.batch_rows)
            )
        print(
            f"{name:>22} {fit_s:>9.3f} {stream_s:>11.3f} {stream_s / fit_s:>6.2f}x "
            f"{stream_cpu / fit_cpu:>8.2f}x {peak / 2**20:>16.1f} {batch_mib:>16.1f}"
        )


if __name__ == "__main__":
    main()
