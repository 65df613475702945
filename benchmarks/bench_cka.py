"""Speed and memory of CKA next to its floor, measured in the same run.

1. Linear CKA (``CKA().fit``, the moments route) at (10000, 512) and
   (50000, 512) units per view, float64, next to the three products
   X^T X, Y^T Y, X^T Y that any exact feature-space method needs (on the
   uncentred arrays, so a little optimistic), next to the same numbers as
   one product of the stacked views (on a copy prepared beforehand; often
   the faster way for BLAS), and next to a reference in the style of
   Kornblith et al.'s public ``feature_space_linear_cka`` (centred copies,
   then the three products). Debiased linear CKA too.
2. Wide layers (1000 samples, 4096 units per view): the Gram route that
   ``algorithm="auto"`` takes, next to the Gram products X X^T, Y Y^T and to
   the three feature-space products the moments route would need.
3. RBF CKA at n = 5000 (512 units per view): time and peak traced memory
   (tracemalloc) against the size of one n x n float64 matrix, next to a
   reference in the style of the public code (full distance and kernel
   matrices, centred copies).

Timings are the best of ``--repeat`` runs, the candidates interleaved
within each repeat so that a busy machine slows them alike; ``cpu`` is the
process CPU time of that run (all threads), steadier on a shared machine.
Run ``python benchmarks/bench_cka.py`` (a few minutes on 2 cores) or
``--quick`` for a smoke run.
"""

import argparse
import time
import tracemalloc

import numpy as np

from skrep._cka import CKA


def make_views(n, units, seed=0):
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, 32)
    X = latent @ rng.randn(32, units) + rng.randn(n, units)
    Y = latent @ rng.randn(32, units) + rng.randn(n, units)
    return X, Y


def products(X, Y):
    return X.T @ X, Y.T @ Y, X.T @ Y


def gram_products(X, Y):
    return X @ X.T, Y @ Y.T


def reference_linear_cka(X, Y):
    """Kornblith et al.'s feature-space linear CKA (rows are samples)."""
    X = X - X.mean(axis=0)
    Y = Y - Y.mean(axis=0)
    similarity = np.linalg.norm(X.T @ Y) ** 2
    return similarity / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y))


def reference_rbf_cka(X, Y, threshold=1.0):
    """RBF CKA the way the public reference code computes it (n x n arrays)."""

    def gram_rbf(V):
        dot = V @ V.T
        norms = np.diag(dot)
        squared = -2 * dot + norms[:, None] + norms[None, :]
        median = np.median(squared)
        return np.exp(-squared / (2 * threshold**2 * median))

    def centre(gram):
        means = gram.mean(axis=0)
        means -= means.mean() / 2
        return gram - means[:, None] - means[None, :]

    K, L = centre(gram_rbf(X)), centre(gram_rbf(Y))
    return K.ravel() @ L.ravel() / (np.linalg.norm(K) * np.linalg.norm(L))


def best_times(candidates, repeat):
    """Best (wall, cpu) seconds of each candidate, interleaved per repeat."""
    best = dict.fromkeys(candidates, (np.inf, np.inf))
    for _ in range(repeat):
        for name, func in candidates.items():
            wall, cpu = time.perf_counter(), time.process_time()
            func()
            timing = (time.perf_counter() - wall, time.process_time() - cpu)
            if timing[0] < best[name][0]:
                best[name] = timing
    return best


