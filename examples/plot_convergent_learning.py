"""
==========================================================
Convergent learning: do two networks learn the same units?
==========================================================

Li et al. (2016) trained the same architecture twice from different random
initialisations and asked whether the two networks learn the same features
*unit by unit*. They correlated every unit of one network with every unit of
the other over many inputs, then paired the units up in two ways:

* **semi-matching**: each unit of net 2 takes its most correlated unit of
  net 1 (a unit of net 1 may serve several partners);
* **matching**: the one-to-one assignment that maximises the summed
  correlation (the Hungarian algorithm).

This example reproduces the analysis on scikit-learn's 8x8 digits with two
small CNNs trained in-process (:func:`skrep.torch.train_digits_cnn`), using
:class:`skrep.UnitMatcher`. As in the paper, every spatial position of a
convolutional layer is one sample (``reduction="positions"``). An untrained
network serves as the chance level.
"""

# %%
# Train two networks that differ only in their random seed
# --------------------------------------------------------
# ``SKREP_EXAMPLES_QUICK=1`` makes a smoke-test run of a few seconds.
import os
import warnings

QUICK = os.environ.get("SKREP_EXAMPLES_QUICK") == "1"
EPOCHS, WIDTH = (3, 8) if QUICK else (15, 16)

import matplotlib.pyplot as plt
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from skrep import UnitMatcher
from skrep.datasets import load_digits_images
from skrep.plotting import plot_correlation_matrix
from skrep.torch import TorchActivationExtractor, train_digits_cnn

# Small networks and small matrices: one thread each for torch and BLAS is
# fastest, most of all on a shared machine.
torch.set_num_threads(1)
threadpool_limits(1)
digits = load_digits_images()


def accuracy(net, images, labels):
    with torch.inference_mode():
        return float((net(torch.as_tensor(images)).argmax(1).numpy() == labels).mean())


runs = {"net 1": (0, EPOCHS), "net 2": (1, EPOCHS), "untrained": (2, 0)}
nets = {}
for name, (seed, epochs) in runs.items():
    nets[name] = train_digits_cnn(
        digits.X_train, digits.y_train, seed=seed, width=WIDTH, epochs=epochs
    )
    score = accuracy(nets[name], digits.X_test, digits.y_test)
    print(f"{name}: held-out accuracy {score:.3f}")

# %%
# Activations: one row per image and spatial position
# ---------------------------------------------------
# The three convolutional layers (after their ReLU) give one row per image
# and position; the dense hidden layer ``relu4`` one row per image. Units are
# matched on the training images and the same pairs are scored again on the
# held-out images.
LAYERS = ["relu1", "relu2", "relu3", "relu4"]


def activations(net, images):
    extractor = TorchActivationExtractor(net, LAYERS, reduction="positions")
    return {k: v.astype(np.float64) for k, v in extractor.extract(images).items()}


train = {name: activations(net, digits.X_train) for name, net in nets.items()}
test = {name: activations(net, digits.X_test) for name, net in nets.items()}
for layer in LAYERS:
    print(f"{layer}: {train['net 1'][layer].shape} (rows, units)")

# %%
# Unit matching, layer by layer
# -----------------------------
# ``semi_matching_mean_`` and ``matching_mean_`` are the mean correlations of
# the pairs on the training data; ``score`` measures the same pairs on held-out
# images. Dead units (never active on these images) have correlation 0 with
# everything. ``UnitMatcher`` warns about them; we count them once here and
# silence the repeated warnings.
warnings.filterwarnings("ignore", message=".*constant \\(dead\\)")
for name in nets:
    dead = [int(np.sum(np.ptp(train[name][layer], axis=0) == 0)) for layer in LAYERS]
    print(f"dead units of {name}: {dict(zip(LAYERS, dead))}")

matchers = {}
print("layer  net 1 vs    semi  match match ho   live overlap   best")
for layer in LAYERS:
    for other in ("net 2", "untrained"):
        matcher = UnitMatcher(method="matching").fit(
            train["net 1"][layer], train[other][layer]
        )
        matchers[layer, other] = matcher
        live = ~(matcher.x_constant_[matcher.match_] | matcher.y_constant_)
        held_out = matcher.score(test["net 1"][layer], test[other][layer])
        values = (
            matcher.semi_matching_mean_,
            matcher.matching_mean_,
            held_out,
            matcher.match_correlation_[live].mean(),
            matcher.overlap_,
            matcher.match_correlation_[live].max(),
        )
        print(f"{layer:6} {other:9} " + " ".join(f"{v:6.3f}" for v in values))

# %%
# ``semi`` and ``match`` are on the training images, ``match ho`` the same
# pairs on held-out images, ``live`` the matching mean over pairs of two live
# units, ``overlap`` the share of units whose one-to-one partner is also their
# best partner, ``best`` the highest correlation of a one-to-one pair.

# %%
# Correlation matrices in natural and matched order
# -------------------------------------------------
# In natural order the between-net correlation matrix looks like noise: unit
# 3 of one network has no reason to be unit 3 of the other. Re-ordering the
# units so that matched pairs lie on the diagonal (sorted by their
# correlation) reveals the pairs.
fig, axes = plt.subplots(2, 2, figsize=(8.5, 7.5), layout="constrained")
for row, layer in zip(axes, ("relu1", "relu3")):
    matcher = matchers[layer, "net 2"]
    plot_correlation_matrix(matcher.correlation_, ax=row[0])
    plot_correlation_matrix(matcher.correlation_, matcher.match_, ax=row[1])
    row[0].set_title(f"{layer}: natural order")
    row[1].set_title(f"{layer}: matched order")

