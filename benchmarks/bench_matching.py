"""Speed and memory of UnitMatcher.

1. Correlation metric: the whole ``fit`` (correlations, semi-matching,
   Hungarian matching, summaries) at 4096 x 4096 units and 10000 samples,
   float64, next to the bare product ``X.T @ Y`` measured in the same run.
2. Mutual-information metric at a smaller size (default 1024 x 1024 units,
   5000 samples): time and peak traced memory (tracemalloc) of the fit,
   next to the correlation fit and ``X.T @ Y`` at that size, the size of the
   (n_x, n_y, n_bins, n_bins) tensor it never forms, and a per-pair loop
   over ``sklearn.metrics.mutual_info_score`` (timed on a sample of pairs
   and extrapolated).

Run ``python benchmarks/bench_matching.py`` (about 2 minutes on 2 idle cores) or
``--quick`` for a smoke run of a few seconds.
"""

import argparse
import os
import time
import tracemalloc

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import mutual_info_score

from skrep import UnitMatcher
from skrep._core.correlation import correlation_matrix
from skrep._core.mutual_info import MI_BLOCK_BYTES, bin_units


def two_nets(n_samples, n_x, n_y, seed=0, n_latent=64, dtype=np.float64):
    """ReLU activations of two 'nets' driven by a shared latent code."""
    rng = np.random.RandomState(seed)
    Z = rng.randn(n_samples, n_latent).astype(dtype)
    X = Z @ rng.randn(n_latent, n_x).astype(dtype)
    X += 4.0 * rng.randn(n_samples, n_x).astype(dtype)
    np.maximum(X, 0.0, out=X)
    Y = Z @ rng.randn(n_latent, n_y).astype(dtype)
    Y += 4.0 * rng.randn(n_samples, n_y).astype(dtype)
    np.maximum(Y, 0.0, out=Y)
    return X, Y


class Timing:
    """Wall-clock and process CPU seconds (all threads) of the fastest run.

    On a shared machine the wall clock depends on the other processes; the
    CPU time of the process is the steadier measure of the work done.
    """

    def __init__(self, wall, cpu):
        self.wall, self.cpu = wall, cpu


def best_time(func, repeats):
    best, result = None, None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = func()
        timing = Timing(time.perf_counter() - wall, time.process_time() - cpu)
        if best is None or timing.wall < best.wall:
            best = timing
    return best, result


HEADER = f"  {'step':<48s} {'wall':>9s} {'ratio':>8s} {'cpu':>10s} {'ratio':>8s}"


def row(name, timing, baseline, extra=""):
    print(
        f"  {name:<48s} {timing.wall:8.3f}s {timing.wall / baseline.wall:7.2f}x "
        f"{timing.cpu:9.3f}s {timing.cpu / baseline.cpu:7.2f}x  {extra}"
    )


def bench_correlation(n_samples, n_units, repeats):
    print(
        f"\n[correlation] fit at {n_units} x {n_units} units, {n_samples} samples, "
        f"float64 (best of {repeats} for the product and the default fit)"
    )
    X, Y = two_nets(n_samples, n_units, n_units)
    bare, _ = best_time(lambda: X.T @ Y, repeats)
    print(HEADER)
    row("bare X.T @ Y (baseline)", bare, bare)
    corr_time, (corr, _, _) = best_time(lambda: correlation_matrix(X, Y), 1)
    row("correlation_matrix (centre, scale, product)", corr_time, bare)
    lsa_time, _ = best_time(lambda: linear_sum_assignment(corr, maximize=True), 1)
    row("linear_sum_assignment alone", lsa_time, bare)
    for method, n_runs in (("matching", repeats), ("semi-matching", 1)):
        fit_time, matcher = best_time(
            lambda method=method: UnitMatcher(method).fit(X, Y), n_runs
        )
        row(
            f"UnitMatcher({method!r}).fit",
            fit_time,
            bare,
            f"matching_mean_={matcher.matching_mean_:.3f}",
        )


