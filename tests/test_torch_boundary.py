"""torch stays behind ``skrep.torch``: the rest of skrep works without it.

The runtime checks run in fresh interpreters, some with torch made
unimportable (as where it is not installed), so that what this test process
has already imported cannot hide an import of torch.
"""

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "skrep"
TORCH_PACKAGE = PACKAGE / "torch"

# A finder ahead of all others that answers every import of torch as a missing
# package would. (Putting None into sys.modules["torch"] is not the same:
# libraries such as scipy look torch up in sys.modules and expect a module.)
BLOCK_TORCH = '''
import sys


class _NoTorch:
    """Make torch unimportable."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoTorch())
try:
    import torch
except ModuleNotFoundError:
    pass
else:
    raise AssertionError("torch was not blocked")
'''


def _modules_outside_torch():
    """Dotted names of every skrep module outside skrep/torch."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if TORCH_PACKAGE in path.parents:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def _run(code, *, block_torch=False):
    """Run ``code`` in a fresh interpreter; return what it prints as JSON."""
    source = (BLOCK_TORCH if block_torch else "") + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-c", source],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


IMPORT_EVERY_MODULE = """
import importlib
import json
import sys

modules = {modules!r}
imported, missing_extra = [], []
for name in modules:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        if exc.name is None or exc.name.split(".")[0] in ("torch", "skrep"):
            raise
        missing_extra.append(name)  # another optional extra (matplotlib)
    else:
        imported.append(name)
print(json.dumps({{
    "imported": imported,
    "missing_extra": missing_extra,
    "torch": "torch" in sys.modules,
}}))
"""


def test_star_import_does_not_import_torch():
    out = _run(
        """
        import json, sys
        import skrep
        assert "torch" not in sys.modules
        namespace = {}
        exec("from skrep import *", namespace)
        public = sorted(name for name in namespace if not name.startswith("__"))
        print(json.dumps({
            "torch": "torch" in sys.modules,
            "public": public,
            "all": sorted(skrep.__all__),
        }))
        """
    )
    assert not out["torch"]
    assert out["public"] == out["all"]
    assert "TorchActivationExtractor" not in out["all"]


def test_no_module_outside_skrep_torch_imports_torch():
    out = _run(IMPORT_EVERY_MODULE.format(modules=_modules_outside_torch()))
    assert "skrep" in out["imported"] and "skrep.datasets" in out["imported"]
    assert not out["torch"]


def test_every_module_outside_skrep_torch_imports_without_torch():
    out = _run(
        IMPORT_EVERY_MODULE.format(modules=_modules_outside_torch()),
        block_torch=True,
    )
    assert "skrep" in out["imported"] and "skrep.datasets" in out["imported"]
    assert set(out["missing_extra"]) <= {"skrep.plotting"}


def test_estimators_work_without_torch():
    out = _run(
        """
        import json, sys
        import numpy as np

        namespace = {}
        exec("from skrep import *", namespace)
        exec("from skrep.datasets import *", namespace)
        import skrep.datasets

        rng = np.random.default_rng(0)
        X = rng.standard_normal((80, 6))
        Y = X @ rng.standard_normal((6, 4)) + 0.1 * rng.standard_normal((80, 4))
        svcca = namespace["SVCCA"]().fit(X[:60], Y[:60])
        split = skrep.datasets.load_digits_images()
        print(json.dumps({
            "score": float(svcca.score(X[60:], Y[60:])),
            "n_images": len(split.X_train) + len(split.X_test),
        }))
        """,
        block_torch=True,
    )
    assert 0.5 < out["score"] <= 1.0
    assert out["n_images"] == 1797


def test_torch_entry_points_say_what_to_install_without_torch():
    out = _run(
        """
        import json
        import numpy as np
        import skrep
        import skrep.datasets

        messages = []
        for attempt in (
            lambda: skrep.TorchActivationExtractor,
            lambda: __import__("skrep.torch"),
            lambda: skrep.datasets.train_digits_cnn(
                np.zeros((4, 1, 8, 8), dtype=np.float32), np.arange(4)
            ),
        ):
            try:
                attempt()
            except ModuleNotFoundError as exc:
                messages.append([exc.name, str(exc)])
            else:
                messages.append(None)
        print(json.dumps(messages))
        """,
        block_torch=True,
    )
    for name, message in out:
        assert name == "torch"
        assert 'pip install "skrep[torch]"' in message


def test_extractor_resolves_lazily_with_torch():
    pytest.importorskip("torch")
    out = _run(
        """
        import json, sys
        import skrep
        before = "torch" in sys.modules
        extractor = skrep.TorchActivationExtractor
        from skrep.torch import TorchActivationExtractor
        print(json.dumps({
            "before": before,
            "after": "torch" in sys.modules,
            "same": extractor is TorchActivationExtractor,
        }))
        """
    )
    assert out == {"before": False, "after": True, "same": True}


def test_skrep_torch_public_api():
    pytest.importorskip("torch")
    import skrep
    import skrep.datasets
    import skrep.torch

    assert skrep.TorchActivationExtractor is skrep.torch.TorchActivationExtractor
    assert set(skrep.torch.__all__) == {
        "DIGITS_LAYERS",
        "DigitsCNN",
        "ResNet18",
        "TorchActivationExtractor",
        "compare_models",
        "train_digits_cnn",
    }
    modules = dict(skrep.torch.DigitsCNN(width=2).named_modules())
    assert all(layer in modules for layer in skrep.torch.DIGITS_LAYERS)
    split = skrep.datasets.load_digits_images()
    images, labels = split.X_train[:40], split.y_train[:40]
    a = skrep.datasets.train_digits_cnn(images, labels, width=2, epochs=1)
    b = skrep.torch.train_digits_cnn(images, labels, width=2, epochs=1)
    assert isinstance(a, skrep.torch.DigitsCNN)
    for p, q in zip(a.parameters(), b.parameters()):
        assert p.equal(q)


# --------------------------------------------------------------------------
# Static: no import of torch at module level outside skrep/torch
# --------------------------------------------------------------------------


def _is_type_checking(node):
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_imports(tree):
    """The imports that run when a module is imported (not in functions)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and _is_type_checking(node):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        pending.extend(ast.iter_child_nodes(node))


