"""
=========================================================
Learning dynamics: progress from initialisation, by layer
=========================================================

Raghu et al. (2017) compared each layer of a network during training with the
same layer at the end of training, using SVCCA, and reported that networks
converge *bottom up*: lower layers reach their final representation early,
higher layers keep changing until late. They turned this into **freeze
training**: freeze the lower layers one after the other as training proceeds,
which saves computation and, in their experiments, did not hurt test
accuracy.

This example measures both on scikit-learn's digits with a small CNN trained
in-process (:func:`skrep.torch.train_digits_cnn` calls a ``callback`` after
every epoch, to take snapshots, and accepts a ``frozen`` schedule), with
several independently trained networks (seeds) and 95% Student-t intervals
over them from :func:`skrep.inference.seed_comparison`.

A layer's similarity to its final state does not start at zero: before any
training, the random initial layer is already similar to the trained one,
and by how much differs from layer to layer. So the similarity ``s(t)`` at
epoch ``t`` mixes where a layer started with how far it has moved. The
example reports it as **progress from initialisation**,

.. math:: p(t) = \\frac{s(t) - s(0)}{1 - s(0)},

the share of the distance to its final state that a layer has covered (0
before training, 1 at the end), and shows ``s(t)`` beside it, with the
similarity of an *unrelated* untrained network (another seed) to the final
one as the chance level.

The run prints its own results and checks every statement the text below
makes about them: the prose cites no number, so it cannot drift from what
the code measures.
"""

# %%
# Train, keeping a copy of each network after every epoch
# --------------------------------------------------------
# ``SKREP_EXAMPLES_QUICK=1`` makes a smoke-test run of a few seconds (two
# seeds, a few epochs); it runs every step but skips the checks of the
# statements, which are about the full run. Figures are saved in
# ``SKREP_EXAMPLES_OUTPUT`` (default ``skrep-examples-output``).
import os
import warnings
from pathlib import Path

QUICK = os.environ.get("SKREP_EXAMPLES_QUICK") == "1"
OUTPUT = Path(os.environ.get("SKREP_EXAMPLES_OUTPUT", "skrep-examples-output"))
OUTPUT.mkdir(parents=True, exist_ok=True)
EPOCHS, WIDTH, N_SEEDS = (3, 8, 2) if QUICK else (20, 16, 5)
SEEDS = range(N_SEEDS)
# Seeds of the unrelated untrained networks (the chance level).
CHANCE_SEEDS = range(100, 100 + N_SEEDS)

import copy

import matplotlib.pyplot as plt
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from skrep import SVCCA
from skrep.datasets import load_digits_images
from skrep.inference import seed_comparison
from skrep.torch import TorchActivationExtractor, train_digits_cnn

# Small networks and small matrices: one thread each for torch and BLAS is
# fastest, most of all on a shared machine.
torch.set_num_threads(1)
threadpool_limits(1)
warnings.filterwarnings("ignore", message=".*(constant \\(dead\\)|than samples)")
digits = load_digits_images()
LAYERS = ["relu1", "relu2", "relu3", "relu4", "logits"]
INTERVAL = f"mean and 95% t-interval over {N_SEEDS} seeds"


def accuracy(net):
    with torch.inference_mode():
        predicted = net(torch.as_tensor(digits.X_test)).argmax(1).numpy()
    return float(np.mean(predicted == digits.y_test))


def mean_interval(values):
    """The mean over seeds and its 95% Student-t interval."""
    result = seed_comparison(values, 0.0)
    return result.mean_difference, result.ci_low, result.ci_high


def cell(mean, low, high):
    return f"{mean:6.3f} [{low:6.3f},{high:6.3f}]"


def check(holds, statement):
    """Print a statement the text makes, and in the full run insist on it."""
    verdict = "holds" if holds else "does not hold"
    print(f"[{verdict}{' (quick run: not checked)' if QUICK else ''}] {statement}")
    if not QUICK and not holds:
        raise AssertionError(f"The example's text says: {statement}")


