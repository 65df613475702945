"""skrep: compare what neural networks learn, the scikit-learn way.

Estimators for the representation-similarity analyses of Convergent Learning
(Li et al. 2016), SVCCA (Raghu et al. 2017) and PWCCA (Morcos et al. 2018),
and the measures researchers compare them with: CKA (Kornblith et al. 2019),
generalised shape metrics (Williams et al. 2021), RSA (Kriegeskorte et al.
2008) and the SVCCA paper's DFT-CCA for convolutional layers.
Rows are samples (stimuli), columns are units.

``import skrep`` and ``from skrep import *`` never import torch, and both work
where torch is not installed. The PyTorch bridge lives in :mod:`skrep.torch`;
``skrep.TorchActivationExtractor`` is a shortcut to
:class:`skrep.torch.TorchActivationExtractor`, loaded lazily on first access
(a module-level ``__getattr__``), and is for that reason not in ``__all__``.
"""

__version__ = "0.1.0"

from skrep._cca import PWCCA, SVCCA, pwcca, svcca
from skrep._cka import CKA, cka
from skrep._compare import LayerComparison, compare_layers
from skrep._dft import DFTCCA
from skrep._matching import UnitMatcher, match_groups
from skrep._procrustes import Procrustes
from skrep._rsa import RSA, rdm, rsa
from skrep._sparse import SparseLayerPredictor, SparseLayerPredictorCV
from skrep._units import dead_units

__all__ = [
    "CKA",
    "DFTCCA",
    "LayerComparison",
    "PWCCA",
    "Procrustes",
    "RSA",
    "SVCCA",
    "SparseLayerPredictor",
    "SparseLayerPredictorCV",
    "UnitMatcher",
    "cka",
    "compare_layers",
    "dead_units",
    "match_groups",
    "pwcca",
    "rdm",
    "rsa",
    "svcca",
]

# Loaded on first access, so that importing skrep never imports torch; not in
# __all__, so that a star import does not either.
_LAZY = {"TorchActivationExtractor": "skrep.torch"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return getattr(module, name)
    raise AttributeError(f"module 'skrep' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
