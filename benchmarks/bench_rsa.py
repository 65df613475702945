"""Speed and memory of RSA against scipy's pdist + spearmanr / pearsonr / kendalltau.

Two layers of 256 ReLU units driven by a shared latent code, float64, at
2000, 5000 and 10000 samples (RDMs of 2.0, 12.5 and 50.0 million pairs;
one condensed float64 RDM is 16, 100 and 400 MB). For each size:

1. The RDM of one layer: ``skrep.rdm(X, "correlation")`` (blocks of a Gram
   matrix) next to ``scipy.spatial.distance.pdist(X, "correlation")``.
2. The whole comparison, ``skrep.rsa(X, Y, compare=...)`` with Spearman,
   Pearson and (up to ``--kendall-max`` samples) Kendall, next to the
   baseline measured in the same run: ``pdist`` on both layers, then
   ``scipy.stats.spearmanr`` / ``pearsonr`` / ``kendalltau`` on the
   condensed vectors (up to ``--baseline-max`` samples; beyond, the
   baseline's minutes and gigabytes are not spent and skrep is shown
   alone).

Each row gives the wall-clock and process CPU time of the fastest of
``--repeat`` runs and their ratio to the baseline (below 1: faster), the
peak memory traced by tracemalloc in a separate run (numpy's allocations
are traced) in MB and as a multiple of one condensed float64 RDM, and the
difference from scipy's value where the baseline ran. On a shared machine
the CPU time is the steadier measure.

Run ``python benchmarks/bench_rsa.py`` (a few minutes on 2 idle cores) or
``--quick`` for a smoke run of a few seconds.
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import kendalltau, pearsonr, spearmanr

from skrep._rsa import rdm, rsa

SCIPY = {"spearman": spearmanr, "pearson": pearsonr, "kendall": kendalltau}


def two_layers(n_samples, n_units, seed=0, n_latent=32):
    """ReLU activations of two layers driven by a shared latent code."""
    rng = np.random.RandomState(seed)
    Z = rng.randn(n_samples, n_latent)
    X = np.maximum(Z @ rng.randn(n_latent, n_units) + rng.randn(n_samples, n_units), 0)
    Y = np.maximum(Z @ rng.randn(n_latent, n_units) + rng.randn(n_samples, n_units), 0)
    return X, Y


class Timing:
    """Wall-clock and process CPU seconds (all threads) of the fastest run."""

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


def peak_bytes(func):
    """Peak memory traced while `func` runs (beyond what was allocated before)."""
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


HEADER = (
    f"  {'step':<40s} {'wall':>9s} {'ratio':>7s} {'cpu':>9s} {'ratio':>7s}"
    f" {'peak MB':>9s} {'/RDM':>6s}  {'|skrep - scipy|':s}"
)


def row(name, timing, baseline, peak, condensed, gap=None):
    if baseline is None:
        ratios = f" {'-':>7s} {timing.cpu:8.2f}s {'-':>7s}"
    else:
        ratios = (
            f" {timing.wall / baseline.wall:6.2f}x {timing.cpu:8.2f}s "
            f"{timing.cpu / baseline.cpu:6.2f}x"
        )
    extra = "" if gap is None else f"  {gap:.1e}"
    print(
        f"  {name:<40s} {timing.wall:8.2f}s{ratios} {peak / 2**20:9.1f} "
        f"{peak / condensed:6.2f}{extra}",
        flush=True,
    )


def bench_size(n_samples, n_units, args):
    X, Y = two_layers(n_samples, n_units)
    m = n_samples * (n_samples - 1) // 2
    condensed = 8 * m
    baseline_runs = n_samples <= args.baseline_max
    print(
        f"\n[{n_samples} samples x {n_units} units, float64] {m / 1e6:.1f} million "
        f"pairs; one condensed RDM = {condensed / 2**20:.0f} MB"
        + ("" if baseline_runs else "; scipy baseline not run at this size")
    )
    print(HEADER)

    # 1. the RDM of one layer
    base = None
    reference = None
    if baseline_runs:
        base, reference = best_time(lambda: pdist(X, "correlation"), args.repeat)
        peak = peak_bytes(lambda: pdist(X, "correlation"))
        row("scipy pdist(X, 'correlation')", base, base, peak, condensed)
    timing, ours = best_time(lambda: rdm(X, "correlation"), args.repeat)
    peak = peak_bytes(lambda: rdm(X, "correlation"))
    gap = None if reference is None else float(np.max(np.abs(ours - reference)))
    row("skrep rdm(X, 'correlation')", timing, base, peak, condensed, gap)
    del ours, reference

    # 2. the comparison
    for compare in ("spearman", "pearson", "kendall"):
        if compare == "kendall" and n_samples > args.kendall_max:
            print(
                f"  kendall: not run above {args.kendall_max} samples (--kendall-max)"
            )
            continue
        base, expected = None, None

        def baseline(compare=compare):
            return SCIPY[compare](pdist(X, "correlation"), pdist(Y, "correlation"))[0]

        if baseline_runs:
            base, expected = best_time(baseline, args.repeat)
            peak = peak_bytes(baseline)
            row(
                f"scipy pdist x2 + {SCIPY[compare].__name__}",
                base,
                base,
                peak,
                condensed,
            )

        def ours(compare=compare):
            return rsa(X, Y, compare=compare)

        timing, value = best_time(ours, args.repeat)
        peak = peak_bytes(ours)
        gap = None if expected is None else abs(value - expected)
        row(f"skrep rsa(compare='{compare}')", timing, base, peak, condensed, gap)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000])
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--baseline-max", type=int, default=5000)
    parser.add_argument("--kendall-max", type=int, default=5000)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.units, args.repeat = [300, 600], 32, 1
    warnings.simplefilter("ignore", UserWarning)
    print(
        "RSA: skrep (Gram blocks, BLAS) against scipy pdist + correlation of the "
        "condensed RDMs; ratio = skrep / baseline (below 1: faster)"
    )
    for n_samples in args.sizes:
        bench_size(n_samples, args.units, args)


if __name__ == "__main__":
    main()
