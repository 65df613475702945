"""Every public object documents itself with a runnable example."""

import importlib

import pytest

MODULES = ["skrep", "skrep.plotting", "skrep.datasets"]
try:
    import torch  # noqa: F401
except ImportError:  # pragma: no cover - torch is optional
    pass
else:
    MODULES.append("skrep.torch")


@pytest.mark.parametrize("module_name", MODULES)
def test_public_objects_have_doctest_examples(module_name):
    module = importlib.import_module(module_name)
    if module_name == "skrep" and "torch" not in MODULES:
        names = [n for n in module.__all__ if n != "TorchActivationExtractor"]
    else:
        names = module.__all__
    missing = [
        name
        for name in names
        if ">>> " not in (getattr(module, name).__doc__ or "")
        or "Examples\n" not in (getattr(module, name).__doc__ or "")
    ]
    assert not missing, f"no Examples section with a doctest: {missing}"