def _imports_torch(node, module_name):
    """Whether an import statement imports torch or skrep.torch."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    elif node.level:  # relative: resolve against the importing package
        package = module_name.split(".")[: -node.level] or ["skrep"]
        base = ".".join(package + ([node.module] if node.module else []))
        targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
    else:
        targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return any(
        target.split(".")[0] == "torch"
        or target == "skrep.torch"
        or target.startswith("skrep.torch.")
        for target in targets
    )


def test_torch_is_imported_at_module_level_only_in_skrep_torch():
    offenders = []
    sources = [p for p in PACKAGE.rglob("*.py") if TORCH_PACKAGE not in p.parents]
    assert len(sources) > 5
    for path in sources:
        relative = path.relative_to(ROOT)
        parts = relative.with_suffix("").parts
        module_name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if parts[-1] == "__init__":
            module_name += ".__init__"  # relative imports resolve to the package
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [
            f"{relative}:{node.lineno}"
            for node in _import_time_imports(tree)
            if _imports_torch(node, module_name)
        ]
    assert not offenders, f"module-level imports of torch: {offenders}"


@pytest.mark.parametrize(
    "source, found",
    [
        ("import torch", True),
        ("import torch.nn as nn", True),
        ("from torch import nn", True),
        ("from skrep.torch import TorchActivationExtractor", True),
        ("from . import torch", True),
        ("from .torch import DigitsCNN", True),
        ("try:\n    import torch\nexcept ImportError:\n    torch = None", True),
        ("class A:\n    import torch", True),
        ("def f():\n    import torch", False),
        ("if TYPE_CHECKING:\n    import torch", False),
        ("import torchvision_free_name", False),
        ("from skrep.torchless import x", False),
    ],
)
def test_static_check_finds_module_level_torch_imports(source, found):
    tree = ast.parse(source)
    hits = [
        node
        for node in _import_time_imports(tree)
        if _imports_torch(node, "skrep.module")
    ]
    assert bool(hits) is found
