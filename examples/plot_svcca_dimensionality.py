"""
=====================================================================
SVCCA's svd_components, and directions against neurons
=====================================================================

SVCCA (Raghu et al. 2017) keeps, in each layer, the SVD directions that
hold a share of the variance (``svd_components``, default 0.99), then
averages the canonical correlations of what is kept. This example first
shows how much the score depends on that choice: the held-out and the
in-sample score, and the number of directions kept, against
``svd_components``. Then it runs the paper's test of what the kept
directions are worth: project a layer on its top-k SVCCA directions, feed
the projection through the rest of the network, and compare the accuracy
with keeping k neurons instead.

Both parts use **independent pairs** of small CNNs trained on
scikit-learn's digits (each network in one pair only), with the mean and a
95% Student-t interval over the pairs, and a chance level matched to the
condition: as many pairs of untrained networks of the same architecture
for the scores, and one in ten (ten digits) for the accuracies.
"""

# %%
# Independent pairs of networks
# -----------------------------
# ``SKREP_EXAMPLES_QUICK=1`` makes a smoke-test run of a few seconds (2 pairs,
# small networks, no checks). ``SKREP_EXAMPLES_OUTPUT`` names the folder the
# figures are saved in.
import os
import warnings
from pathlib import Path

QUICK = os.environ.get("SKREP_EXAMPLES_QUICK") == "1"
EPOCHS, WIDTH, N_PAIRS, N_RANDOM = (3, 8, 2, 2) if QUICK else (15, 16, 5, 10)
OUTPUT = Path(os.environ.get("SKREP_EXAMPLES_OUTPUT", "skrep-examples-output"))
OUTPUT.mkdir(parents=True, exist_ok=True)

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from skrep import SVCCA
from skrep.datasets import load_digits_images
from skrep.inference import seed_comparison
from skrep.torch import TorchActivationExtractor, train_digits_cnn

# Small networks and small matrices: one thread each for torch and BLAS is
# fastest, most of all on a shared machine.
torch.set_num_threads(1)
threadpool_limits(1)
warnings.filterwarnings("ignore", message=".*constant \\(dead\\)")
digits = load_digits_images()
if QUICK:  # fewer images: the smoke test runs every path, on little data
    digits.X_train, digits.y_train = digits.X_train[:300], digits.y_train[:300]
    digits.X_test, digits.y_test = digits.X_test[:150], digits.y_test[:150]


def train(seed, epochs=EPOCHS):
    return train_digits_cnn(
        digits.X_train, digits.y_train, seed=seed, width=WIDTH, epochs=epochs
    )


# Pair p: seeds 2p and 2p + 1, trained; seeds 100 + 2p and 101 + 2p, untrained.
pairs = {
    "trained": [(train(2 * p), train(2 * p + 1)) for p in range(N_PAIRS)],
    "untrained": [
        (train(100 + 2 * p, 0), train(101 + 2 * p, 0)) for p in range(N_PAIRS)
    ],
}


def mean_interval(values):
    """Mean over pairs and its 95% Student-t interval."""
    result = seed_comparison(np.asarray(values, dtype=float))  # against 0
    return result.mean_difference, result.ci_low, result.ci_high


def cell(values):
    mean, low, high = mean_interval(values)
    return f"{mean:6.3f} [{low:6.3f}, {high:6.3f}]"


# %%
# SVCCA against svd_components
# ----------------------------
# Layer ``relu3`` with each channel averaged over the positions (32 units,
# one row per image). For each pair, :class:`~skrep.SVCCA` is fitted on the
# 1203 training images and scored on them (**in-sample**) and on the 594
# held-out images (**held-out**); ``kept`` is the number of canonical pairs,
# ``min(x_n_directions_, y_n_directions_)``. A float keeps the fewest
# directions holding that share of the variance, an int that many, None all.
LAYER = "relu3"
SETTINGS = [0.9, 0.95, 0.99, 0.999, None, 1, 2, 4, 8, 16, 32]
LABELS = ["0.9", "0.95", "0.99", "0.999", "None", "1", "2", "4", "8", "16", "32"]


def channel_means(net, images):
    extractor = TorchActivationExtractor(net, LAYER, reduction="mean")
    return extractor.transform(images).astype(np.float64)


