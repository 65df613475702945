"""
=================================================================
Two ResNet-18s, layer by layer, streamed with ``compare_models``
=================================================================

The other examples compare small CNNs. This one compares two networks of
real depth: two ResNet-18s (He et al. 2016; :class:`skrep.torch.ResNet18`,
written in torch, nothing downloaded) trained on scikit-learn's digits from
two random seeds. :func:`skrep.torch.compare_models` runs every batch of
images through both networks once and feeds each pair of layers to its own
:class:`skrep.SVCCA` with ``partial_fit``, so the activations of the
training images are never held; each fitted pair is then scored on
held-out images.

Two untrained ResNet-18s give the chance level: what the same architecture
and the same images give without any learning. A trained network against
an untrained one shows how far learning moved each layer.
"""

# %%
# Train two ResNet-18s that differ only in their random seed
# ----------------------------------------------------------
# The small-input stem (one 3x3 convolution, no pooling) suits 8 x 8 digits;
# stages 2 to 4 each halve the size, so ``layer4`` sees 1 x 1 maps. ``WIDTH``
# is the channels of the first stage: 64 is ResNet-18 proper ([64, 128, 256,
# 512] channels; both parameter counts are printed below). This example uses
# half of it ([32, 64, 128, 256]), the same depth at a quarter of the
# arithmetic, so that it trains two networks and compares them in under a
# minute on two CPU cores. ``SKREP_EXAMPLES_QUICK=1`` makes a smoke-test run
# of a few seconds (thin networks, few images, fewer layers, no checks).
# ``SKREP_EXAMPLES_OUTPUT`` names the folder the figures are saved in.
import os
import warnings
from pathlib import Path

QUICK = os.environ.get("SKREP_EXAMPLES_QUICK") == "1"
WIDTH, EPOCHS = (4, 1) if QUICK else (32, 5)
OUTPUT = Path(os.environ.get("SKREP_EXAMPLES_OUTPUT", "skrep-examples-output"))
OUTPUT.mkdir(parents=True, exist_ok=True)

import matplotlib.pyplot as plt
import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from skrep import SVCCA
from skrep.datasets import load_digits_images
from skrep.torch import ResNet18, compare_models

# One thread each for torch and BLAS: on a busy two-core machine, torch's
# second thread made training several times slower, not faster.
torch.set_num_threads(1)
threadpool_limits(1)
digits = load_digits_images()
if QUICK:  # fewer images: the smoke test runs every path, on little data
    digits.X_train, digits.y_train = digits.X_train[:200], digits.y_train[:200]
    digits.X_test, digits.y_test = digits.X_test[:100], digits.y_test[:100]


def train_resnet(seed, epochs=EPOCHS, batch_size=64, lr=3e-3):
    """A ResNet-18 for the digits, trained with Adam (0 epochs: untrained)."""
    torch.manual_seed(seed)
    net = ResNet18(in_channels=1, n_classes=10, width=WIDTH, stem="small")
    images = torch.as_tensor(digits.X_train)
    labels = torch.as_tensor(digits.y_train)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        batches = torch.randperm(len(images), generator=order).split(batch_size)
        for batch in batches:
            optimiser.zero_grad()
            nn.functional.cross_entropy(net(images[batch]), labels[batch]).backward()
            optimiser.step()
    return net.eval()


def accuracy(net):
    with torch.inference_mode():
        logits = net(torch.as_tensor(digits.X_test))
    return float((logits.argmax(1).numpy() == digits.y_test).mean())


nets = {
    "trained 1": train_resnet(0),
    "trained 2": train_resnet(1),
    "untrained 1": train_resnet(2, epochs=0),
    "untrained 2": train_resnet(3, epochs=0),
}


def n_parameters(net):
    return sum(p.numel() for p in net.parameters())


full_width = ResNet18(in_channels=1, n_classes=10, stem="small")
print(
    f"ResNet-18, width 64 (not trained here): {n_parameters(full_width):,} parameters"
)
print(f"ResNet-18, width {WIDTH}: {n_parameters(nets['trained 1']):,} parameters")
for name, net in nets.items():
    print(f"{name:12} held-out accuracy {accuracy(net):.3f}")

# %%
# Compare the layers, streaming
# -----------------------------
# The layers compared are the stem (``relu``, after its batch norm), the
# output of each of the eight basic blocks (``layer1.0`` ... ``layer4.1``)
# and the logits (``fc``). ``avgpool`` is left out: on 1 x 1 maps it equals
# ``layer4.1``. As in the SVCCA paper, every position of a convolutional
# map is one row (``reduction="positions"``): 64, 16, 4 and 1 rows per image
# in stages 1 to 4, the same in both networks. SVCCA is fitted on the
# training images and scored on the held-out images (``test=``): with
# hundreds of units, in-sample canonical correlations would be biased
# upwards. Some units never fire on the digits; SVCCA drops them and warns
# (silenced here).
warnings.filterwarnings("ignore", message=".*constant \\(dead\\)")
if QUICK:
    LAYERS = ["relu", "layer2.1", "layer4.1", "fc"]
else:
    LAYERS = ["relu"] + [f"layer{s}.{b}" for s in range(1, 5) for b in (0, 1)]
    LAYERS += ["fc"]
PAIRS = {
    "trained vs trained": ("trained 1", "trained 2"),
    "trained vs untrained": ("trained 1", "untrained 1"),
    "untrained vs untrained": ("untrained 1", "untrained 2"),
}
held_out = {"test": digits.X_test, "batch_size": 256}
diagonal = {}
for label, (a, b) in PAIRS.items():
    result = compare_models(
        nets[a], nets[b], digits.X_train, LAYERS, SVCCA(),
        pairs="diagonal", reduction="positions", **held_out,
    )  # fmt: skip
    assert result.evaluation == "held-out"
    diagonal[label] = np.diag(result.scores)