runs = []  # one list of snapshots (epochs 0 to EPOCHS) per seed
for seed in SEEDS:
    snapshots = []
    train_digits_cnn(
        digits.X_train,
        digits.y_train,
        seed=seed,
        width=WIDTH,
        epochs=EPOCHS,
        callback=lambda epoch, model, kept=snapshots: kept.append(copy.deepcopy(model)),
    )
    runs.append(snapshots)
    print(f"seed {seed}: final held-out accuracy {accuracy(snapshots[-1]):.3f}")

# %%
# SVCCA of every layer with the same layer at the end of training
# ---------------------------------------------------------------
# Every spatial position of a convolutional layer is one sample. Directions
# are fitted on the training images and the similarity is measured on the
# held-out images, so the dense layers are not flattered by in-sample
# fitting.


def activations(model):
    extractor = TorchActivationExtractor(model, LAYERS, reduction="positions")
    return extractor.extract(digits.X_train), extractor.extract(digits.X_test)


def held_out_svcca(acts_a, acts_b):
    (train_a, test_a), (train_b, test_b) = acts_a, acts_b
    return np.array(
        [
            SVCCA()
            .fit(train_a[layer], train_b[layer])
            .score(test_a[layer], test_b[layer])
            for layer in LAYERS
        ]
    )


similarity = np.zeros((N_SEEDS, len(LAYERS), EPOCHS + 1))  # [seed, layer, epoch]
chance = np.zeros((N_SEEDS, len(LAYERS)))  # [seed, layer]
for s, (snapshots, chance_seed) in enumerate(zip(runs, CHANCE_SEEDS)):
    final = activations(snapshots[-1])
    for t, snapshot in enumerate(snapshots):
        similarity[s, :, t] = held_out_svcca(activations(snapshot), final)
    unrelated = train_digits_cnn(
        digits.X_train, digits.y_train, seed=chance_seed, width=WIDTH, epochs=0
    )
    chance[s] = held_out_svcca(activations(unrelated), final)
start = similarity[:, :, :1]
progress = (similarity - start) / (1 - start)