sweep = {
    (kind, what): np.zeros((N_PAIRS, len(SETTINGS)))
    for kind in pairs
    for what in ("held-out", "in-sample", "kept")
}
for kind, nets in pairs.items():
    for p, (net_a, net_b) in enumerate(nets):
        X, Y = (
            channel_means(net_a, digits.X_train),
            channel_means(net_b, digits.X_train),
        )
        X_test, Y_test = (
            channel_means(net_a, digits.X_test),
            channel_means(net_b, digits.X_test),
        )
        for s, setting in enumerate(SETTINGS):
            svcca = SVCCA(svd_components=setting).fit(X, Y)
            sweep[kind, "held-out"][p, s] = svcca.score(X_test, Y_test)
            sweep[kind, "in-sample"][p, s] = svcca.score(X, Y)
            sweep[kind, "kept"][p, s] = svcca.n_components_

print(f"{LAYER} (channel means), SVCCA, mean [95% interval] over {N_PAIRS} pairs")
print(f"{'setting':8} {'held-out':>24} {'in-sample':>24} {'kept (min-max)':>15}"
      f" {'untrained held-out':>24}")  # fmt: skip
for s, label in enumerate(LABELS):
    kept = sweep["trained", "kept"][:, s]
    print(
        f"{label:8} {cell(sweep['trained', 'held-out'][:, s])} "
        f"{cell(sweep['trained', 'in-sample'][:, s])} "
        f"{int(kept.min()):>7d}-{int(kept.max()):<7d} "
        f"{cell(sweep['untrained', 'held-out'][:, s])}"
    )
# Held-out minus in-sample, paired by network pair.
gap = {
    label: seed_comparison(
        sweep["trained", "held-out"][:, s], sweep["trained", "in-sample"][:, s]
    )
    for s, label in enumerate(LABELS)
}
print("held-out minus in-sample, mean [95% interval]:")
print("  " + ", ".join(
    f"{label} {g.mean_difference:+.3f} [{g.ci_low:+.3f}, {g.ci_high:+.3f}]"
    for label, g in gap.items()
))  # fmt: skip
held = dict(zip(LABELS, sweep["trained", "held-out"].T))
steps = {
    "None - 0.95": seed_comparison(held["None"], held["0.95"]),
    "16 - 8": seed_comparison(held["16"], held["8"]),
}
versus_chance = {
    label: seed_comparison(
        sweep["trained", "held-out"][:, s],
        sweep["untrained", "held-out"][:, s],
        paired=False,
    )
    for s, label in enumerate(LABELS)
}
for name, results_ in (
    ("held-out, paired:", steps),
    ("trained - untrained:", versus_chance),
):
    print(name + " " + ", ".join(
        f"{label} {d.mean_difference:+.3f} [{d.ci_low:+.3f}, {d.ci_high:+.3f}]"
        for label, d in results_.items()
    ))  # fmt: skip

# %%
# Cross-validation folds of each pair with ``svd_components=0.9``: each fold
# keeps its own number of directions, so the folds' scores may not be on
# one scale. (The folds of one pair share rows; this shows the mechanism,
# the intervals above carry the claims.)
print("5-fold cross-validation of SVCCA(svd_components=0.9), training images:")
for p, (net_a, net_b) in enumerate(pairs["trained"]):
    X, Y = channel_means(net_a, digits.X_train), channel_means(net_b, digits.X_train)
    folds = []
    for fit_rows, score_rows in KFold(5, shuffle=True, random_state=0).split(X):
        svcca = SVCCA(svd_components=0.9).fit(X[fit_rows], Y[fit_rows])
        held = svcca.score(X[score_rows], Y[score_rows])
        folds.append(f"{held:.3f} ({svcca.n_components_})")
    print(f"  pair {p}: held-out (kept) " + ", ".join(folds))

# %%
# The figure: scores on the left, directions kept on the right. The float
# settings and None are on the left of the dotted line, integer counts on
# its right.
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
positions = np.arange(len(SETTINGS))
FLOATS, INTS = slice(0, 5), slice(5, None)  # plotted as separate curves
styles = {
    ("trained", "held-out"): ("o-", "C0"),
    ("trained", "in-sample"): ("s--", "C1"),
    ("untrained", "held-out"): ("o-", "grey"),
}
for (kind, what), (style, color) in styles.items():
    stats = np.array([mean_interval(v) for v in sweep[kind, what].T])
    for part, label in ((FLOATS, f"{kind} pairs, {what}"), (INTS, None)):
        x = positions[part]
        left.plot(x, stats[part, 0], style, color=color, label=label)
        left.fill_between(x, stats[part, 1], stats[part, 2], color=color, alpha=0.2)
