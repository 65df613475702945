"""PyTorch bridge: from a model and its inputs to activation matrices.

This subpackage is the only place where skrep imports torch. ``import skrep``
stays light; :class:`TorchActivationExtractor` is re-exported from ``skrep``
lazily, on first access.
"""

from skrep.torch._extractor import TorchActivationExtractor

__all__ = ["TorchActivationExtractor"]
