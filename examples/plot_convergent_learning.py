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
# Independent pairs of trained and untrained networks
# ---------------------------------------------------
# One pair of networks says little: the spread of a score from one pair of
# training runs to the next is far larger than its sampling noise. So the
# analysis runs on 5 **independent pairs** (seeds 0 and 1, 2 and 3, ...;
# each network in one pair only), and its chance level on 5 pairs of
# **untrained** networks of the same architecture and width (their random
# initialisation). Numbers are the mean and a 95% Student-t interval over
# the pairs. ``SKREP_EXAMPLES_QUICK=1`` makes a smoke-test run of a few
# seconds (2 small pairs, no checks); ``SKREP_EXAMPLES_OUTPUT`` names the
# folder the figures are saved in.
import os
import warnings
from pathlib import Path

QUICK = os.environ.get("SKREP_EXAMPLES_QUICK") == "1"
EPOCHS, WIDTH, N_PAIRS = (3, 8, 2) if QUICK else (15, 16, 5)
OUTPUT = Path(os.environ.get("SKREP_EXAMPLES_OUTPUT", "skrep-examples-output"))
OUTPUT.mkdir(parents=True, exist_ok=True)

import matplotlib.pyplot as plt
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from skrep import UnitMatcher
from skrep.datasets import load_digits_images
from skrep.exceptions import DeadUnitWarning
from skrep.inference import seed_comparison
from skrep.plotting import plot_correlation_matrix
from skrep.torch import TorchActivationExtractor, train_digits_cnn

# Small networks and small matrices: one thread each for torch and BLAS is
# fastest, most of all on a shared machine.
torch.set_num_threads(1)
threadpool_limits(1)
digits = load_digits_images()
if QUICK:  # fewer images: the smoke test runs every path, on little data
    digits.X_train, digits.y_train = digits.X_train[:300], digits.y_train[:300]
    digits.X_test, digits.y_test = digits.X_test[:150], digits.y_test[:150]
KINDS = ("trained", "untrained")

# %%
# Activations: one row per image and spatial position
# ---------------------------------------------------
# The three convolutional layers (after their ReLU) give one row per image
# and position; the dense hidden layer ``relu4`` one row per image. Units are
# matched on the training images and the same pairs are scored again on the
# held-out images. Dead units (never active on these images) have
# correlation 0 with everything; ``UnitMatcher`` warns about them, and we
# count them instead.
LAYERS = ["relu1", "relu2", "relu3", "relu4"]


def activations(net, images):
    extractor = TorchActivationExtractor(net, LAYERS, reduction="positions")
    return {k: v.astype(np.float64) for k, v in extractor.extract(images).items()}


def mean_interval(values):
    """Mean over pairs and its 95% Student-t interval."""
    result = seed_comparison(np.asarray(values, dtype=float))  # against 0
    return result.mean_difference, result.ci_low, result.ci_high


def cell(values):
    mean, low, high = mean_interval(values)
    return f"{mean:6.3f} [{low:6.3f}, {high:6.3f}]"


# %%
# Unit matching, layer by layer
# -----------------------------
# ``semi_matching_mean_`` and ``matching_mean_`` are the mean correlations of
# the pairs on the training data; ``score`` measures the same pairs on
# held-out images.
STATS = ("semi", "match", "held-out", "overlap")
values = {(k, s): np.zeros((N_PAIRS, len(LAYERS))) for k in KINDS for s in STATS}
sorted_curves = {}  # (kind, layer, "semi"/"match") -> (pairs, units)
dead = {kind: np.zeros((2 * N_PAIRS, len(LAYERS)), dtype=int) for kind in KINDS}
first_pair = {}
for kind, first_seed, epochs in (("trained", 0, EPOCHS), ("untrained", 100, 0)):
    for p in range(N_PAIRS):
        nets = [
            train_digits_cnn(
                digits.X_train, digits.y_train, seed=first_seed + 2 * p + i,
                width=WIDTH, epochs=epochs,
            )
            for i in range(2)
        ]  # fmt: skip
        train = [activations(net, digits.X_train) for net in nets]
        test = [activations(net, digits.X_test) for net in nets]
        for ell, layer in enumerate(LAYERS):
            for i in range(2):
                dead[kind][2 * p + i, ell] = np.sum(
                    np.ptp(train[i][layer], axis=0) == 0
                )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeadUnitWarning)  # counted
                matcher = UnitMatcher().fit(train[0][layer], train[1][layer])
                held_out = matcher.score(test[0][layer], test[1][layer])
            values[kind, "semi"][p, ell] = matcher.semi_matching_mean_
            values[kind, "match"][p, ell] = matcher.matching_mean_
            values[kind, "held-out"][p, ell] = held_out
            values[kind, "overlap"][p, ell] = matcher.overlap_
            columns = np.arange(matcher.n_features_y_)
            semi = matcher.correlation_[matcher.semi_match_, columns]
            for name, curve in (("semi", semi), ("match", matcher.match_correlation_)):
                sorted_curves.setdefault((kind, layer, name), []).append(
                    np.sort(curve)[::-1]
                )
            if p == 0:
                first_pair[kind, layer] = matcher
        if kind == "trained" and p == 0:
            first_nets, first_test = nets, test

