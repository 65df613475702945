"""Speed and agreement of SparseLayerPredictor(CV) against plain scikit-learn.

Data: two ReLU "layers" of n = 20000 samples that share a latent code, each
unit of the second driven by one to three units of the first (a few-to-one
code, as in Li et al. 2016), float64.

Baselines, measured in the same run on the same data:

- fit: ``make_pipeline(StandardScaler(), TransformedTargetRegressor(
  MultiOutputRegressor(Lasso(alpha=decay * n_units_y)),
  transformer=StandardScaler()))``, the same objective unit by unit;
- sweep: ``GridSearchCV`` of that pipeline over the six decays of the paper
  (``LinearRegression`` for decay 0, since Lasso(alpha=0) is discouraged)
  with the same 3 folds and the held-out prediction loss as score.

The baseline costs the same for every Y unit (one independent Lasso each),
so on the large problems it is timed on a subset of Y units, spread evenly
over the layer, and **extrapolated linearly** to all units; the output says
so on each such row. The LinearRegression candidate (all units at once) is
timed on all units, not extrapolated. Losses are compared unit for unit on
the subset: skrep is refitted on those units with the decays scaled so that
every Lasso has the same ``alpha`` as in the full problem.

Both sides run on one BLAS thread by default (``--blas-threads``): on a
shared machine, OpenBLAS threads that spin-wait for a busy core slow
scikit-learn's coordinate descent (a BLAS-1 call per coordinate) by up to
50x at random, which makes two-thread timings meaningless.

Run ``python benchmarks/bench_sparse.py`` (about 2 minutes on 2 cores;
``--quick`` for a smoke run at small sizes without extrapolation).
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LinearRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.multioutput import MultiOutputRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skrep import SparseLayerPredictor, SparseLayerPredictorCV
from skrep._sparse import PAPER_DECAYS


def make_layers(n, n_x, n_y, seed=0, n_latent=48):
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, n_latent)
    X = latent @ rng.randn(n_latent, n_x) / np.sqrt(n_latent)
    X = np.maximum(X + 0.5 * rng.randn(n, n_x), 0.0)
    drive = np.zeros((n_x, n_y))
    for j in range(n_y):
        size = rng.randint(1, 4)
        drive[rng.choice(n_x, size, replace=False), j] = rng.randn(size)
    Y = X @ drive + 0.3 * latent @ rng.randn(n_latent, n_y) / np.sqrt(n_latent)
    return X, np.maximum(Y + 0.3 * rng.randn(n, n_y), 0.0)


def baseline_pipeline(regressor):
    return Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "model",
                TransformedTargetRegressor(
                    regressor=regressor, transformer=StandardScaler()
                ),
            ),
        ]
    )


def baseline_unit_losses(pipe, X, Y):
    """Prediction loss per unit, in the units standardised by the fit."""
    scaler = pipe.named_steps["model"].transformer_
    residual = scaler.transform(pipe.predict(X)) - scaler.transform(Y)
    return 0.5 * np.mean(residual**2, axis=0)


def neg_prediction_loss(pipe, X, Y):
    return -float(baseline_unit_losses(pipe, X, Y).mean())


def timed(fn, repeat=1):
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def subset_of_units(n_units, n_subset):
    return np.unique(np.linspace(0, n_units - 1, n_subset).round().astype(int))


def bench_fit(X, Y, decay, units, repeat):
    q = Y.shape[1]
    ours_time, ours = timed(lambda: SparseLayerPredictor(decay=decay).fit(X, Y), repeat)
    base_time, base = timed(
        lambda: baseline_pipeline(MultiOutputRegressor(Lasso(alpha=decay * q))).fit(
            X, Y[:, units]
        )
    )
    base_total = base_time * q / units.size
    ours_losses = ours.prediction_loss(X, Y, multioutput="raw_values")[units]
    difference = np.abs(ours_losses - baseline_unit_losses(base, X, Y[:, units]))
    return ours_time, base_total, base_time, difference.max(), ours.training_loss_


def bench_sweep(X, Y, units, repeat, n_jobs):
    q = Y.shape[1]
    folds = KFold(3)
    decays = np.array(PAPER_DECAYS)
    ours_time, ours = timed(
        lambda: SparseLayerPredictorCV(decays, cv=folds, n_jobs=n_jobs).fit(X, Y),
        repeat,
    )
    # skrep on the subset, decays scaled so that each Lasso's alpha matches.
    ours_subset = SparseLayerPredictorCV(decays * q / units.size, cv=folds).fit(
        X, Y[:, units]
    )
    lasso_alphas = [d * q for d in decays if d > 0]
    grid = GridSearchCV(
        baseline_pipeline(MultiOutputRegressor(Lasso())),
        [
            {"model__regressor": [LinearRegression()]},
            {"model__regressor__estimator__alpha": lasso_alphas},
        ],
        cv=folds,
        scoring=neg_prediction_loss,
    )
    grid_time, grid = timed(lambda: grid.fit(X, Y[:, units]))
    # Per-candidate cost: Lasso candidates scale with the units, the
    # LinearRegression candidate (all units at once) is re-timed on all.
    results = grid.cv_results_
    per_candidate = (results["mean_fit_time"] + results["mean_score_time"]) * 3
    is_ols = np.array(
        [isinstance(p.get("model__regressor"), LinearRegression)
         for p in results["params"]]
    )  # fmt: skip
    ols_time, _ = timed(
        lambda: [
            baseline_pipeline(LinearRegression())
            .fit(X[train], Y[train])
            .predict(X[test])
            for train, test in folds.split(X)
        ]
    )
    refit_time = grid.refit_time_ * (
        1.0 if is_ols[grid.best_index_] else q / units.size
    )
    base_total = per_candidate[~is_ols].sum() * q / units.size + ols_time + refit_time
    if units.size == q:  # nothing to extrapolate: the measured time
        base_total = grid_time
    # Baseline held-out loss per decay, in the order of the decays.
    base_losses = np.empty(decays.size)
    base_losses[0] = -results["mean_test_score"][is_ols][0]
    base_losses[1:] = -results["mean_test_score"][~is_ols]
    difference = np.abs(ours_subset.loss_path_.mean(axis=1) - base_losses).max()
    base_choice = (
        0.0
        if is_ols[grid.best_index_]
        else (grid.best_params_["model__regressor__estimator__alpha"] / q)
    )
    return (
        ours_time, base_total, grid_time, difference, ours.decay_,
        ours_subset.decay_ * units.size / q, base_choice,
    )  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--n", type=int, default=20000, help="samples")
    parser.add_argument(
        "--fit-units", type=int, default=16, help="Y units the fit baseline runs on"
    )
    parser.add_argument(
        "--sweep-units", type=int, default=8, help="Y units the sweep baseline runs on"
    )
    parser.add_argument("--repeat", type=int, default=2, help="best of, for skrep")
    parser.add_argument("--n-jobs", type=int, default=None, help="skrep threads")
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS threads for both sides (default 1: on a shared machine, "
        "OpenBLAS threads that spin-wait make the timings erratic)",
    )
    args = parser.parse_args(argv)
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        run(args)


def run(args):
    sizes = (256, 512)
    n = args.n
    if args.quick:
        n, sizes = 2000, (32, 64)
    decay = 1e-4
    warnings.simplefilter("ignore", ConvergenceWarning)

    print(
        f"n = {n} samples, float64; skrep n_jobs={args.n_jobs}; "
        f"BLAS threads={args.blas_threads} (both sides)"
    )
    print(
        "baseline = StandardScaler + MultiOutputRegressor(Lasso) "
        "(+ GridSearchCV for the sweep); 'extrapolated' rows time the baseline "
        "on a subset of Y units and scale linearly to all units.\n"
    )
    header = (
        f"{'task':<28}{'units':>10}{'skrep s':>10}{'baseline s':>12}"
        f"{'speed-up':>10}{'max |loss diff|':>17}"
    )
    print(header)
    print("-" * len(header))
    notes = []
    for size in sizes:
        X, Y = make_layers(n, size, size)
        k = size if args.quick else min(args.fit_units, size)
        units = subset_of_units(size, k)
        ours, base, measured, diff, loss = bench_fit(X, Y, decay, units, args.repeat)
        label = f"fit decay={decay:g}"
        print(
            f"{label:<28}{f'{size}->{size}':>10}{ours:>10.2f}{base:>12.1f}"
            f"{base / ours:>9.0f}x{diff:>17.1e}"
        )
        if units.size < size:
            notes.append(
                f"fit {size}->{size}: baseline measured {measured:.1f} s on "
                f"{units.size} Y units, extrapolated x{size / units.size:g}"
            )
        k = size if args.quick else min(args.sweep_units, size)
        units = subset_of_units(size, k)
        ours, base, measured, diff, chosen, chosen_sub, base_choice = bench_sweep(
            X, Y, units, args.repeat, args.n_jobs
        )
        label = "CV sweep 6 decays x 3 folds"
        print(
            f"{label:<28}{f'{size}->{size}':>10}{ours:>10.2f}{base:>12.1f}"
            f"{base / ours:>9.0f}x{diff:>17.1e}"
        )
        notes.append(
            f"sweep {size}->{size}: skrep chose decay {chosen:g} (all units); on "
            f"the subset skrep chose {chosen_sub:g}, GridSearchCV {base_choice:g}"
        )
        if units.size < size:
            notes.append(
                f"sweep {size}->{size}: GridSearchCV measured {measured:.1f} s on "
                f"{units.size} Y units; Lasso candidates extrapolated "
                f"x{size / units.size:g}, LinearRegression timed on all units"
            )
    print()
    for note in notes:
        print("note:", note)


if __name__ == "__main__":
    main()
