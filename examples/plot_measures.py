"""
===========================================================
Every measure on the same networks: agreement and blindness
===========================================================

skrep implements the main measures of how similar two layers are. Each
answers a slightly different question:

* :class:`~skrep.SVCCA` (Raghu et al. 2017): mean canonical correlation
  after keeping the directions that hold 99% of each layer's variance;
* :class:`~skrep.PWCCA` (Morcos et al. 2018): canonical correlations
  weighted by how much of the first layer each direction accounts for;
* :class:`~skrep.CKA` (Kornblith et al. 2019), linear, with the biased and
  the debiased estimator of HSIC;
* :class:`~skrep.Procrustes` (Williams et al. 2021): the shape metric, with
  ``alpha=1`` (orthogonal Procrustes: only rotations and one scale factor
  align) and ``alpha=0`` (any invertible linear map aligns: CCA);
* :class:`~skrep.RSA` (Kriegeskorte et al. 2008): the Spearman correlation
  of the two layers' correlation-distance RDMs;
* :class:`~skrep.UnitMatcher` (Li et al. 2016): the mean correlation of
  units paired one to one;
* :class:`~skrep.DFTCCA` (Raghu et al. 2017): CCA of convolutional *maps*,
  every image at every position, through the 2-D DFT.

This example scores all of them on the same pairs of small digits CNNs,
layer by layer, against pairs of untrained networks as a chance level; asks
whether they rank the layers the same way; and checks, on one layer, which
maps of the activations each one ignores.
"""

# %%
# Networks that differ only in their random seed
# ----------------------------------------------
# Ten networks trained from different seeds, and as many untrained ones
# (their random initialisation, same architecture and width). They form 5
# **independent pairs** of trained nets (nets 0 and 1, 2 and 3, ...: each net
# in one pair only), what we measure, and 5 pairs of untrained nets, the
# chance level. Numbers are the mean and a 95% Student-t interval over the
# pairs. ``SKREP_EXAMPLES_QUICK=1`` makes a smoke-test run of a few seconds
# (2 small pairs, no checks); ``SKREP_EXAMPLES_OUTPUT`` names the folder the
# figures are saved in.
import os
import time
import warnings
from itertools import combinations
from pathlib import Path

QUICK = os.environ.get("SKREP_EXAMPLES_QUICK") == "1"
EPOCHS, WIDTH, N_NETS = (3, 8, 4) if QUICK else (15, 16, 10)
OUTPUT = Path(os.environ.get("SKREP_EXAMPLES_OUTPUT", "skrep-examples-output"))
OUTPUT.mkdir(parents=True, exist_ok=True)

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import ortho_group, spearmanr
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from skrep import CKA, DFTCCA, PWCCA, RSA, SVCCA, Procrustes, UnitMatcher, dead_units
from skrep.base import get_skrep_tags
from skrep.datasets import load_digits_images
from skrep.exceptions import DeadUnitWarning
from skrep.inference import seed_comparison
from skrep.torch import DIGITS_LAYERS, TorchActivationExtractor, train_digits_cnn

# Small networks and small matrices: one thread each for torch and BLAS is
# fastest, most of all on a shared machine.
torch.set_num_threads(1)
threadpool_limits(1)
digits = load_digits_images()
if QUICK:  # fewer images: the smoke test runs every path, on little data
    digits.X_train, digits.y_train = digits.X_train[:300], digits.y_train[:300]
    digits.X_test, digits.y_test = digits.X_test[:150], digits.y_test[:150]
KINDS = ("trained", "untrained")


def accuracy(net, images, labels):
    with torch.inference_mode():
        return float((net(torch.as_tensor(images)).argmax(1).numpy() == labels).mean())


nets = {}
for kind, epochs, first_seed in (("trained", EPOCHS, 0), ("untrained", 0, 100)):
    for index in range(N_NETS):
        nets[kind, index] = train_digits_cnn(
            digits.X_train,
            digits.y_train,
            seed=first_seed + index,
            width=WIDTH,
            epochs=epochs,
        )
    scores = [
        accuracy(nets[kind, i], digits.X_test, digits.y_test) for i in range(N_NETS)
    ]
    print(f"{kind:9} nets: held-out accuracy " + " ".join(f"{s:.3f}" for s in scores))