def peak_memory(func):
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def linear_section(sizes, repeat):
    print("[linear CKA, moments route] seconds (wall/cpu); ratios of wall times")
    header = (
        f"{'n':>6} {'units':>5} | {'products':>13} {'stacked':>13} | {'CKA':>13} "
        f"{'x prod':>6} {'x stack':>7} {'x ref':>5} | {'debiased':>13} "
        f"{'x prod':>6} {'x stack':>7} | {'ref':>13}"
    )
    print(header)
    print("-" * len(header))
    for n, units in sizes:
        X, Y = make_views(n, units)
        Z = np.hstack([X, Y])
        times = best_times(
            {
                "products": lambda: products(X, Y),
                "stacked": lambda: Z.T @ Z,
                "cka": lambda: CKA().fit(X, Y),
                "debiased": lambda: CKA(debiased=True).fit(X, Y),
                "ref": lambda: reference_linear_cka(X, Y),
            },
            repeat,
        )
        assert CKA().fit(X, Y).algorithm_ == "moments"
        floor, stacked, ours, debiased, ref = (
            times[k] for k in ("products", "stacked", "cka", "debiased", "ref")
        )
        print(
            f"{n:>6} {units:>5} | {_pair(floor)} {_pair(stacked)} | {_pair(ours)} "
            f"{ours[0] / floor[0]:6.2f} {ours[0] / stacked[0]:7.2f} "
            f"{ours[0] / ref[0]:5.2f} | {_pair(debiased)} "
            f"{debiased[0] / floor[0]:6.2f} {debiased[0] / stacked[0]:7.2f} | "
            f"{_pair(ref)}"
        )
    print(
        "products: X^T X + Y^T Y + X^T Y; stacked: the one product [X Y]^T [X Y] "
        "(the same numbers, in one BLAS call on a prepared copy); x prod, x "
        "stack: fit time over those; x ref: fit time over the reference "
        "feature-space CKA (centred copies + the three products)."
    )


def wide_section(n, units, repeat):
    print(f"\n[wide layers: {n} samples, {units} units per view]")
    X, Y = make_views(n, units)
    times = best_times(
        {
            "cka": lambda: CKA().fit(X, Y),
            "gram products": lambda: gram_products(X, Y),
            "feature products": lambda: products(X, Y),
        },
        repeat,
    )
    route = CKA().fit(X, Y).algorithm_
    ours, gram, feature = (
        times[k] for k in ("cka", "gram products", "feature products")
    )
    print(
        f"CKA().fit ({route} route) {_pair(ours)}; X X^T + Y Y^T {_pair(gram)} "
        f"(x {ours[0] / gram[0]:.2f}); X^T X + Y^T Y + X^T Y {_pair(feature)} "
        f"(x {ours[0] / feature[0]:.2f})"
    )


def rbf_section(n, units, repeat, reference):
    print(f"\n[RBF CKA: n = {n}, {units} units per view]")
    X, Y = make_views(n, units)
    candidates = {"rbf": lambda: CKA(kernel="rbf").fit(X, Y)}
    candidates["rbf debiased"] = lambda: CKA(kernel="rbf", debiased=True).fit(X, Y)
    if reference:
        candidates["ref"] = lambda: reference_rbf_cka(X, Y)
    times = best_times(candidates, repeat)
    matrix = n * n * 8
    for name in candidates:
        peak = peak_memory(candidates[name])
        print(
            f"{name:>13}: {_pair(times[name])} s, peak traced memory "
            f"{peak / 2**20:7.1f} MiB = {peak / matrix:4.2f} x one n x n "
            "float64 matrix"
        )
    if reference:
        ratio = times["rbf"][0] / times["ref"][0]
        print(f"rbf / ref time: x {ratio:.2f}")
        ours, ref = CKA(kernel="rbf").fit(X, Y).cka_, reference_rbf_cka(X, Y)
        print(
            f"values: skrep {ours:.6f}, ref {ref:.6f} (the reference's median "
            "includes the n zero self-distances)"
        )


def _pair(timing):
    return f"{timing[0]:6.3f}/{timing[1]:6.3f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the n x n RBF reference"
    )
    args = parser.parse_args(argv)
    if args.quick:
        linear_section([(4000, 128), (2000, 256)], min(args.repeat, 2))
        wide_section(200, 512, 1)
        rbf_section(800, 64, 1, not args.no_reference)
    else:
        linear_section([(10000, 512), (50000, 512)], args.repeat)
        wide_section(1000, 4096, args.repeat)
        rbf_section(5000, 512, args.repeat, not args.no_reference)


if __name__ == "__main__":
    main()
