"""The bundled default: scikit-learn's digits and small networks trained on them.

No download happens: the images ship with scikit-learn and the networks
are trained in-process in seconds on a CPU. Training needs the ``torch``
extra; importing this module does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

__all__ = ["DigitsSplit", "load_digits_images", "train_digits_cnn"]


@dataclass
class DigitsSplit:
    """Train and test images of the 8x8 digits, shaped for a CNN.

    Attributes
    ----------
    X_train, X_test : ndarray of shape (n, 1, 8, 8), float32 in [0, 1]
    y_train, y_test : ndarray of shape (n,), int

    Examples
    --------
    >>> from skrep.datasets import load_digits_images
    >>> split = load_digits_images(test_size=0.5)
    >>> split.X_test.dtype, len(split.y_train) + len(split.y_test)
    (dtype('float32'), 1797)
    """

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def load_digits_images(*, test_size=0.33, random_state=0):
    """Scikit-learn's digits as (n, 1, 8, 8) float32 images, split stratified.

    Parameters
    ----------
    test_size : float, default=0.33
        Share of the 1797 images held out.
    random_state : int, default=0
        Seed of the split.

    Returns
    -------
    split : DigitsSplit
        Train and test images and labels.

    Examples
    --------
    >>> from skrep.datasets import load_digits_images
    >>> split = load_digits_images()
    >>> split.X_train.shape, split.X_test.shape
    ((1203, 1, 8, 8), (594, 1, 8, 8))
    """
    X, y = load_digits(return_X_y=True)
    images = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    parts = train_test_split(
        images, y, test_size=test_size, random_state=random_state, stratify=y
    )
    return DigitsSplit(*parts)


def train_digits_cnn(images, labels, **params):
    """Train a small CNN on digit images (needs torch).

    The same as :func:`skrep.torch.train_digits_cnn`, which documents the
    parameters (``seed``, ``width``, ``epochs``, ``callback``, ``frozen``...),
    kept here beside the images. torch is imported on the first call, not with
    this module. The network is a :class:`skrep.torch.DigitsCNN`; the layers
    usually compared are :data:`skrep.torch.DIGITS_LAYERS`.

    Parameters
    ----------
    images : ndarray of shape (n_samples, 1, 8, 8)
        Training images.
    labels : ndarray of shape (n_samples,)
        Class labels.
    **params
        Training parameters of :func:`skrep.torch.train_digits_cnn`.

    Returns
    -------
    model : skrep.torch.DigitsCNN
        The trained network, in eval mode.

    See Also
    --------
    skrep.torch.train_digits_cnn : The function this one calls.

    Examples
    --------
    >>> import torch
    >>> from skrep.datasets import load_digits_images, train_digits_cnn
    >>> split = load_digits_images()
    >>> net = train_digits_cnn(split.X_train, split.y_train, width=4, epochs=1)
    >>> net(torch.as_tensor(split.X_test[:3])).shape
    torch.Size([3, 10])
    """
    from skrep.torch import train_digits_cnn as train

    return train(images, labels, **params)