# %%
# Activations on training and held-out images
# -------------------------------------------
# For the per-layer measures, each convolutional channel is averaged over the
# positions (``reduction="mean"``), so that every layer has **one row per
# image**. :class:`~skrep.DFTCCA` takes the convolutional layers' maps
# themselves (``reduction="maps"``, shape ``(images, channels, height,
# width)``): it compares every image at every position.
LAYERS = list(DIGITS_LAYERS)
CONV_LAYERS = ["relu1", "relu2", "relu3"]


def activations(net, images):
    means = TorchActivationExtractor(net, LAYERS, reduction="mean").extract(images)
    maps = TorchActivationExtractor(net, CONV_LAYERS, reduction="maps").extract(images)
    return (
        {layer: rows.astype(np.float64) for layer, rows in means.items()},
        {layer: values.astype(np.float64) for layer, values in maps.items()},
    )


means, maps = {"train": {}, "test": {}}, {"train": {}, "test": {}}
for key, net in nets.items():
    for split, images in (("train", digits.X_train), ("test", digits.X_test)):
        means[split][key], maps[split][key] = activations(net, images)
print(f"{len(digits.X_train)} training images, {len(digits.X_test)} held-out images")
print("training activations of one net, (rows, units) and maps:")
for layer in LAYERS:
    shapes = [means["train"]["trained", 0][layer].shape]
    if layer in CONV_LAYERS:
        shapes.append(maps["train"]["trained", 0][layer].shape)
    print(f"{layer:6}: " + ", ".join(str(shape) for shape in shapes))

# %%
# Dead units (constant on the training images) carry no information. Every
# measure handles them (they count 0 or take no direction) and warns with a
# :class:`~skrep.exceptions.DeadUnitWarning` at every fit. Here is one such
# warning; the counts below say where they are, and the many fits that
# follow silence this one class.
print("dead units on the training images (per net):")
for layer in LAYERS:
    counts = {
        kind: [
            int(dead_units(means["train"][kind, i][layer]).sum()) for i in range(N_NETS)
        ]
        for kind in KINDS
    }
    width = means["train"]["trained", 0][layer].shape[1]
    print(
        f"  {layer:6} of {width:2}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
    )
SVCCA().fit(
    means["train"]["trained", 0]["relu4"], means["train"]["trained", 1]["relu4"]
)

# %%
# Every measure, every layer, every pair
# --------------------------------------
# Each measure is **fitted on the training images and scored on the held-out
# images**: CCA directions, Procrustes alignments and unit pairings are learned
# on the first and evaluated on the second, which removes the upward bias of
# in-sample scores. RSA and CKA learn nothing: their score is the measure
# computed on the held-out images. DFTCCA runs on the convolutional layers
# only.
MEASURES = {
    "SVCCA": SVCCA(),  # svd_components=0.99
    "PWCCA": PWCCA(),  # weights from the first net
    "CKA": CKA(),
    "CKA debiased": CKA(debiased=True),
    "Procrustes a=1": Procrustes(alpha=1.0),
    "Procrustes a=0": Procrustes(alpha=0.0),
    "RSA": RSA(rdm_metric="correlation", compare="spearman"),
    "UnitMatcher": UnitMatcher(method="matching"),
    "DFTCCA": DFTCCA(),
}
NAMES = list(MEASURES)
PAIRS = [(i, i + 1) for i in range(0, N_NETS, 2)]  # independent pairs
N_PAIRS = f"{len(PAIRS)} pairs"


def mean_interval(values):
    """Mean over pairs and its 95% Student-t interval."""
    result = seed_comparison(np.asarray(values, dtype=float))  # against 0
    return result.mean_difference, result.ci_low, result.ci_high


def views(name):
    """The activations a measure takes: maps for DFTCCA, else per-image means."""
    return maps if name == "DFTCCA" else means


# scores[kind][measure, layer, pair]; NaN where a measure does not apply.
scores = {
    kind: np.full((len(NAMES), len(LAYERS), len(PAIRS)), np.nan) for kind in KINDS
}
seconds = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeadUnitWarning)  # counted above
    for m, (name, measure) in enumerate(MEASURES.items()):
        start = time.perf_counter()
        train, test = views(name)["train"], views(name)["test"]
        for ell, layer in enumerate(LAYERS):
            if layer not in train["trained", 0]:
                continue
            for kind in KINDS:
                for p, (i, j) in enumerate(PAIRS):
                    est = clone(measure).fit(
                        train[kind, i][layer], train[kind, j][layer]
                    )
                    held_out = est.score(test[kind, i][layer], test[kind, j][layer])
                    scores[kind][m, ell, p] = held_out
        seconds[name] = time.perf_counter() - start