def pairwise_reference_seconds(X, Y, n_bins, n_pairs=400):
    """Per-pair sklearn mutual_info_score on binned units, extrapolated."""
    x_bins = bin_units(X, n_bins)
    y_bins = bin_units(Y, n_bins)
    rng = np.random.RandomState(0)
    pairs = rng.randint(0, min(X.shape[1], Y.shape[1]), size=(n_pairs, 2))
    start = time.perf_counter()
    for i, j in pairs:
        mutual_info_score(x_bins[:, i], y_bins[:, j])
    per_pair = (time.perf_counter() - start) / n_pairs
    return per_pair * X.shape[1] * Y.shape[1]


def onehot_product_floor(n_samples, n_units, n_bins):
    """The float32 product of one-hot codes that counts every joint cell."""
    x_codes = np.zeros((n_samples, n_units * (n_bins - 1)), dtype=np.float32)
    y_codes = np.zeros_like(x_codes)  # not x_codes: A.T @ A would use syrk
    return x_codes.T @ y_codes


def bench_mutual_info(n_samples, n_units, n_bins, repeats):
    print(
        f"\n[mutual_info] fit at {n_units} x {n_units} units, {n_samples} samples, "
        f"n_bins={n_bins} (one run each, bare product best of {repeats})"
    )
    X, Y = two_nets(n_samples, n_units, n_units, seed=1)
    bare, _ = best_time(lambda: X.T @ Y, repeats)
    print(HEADER)
    row("bare X.T @ Y float64 (baseline)", bare, bare)
    corr_fit, _ = best_time(lambda: UnitMatcher().fit(X, Y), 1)
    row("UnitMatcher(metric='correlation').fit", corr_fit, bare)
    onehot_product, _ = best_time(
        lambda: onehot_product_floor(n_samples, n_units, n_bins), 1
    )
    row(
        "bare one-hot product (float32, n_bins-1 levels)",
        onehot_product,
        bare,
        "the floor of the MI path",
    )
    mi_fit, matcher = best_time(
        lambda: UnitMatcher(metric="mutual_info", n_bins=n_bins).fit(X, Y), 1
    )
    row(
        "UnitMatcher(metric='mutual_info').fit",
        mi_fit,
        bare,
        f"matching_mean_={matcher.matching_mean_:.4f} nats",
    )
    reference = pairwise_reference_seconds(X, Y, n_bins)
    print(
        f"  per-pair mutual_info_score loop (extrapolated): {reference:.1f} s wall, "
        f"{reference / mi_fit.wall:.0f}x the fit's wall time"
    )

    tracemalloc.start()
    UnitMatcher(metric="mutual_info", n_bins=n_bins).fit(X, Y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tensor = n_units * n_units * n_bins * n_bins * 8
    data = X.nbytes + Y.nbytes
    result = n_units * n_units * 8
    print(
        f"  peak traced memory of the fit: {peak / 2**20:8.1f} MiB "
        f"(input data {data / 2**20:.1f} MiB, each (n_x, n_y) result "
        f"{result / 2**20:.1f} MiB, block budget "
        f"{MI_BLOCK_BYTES / 2**20:.0f} MiB)"
    )
    print(
        "  the (n_x, n_y, n_bins, n_bins) float64 tensor it avoids: "
        f"{tensor / 2**20:8.1f} MiB ({tensor / peak:.0f}x the peak)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--units", type=int, default=4096)
    parser.add_argument("--mi-samples", type=int, default=5000)
    parser.add_argument("--mi-units", type=int, default=1024)
    parser.add_argument("--n-bins", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.samples, args.units = 2000, 512
        args.mi_samples, args.mi_units = 1000, 128
        args.repeats = 1
    print(
        f"load average before: {os.getloadavg()[0]:.2f} (2 cores; >2 means contention)"
    )
    bench_correlation(args.samples, args.units, args.repeats)
    bench_mutual_info(args.mi_samples, args.mi_units, args.n_bins, args.repeats)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