for ax in (left, right):
    ax.set_xticks(positions, LABELS)
    ax.axvline(4.5, color="black", linestyle=":", linewidth=1)
    ax.set_xlabel("svd_components")
left.set_ylabel("SVCCA (mean canonical correlation)")
left.set_title(
    f"SVCCA of {LAYER} (channel means), digits: mean and 95% interval\n"
    f"over {N_PAIRS} trained pairs; untrained pairs = chance",
    fontsize=10,
)
left.legend(fontsize=8)
for kind, color in (("trained", "C0"), ("untrained", "grey")):
    kept = sweep[kind, "kept"]
    for part, label in ((FLOATS, f"{kind} pairs"), (INTS, None)):
        x, values = positions[part], kept[:, part]
        right.plot(x, values.mean(axis=0), "o-", color=color, label=label)
        right.fill_between(
            x, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2
        )
right.set_yscale("log", base=2)
right.set_ylabel("canonical pairs kept")
right.set_title(
    f"Directions kept (mean; band: lowest to highest of {N_PAIRS} pairs)", fontsize=10
)
right.legend(fontsize=8)
fig.savefig(OUTPUT / "plot_svcca_dimensionality_svd_components.png", dpi=100)

# %%
# Why the score moves with svd_components
# ---------------------------------------
# SVCCA is a *mean* over the kept canonical correlations, and they are
# sorted: the first ones are high, each one added is lower. Keeping more
# directions therefore lowers the score, and a float setting changes the
# score in steps, whenever the share of variance it asks for crosses to one
# more direction in either network. Two pairs, or two cross-validation
# folds of one pair, that keep different numbers of directions are then not
# on the same scale. Fix an integer ``svd_components`` when comparing
# scores, and report it.
#
# **Held-out above in-sample.** The SVD directions and the canonical
# directions are fitted on the training rows, so the in-sample score is
# biased upwards, and more so the more directions are kept (None: every
# one). With few kept directions that bias is small and both numbers sit
# near the top of the scale; the held-out score then also carries the
# sampling noise of the held-out rows, which can put it above the in-sample
# one. That is noise, not a sign of an error: in the table, the intervals
# of ``held-out minus in-sample`` tell which differences the pairs
# support.

# %%
# A layer's activations as a (rows, units) matrix, and back
# ---------------------------------------------------------
# The digits CNN (``DigitsCNN``) is a sequence of modules, so the
# first ``i + 1`` modules compute layer ``i`` and the others the rest of the
# network from it. A convolutional map ``(N, C, H, W)`` becomes one row per
# image and position (what ``TorchActivationExtractor(...,
# reduction="positions")`` returns), and is folded back after the projection.
names = [name for name, _ in pairs["trained"][0][0].named_children()]


def part(model, start, stop=None):
    """The modules ``start:stop`` of a sequential model, as a new Sequential."""
    return torch.nn.Sequential(*list(model.children())[start:stop])


def layer_rows(model, layer, images):
    with torch.inference_mode():
        out = part(model, 0, names.index(layer) + 1)(torch.as_tensor(images))
    if out.ndim == 4:  # (N, C, H, W) -> (N * H * W, C)
        return out.permute(0, 2, 3, 1).reshape(-1, out.shape[1]).numpy(), out.shape
    return out.numpy(), out.shape


def accuracy_from(model, layer, rows, shape, labels):
    out = torch.as_tensor(rows, dtype=torch.float32)
    if len(shape) == 4:  # back to (N, C, H, W)
        n, c, h, w = shape
        out = out.reshape(n, h, w, c).permute(0, 3, 1, 2)
    with torch.inference_mode():
        predicted = part(model, names.index(layer) + 1)(out).argmax(1).numpy()
    return float(np.mean(predicted == labels))