# ``gap`` is the trained pairs' mean minus the untrained pairs' mean, with
# its Welch 95% interval.
print(f"held-out similarity over {N_PAIRS}: mean [95% interval]")
print(f"{'layer':6} {'measure':15} {'trained':>24} {'untrained':>24} {'gap':>24}")
gaps = {}
for ell, layer in enumerate(LAYERS):
    for m, name in enumerate(NAMES):
        if np.isnan(scores["trained"][m, ell]).all():
            continue
        cells = []
        for kind in KINDS:
            mean, low, high = mean_interval(scores[kind][m, ell])
            cells.append(f"{mean:6.3f} [{low:6.3f}, {high:6.3f}]")
        gap = seed_comparison(
            scores["trained"][m, ell], scores["untrained"][m, ell], paired=False
        )
        gaps[name, layer] = gap
        cells.append(
            f"{gap.mean_difference:6.3f} [{gap.ci_low:6.3f}, {gap.ci_high:6.3f}]"
        )
        print(f"{layer:6} {name:15} " + " ".join(cells))
print(
    "seconds per measure (all layers and pairs): "
    + ", ".join(f"{name} {s:.2f}" for name, s in seconds.items())
)

# %%
# The same numbers as a figure: one panel per measure, on shared axes. The
# line is the mean over pairs, the band its 95% interval; grey, the
# untrained pairs (chance).
fig, axes = plt.subplots(
    3, 3, figsize=(11, 8.5), layout="constrained", sharex=True, sharey=True
)
positions = np.arange(len(LAYERS))
for ax, (m, name) in zip(axes.flat, enumerate(NAMES)):
    for kind, color in zip(KINDS, ("C0", "grey")):
        usable = ~np.isnan(scores[kind][m]).any(axis=1)
        stats = np.array([mean_interval(v) for v in scores[kind][m][usable]])
        x = positions[usable]
        ax.plot(x, stats[:, 0], "o-", color=color, label=f"{kind} pairs")
        ax.fill_between(x, stats[:, 1], stats[:, 2], color=color, alpha=0.25)
    rows = "images x positions (maps)" if name == "DFTCCA" else "images"
    ax.set_title(f"{name}\nheld-out; rows: {rows}", fontsize=9)
    ax.axhline(0, color="black", linewidth=0.5)
for ax in axes[-1]:
    ax.set_xticks(positions, LAYERS)
for ax in axes[:, 0]:
    ax.set_ylabel("held-out similarity")
axes[0, 0].legend(fontsize=8)
fig.suptitle(
    "Fitted on training images, scored on held-out images, digits: mean and 95% "
    f"interval over {N_PAIRS} of trained nets\nvs {N_PAIRS} of untrained nets "
    "(chance; conv channels averaged over positions, except for DFTCCA)"
)
fig.savefig(OUTPUT / "plot_measures_layers.png", dpi=100)

# %%
# Do the measures rank the layers the same way?
# ---------------------------------------------
# Each (layer, pair of trained nets) cell has one score per measure. The
# Spearman correlation of two measures' scores over the cells says whether
# they put the cells in the same order; most of the order is the order of
# the layers, since the pairs of one layer score alike. DFTCCA's entries
# use the convolutional layers' cells only (the cells both measures have).
cells = scores["trained"].reshape(len(NAMES), -1)
agreement = np.eye(len(NAMES))
for a, b in combinations(range(len(NAMES)), 2):
    both = ~(np.isnan(cells[a]) | np.isnan(cells[b]))
    agreement[a, b] = agreement[b, a] = spearmanr(cells[a, both], cells[b, both])[0]

short = ["SVCCA", "PWCCA", "CKA", "CKAd", "Pr1", "Pr0", "RSA", "UM", "DFT"]
print("Spearman correlation of the measures over (layer, trained pair) cells")
print(" " * 15 + "".join(f"{label:>7}" for label in short))
for name, row in zip(NAMES, agreement):
    print(f"{name:15}" + "".join(f"{value:7.2f}" for value in row))