print("held-out SVCCA, each layer against the same layer of the other net")
print(f"{'layer':9} " + " ".join(f"{label:>23}" for label in PAIRS))
for k, layer in enumerate(LAYERS):
    print(f"{layer:9} " + " ".join(f"{diagonal[p][k]:23.3f}" for p in PAIRS))

# %%
# The layer-by-layer similarity
# -----------------------------
fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
styles = {
    "trained vs trained": {"marker": "o"},
    "trained vs untrained": {"marker": "s", "linestyle": "--"},
    "untrained vs untrained": {"marker": "^", "linestyle": ":", "color": "grey"},
}
for label, scores in diagonal.items():
    ax.plot(scores, label=label, **styles[label])
ax.set_xticks(range(len(LAYERS)), LAYERS, rotation=45, ha="right")
ax.set_xlabel("layer (the same in both networks)")
ax.set_ylabel("held-out SVCCA")
ax.set_ylim(0, 1)
ax.legend(loc="lower left")
ax.set_title(
    f"Two ResNet-18s (width {WIDTH}) on digits, layer by layer:\n"
    "held-out SVCCA of each layer with the same layer of the other network"
)
fig.savefig(OUTPUT / "plot_resnet_compare_models_layers.png")

# %%
# Every layer against every layer
# -------------------------------
# The same measure for every pair of layers of the two trained networks:
# one streamed pass over the training images feeds all the estimators
# (one per cell). Layers of different stages have maps of different sizes,
# so here each channel is averaged over the positions (``reduction="mean"``):
# one row per image in every layer.
grid = compare_models(
    nets["trained 1"], nets["trained 2"], digits.X_train, LAYERS, SVCCA(),
    reduction="mean", **held_out,
)  # fmt: skip
fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
image = ax.imshow(grid.scores, vmin=0, vmax=1, cmap="viridis")
for (i, j), value in np.ndenumerate(grid.scores):
    color = "black" if value > 0.6 else "white"
    ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=color)
ax.set_xticks(range(len(LAYERS)), LAYERS, rotation=45, ha="right")
ax.set_yticks(range(len(LAYERS)), LAYERS)
ax.set_xlabel("layer of trained 2")
ax.set_ylabel("layer of trained 1")
ax.set_title(
    "Held-out SVCCA of every layer of one trained ResNet-18\n"
    "with every layer of the other (channels averaged over positions)"
)
fig.colorbar(image, ax=ax, shrink=0.8, label="held-out SVCCA")
fig.savefig(OUTPUT / "plot_resnet_compare_models_grid.png")
# The logits aside (see below), which layer of the other network is closest:
blocks = LAYERS[:-1]
best = [blocks[j] for j in np.argmax(grid.scores[:, :-1], axis=1)]
print("the most similar layer of trained 2 (logits aside), for each of trained 1:")
for layer, partner in zip(LAYERS, best):
    print(f"{layer:9} -> {partner}")

# %%
# What the figures show
# ---------------------
# The statements below are about the full run and refer to what it prints
# above; the script checks each of them (the quick smoke-test run trains thin
# networks on few images, and its numbers differ).
#
# * **Learning shows at the top.** Both trained networks classify most
#   held-out digits, the untrained ones do not. At the logits the
#   two trained networks are far more alike than either chance pair, and
#   from the second block of stage 3 (``layer3.1``) on the trained pair is
#   above the untrained pair.
# * **Not at the bottom.** In the stem and in stages 1 and 2, the two
#   trained networks are no more alike than a chance pair: two networks of
#   one architecture reading the same images already share this much, with
#   or without training. A similarity without a chance level says little.
# * **Across layers.** In the grid, leaving the logits aside, every block of
#   stages 3 and 4 of one trained network is most similar to a block of
#   stages 3 or 4 of the other. But from stage 2 on, each layer's row and
#   column peak at the logits of the other network: SVCCA averages as many
#   canonical correlations as the narrower layer keeps directions, so with
#   ten logits only the ten that a wide layer predicts best. Each block of
#   stages 1 and 2 of one network is even closer, by this measure, to the
#   other's logits than to the same block of the other: a grid across layers
#   of different widths is not a map of which layer corresponds to which.
if not QUICK:
    for name, net in nets.items():
        assert (accuracy(net) > 0.9) == name.startswith("trained"), name
    trained = diagonal["trained vs trained"]
    untrained = diagonal["untrained vs untrained"]
    chance = np.maximum(diagonal["trained vs untrained"], untrained)
    top = LAYERS.index("layer3.1")
    fc, early = LAYERS.index("fc"), LAYERS.index("layer2.1") + 1
    assert trained[fc] > chance[fc] + 0.25
    assert np.all(trained[top:] > untrained[top:])
    assert np.all(trained[:early] < chance[:early])
    late = blocks[blocks.index("layer3.0") :]
    assert all(partner in late for layer, partner in zip(LAYERS, best) if layer in late)
    column = np.argmax(grid.scores[:-1], axis=0)
    assert all(blocks[i] in late for layer, i in zip(LAYERS, column) if layer in late)
    for k in range(1, early):
        assert grid.scores[k, fc] > grid.scores[k, k], LAYERS[k]
    for k in range(LAYERS.index("layer2.0"), fc):
        assert np.argmax(grid.scores[k]) == np.argmax(grid.scores[:, k]) == fc

plt.show()