# %%
# Three ways to keep k dimensions of a layer
# ------------------------------------------
# * **SVCCA directions**: fit :class:`~skrep.SVCCA` between the layer and
#   the same layer of the other network (training images). Its
#   ``x_rotations_`` map the centred activations to the canonical variates,
#   best-correlated first. Keep the first k variates and map them back to
#   unit space by least squares (fitted on the training images): the
#   reconstruction is the projection of the activations on those k
#   directions.
# * **PCA directions** (a reference the paper does not show): the k
#   directions of largest variance of the layer itself.
# * **Neurons**: keep k units (the k with the largest variance, or k random
#   ones) and set every other unit to its mean activation.
#
# Every reconstruction is fed through the rest of the network and scored on
# the held-out images.


def project(train_rows, test_rows, directions, mean):
    """Least-squares reconstruction from the variates ``(rows - mean) @ d``."""
    variates = (train_rows - mean) @ directions
    back, *_ = np.linalg.lstsq(variates, train_rows - mean, rcond=None)
    return mean + ((test_rows - mean) @ directions) @ back


KINDS = ("SVCCA directions", "PCA directions", "top-variance neurons", "random neurons")
KS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
results, at_k8 = {}, {}
for layer in ("relu3", "relu4"):
    n_units = layer_rows(pairs["trained"][0][0], layer, digits.X_train[:1])[0].shape[1]
    ks = [k for k in KS if k <= n_units]
    curves = {name: np.full((N_PAIRS, len(ks)), np.nan) for name in KINDS}
    full, kept = np.zeros(N_PAIRS), np.zeros(N_PAIRS, dtype=int)
    for p, (net, other) in enumerate(pairs["trained"]):
        train_rows, _ = layer_rows(net, layer, digits.X_train)
        test_rows, shape = layer_rows(net, layer, digits.X_test)
        svcca = SVCCA().fit(train_rows, layer_rows(other, layer, digits.X_train)[0])
        kept[p] = svcca.n_components_
        mean = train_rows.mean(axis=0)
        _, _, pcs = np.linalg.svd(train_rows - mean, full_matrices=False)
        variance = train_rows.var(axis=0)
        rng = np.random.RandomState(p)

        def keep_units(units):
            rows = np.tile(mean, (len(test_rows), 1))
            rows[:, units] = test_rows[:, units]
            return accuracy_from(net, layer, rows, shape, digits.y_test)

        for i, k in enumerate(ks):
            if k <= svcca.n_components_:
                rows = project(train_rows, test_rows, svcca.x_rotations_[:, :k], mean)
                accuracy = accuracy_from(net, layer, rows, shape, digits.y_test)
                curves["SVCCA directions"][p, i] = accuracy
            rows = project(train_rows, test_rows, pcs[:k].T, mean)
            curves["PCA directions"][p, i] = accuracy_from(
                net, layer, rows, shape, digits.y_test
            )
            curves["top-variance neurons"][p, i] = keep_units(np.argsort(-variance)[:k])
            curves["random neurons"][p, i] = np.mean(
                [keep_units(rng.permutation(n_units)[:k]) for _ in range(N_RANDOM)]
            )
        full[p] = accuracy_from(net, layer, test_rows, shape, digits.y_test)
    results[layer] = (ks, curves, full)
    print(
        f"\n{layer}: {n_units} units; SVCCA kept {kept.min()} to {kept.max()} "
        f"canonical directions; accuracy with every unit {cell(full)}"
    )
    print(f"held-out accuracy, mean [95% interval] over {N_PAIRS} networks")
    print("     k  " + "  ".join(f"{name:>24}" for name in curves))
    for i, k in enumerate(ks):
        cells = [
            cell(c[:, i]) if not np.isnan(c[:, i]).any() else f"{'(not all kept)':>24}"
            for c in curves.values()
        ]
        print(f"{k:6d}  " + "  ".join(cells))
    at_8 = ks.index(8)
    for name in KINDS[1:]:
        diff = seed_comparison(
            curves["SVCCA directions"][:, at_8], curves[name][:, at_8]
        )
        print(
            f"k = 8, SVCCA directions minus {name}: {diff.mean_difference:+.3f} "
            f"[{diff.ci_low:+.3f}, {diff.ci_high:+.3f}]"
        )
        at_k8[layer, name] = diff

