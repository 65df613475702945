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
# Two networks
# ------------
# ``SKREP_EXAMPLES_QUICK=1`` makes a smoke-test run of a few seconds.
import os
import time
import warnings

QUICK = os.environ.get("SKREP_EXAMPLES_QUICK") == "1"
EPOCHS, WIDTH = (3, 8) if QUICK else (15, 16)

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from skrep import SVCCA, SparseLayerPredictor, compare_layers
from skrep.datasets import load_digits_images
from skrep.plotting import plot_layer_similarity
from skrep.torch import TorchActivationExtractor, train_digits_cnn

# Small networks and small matrices: one thread each for torch and BLAS is
# fastest, most of all on a shared machine.
torch.set_num_threads(1)
threadpool_limits(1)
warnings.filterwarnings("ignore", message=".*(constant \\(dead\\)|than samples)")
digits = load_digits_images()
net_a, net_b, untrained = (
    train_digits_cnn(
        digits.X_train, digits.y_train, seed=seed, width=WIDTH, epochs=epochs
    )
    for seed, epochs in ((0, EPOCHS), (1, EPOCHS), (2, 0))
)
images = digits.X_train  # (1203, 1, 8, 8): the pipeline's X

# %%
# A pipeline from images to a similarity
# --------------------------------------
# The extractor computes net A's ``relu3`` activations from the images; SVCCA
# compares them with ``y``, net B's ``relu3`` activations on the same images.
# ``reduction="mean"`` averages each channel over positions (32 features);
# with ``reduction="flatten"`` every channel at every position is a feature
# (512 features for 1203 images). The last line is plain CCA
# (``svd_components=None``) on the flattened maps: with 512 + 512 dimensions
# and 1203 samples, in-sample CCA finds correlations in noise.
for reduction, svd_components in (("mean", 0.99), ("flatten", 0.99), ("flatten", None)):
    target = TorchActivationExtractor(net_b, "relu3", reduction=reduction)
    y = target.transform(images)
    pipe = make_pipeline(
        TorchActivationExtractor(net_a, "relu3", reduction=reduction),
        SVCCA(svd_components=svd_components),
    )
    in_sample = pipe.fit(images, y).score(images, y)
    folds = KFold(n_splits=5, shuffle=True, random_state=0)
    held_out = cross_val_score(pipe, images, y, cv=folds)
    # The chance level: the same pipeline against an untrained network.
    y_chance = TorchActivationExtractor(untrained, "relu3", reduction=reduction)
    chance = cross_val_score(pipe, images, y_chance.transform(images), cv=folds)
    print(
        f"relu3 ({reduction}, {y.shape[1]} features, svd_components="
        f"{svd_components}): in-sample "
        f"{in_sample:.3f}, cross-validated {held_out.mean():.3f} +- "
        f"{held_out.std():.3f}, vs untrained net {chance.mean():.3f}"
    )

# %%
# Every pair of layers, in parallel
# ---------------------------------
# :func:`~skrep.compare_layers` fits a clone of the estimator for each pair
# of layers on the training images and scores it on the held-out images;
# ``n_jobs=2`` runs the pairs in two worker processes. Here one row per image
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
results = search.cv_results_
for params, mean, std in zip(
    results["params"], results["mean_test_score"], results["std_test_score"]
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
# The statements below are about the full run (15 epochs, width 16, seeds 0
# and 1) and refer to what it prints above; the quick smoke-test run
# (``SKREP_EXAMPLES_QUICK=1``) trains smaller networks for fewer epochs, and
# its numbers differ. Timings depend on the machine and its load.
#
# * **Held-out similarity.** For ``relu3`` with averaged channels (the first
#   printed line), SVCCA in-sample and cross-validated nearly agree: with 32
#   features and 1203 images the bias is negligible. On the flattened maps
#   (512 features) the truncation to 99% of the variance keeps the bias
#   small (second line), but plain CCA (``svd_components=None``, third
#   line) reports about twice as much similarity in-sample as on held-out
#   folds: half of its "similarity" is fitted noise. CCA needs many more
#   samples than dimensions; cross-validation measures how far from that
#   regime an analysis is.
# * **Chance levels.** The same pipelines against an untrained network
#   (``vs untrained net``) score far from 0: SVCCA between a trained and a
#   *random* network is substantial (random convolutions of digits already
#   share much of their variance). A similarity is only meaningful next to
#   such a baseline.
# * **Parallel grids.** The printed timings show the 25 layer pairs taking
#   longer with ``n_jobs=2`` than on one process: for matrices this small,
#   starting worker processes costs more than it saves. Parallelism pays
#   when each pair is expensive (many samples, thousands of units, or
#   ``cv=`` folds); the call is the same, and ``joblib.parallel_config``
#   picks the backend.
# * **The grid itself.** With averaged channels, corresponding dense layers
#   match well (the ``relu4`` and ``logits`` diagonal entries), and net A's
#   ``relu4`` is at least as close to net B's logits as the logits are to
#   each other. The averaged convolutional layers are similar at *every*
#   depth (the upper-left 3 x 3 block): averaging over positions discards
#   what tells them apart. Compare convolutional layers with
#   ``reduction="positions"`` (one row per image and position) as the other
#   examples do.
# * **The search** picks net A's ``relu4`` and no decay (the ``best:`` line):
#   it predicts net B's live ``relu4`` units better than ``relu3`` or
#   ``relu2`` do, and the refitted pipeline scores about the same on the test
#   images as in cross-validation. Corresponding layers predict each other
#   best, and any L1 decay costs accuracy at this sample size (for every
#   layer, R^2 falls as the decay grows).

plt.show()
