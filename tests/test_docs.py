"""Every public function and class documents itself with a runnable example."""

import importlib

import pytest

MODULES = [
    "skrep",
    "skrep.base",
    "skrep.inference",
    "skrep.utils",
    "skrep.plotting",
    "skrep.datasets",
]
try:
    import torch  # noqa: F401
except ImportError:  # pragma: no cover - torch is optional
    pass
else:
    MODULES.append("skrep.torch")


def _documented_objects(module):
    """Public functions and classes (constants and warning classes aside)."""
    for name in module.__all__:
        value = getattr(module, name)
        if not callable(value):
            continue
        if isinstance(value, type) and issubclass(value, Warning):
            continue
        yield name, value


@pytest.mark.parametrize("module_name", MODULES)
def test_public_objects_have_doctest_examples(module_name):
    module = importlib.import_module(module_name)
    missing = [
        name
        for name, value in _documented_objects(module)
        if ">>> " not in (value.__doc__ or "") or "Examples\n" not in value.__doc__
    ]
    assert not missing, f"no Examples section with a doctest: {missing}"


def test_warning_classes_are_documented():
    exceptions = importlib.import_module("skrep.exceptions")
    for name in exceptions.__all__:
        value = getattr(exceptions, name)
        if isinstance(value, type):
            assert issubclass(value, UserWarning)
        assert value.__doc__, name