print("layers from most to least similar (mean over trained pairs):")
for m, name in enumerate(NAMES):
    layer_means = scores["trained"][m].mean(axis=1)  # NaN where m does not apply
    order = [
        LAYERS[ell]
        for ell in np.argsort(-layer_means)
        if not np.isnan(layer_means[ell])
    ]
    print(f"  {name:15} " + " > ".join(order))

fig, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
image = ax.imshow(agreement, cmap="RdBu_r", vmin=-1, vmax=1)
for a in range(len(NAMES)):
    for b in range(len(NAMES)):
        color = "white" if abs(agreement[a, b]) > 0.6 else "black"
        ax.text(
            b,
            a,
            f"{agreement[a, b]:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color=color,
        )
ax.set_xticks(range(len(NAMES)), NAMES, rotation=45, ha="right")
ax.set_yticks(range(len(NAMES)), NAMES)
ax.set_title(
    "Rank agreement over (layer, trained pair) cells\n(held-out scores; Spearman)"
)
fig.colorbar(image, ax=ax, label="Spearman correlation")
fig.savefig(OUTPUT / "plot_measures_rank_agreement.png", dpi=100)

# %%
# What each measure ignores
# -------------------------
# Take one layer (``relu3``) of two trained nets, apply a map to the
# activations of one of them, and see whether the score moves. Each map acts
# on the units (channels; for DFTCCA the same map at every position, so that
# the per-image means are mapped the same way): a shift of each unit by its
# own constant, one scale factor for all units, a scale factor per unit, a
# permutation of the units, a random rotation, and a random invertible map
# (well conditioned: singular values between 0.5 and 2, so that round-off
# stays far below the tolerance). Here the score is **in-sample** (fitted
# and scored on the same images, the first training images), the setting in
# which the measures' invariances are stated; ``|difference| < 1e-8`` counts
# as invariant.
LAYER = "relu3"
N_IMAGES = 300 if QUICK else 600
n_channels = maps["train"]["trained", 0][LAYER].shape[1]
rng = np.random.RandomState(0)
offsets = rng.uniform(-1, 1, n_channels)
unit_scales = rng.uniform(0.5, 2, n_channels)
permutation = rng.permutation(n_channels)
rotation = ortho_group.rvs(n_channels, random_state=1)
invertible = (
    ortho_group.rvs(n_channels, random_state=2)
    @ np.diag(rng.uniform(0.5, 2, n_channels))
    @ ortho_group.rvs(n_channels, random_state=3)
)


def on_channels(matrix):
    """Map every image's channel vector (at every position) by ``matrix``."""
    return lambda values: np.einsum("nc...,cd->nd...", values, matrix)


def per_channel(vector, values):
    """``vector`` (one entry per channel) shaped to broadcast against ``values``."""
    return vector.reshape(-1, *[1] * (values.ndim - 2))


# The keys are the names of skrep's invariance tags.
TRANSFORMS = {
    "shift": lambda values: values + per_channel(offsets, values),
    "isotropic_scaling": lambda values: 3.0 * values,
    "unit_scaling": lambda values: values * per_channel(unit_scales, values),
    "unit_permutation": lambda values: values[:, permutation],
    "orthogonal": on_channels(rotation),
    "invertible_linear": on_channels(invertible),
}


def in_sample(measure, X, Y):
    return clone(measure).fit(X, Y).score(X, Y)


# change[measure, transform, view]: |score after - score before|
change = np.zeros((len(NAMES), len(TRANSFORMS), 2))
declared = np.zeros(change.shape, dtype=bool)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeadUnitWarning)  # counted above
    for m, (name, measure) in enumerate(MEASURES.items()):
        X = views(name)["train"]["trained", 0][LAYER][:N_IMAGES]
        Y = views(name)["train"]["trained", 1][LAYER][:N_IMAGES]
        before = in_sample(measure, X, Y)
        invariances = get_skrep_tags(measure).invariances
        for t, (transform_name, transform) in enumerate(TRANSFORMS.items()):
            after_x = in_sample(measure, transform(X), Y)
            after_y = in_sample(measure, X, transform(Y))
            change[m, t] = abs(after_x - before), abs(after_y - before)
            declared[m, t] = [
                f"{transform_name}_{view}" in invariances for view in "xy"
            ]
