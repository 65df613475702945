"""Sphinx configuration for the skrep documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))  # mathml: maths without a CDN

import skrep  # noqa: E402

project = "skrep"
author = "the skrep developers"
copyright = "2026, the skrep developers"
version = release = skrep.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "mathml",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    # scikit-learn's metadata-routing setters: documented upstream, and their
    # docstrings link into scikit-learn's own glossary.
    "exclude-members": ",".join(
        f"set_{method}_request"
        for method in ("fit", "score", "predict", "transform", "partial_fit")
    ),
}
# The maths is rendered to MathML at build time (docs/_ext/mathml.py), which
# browsers display natively: the pages load no script from the network.
html_math_renderer = "mathml"
html_static_path = ["_static"]

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]

intersphinx_mapping = {}  # no network: cross-links to other projects are off

# The gallery runs every example (SKREP_EXAMPLES_QUICK=1 runs them in their
# quick form, as CI does) unless SKREP_DOCS_RUN_GALLERY=0, which only renders
# their text and code.
run_gallery = os.environ.get("SKREP_DOCS_RUN_GALLERY", "1") != "0"
if run_gallery and "tags" in globals():  # Sphinx provides `tags` to conf.py
    tags.add("gallery")  # noqa: F821 - the user guide shows gallery figures
if not run_gallery:
    # Sphinx still collects the images of an `.. only:: gallery` block that
    # it leaves out; without the gallery those figures do not exist.
    suppress_warnings = ["image.not_readable"]
# The figures each example saves go under the build folder, not the sources.
os.environ.setdefault(
    "SKREP_EXAMPLES_OUTPUT",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "_build", "figures"),
)
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_" if run_gallery else r"^$",
    "plot_gallery": "True" if run_gallery else "False",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
}

html_theme = "pydata_sphinx_theme"
html_title = "skrep"
html_theme_options = {"navigation_with_keys": False}
