"""Speed of the permutation test's fast path against refitting clones.

A 999-permutation test of SVCCA at 10000 samples x 256 units per view
(ReLU activations of two 'nets' sharing a latent code), in-sample (the
fast path must be at least 5x faster) and held out (8000 training rows,
2000 test rows; no target: the fast path needs each permutation's singular
vectors, not only its singular values, and a refit only scores 2000 rows):

- the fast path (``algorithm="fast"``): each view's reduced orthonormal
  basis once, then one ``k_x x n`` by ``n x k_y`` product and a small SVD
  per permutation (on as many Python threads as BLAS has, each BLAS call
  on one thread);
- the baseline (``algorithm="refit"``): a fresh ``SVCCA().fit`` and
  ``score`` per permutation. Refitting 999 times takes many minutes, so a
  subset of the same permutations (``--n-refits``, default 20, in
  ``--rounds`` runs, each plus the observed statistic) is timed and
  **scaled linearly** to 999 permutations; the output says so.

Both run in this process, in this run, on the same data, interleaved
round by round, and each route keeps its best round (other processes on a
shared machine only ever slow a run down). The ratio is printed for the wall
clock and for the process CPU time (all threads). The first permutations of
both routes are compared too: the fast path must equal the refits to
round-off.

Run ``python benchmarks/bench_inference.py`` (about 3 minutes on 2 idle
cores) or ``--quick`` for a smoke run of a few seconds.
"""

import argparse
import time

import numpy as np

from skrep import SVCCA
from skrep.inference import permutation_test

TARGET_RATIO = 5.0


def two_nets(n_samples, n_units, seed=0, n_latent=64):
    """ReLU activations of two 'nets' driven by a shared latent code."""
    rng = np.random.RandomState(seed)
    Z = rng.randn(n_samples, n_latent)
    X = np.maximum(
        Z @ rng.randn(n_latent, n_units) + 2 * rng.randn(n_samples, n_units), 0
    )
    Y = np.maximum(
        Z @ rng.randn(n_latent, n_units) + 2 * rng.randn(n_samples, n_units), 0
    )
    return X, Y


def timed(func):
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def bench(name, X, Y, test, n_permutations, n_refits, rounds, target=None):
    """Best of ``rounds`` interleaved runs of both routes (the machine is shared)."""
    print(f"\n[{name}] SVCCA(), {n_permutations} permutations of y's rows")
    per_round = max(1, n_refits // rounds)
    fast_runs, refit_runs = [], []
    for _ in range(rounds):
        fast_runs.append(
            timed(
                lambda: permutation_test(
                    SVCCA(),
                    X,
                    Y,
                    test=test,
                    n_permutations=n_permutations,
                    random_state=0,
                    algorithm="fast",
                )  # fmt: skip
            )
        )
        refit_runs.append(
            timed(
                lambda: permutation_test(
                    SVCCA(),
                    X,
                    Y,
                    test=test,
                    n_permutations=per_round,
                    random_state=0,
                    algorithm="refit",
                )  # fmt: skip
            )
        )
    fast_wall = min(run[0] for run in fast_runs)
    fast_cpu = min(run[1] for run in fast_runs)
    fast = fast_runs[0][2]
    # The refit route fits once for the observed statistic, then once per
    # permutation: per_round + 1 fits per run, scaled to n_permutations + 1.
    scale = (n_permutations + 1) / (per_round + 1)
    refit_wall = min(run[0] for run in refit_runs) * scale
    refit_cpu = min(run[1] for run in refit_runs) * scale
    refit = refit_runs[0][2]
    difference = np.max(
        np.abs(fast.null_distribution[:per_round] - refit.null_distribution)
    )
    print(f"  {'route (best of ' + str(rounds) + ' interleaved runs)':<44s}"
          f" {'wall':>9s} {'cpu':>9s}")  # fmt: skip
    label = f"refit, {per_round + 1} fits SCALED x{scale:.1f} to {n_permutations + 1}"
    print(f"  {label:<44s} {refit_wall:8.2f}s {refit_cpu:8.2f}s")
    print(f"  {'fast path (all permutations, setup included)':<44s}"
          f" {fast_wall:8.2f}s {fast_cpu:8.2f}s")  # fmt: skip
    wall_ratio, cpu_ratio = refit_wall / fast_wall, refit_cpu / fast_cpu
    if target is None:
        verdict = "no target"
    else:
        verdict = "meets" if wall_ratio >= target else "BELOW"
        verdict += f" the {target:.0f}x target, wall"
    print(
        f"  speed-up of the fast path: {wall_ratio:.1f}x wall, {cpu_ratio:.1f}x cpu "
        f"({verdict})"
    )
    print(
        f"  statistic {fast.statistic:.4f}, p-value {fast.pvalue:.4g}; first "
        f"{per_round} null scores, fast vs refit: max |difference| {difference:.1e}"
    )
    return wall_ratio


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--n-samples", type=int, default=10000)
    parser.add_argument("--n-units", type=int, default=256)
    parser.add_argument("--n-permutations", type=int, default=999)
    parser.add_argument("--n-refits", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.n_samples, args.n_units = 1000, 32
        args.n_permutations, args.n_refits, args.rounds = 99, 4, 2
    n, units = args.n_samples, args.n_units
    X, Y = two_nets(n, units)
    print(
        f"Permutation test of SVCCA at {n} x {units} units per view, float64; "
        f"refit times scaled linearly from {args.n_refits} permutations in "
        f"{args.rounds} rounds"
    )
    bench(
        "in-sample",
        X,
        Y,
        None,
        args.n_permutations,
        args.n_refits,
        args.rounds,
        target=TARGET_RATIO,
    )
    split = int(0.8 * n)
    bench(
        f"held-out, {split} training / {n - split} test rows",
        X[:split],
        Y[:split],
        (X[split:], Y[split:]),
        args.n_permutations,
        args.n_refits,
        args.rounds,
    )


if __name__ == "__main__":
    main()