for kind in KINDS:
    medians = [int(m) for m in np.median(dead[kind], axis=0)]
    print(f"dead units per {kind} net (median over nets): {dict(zip(LAYERS, medians))}")
print(f"\nunit matching, mean [95% interval] over {N_PAIRS} pairs")
print(f"{'layer':6} {'pairs':9} " + " ".join(f"{s:>24}" for s in STATS))
for ell, layer in enumerate(LAYERS):
    for kind in KINDS:
        cells = " ".join(cell(values[kind, s][:, ell]) for s in STATS)
        print(f"{layer:6} {kind:9} {cells}")
differences = {}
print("\nheld-out matching, trained minus untrained pairs (Welch interval, p):")
for ell, layer in enumerate(LAYERS):
    diff = seed_comparison(
        values["trained", "held-out"][:, ell],
        values["untrained", "held-out"][:, ell],
        paired=False,
    )
    differences[layer] = diff
    print(
        f"{layer:6} {diff.mean_difference:+.3f} [{diff.ci_low:+.3f}, "
        f"{diff.ci_high:+.3f}]  p={diff.pvalue:.3f}"
    )

# %%
# ``semi`` and ``match`` are on the training images, ``held-out`` the same
# one-to-one pairs on held-out images, ``overlap`` the share of units whose
# one-to-one partner is also their best partner.
#
# Matching against the chance level, pair by pair: each dot is one pair of
# networks, the bars the mean and its 95% interval.
fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
positions = np.arange(len(LAYERS))
for kind, color, offset in (("trained", "C0", -0.1), ("untrained", "grey", 0.1)):
    data = values[kind, "held-out"]
    stats = np.array([mean_interval(data[:, ell]) for ell in positions])
    ax.errorbar(
        positions + offset, stats[:, 0],
        yerr=[stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]],
        fmt="o", color=color, capsize=4, label=f"{kind} pairs (mean, 95% interval)",
    )  # fmt: skip
    for ell in positions:
        ax.plot(np.full(N_PAIRS, ell + 2 * offset), data[:, ell], ".", color=color)
ax.set_xticks(positions, LAYERS)
ax.set_ylabel("held-out mean r of matched units")
ax.set_title(
    f"One-to-one matching, held-out, digits: {N_PAIRS} trained pairs\n"
    f"vs {N_PAIRS} untrained pairs (chance)",
    fontsize=10,
)
ax.legend(fontsize=8)
fig.savefig(OUTPUT / "plot_convergent_learning_scores.png", dpi=100)

# %%
# Correlation matrices in natural and matched order
# -------------------------------------------------
# An illustration on the first trained pair (no claim rests on it). In
# natural order the between-net correlation matrix looks like noise: unit 3
# of one network has no reason to be unit 3 of the other. Re-ordering the
# units so that matched pairs lie on the diagonal (sorted by their
# correlation) shows the pairs.
fig, axes = plt.subplots(2, 2, figsize=(8.5, 7.5), layout="constrained")
for row, layer in zip(axes, ("relu1", "relu3")):
    matcher = first_pair["trained", layer]
    plot_correlation_matrix(matcher.correlation_, ax=row[0])
    plot_correlation_matrix(matcher.correlation_, matcher.match_, ax=row[1])
    row[0].set_title(f"{layer}, one trained pair: natural order", fontsize=10)
    row[1].set_title(f"{layer}, one trained pair: matched order", fontsize=10)
fig.savefig(OUTPUT / "plot_convergent_learning_matrices.png", dpi=100)

