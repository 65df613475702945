"""
==============================================================
Pipelines in practice: held-out similarity, grids and searches
==============================================================

skrep's estimators follow scikit-learn's conventions (rows are samples, the
second network's activations are ``y``), so the usual tools work on
representations:

* :class:`~skrep.torch.TorchActivationExtractor` turns a network into a
  transformer, and ``make_pipeline(extractor, SVCCA())`` maps *images* to a
  similarity;
* :func:`~sklearn.model_selection.cross_val_score` gives a **held-out**
  similarity, free of the upward bias of in-sample CCA;
* :func:`skrep.compare_layers` scores every pair of layers in parallel with
  joblib;
* :class:`~sklearn.model_selection.GridSearchCV` tunes the decay of
  :class:`skrep.SparseLayerPredictor`, and even which layer to read.
"""

# %%
# Networks
# --------
# The first section measures something (how far in-sample SVCCA is biased),
# so it runs on 5 **independent pairs** of trained networks (seeds 0 and 1,
# 2 and 3, ...) against 5 pairs of **untrained** networks of the same
# architecture and width (chance), with the mean and a 95% Student-t
# interval over the pairs. The later sections illustrate the API on the
# first pair only and make no claim about networks.
# ``SKREP_EXAMPLES_QUICK=1`` makes a smoke-test run of a few seconds (2
# small pairs, no checks); ``SKREP_EXAMPLES_OUTPUT`` names the folder the
# figures are saved in.
import os
import time
import warnings
from pathlib import Path

QUICK = os.environ.get("SKREP_EXAMPLES_QUICK") == "1"
EPOCHS, WIDTH, N_PAIRS = (3, 8, 2) if QUICK else (15, 16, 5)
OUTPUT = Path(os.environ.get("SKREP_EXAMPLES_OUTPUT", "skrep-examples-output"))
OUTPUT.mkdir(parents=True, exist_ok=True)

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from skrep import SVCCA, SparseLayerPredictor, compare_layers
from skrep.datasets import load_digits_images
from skrep.inference import seed_comparison
from skrep.plotting import plot_layer_similarity
from skrep.torch import TorchActivationExtractor, train_digits_cnn

# Small networks and small matrices: one thread each for torch and BLAS is
# fastest, most of all on a shared machine.
torch.set_num_threads(1)
threadpool_limits(1)
warnings.filterwarnings("ignore", message=".*(constant \\(dead\\)|than samples)")
digits = load_digits_images()
if QUICK:  # fewer images: the smoke test runs every path, on little data
    digits.X_train, digits.y_train = digits.X_train[:300], digits.y_train[:300]
    digits.X_test, digits.y_test = digits.X_test[:150], digits.y_test[:150]


def train(seed, epochs=EPOCHS):
    return train_digits_cnn(
        digits.X_train, digits.y_train, seed=seed, width=WIDTH, epochs=epochs
    )


pairs = {
    "trained": [(train(2 * p), train(2 * p + 1)) for p in range(N_PAIRS)],
    "untrained": [
        (train(100 + 2 * p, 0), train(101 + 2 * p, 0)) for p in range(N_PAIRS)
    ],
}
net_a, net_b = pairs["trained"][0]
images = digits.X_train  # (n, 1, 8, 8): the pipeline's X


def cell(values):
    result = seed_comparison(np.asarray(values, dtype=float))  # against 0
    return (
        f"{result.mean_difference:6.3f} [{result.ci_low:6.3f}, {result.ci_high:6.3f}]"
    )


