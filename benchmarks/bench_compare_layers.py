"""When does ``compare_layers(n_jobs=2)`` pay? Backends timed in the same run.

A grid of layer pairs is scored (SVCCA, in-sample and 5-fold
cross-validated) with ``n_jobs=1`` and with ``n_jobs=2`` on joblib's
``loky`` (worker processes) and ``threading`` backends, and with
``compare_layers``'s own default for ``n_jobs=2``, at two sizes:

- small: the gallery's sizes, 1203 samples, 5 x 5 layers of 8 to 32 units
  (each fit takes about a millisecond);
- large: 2000 samples, 3 x 3 layers of 256 to 512 units (each fit takes
  a good fraction of a second).

Each line prints the time of a configuration and its ratio to ``n_jobs=1``
measured in the same run (below 1x is faster). Timings are the best of
``--repeat`` runs; loky's first call, which starts the worker processes,
is timed separately ("cold"). Run ``python benchmarks/bench_compare_layers.py``
(a minute or two on 2 cores) or ``--quick`` for a smoke run.
"""

import argparse
import time
import warnings

import numpy as np
from joblib import parallel_config
from joblib.externals.loky import get_reusable_executor

from skrep import SVCCA, compare_layers


def make_layers(n_samples, widths, seed):
    rng = np.random.RandomState(seed)
    latent = rng.randn(n_samples, 16)
    return {
        f"layer{i}": np.maximum(
            latent @ rng.randn(16, w) + 0.5 * rng.randn(n_samples, w), 0
        )
        for i, w in enumerate(widths)
    }


def timed(function, repeat):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def run(name, acts_a, acts_b, repeat, cvs=(None, 5)):
    estimator = SVCCA(svd_components=10)
    for cv in cvs:

        def grid(n_jobs, backend=None):
            def call():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if backend is None:
                        return compare_layers(
                            acts_a, acts_b, estimator, cv=cv, n_jobs=n_jobs
                        )
                    with parallel_config(backend=backend):
                        return compare_layers(
                            acts_a, acts_b, estimator, cv=cv, n_jobs=n_jobs
                        )

            return call

        evaluation = "in-sample" if cv is None else f"cv={cv}"
        baseline = timed(grid(1), repeat)
        print(f"{name}, {evaluation}: n_jobs=1 {baseline * 1e3:9.1f} ms")
        get_reusable_executor().shutdown(wait=True)
        cold = timed(grid(2, "loky"), 1)
        rows = [("loky (cold start)", cold)]
        rows.append(("loky (warm)", timed(grid(2, "loky"), repeat)))
        rows.append(("threading", timed(grid(2, "threading"), repeat)))
        rows.append(("compare_layers default", timed(grid(2), repeat)))
        for label, seconds in rows:
            print(
                f"    n_jobs=2 {label:<24} {seconds * 1e3:9.1f} ms  "
                f"{seconds / baseline:6.2f}x the time of n_jobs=1"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    small = (1203, [8, 16, 16, 32, 10])
    large = (2000, [256, 384, 512])
    cvs = (None, 5)
    if args.quick:
        small, large, cvs = (300, [8, 16]), (600, [64, 96]), (None,)
    for name, (n, widths) in (("small", small), ("large", large)):
        run(
            f"{name} ({n} samples, widths {widths})",
            make_layers(n, widths, 0),
            make_layers(n, widths, 1),
            args.repeat,
            cvs,
        )


if __name__ == "__main__":
    main()
