"""Small convolutional networks for scikit-learn's 8x8 digits, trained in-process."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

__all__ = ["DigitsCNN", "train_digits_cnn"]


class DigitsCNN(nn.Sequential):
    """A five-layer CNN for 1 x 8 x 8 images (conv, conv, pool, conv, fc, fc).

    The network behind the demo, :mod:`skrep.datasets` and the gallery: small
    enough to train in seconds on a CPU (see
    :func:`~skrep.torch.train_digits_cnn`). Its modules are named, so that
    :class:`~skrep.torch.TorchActivationExtractor` can read them: ``conv1``,
    ``relu1``, ``conv2``, ``relu2``, ``pool``, ``conv3``, ``relu3``,
    ``flatten``, ``fc1``, ``relu4``, ``logits``. The layers usually compared
    are listed in :data:`~skrep.torch.DIGITS_LAYERS`.

    Parameters
    ----------
    width : int, default=16
        Channels of the first conv layer; the later conv layers have twice
        as many and the hidden dense layer four times as many.
    n_classes : int, default=10
        Number of outputs (logits).

    See Also
    --------
    skrep.torch.train_digits_cnn : Train one on scikit-learn's digits.
    skrep.torch.TorchActivationExtractor : Read its layers as activation matrices.

    Examples
    --------
    >>> import torch
    >>> from skrep.torch import DigitsCNN
    >>> net = DigitsCNN(width=4)
    >>> net(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    >>> net[-2:]  # the layers after relu4's input, as a plain Sequential
    Sequential(
      (relu4): ReLU()
      (logits): Linear(in_features=16, out_features=10, bias=True)
    )
    """

    def __getitem__(self, index):
        """Layers by position; a slice is a plain ``nn.Sequential`` of them."""
        if isinstance(index, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[index]))
        return super().__getitem__(index)

    def __init__(self, width=16, n_classes=10):
        super().__init__(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(1, width, 3, padding=1)),
                    ("relu1", nn.ReLU()),
                    ("conv2", nn.Conv2d(width, 2 * width, 3, padding=1)),
                    ("relu2", nn.ReLU()),
                    ("pool", nn.MaxPool2d(2)),
                    ("conv3", nn.Conv2d(2 * width, 2 * width, 3, padding=1)),
                    ("relu3", nn.ReLU()),
                    ("flatten", nn.Flatten()),
                    ("fc1", nn.Linear(2 * width * 16, 4 * width)),
                    ("relu4", nn.ReLU()),
                    ("logits", nn.Linear(4 * width, n_classes)),
                ]
            )
        )


def train_digits_cnn(
    images,
    labels,
    *,
    seed=0,
    width=16,
    epochs=15,
    batch_size=64,
    lr=3e-3,
    weight_decay=0.0,
    callback=None,
    frozen=(),
):
    """Train a :class:`~skrep.torch.DigitsCNN` with Adam and cross-entropy on the CPU.

    Parameters
    ----------
    images : ndarray of shape (n_samples, 1, 8, 8)
        Training images (float).
    labels : ndarray of shape (n_samples,)
        Integer class labels (random labels make a network that memorises).
    seed : int, default=0
        Seeds the initial weights and the batch order.
    width : int, default=16
        Network width (see :class:`DigitsCNN`).
    epochs : int, default=15
        Passes over the data; 0 returns the random initialisation.
    batch_size : int, default=64
        Mini-batch size.
    lr : float, default=3e-3
        Adam learning rate.
    weight_decay : float, default=0.0
        Adam L2 penalty.
    callback : callable, default=None
        Called as ``callback(epoch, model)`` after the initialisation
        (epoch 0) and after each epoch, e.g. to snapshot the weights.
    frozen : callable or collection of str, default=()
        Names of parameters' modules (e.g. ``{"conv1"}``) whose weights are
        not updated, or a callable ``frozen(epoch) -> collection`` for
        freeze training schedules.

    Returns
    -------
    model : DigitsCNN
        The trained network, in eval mode.

    See Also
    --------
    skrep.torch.DigitsCNN : The architecture.
    skrep.torch.DIGITS_LAYERS : Its layers usually compared.
    skrep.datasets.load_digits_images : The images, split for training.

    Notes
    -----
    Training runs on one torch thread (restored afterwards): these networks
    are so small that intra-op threads only add synchronisation, and on a
    busy 2-core machine two threads were measured 60x slower than one.

    Examples
    --------
    >>> import torch
    >>> from skrep.datasets import load_digits_images
    >>> from skrep.torch import DIGITS_LAYERS, TorchActivationExtractor
    >>> from skrep.torch import train_digits_cnn
    >>> split = load_digits_images()
    >>> net = train_digits_cnn(split.X_train, split.y_train, width=4, epochs=1)
    >>> net(torch.as_tensor(split.X_test[:3])).shape
    torch.Size([3, 10])
    >>> extractor = TorchActivationExtractor(net, DIGITS_LAYERS[-1])
    >>> extractor.fit_transform(split.X_test).shape
    (594, 10)
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(
            images, labels, seed, width, epochs, batch_size, lr, weight_decay,
            callback, frozen,
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)


def _train(
    images, labels, seed, width, epochs, batch_size, lr, weight_decay, callback, frozen
):
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = DigitsCNN(width=width, n_classes=int(np.max(labels)) + 1)
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    t = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    if callback is not None:
        callback(0, model)
    for epoch in range(1, epochs + 1):
        names = frozen(epoch) if callable(frozen) else frozen
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.split(".")[0] not in names)
        model.train()
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            optimiser.zero_grad()
            loss_fn(model(x[batch]), t[batch]).backward()
            optimiser.step()
        if callback is not None:
            model.eval()
            callback(epoch, model)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model.eval()
