"""Every public function and class documents itself with a runnable example."""

import importlib
import inspect
import io
import os
import pathlib
import re
import sys

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


# ---------------------------------------------------------------------------
# The maths renders offline: MathML at build time, no script from a CDN.
# ---------------------------------------------------------------------------

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


def _docs_config():
    namespace = {"__file__": str(DOCS / "conf.py")}
    cwd = os.getcwd()
    try:
        os.chdir(DOCS)  # conf.py resolves its paths from the docs folder
        exec(compile((DOCS / "conf.py").read_text(), "conf.py", "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def test_docs_config_renders_maths_without_mathjax():
    config = _docs_config()
    assert config["html_math_renderer"] == "mathml"
    assert "mathml" in config["extensions"]
    assert not any("mathjax" in name for name in config["extensions"])
    assert not any("mathjax" in key for key in config)  # no mathjax_path to a CDN


def _mathml_extension():
    pytest.importorskip("sphinx")
    pytest.importorskip("latex2mathml")
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        return importlib.import_module("mathml")
    finally:
        sys.path.remove(str(DOCS / "_ext"))


def _build(tmp_path, text):
    _mathml_extension()  # skips without sphinx (the docs extra)
    from sphinx.application import Sphinx

    source = tmp_path / "source"
    source.mkdir()
    (source / "conf.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(DOCS / '_ext')!r})\n"
        "extensions = ['mathml']\n"
        "html_math_renderer = 'mathml'\n"
    )
    (source / "index.rst").write_text(text)
    warnings = io.StringIO()
    app = Sphinx(
        str(source), str(source), str(tmp_path / "html"), str(tmp_path / "doctrees"),
        "html", status=None, warning=warnings, freshenv=True,
    )  # fmt: skip
    app.build()
    return (tmp_path / "html" / "index.html").read_text(), warnings.getvalue()


def test_built_page_has_mathml_and_no_remote_script(tmp_path):
    html, warnings = _build(
        tmp_path,
        "Title\n=====\n\nInline :math:`\\bar\\rho = \\frac{1}{m}\\sum_i \\rho_i`.\n\n"
        ".. math::\n\n   Q_x^T Q_y = A \\,\\mathrm{diag}(\\rho_1, \\ldots)\\, B^T\n",
    )
    assert not warnings
    assert html.count("<math ") == 2
    assert 'display="block"' in html and "<mfrac>" in html
    scripts = re.findall(r"<script[^>]*>", html)
    assert not [s for s in scripts if "http" in s or "mathjax" in s.lower()]
    assert "mathjax" not in html.lower()


def test_unconvertible_latex_is_a_build_warning(tmp_path):
    _, warnings = _build(tmp_path, "Title\n=====\n\n:math:`\\unknowncommand{x}`\n")
    assert "cannot convert" in warnings and "\\unknowncommand" in warnings


def _latex_in(text):
    """The LaTeX of :math:`...` roles and .. math:: blocks of reST text."""
    found = re.findall(r":math:`([^`]+)`", text)
    for block in re.finditer(r"\.\. math::\n((?:[ \t]*\n|[ \t]+\S.*\n)+)", text + "\n"):
        lines = block.group(1).splitlines()
        indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
        body = "\n".join(line[min(indents) :] for line in lines)
        found.extend(p.strip() for p in body.split("\n\n") if p.strip())
    return found


def test_every_formula_of_the_docs_converts(caplog):
    mathml = _mathml_extension()
    import skrep
    import skrep.inference
    import skrep.plotting

    texts = [path.read_text() for path in DOCS.glob("*.rst")]
    for module in (skrep, skrep.inference):
        for name in module.__all__:
            value = getattr(module, name)
            texts.append(inspect.getdoc(value) or "")
            for member in vars(value).values() if isinstance(value, type) else ():
                texts.append(inspect.getdoc(member) or "" if callable(member) else "")
    formulas = [latex for text in texts for latex in _latex_in(text)]
    assert len(formulas) > 20  # the scan finds the docs' maths
    bad = []
    for latex in formulas:
        with caplog.at_level("WARNING"):
            caplog.clear()
            output = mathml.to_mathml(latex, "block", None)
        if caplog.records or "<math" not in output:
            bad.append(latex)
    assert not bad, f"formulas that do not convert to MathML: {bad}"