# %%
# A pipeline from images to a similarity
# --------------------------------------
# The extractor computes net A's ``relu3`` activations from the images; SVCCA
# compares them with ``y``, net B's ``relu3`` activations on the same images.
# ``reduction="mean"`` averages each channel over positions (32 features);
# with ``reduction="flatten"`` every channel at every position is a feature
# (512 features for 1203 images). The last setting is plain CCA
# (``svd_components=None``) on the flattened maps: with 512 + 512 dimensions
# and 1203 samples, in-sample CCA finds correlations in noise.
# :func:`~sklearn.model_selection.cross_val_score` gives the held-out score
# (5 folds, mean over folds).
SETTINGS = (("mean", 0.99), ("flatten", 0.99), ("flatten", None))
results = {}
for kind, nets in pairs.items():
    for reduction, svd_components in SETTINGS:
        in_sample, held_out = [], []
        for first, second in nets:
            y = TorchActivationExtractor(second, "relu3", reduction=reduction)
            y = y.transform(images)
            pipe = make_pipeline(
                TorchActivationExtractor(first, "relu3", reduction=reduction),
                SVCCA(svd_components=svd_components),
            )
            in_sample.append(pipe.fit(images, y).score(images, y))
            folds = KFold(n_splits=5, shuffle=True, random_state=0)
            held_out.append(cross_val_score(pipe, images, y, cv=folds).mean())
        results[kind, reduction, svd_components] = (
            np.array(in_sample), np.array(held_out)
        )  # fmt: skip
print(f"relu3, SVCCA, mean [95% interval] over {N_PAIRS} pairs")
print(f"{'setting':22} {'pairs':9} {'in-sample':>24} {'cross-validated':>24}"
      f" {'in-sample - CV':>24}")  # fmt: skip
bias = {}
for reduction, svd_components in SETTINGS:
    for kind in pairs:
        in_sample, held_out = results[kind, reduction, svd_components]
        bias[kind, reduction, svd_components] = seed_comparison(in_sample, held_out)
        print(
            f"{reduction + ', ' + str(svd_components):22} {kind:9} {cell(in_sample)} "
            f"{cell(held_out)} {cell(in_sample - held_out)}"
        )
versus_chance = {
    setting: seed_comparison(
        results[("trained", *setting)][1], results[("untrained", *setting)][1],
        paired=False,
    )
    for setting in SETTINGS
}  # fmt: skip
print("cross-validated, trained minus untrained pairs (Welch interval):")
for (reduction, svd_components), diff in versus_chance.items():
    print(
        f"  {reduction}, {svd_components}: {diff.mean_difference:+.3f} "
        f"[{diff.ci_low:+.3f}, {diff.ci_high:+.3f}]"
    )

# %%
# Every pair of layers, in parallel
# ---------------------------------
# :func:`~skrep.compare_layers` fits a clone of the estimator for each pair
# of layers on the training images and scores it on the held-out images;
# ``n_jobs=2`` runs the pairs in two threads (its default backend; BLAS
# releases the interpreter lock, and threads start in no time). Here one row per image
# (``reduction="mean"``), so that all layers have the same rows.
LAYERS = ["relu1", "relu2", "relu3", "relu4", "logits"]


def activations(net, images):
    return TorchActivationExtractor(net, LAYERS, reduction="mean").extract(images)


train_a, test_a = activations(net_a, digits.X_train), activations(net_a, digits.X_test)
train_b, test_b = activations(net_b, digits.X_train), activations(net_b, digits.X_test)
for n_jobs in (1, 2):
    start = time.perf_counter()
    grid = compare_layers(
        train_a, train_b, SVCCA(), test=(test_a, test_b), n_jobs=n_jobs
    )
    print(f"compare_layers, n_jobs={n_jobs}: {time.perf_counter() - start:.2f} s")
print(grid.to_text())
ax = plot_layer_similarity(grid)
ax.set_xlabel("net B")
ax.set_ylabel("net A")
ax.set_title("SVCCA, held-out, one trained pair (an illustration)", fontsize=10)
ax.figure.savefig(OUTPUT / "plot_pipelines_layer_grid.png", dpi=100)