# %%
# Accuracy against the number of dimensions kept
# ----------------------------------------------
# Each curve is the mean over the networks, its band the 95% interval; the
# SVCCA curve stops where a network kept fewer canonical directions than k.
# The dotted line is chance (one digit in ten).
fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained", sharey=True)
for ax, (layer, (ks, curves, full)) in zip(axes, results.items()):
    for (name, values), style in zip(curves.items(), ("o-", "s--", "^-", "v:")):
        usable = ~np.isnan(values).any(axis=0)
        stats = np.array([mean_interval(v) for v in values[:, usable].T])
        x = np.array(ks)[usable]
        (line,) = ax.plot(x, stats[:, 0], style, label=name)
        ax.fill_between(x, stats[:, 1], stats[:, 2], color=line.get_color(), alpha=0.2)
    ax.axhline(full.mean(), color="grey", linewidth=1, label="all units (mean)")
    ax.axhline(0.1, color="black", linestyle=":", linewidth=1, label="chance (1/10)")
    ax.set_xscale("log", base=2)
    ticks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= ks[-1]]
    ax.set_xticks(ticks, [str(k) for k in ticks])
    ax.set_xlabel("dimensions kept (k)")
    ax.set_title(
        f"{layer} projected, rest of the net unchanged\nheld-out accuracy, mean "
        f"and 95% interval over {N_PAIRS} networks",
        fontsize=10,
    )
axes[0].set_ylabel("held-out accuracy")
axes[0].legend(fontsize=8)
fig.savefig(OUTPUT / "plot_svcca_dimensionality_directions.png", dpi=100)

# %%
# What the figures show, and how it compares with the paper
# ---------------------------------------------------------
# The printed tables come from this run; the statements below are checked
# by the code that follows in the full run (5 pairs of width-16 networks,
# 15 epochs). The quick smoke-test run checks nothing.
#
# **svd_components** (first table and figure):
#
# * **More directions, lower score.** Keeping every direction
#   (``None``) scores below ``0.95`` and 16 directions below 8, the
#   intervals of the paired differences (printed under the table) lying
#   below 0. The score is a mean of sorted correlations; each added
#   direction adds a weaker one. It need not fall at every step: one
#   direction scores below two in this run (the ``1`` and ``2`` rows).
# * **A float setting keeps different numbers of directions in different
#   pairs** (the ``kept`` column spans a range at every float setting), so
#   its scores mix different scales; the cross-validation lines show the
#   same from fold to fold. An integer keeps the same count everywhere
#   (up to the rank: 32 keeps what ``None`` keeps, because of dead units).
# * **Held-out against in-sample.** With every direction kept (``None``)
#   the in-sample score is above the held-out one, the interval of the
#   difference below 0: the fit's upward bias. Wherever held-out comes out
#   above in-sample on average, the interval of the difference includes 0:
#   within noise, as explained above.
# * **Chance.** The untrained pairs score below the trained ones at every
#   setting but ``1`` (Welch intervals printed under the table); with one
#   direction kept they do not (the top-variance direction of ``relu3``'s
#   channel means is found in untrained networks as well).
#
# **Directions against neurons** (the accuracy tables and figure):
#
# * **Directions beat neurons, as in the paper.** At k = 8 the SVCCA
#   directions give a higher held-out accuracy than 8 top-variance neurons
#   and than 8 random neurons in both layers, the intervals of the paired
#   differences lying above 0. This is Raghu et al.'s observation: the
#   network reads a low-dimensional subspace spread over many neurons.
# * **But not better than PCA directions.** The paper compares SVCCA
#   directions only with neurons. At k = 8 the interval of SVCCA minus PCA
#   includes 0 in both layers: 5 networks show no difference. What matters
#   for accuracy is keeping the high-variance subspace, which the canonical
#   directions (shared with another network) reach about as fast.
if not QUICK:
    for label, diff in steps.items():
        assert diff.ci_high < 0, (label, diff)
    for s, label in enumerate(LABELS[:4]):
        assert np.ptp(sweep["trained", "kept"][:, s]) > 0, label
    assert gap["None"].ci_high < 0
    for label, diff in gap.items():
        if diff.mean_difference > 0:
            assert diff.ci_low <= 0 <= diff.ci_high, (label, diff)
    for label, diff in versus_chance.items():
        if label == "1":
            assert diff.ci_low <= 0, diff
        else:
            assert diff.ci_low > 0, (label, diff)
    for layer in ("relu3", "relu4"):
        for name in ("top-variance neurons", "random neurons"):
            assert at_k8[layer, name].ci_low > 0, (layer, name)
        pca = at_k8[layer, "PCA directions"]
        assert pca.ci_low <= 0 <= pca.ci_high, (layer, pca)


plt.show()
