"""PyTorch bridge: from a model and its inputs to activation matrices.

This subpackage is the only place where skrep imports torch (the ``torch``
extra: ``pip install "skrep[torch]"``). ``import skrep`` stays light;
:class:`TorchActivationExtractor` is also reachable as
``skrep.TorchActivationExtractor``, loaded on first access.

It also holds the bundled default networks: :class:`DigitsCNN`, a small CNN
for scikit-learn's 8x8 digits, :func:`train_digits_cnn`, which trains one in
seconds on a CPU, and :data:`DIGITS_LAYERS`, the layers usually compared;
:class:`ResNet18` is a real-size network written in torch (torchvision's
layout and parameter names; no weights are downloaded).
:func:`compare_models` streams two networks through one comparison: each
batch runs through both once and feeds every pair of layers' estimator with
``partial_fit``, so the activations are never held.
"""

try:
    import torch  # noqa: F401
except ModuleNotFoundError as exc:
    if exc.name != "torch":
        raise
    raise ModuleNotFoundError(
        'skrep.torch needs PyTorch, which is not installed: pip install "skrep[torch]"',
        name="torch",
    ) from exc

from skrep.torch._compare_models import compare_models
from skrep.torch._digits import DigitsCNN, train_digits_cnn
from skrep.torch._extractor import TorchActivationExtractor
from skrep.torch._resnet import ResNet18

#: The layers of :class:`DigitsCNN` that the demo and the gallery compare, input
#: to output: the post-ReLU activations of its three conv layers and of its
#: hidden dense layer, then the logits. Pass it as the ``layers`` of
#: :class:`TorchActivationExtractor`.
DIGITS_LAYERS = ("relu1", "relu2", "relu3", "relu4", "logits")

__all__ = [
    "DIGITS_LAYERS",
    "DigitsCNN",
    "ResNet18",
    "TorchActivationExtractor",
    "compare_models",
    "train_digits_cnn",
]