# %%
# Semi-matching and matching, unit by unit
# ----------------------------------------
# The paper's per-unit view: the correlation (training images) of every unit
# of net 2 with its partner, sorted, averaged rank by rank over the pairs,
# with the 95% interval as a band. Semi-matching (best partner, repeats
# allowed) is an upper bound for matching (one-to-one); the gap shows units
# of net 2 that have a good partner in net 1 only if that partner is shared.
# Grey: the one-to-one matching of the untrained pairs (chance).
fig, axes = plt.subplots(
    1, len(LAYERS), figsize=(12, 3.4), layout="constrained", sharey=True
)
curves_shown = (
    ("trained", "semi", "C0", "semi-matching, trained"),
    ("trained", "match", "C1", "matching, trained"),
    ("untrained", "match", "grey", "matching, untrained (chance)"),
)
for ax, layer in zip(axes, LAYERS):
    for kind, name, color, label in curves_shown:
        curves = np.array(sorted_curves[kind, layer, name])
        stats = np.array([mean_interval(c) for c in curves.T])
        ax.plot(stats[:, 0], color=color, label=label)
        ax.fill_between(
            np.arange(len(stats)), stats[:, 1], stats[:, 2], color=color, alpha=0.2
        )
    ax.set_title(f"{layer} ({N_PAIRS} pairs, 95% band)", fontsize=10)
    ax.set_xlabel("unit of net 2 (sorted)")
axes[0].set_ylabel("correlation with partner")
axes[0].legend(fontsize=8)
fig.savefig(OUTPUT / "plot_convergent_learning_sorted.png", dpi=100)

# %%
# What do matched units respond to?
# ---------------------------------
# An illustration on the first trained pair (no claim rests on it): for the
# three best-matched pairs of live units of the dense layer ``relu4`` and the
# worst-matched one, the held-out digits that activate each unit most: net
# 1's unit on the left, its partner in net 2 on the right.
N_TOP = 5
layer = "relu4"
matcher = first_pair["trained", layer]
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
    top_1 = np.argsort(-first_test[0][layer][:, unit_1])[:N_TOP]
    top_2 = np.argsort(-first_test[1][layer][:, unit_2])[:N_TOP]
    for ax, index in zip(row, [*top_1, *top_2]):
        ax.imshow(images[index], cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(f"r={matcher.match_correlation_[unit_2]:.2f}", fontsize=9)
    row[0].set_title(f"net 1 unit {unit_1}", fontsize=9, loc="left")
    row[N_TOP].set_title(f"net 2 unit {unit_2}", fontsize=9, loc="left")
fig.suptitle("relu4, one trained pair: top held-out digits of matched units")
fig.savefig(OUTPUT / "plot_convergent_learning_top_digits.png", dpi=100)

# %%
# What the figures show, and how it compares with the paper
# ---------------------------------------------------------
# The printed tables come from this run; the statements below are checked by
# the code that follows in the full run (5 pairs of width-16 networks, 15
# epochs). The quick smoke-test run checks nothing.
#
# * **Trained pairs match above chance in every layer.** The 95% interval
#   of the difference between trained and untrained pairs (held-out
#   matching) lies above 0 at ``relu1`` to ``relu4``.
# * **The untrained baseline is far from 0**: its interval lies above 0.1
#   in every layer, highest in the early layers, where random 3x3 filters
#   on images of ink already correlate. Always compare with such a
#   baseline.
# * **The nets share features but not the one-to-one basis.** Semi-matching
#   lies above matching in every layer (the paired intervals printed
#   below lie above 0), and on average fewer than half of the units have
#   their best partner as their one-to-one partner (``overlap``; the upper
#   end of each interval is below 1): several units of one net resemble the
#   same unit of the other. This is the paper's finding.
# * **Depth.** The paper's AlexNets match best in the first layer. Here we
#   make no claim on the trend with depth: many units of the dense layer
#   ``relu4`` are dead in the trained nets (the printed counts: at least a
#   quarter in the median net), and each dead unit enters the mean with
#   correlation 0, so the layers' means are not on one footing.
# * The matrices and the top digits are illustrations on one pair: in the
#   matched order a diagonal appears; the digits show what a few matched
#   ``relu4`` units respond to.
print("semi-matching minus matching, trained pairs (paired interval):")
semi_gap = {}
for ell, layer in enumerate(LAYERS):
    semi_gap[layer] = seed_comparison(
        values["trained", "semi"][:, ell], values["trained", "match"][:, ell]
    )
    diff = semi_gap[layer]
    interval = f"[{diff.ci_low:+.3f}, {diff.ci_high:+.3f}]"
    print(f"  {layer}: {diff.mean_difference:+.3f} {interval}")
if not QUICK:
    for ell, layer in enumerate(LAYERS):
        assert differences[layer].ci_low > 0, layer
        assert mean_interval(values["untrained", "held-out"][:, ell])[1] > 0.1, layer
        assert semi_gap[layer].ci_low > 0, layer
        overlap = mean_interval(values["trained", "overlap"][:, ell])
        assert overlap[0] < 0.5 and overlap[2] < 1, (layer, overlap)
    n_relu4 = first_pair["trained", "relu4"].n_features_y_
    assert np.median(dead["trained"][:, LAYERS.index("relu4")]) >= n_relu4 / 4

plt.show()