invariant = change < 1e-8

print(f"{LAYER}, in-sample on {N_IMAGES} images:", end=" ")
print("'inv' = invariant, 'chg' = the score changes;")
print("map applied to the first net / to the second; '*' = not what the tags declare")
print(" " * 15 + "".join(f"{transform_name:>19}" for transform_name in TRANSFORMS))
for m, name in enumerate(NAMES):
    row = []
    for t in range(len(TRANSFORMS)):
        labels = ["inv" if invariant[m, t, v] else "chg" for v in range(2)]
        mark = "*" if (invariant[m, t] != declared[m, t]).any() else " "
        row.append(f"{labels[0]}/{labels[1]}{mark}")
    print(f"{name:15}" + "".join(f"{cell:>19}" for cell in row))

print("differences from the declared invariances (skrep.base.get_skrep_tags):")
for m, t, v in zip(*np.nonzero(invariant != declared)):
    tag = f"{list(TRANSFORMS)[t]}_{'xy'[v]}"
    kind = "invariant, not declared" if invariant[m, t, v] else "declared, but changes"
    print(f"  {NAMES[m]:15} {tag:22} {kind} (|difference| {change[m, t, v]:.1e})")
if (invariant == declared).all():
    print("  none")

# %%
# The size of the changes, on a log scale (a difference of exactly 0 is
# shown at 1e-17; the white line on the colour bar is the tolerance).
fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
image = ax.imshow(
    np.log10(change.reshape(len(NAMES), -1) + 1e-17),
    cmap="magma",
    vmin=-17,
    vmax=0,
    aspect="auto",
)
columns = [
    f"{transform_name} ({view})" for transform_name in TRANSFORMS for view in ("x", "y")
]
ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
ax.set_yticks(range(len(NAMES)), NAMES)
ax.set_title(
    f"{LAYER}, in-sample: how far each map moves the score (x: first net, y: second)"
)
colorbar = fig.colorbar(image, ax=ax, label="log10 |difference|")
colorbar.ax.axhline(-8, color="white", linewidth=2)  # the tolerance
fig.savefig(OUTPUT / "plot_measures_invariances.png", dpi=100)

# %%
# The table set against what the measures document (their docstrings; the
# tags list the same promises for the estimator checks):
#
# * **CCA** is invariant to any invertible linear map of either layer:
#   Procrustes ``alpha=0`` (CCA up to the rank factor) and DFTCCA (CCA at each
#   spatial frequency, with the map applied to the channels at every
#   position). SVCCA keeps only the directions that hold 99% of each layer's
#   variance before its CCA, and which those are depends on the units'
#   scales: it keeps the invariance to rotations, shifts and one scale
#   factor, not to scaling units separately nor to general linear maps.
# * **PWCCA** weighs each canonical direction by how much of the *first*
#   layer's units it accounts for: the second layer may undergo any
#   invertible map, the first only shifts, one scale factor and
#   permutations.
# * **CKA** (both estimators) and **Procrustes** ``alpha=1`` compare the
#   layers as they are, up to rotations, reflections, shifts and one scale
#   factor: they weigh directions by their variance, so scaling units
#   separately or a general linear map changes them.
# * **RSA** with correlation distances compares each image's pattern across
#   the units with another's: permuting the units or scaling them all
#   alike changes no pattern's correlation, but a shift or a rotation
#   changes each pattern's mean across the units, and so the RDM.
# * **UnitMatcher** correlates single units: each unit's shift and scale
#   and their order do not matter, a map that mixes units does.
#
# A line ``declared, but changes`` in the list of differences would be a
# broken promise (a bug); ``invariant, not declared`` is an invariance the
# tags do not state (for instance a special case of a declared one). The
# invariances hold for the in-sample score; on held-out images, a unit
# that is dead on the training images but not on the held-out ones can
# break them slightly, since the fit says nothing about such a unit.