SHOWN = sorted({0, 1, 2, EPOCHS // 4, EPOCHS // 2, EPOCHS})
for name, values in (("similarity s(t)", similarity), ("progress p(t)", progress)):
    print(f"\nheld-out SVCCA to the final network, {name}, {INTERVAL}")
    print("layer  " + "".join(f"{f'epoch {e}':>23}" for e in SHOWN))
    for i, layer in enumerate(LAYERS):
        cells = (cell(*mean_interval(values[:, i, e])) for e in SHOWN)
        print(f"{layer:6} " + "".join(f"{c:>23}" for c in cells))
print(f"\nchance level: an unrelated untrained network vs the final one, {INTERVAL}")
for i, layer in enumerate(LAYERS):
    print(f"{layer:6} {cell(*mean_interval(chance[:, i]))}")


# %%
# Is the order bottom-up?
# -----------------------
# For each seed and epoch: is ``relu1`` ahead of ``relu2``, ``relu2`` ahead
# of ``relu3`` (the convolutional layers), and all five layers in order?
# Counted for the raw similarity and for the progress from initialisation.
CONV = [LAYERS.index(layer) for layer in ("relu1", "relu2", "relu3")]


def in_order(values, layers):
    """(n_seeds, n_epochs): whether each layer is ahead of the next one up."""
    return np.all(np.diff(values[:, layers], axis=1) < 0, axis=1)


ALL = list(range(len(LAYERS)))
ordered = {
    "s(t), relu1 > relu2 > relu3": in_order(similarity, CONV),
    "s(t), all five layers": in_order(similarity, ALL),
    "p(t), relu1 > relu2 > relu3": in_order(progress, CONV),
    "p(t), all five layers": in_order(progress, ALL),
}
initial_order = in_order(similarity[:, :, :1], CONV)[:, 0]
print(f"\nseeds (of {N_SEEDS}) whose layers are in bottom-up order, by epoch")
MIDDLE = [e for e in SHOWN if 0 < e < EPOCHS]
print(f"{'':29}" + "".join(f"{f'epoch {e}':>9}" for e in MIDDLE))
for name, holds in ordered.items():
    print(f"{name:29}" + "".join(f"{holds[:, e].sum():>9}" for e in MIDDLE))
print(
    f"s(0), relu1 > relu2 > relu3 (before training): {initial_order.sum()} of "
    f"{N_SEEDS} seeds"
)

# Paired by seed: how far apart are the layers' progress, early and midway?
EARLY, MIDWAY = 2, EPOCHS // 2
NEIGHBOURS = ((0, 1), (1, 2), (0, 2), (2, 3), (3, 4))
gaps = {
    epoch: {
        f"{LAYERS[a]} - {LAYERS[b]}": seed_comparison(
            progress[:, a, epoch], progress[:, b, epoch], paired=True
        )
        for a, b in NEIGHBOURS
    }
    for epoch in (EARLY, MIDWAY)
}
print(f"\ndifference of progress between layers, {INTERVAL}, paired by seed")
print(f"{'':16}" + "".join(f"{f'epoch {e}':>23}" for e in gaps))
for label in gaps[EARLY]:
    cells = (gaps[e][label] for e in gaps)
    cells = (cell(r.mean_difference, r.ci_low, r.ci_high) for r in cells)
    print(f"{label:16}" + "".join(f"{c:>23}" for c in cells))

# %%
# Left: the raw similarity to the final network (dashed: the chance level of
# an unrelated untrained network). Middle: progress from initialisation.
# Right: how many seeds have their layers in bottom-up order at each epoch.
epochs = np.arange(EPOCHS + 1)
fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.3), layout="constrained")
for i, layer in enumerate(LAYERS):
    color = f"C{i}"
    for ax, values in ((left, similarity), (middle, progress)):
        mean, low, high = np.array([mean_interval(v) for v in values[:, i].T]).T
        ax.plot(epochs, mean, color=color, marker=".", label=layer)
        ax.fill_between(epochs, low, high, color=color, alpha=0.2)
    left.axhline(chance[:, i].mean(), color=color, linestyle="--", linewidth=1)
left.plot([], [], color="grey", linestyle="--", label="chance (unrelated net)")
left.set_ylabel("SVCCA similarity to the final network")
left.set_title("Similarity s(t)")
left.set_ylim(max(0, left.get_ylim()[0]), 1.05)
middle.set_ylabel("(s(t) - s(0)) / (1 - s(0))")
middle.set_title("Progress from initialisation p(t)")
for k, (name, holds) in enumerate(ordered.items()):
    right.plot(
        epochs[1:-1],
        holds[:, 1:-1].sum(0) + 0.06 * (k - 1.5),  # offset: lines stay visible
        "-" if name.startswith("p") else ":",
        color="C0" if "relu3" in name else "C3",
        marker="o" if name.startswith("p") else "x",
        label=name,
    )
right.set_ylim(-0.3, N_SEEDS + 0.3)
right.set_yticks(range(N_SEEDS + 1))
right.set_ylabel(f"seeds in bottom-up order (of {N_SEEDS})")
right.set_title("Is the order bottom-up?")
for ax in (left, middle, right):
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
fig.suptitle(
    f"Held-out SVCCA to the final network, digits CNN width {WIDTH}: {INTERVAL}",
    fontsize=10,
)
fig.savefig(OUTPUT / "plot_learning_dynamics_progress.png", dpi=120)

# %%
# Freeze training
# ---------------
# The schedule freezes ``conv1`` after 30% of the epochs, ``conv2`` after
# 45%, ``conv3`` after 60% and the dense layer ``fc1`` after 75%; the output
# layer always trains. Each seed above is trained again with this schedule
# (same initial weights and batch order), and the held-out accuracy is
# recorded after every epoch.
FREEZE_AT = {"conv1": 0.30, "conv2": 0.45, "conv3": 0.60, "fc1": 0.75}