# %%
# Semi-matching and matching, unit by unit
# ----------------------------------------
# The paper's per-unit view: the correlation of every unit of net 2 with its
# partner, sorted. Semi-matching (best partner, repeats allowed) is an upper
# bound for matching (one-to-one); the gap shows units of net 2 that have a
# good partner in net 1 only if that partner is shared. The dotted line is
# the one-to-one matching against the untrained network.
fig, axes = plt.subplots(
    1, len(LAYERS), figsize=(12, 3.2), layout="constrained", sharey=True
)
for ax, layer in zip(axes, LAYERS):
    matcher = matchers[layer, "net 2"]
    columns = np.arange(matcher.n_features_y_)
    semi = matcher.correlation_[matcher.semi_match_, columns]
    ax.plot(np.sort(semi)[::-1], label="semi-matching")
    ax.plot(np.sort(matcher.match_correlation_)[::-1], label="matching")
    baseline = np.sort(matchers[layer, "untrained"].match_correlation_)[::-1]
    ax.plot(baseline, ":", color="grey", label="matching, untrained")
    ax.set_title(layer)
    ax.set_xlabel("unit of net 2 (sorted)")
axes[0].set_ylabel("correlation with partner")
axes[0].legend(fontsize=8)

# %%
# What do matched units respond to?
# ---------------------------------
# For a few pairs of the dense layer ``relu4`` (the three best-matched pairs
# and the worst-matched pair of live units), the held-out digits that
# activate each unit most: net 1's unit on the left, its partner in net 2 on
# the right.
N_TOP = 5
layer = "relu4"
matcher = matchers[layer, "net 2"]
order = np.argsort(-matcher.match_correlation_)
live = ~(matcher.x_constant_[matcher.match_] | matcher.y_constant_)
live_order = order[live[order]]
shown = [*live_order[:3], *live_order[-1:]]
fig, axes = plt.subplots(
    len(shown), 2 * N_TOP, figsize=(10, 1.2 * len(shown) + 0.6), layout="constrained"
)
images = digits.X_test[:, 0]
for row, unit_2 in zip(axes, shown):
    unit_1 = matcher.match_[unit_2]
    top_1 = np.argsort(-test["net 1"][layer][:, unit_1])[:N_TOP]
    top_2 = np.argsort(-test["net 2"][layer][:, unit_2])[:N_TOP]
    for ax, index in zip(row, [*top_1, *top_2]):
        ax.imshow(images[index], cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(f"r={matcher.match_correlation_[unit_2]:.2f}", fontsize=9)
    row[0].set_title(f"net 1 unit {unit_1}", fontsize=9, loc="left")
    row[N_TOP].set_title(f"net 2 unit {unit_2}", fontsize=9, loc="left")
    r = matcher.match_correlation_[unit_2]
    print(
        f"net 1 unit {unit_1:2d} ~ net 2 unit {unit_2:2d} (r={r:.3f}): top digits "
        f"{digits.y_test[top_1].tolist()} | {digits.y_test[top_2].tolist()}"
    )

# %%
# What the figures show, and how it compares with the paper
# ---------------------------------------------------------
# The statements below are about the full run (15 epochs, width 16, seeds 0
# and 1) and refer to what it prints above; the quick smoke-test run
# (``SKREP_EXAMPLES_QUICK=1``) trains smaller networks for fewer epochs, and
# its numbers differ.
#
# * **Matched order reveals partners.** In natural order the correlation
#   matrices have no structure along the diagonal; in matched order a
#   diagonal appears, clearest in ``relu3``. In ``relu1`` almost every pair
#   of units is positively correlated (all of them respond to ink on a white
#   background), so the diagonal stands out less. This agrees with the
#   paper's correlation matrices.
# * **Some units have a close partner, others do not.** The sorted curves
#   start high in every layer (the ``best`` column) and fall off: a few
#   features are learned by both networks, many only approximately.
#   Semi-matching lies above matching at every layer (``semi`` against
#   ``match`` in the table), and fewer than half of the units have their
#   best partner as their one-to-one partner (``overlap``): several units of
#   one net resemble the same unit of the other. This is the paper's finding
#   that the nets share features but not the one-to-one basis.
# * **Trained vs untrained.** Two trained nets match better than a trained
#   and an untrained one in every layer, with either method. The untrained
#   baseline is far from 0, most of all in ``relu1``: random 3x3 filters on
#   images of ink already correlate. Always compare with such a baseline.
# * **Depth.** The mean matched correlation (``match``) does not fall
#   cleanly with depth here: ``relu2`` matches better than ``relu1``, unlike
#   the paper's AlexNets where the first layer matches best. Part of this is
#   dead units: the printed counts show that about half of the dense layer
#   ``relu4`` never fires on these images in the trained nets (and many
#   units already at initialisation), and each dead unit enters the mean
#   with correlation 0. Over pairs of live units (``live``), ``relu4``
#   matches as well as ``relu2``. Small networks on 8x8 digits are a long
#   way from ImageNet; read the depth trend as not reproduced.
# * **Matched units see the same digits.** For each of the three
#   best-matched ``relu4`` pairs, the digit that activates net 1's unit most
#   is also the one that activates its partner most (the last printed
#   lines), though the top five of a pair can mix in other digits; the
#   worst live pair's top digits do not overlap at all: its partner is a
#   leftover of the one-to-one assignment, not a real match. Li et al. show
#   the same for image patches of AlexNet's conv units.

plt.show()