# %%
# What the tables show
# --------------------
# The printed tables come from this run; the statements below are checked by
# the code that follows in the full run (5 pairs of width-16 networks
# trained for 15 epochs, 5 pairs of untrained ones). The quick smoke-test
# run checks nothing.
#
# * **Trained pairs score above chance near the output, not everywhere.**
#   At ``relu3``, ``relu4`` and ``logits`` the Welch interval of the gap
#   (trained minus untrained) lies above 0 for every measure that reads the
#   layer, and the gap is largest at ``logits`` for each of them: networks
#   that learned the same task agree most near the output. At ``relu1`` the
#   interval reaches 0 for SVCCA, PWCCA, both CKAs and Procrustes
#   ``alpha=0``: with 5 pairs these measures do not separate trained from
#   untrained networks there. Plausibly, a first-layer channel's mean over
#   the positions says little more than how much ink the image has, random
#   3x3 filters or trained ones. Without the untrained pairs, the high
#   ``relu1`` scores would read as convergent learning.
# * **The scales are not comparable.** CKA and Procrustes ``alpha=1``
#   score even the untrained pairs above 0.9 at ``relu1``. Procrustes
#   ``alpha=0`` and DFTCCA average over every canonical direction, weak ones
#   included, and score below SVCCA (which keeps the strong directions) and
#   PWCCA (which weights them up) at every layer they read, on average.
#   UnitMatcher is lowest at ``relu4``, for trained and untrained pairs
#   alike: many of its units are dead (the counts above) and each dead
#   unit's pair counts 0. Compare a measure with its own chance level, not
#   with another measure.
# * **Biased and debiased CKA agree** to within 0.01 on average at every
#   layer: with many more held-out images than units, the bias that
#   debiasing removes is small; it matters when the units are many relative
#   to the images.
# * **The measures do not order the layers the same way.** CKA (both
#   estimators) and Procrustes ``alpha=1`` put ``relu1`` first; SVCCA,
#   PWCCA, Procrustes ``alpha=0`` and UnitMatcher put ``logits`` first.
#   Every per-image measure but UnitMatcher puts ``relu3`` last. Which layer
#   is "most similar across seeds" depends on the measure: report the
#   measure, its invariances and its chance level with the number.
# * **Invariances.** Every measure is invariant, in-sample, to exactly the
#   maps its tags declare (the list of differences is empty).
if not QUICK:
    for (name, layer), gap in gaps.items():
        if layer in ("relu3", "relu4", "logits"):
            assert gap.ci_low > 0, (name, layer)
    for m, name in enumerate(NAMES):
        layer_gaps = [
            gaps[name, layer].mean_difference
            for layer in LAYERS
            if (name, layer) in gaps
        ]
        if name != "DFTCCA":
            assert layer_gaps[-1] == max(layer_gaps), name
    at_relu1 = {name for name in NAMES if gaps[name, "relu1"].ci_low <= 0}
    assert at_relu1 == {"SVCCA", "PWCCA", "CKA", "CKA debiased", "Procrustes a=0"}
    for name in ("CKA", "Procrustes a=1"):
        assert scores["untrained"][NAMES.index(name), 0].mean() > 0.9, name
    means = scores["trained"].mean(axis=2)  # (measures, layers), NaN if absent
    for weak in ("Procrustes a=0", "DFTCCA"):
        for strong in ("SVCCA", "PWCCA"):
            reads = ~np.isnan(means[NAMES.index(weak)])
            assert np.all(
                means[NAMES.index(weak), reads] < means[NAMES.index(strong), reads]
            ), (weak, strong)
    um = NAMES.index("UnitMatcher")
    for kind in KINDS:
        assert np.argmin(scores[kind][um].mean(axis=1)) == LAYERS.index("relu4")
    cka, debiased = NAMES.index("CKA"), NAMES.index("CKA debiased")
    assert np.all(np.abs(means[cka] - means[debiased]) < 0.01)
    first = {name: LAYERS[int(np.nanargmax(means[m]))] for m, name in enumerate(NAMES)}
    last = {name: LAYERS[int(np.nanargmin(means[m]))] for m, name in enumerate(NAMES)}
    assert all(first[n] == "relu1" for n in ("CKA", "CKA debiased", "Procrustes a=1"))
    for name in ("SVCCA", "PWCCA", "Procrustes a=0", "UnitMatcher"):
        assert first[name] == "logits", name
    for name in NAMES:
        if name not in ("UnitMatcher", "DFTCCA"):
            assert last[name] == "relu3", name
    assert last["UnitMatcher"] != "relu3"
    assert (invariant == declared).all()

plt.show()