def frozen(epoch):
    return {name for name, at in FREEZE_AT.items() if epoch > at * EPOCHS}


curves = {"normal": np.array([[accuracy(m) for m in snapshots] for snapshots in runs])}
freeze_curves = []
for seed in SEEDS:
    history = []
    train_digits_cnn(
        digits.X_train,
        digits.y_train,
        seed=seed,
        width=WIDTH,
        epochs=EPOCHS,
        frozen=frozen,
        callback=lambda epoch, model: history.append(accuracy(model)),
    )
    freeze_curves.append(history)
curves["freeze training"] = np.array(freeze_curves)  # [seed, epoch]

# Share of the parameter updates that freeze training skips.
sizes = {
    name: sum(p.numel() for p in module.parameters())
    for name, module in runs[0][-1].named_children()
}
trained = sum(
    size * sum(name not in frozen(e) for e in range(1, EPOCHS + 1))
    for name, size in sizes.items()
)
skipped = 1 - trained / (sum(sizes.values()) * EPOCHS)
print(f"freeze training skips {skipped:.0%} of the parameter updates")
for name, accuracies in curves.items():
    print(
        f"{name:16} final held-out accuracy {cell(*mean_interval(accuracies[:, -1]))}"
    )
freeze_cost = seed_comparison(
    curves["freeze training"][:, -1], curves["normal"][:, -1], paired=True
)
print(
    "freeze - normal, final held-out accuracy, paired by seed: "
    f"{cell(freeze_cost.mean_difference, freeze_cost.ci_low, freeze_cost.ci_high)}"
)

fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
for name, accuracies in curves.items():
    mean, low, high = np.array([mean_interval(a) for a in accuracies.T]).T
    ax.plot(epochs, mean, marker=".", label=name)
    ax.fill_between(epochs, low, high, alpha=0.25)
ax.axhline(0.1, color="grey", linestyle="--", linewidth=1, label="chance (1 in 10)")
for name, at in FREEZE_AT.items():
    ax.axvline(at * EPOCHS, color="grey", linestyle=":", linewidth=1)
    ax.text(at * EPOCHS, 0.55, f" {name} frozen", rotation=90, fontsize=8)
ax.set_xlabel("epoch")
ax.set_ylabel("held-out accuracy")
ax.set_ylim(0, 1.0)
ax.set_title(f"Freeze training, digits CNN width {WIDTH}: {INTERVAL}", fontsize=10)
ax.legend(loc="lower right")
fig.savefig(OUTPUT / "plot_learning_dynamics_freeze.png", dpi=120)

# %%
# What the run shows
# ------------------
# Each line below is a statement about the full run's tables above; the
# run checks it and stops if it does not hold. "Ahead", "behind" and
# "level" refer to the 95% interval of a paired difference: above zero,
# below zero, or including it.


def above(result):
    return result.ci_low > 0


def level(result):
    return result.ci_low <= 0 <= result.ci_high