# %%
# Tuning the sparse predictor, and choosing the layer, with GridSearchCV
# ----------------------------------------------------------------------
# Which layer of net A best predicts net B's ``relu4``, and with how much L1
# decay? The extractor's ``layers`` is a parameter like any other, so one
# search answers both. The score is the R^2 of the prediction on held-out
# images, averaged over net B's units. Net B's dead units (constant on these
# images) are left out of the target: a constant is predicted exactly, and
# would count as R^2 = 1.
target_extractor = TorchActivationExtractor(net_b, "relu4")
target = target_extractor.transform(images)
alive = np.ptp(target, axis=0) > 0
target = target[:, alive]
print(f"net B relu4: {alive.sum()} of {alive.size} units alive")
pipe = make_pipeline(
    TorchActivationExtractor(net_a, "relu4"), SparseLayerPredictor(max_iter=10_000)
)
search = GridSearchCV(
    pipe,
    {
        "torchactivationextractor__layers": ["relu2", "relu3", "relu4"],
        "sparselayerpredictor__decay": [0.0, 1e-4, 1e-3, 1e-2],
    },
    cv=3 if QUICK else 5,
).fit(images, target)
cv_results = search.cv_results_
for params, mean, std in zip(
    cv_results["params"], cv_results["mean_test_score"], cv_results["std_test_score"]
):
    layer = params["torchactivationextractor__layers"]
    decay = params["sparselayerpredictor__decay"]
    print(f"net A {layer:6} decay {decay:<7g} held-out R^2 {mean:.3f} +- {std:.3f}")
print("best:", search.best_params_)
held_out_target = target_extractor.transform(digits.X_test)[:, alive]
test_score = search.score(digits.X_test, held_out_target)
print(f"R^2 of the refitted best pipeline on the test images: {test_score:.3f}")

# %%
# What the output shows
# ---------------------
# The printed tables come from this run; the statements below are checked by
# the code that follows in the full run (5 pairs of width-16 networks, 15
# epochs, and 5 untrained pairs). The quick smoke-test run checks nothing.
# Timings depend on the machine and its load; the grid and the search are
# illustrations on one pair, and no claim rests on them.
#
# * **Held-out similarity.** For ``relu3`` with averaged channels (32
#   features, 1203 images), the interval of in-sample minus cross-validated
#   SVCCA includes 0 for the trained pairs: the bias is not measurable. On
#   the flattened maps (512 features) the truncation to 99% of the
#   variance keeps the bias below 0.02 on average, though its interval
#   lies above 0. Plain CCA (``svd_components=None``) on the flattened maps
#   reports more than 1.5 times as much similarity in-sample as on held-out
#   folds in every trained pair: a large part of its "similarity" is fitted
#   noise. CCA needs many more samples than dimensions; cross-validation
#   measures how far from that regime an analysis is.
# * **Chance levels.** Cross-validated, the trained pairs score above the
#   untrained pairs at every setting (the Welch intervals lie above 0), but
#   the untrained pairs score well above 0 (the lower end of their
#   intervals is above 0.1): random convolutions of digits already share
#   much of their variance. A similarity is only meaningful next to such a
#   baseline. The in-sample bias is larger, on average, for the untrained
#   pairs at every setting: the less two layers share, the more of the
#   in-sample score is fitted noise.
# * **Parallel grids.** Whether ``n_jobs=2`` pays depends on the machine
#   and on the cost of each pair (many samples, thousands of units, or
#   ``cv=`` folds): compare the printed timings. The call is the same, and
#   ``joblib.parallel_config`` picks the backend.
# * **The grid and the search** show the API on one pair. Read the grid's
#   convolutional block with care: averaging over positions discards what
#   tells the layers apart; compare convolutional layers with
#   ``reduction="positions"`` as the other examples do.
if not QUICK:
    trained_bias = bias["trained", "mean", 0.99]
    assert trained_bias.ci_low <= 0 <= trained_bias.ci_high
    flat_bias = bias["trained", "flatten", 0.99]
    assert flat_bias.mean_difference < 0.02 and flat_bias.ci_low > 0
    in_sample, held_out = results["trained", "flatten", None]
    assert np.all(in_sample > 1.5 * held_out)
    for setting in SETTINGS:
        assert versus_chance[setting].ci_low > 0, setting
        chance = seed_comparison(results[("untrained", *setting)][1])
        assert chance.ci_low > 0.1, setting
        untrained = bias[("untrained", *setting)].mean_difference
        assert untrained > bias[("trained", *setting)].mean_difference, setting

plt.show()