conv_pairs = ("relu1 - relu2", "relu2 - relu3", "relu1 - relu3")
chance_means = chance.mean(axis=0)
check(
    bool(np.all(np.diff(chance_means[CONV]) < 0)) and initial_order.all(),
    "before training, the convolutional layers are already ordered relu1 > "
    "relu2 > relu3 in similarity to the final network, in every seed, and so "
    "is the chance level of an unrelated untrained network",
)
check(
    ordered["s(t), relu1 > relu2 > relu3"][:, EARLY].sum() >= N_SEEDS - 1,
    f"at epoch {EARLY}, the raw similarity s(t) of the convolutional layers is "
    "in bottom-up order in all seeds but at most one",
)
check(
    ordered["p(t), relu1 > relu2 > relu3"][:, EARLY].sum() <= 1,
    f"at epoch {EARLY}, the progress p(t) of the convolutional layers is in "
    "bottom-up order in at most one seed",
)
check(
    all(level(gaps[EARLY][label]) for label in conv_pairs),
    f"at epoch {EARLY}, the convolutional layers' progress is level, pair by pair",
)
check(
    gaps[EARLY]["relu4 - logits"].ci_high < 0,
    f"at epoch {EARLY}, the logits are ahead of relu4 in progress",
)
first_quarter = progress[:, :, 1 : EPOCHS // 4 + 1].mean(axis=0)
check(
    bool(np.all(first_quarter.argmax(axis=0) == LAYERS.index("logits"))),
    f"at every epoch from 1 to {EPOCHS // 4}, the logits have the highest mean "
    "progress of all layers",
)
midway_gaps = gaps[MIDWAY]
check(
    midway_gaps["relu1 - relu2"].mean_difference > 0
    and midway_gaps["relu1 - relu3"].mean_difference > 0
    and ordered["p(t), relu1 > relu2 > relu3"][:, MIDWAY].sum() <= N_SEEDS // 2,
    f"at epoch {MIDWAY}, relu1 is ahead of relu2 and relu3 in mean progress, "
    "but the convolutional layers' progress is in bottom-up order in at most "
    "half of the seeds",
)
LAST_QUARTER = range(3 * EPOCHS // 4, EPOCHS)
check(
    bool(
        np.all(
            ordered["p(t), relu1 > relu2 > relu3"][:, LAST_QUARTER].sum(0)
            >= N_SEEDS - 1
        )
    ),
    f"from epoch {LAST_QUARTER.start} on, the convolutional layers' progress is "
    "in bottom-up order in all seeds but at most one",
)
check(
    midway_gaps["relu4 - logits"].ci_high < 0,
    f"at epoch {MIDWAY}, the logits are still ahead of relu4 in progress",
)
check(
    not ordered["p(t), all five layers"].any(),
    "at no epoch and in no seed is the progress of all five layers in bottom-up order",
)
check(
    level(freeze_cost) and freeze_cost.ci_high - freeze_cost.ci_low < 0.02,
    "freeze training's final held-out accuracy is level with normal "
    "training's, within a paired interval narrower than 0.02",
)

# %%
# Reading the results
# -------------------
# The statements are the checked lines printed just above; this section
# says what they mean and how they compare with Raghu et al.
#
# * **The early bottom-up order of the raw similarity is the order the
#   layers start from.** Read as ``s(t)``, the convolutional layers look
#   bottom-up early in training, as in the paper. But they are in that
#   order before any training too, and so is the similarity of an
#   unrelated untrained network to the final one: a random first layer,
#   reading 3x3 pixel patches, is already much like the trained one.
# * **Measured as progress from initialisation, convergence is not
#   bottom-up early in training.** Early on, the convolutional layers have
#   covered about the same share of the way to their final state (level
#   within the intervals), and their progress is in bottom-up order in
#   hardly any seed (the count table and the right panel).
# * **It becomes bottom-up late, by small margins.** Midway through
#   training ``relu1`` is ahead on average, but the full order holds in at
#   most half of the seeds; only in the last quarter of training, when every
#   layer is close to its final state, are the convolutional layers in
#   bottom-up order in (nearly) every seed. So the lowest layer does finish
#   first, as Raghu et al. found, but the early bottom-up picture of the raw
#   similarity is its starting point, not faster convergence.
# * **The logits converge first, and the layers above the convolutions are
#   never in order.** The logits' progress is ahead of every other layer's
#   through the first quarter of training, and ahead of ``relu4`` early and
#   midway beyond the interval; plausibly because the outputs are tied to
#   the ten classes as soon as the network classifies well, whatever the
#   layers below still do.
#   All five layers are in bottom-up order at no epoch of any seed.
# * **Freeze training costs nothing measurable here.** Freezing ``conv1``
#   to ``fc1`` progressively skips the printed share of the parameter
#   updates, and the final held-out accuracy is level with normal
#   training's, with a narrow paired interval. This agrees with the paper;
#   it does not need bottom-up convergence, only that the frozen layers
#   are good enough by the time they are frozen.

plt.show()
