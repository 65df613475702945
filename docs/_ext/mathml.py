"""Render the documentation's LaTeX as MathML when the HTML is built.

Browsers display MathML natively (MathML Core), so the pages need no
script and no network to show their maths, unlike MathJax from a CDN. The
conversion is latex2mathml's; an expression it cannot convert (a command it
does not know, an alignment it would flatten) is a Sphinx warning, so a
``-W`` build fails instead of printing raw LaTeX.
"""

import re

from docutils import nodes
from latex2mathml.converter import convert
from sphinx.locale import _
from sphinx.util import logging
from sphinx.util.math import get_node_equation_number

logger = logging.getLogger(__name__)

#: Output that means latex2mathml passed LaTeX through unconverted: a
#: command name or an alignment mark shown as an identifier, or an empty
#: operator (what ``\operatorname`` of a spaced name gives).
_UNCONVERTED = re.compile(r"<m[io][^>]*>(\\[A-Za-z]+|&amp;|&)</m[io]>|(<mo />)")


def to_mathml(latex, display, node):
    """Return the MathML of ``latex``; warn (at ``node``) if it is incomplete."""
    try:
        mathml = convert(latex, display=display)
    except Exception as error:  # latex2mathml raises its own exception types
        logger.warning("cannot convert %r to MathML: %s", latex, error, location=node)
        return f"<code>{latex}</code>"
    unconverted = _UNCONVERTED.search(mathml)
    if unconverted:
        logger.warning(
            "cannot convert %r to MathML: %s is not supported",
            latex,
            unconverted.group(1) or "an operator name with spaces",
            location=node,
        )
    return mathml


def visit_math(self, node):
    self.body.append(self.starttag(node, "span", "", CLASS="math notranslate"))
    self.body.append(to_mathml(node.astext(), "inline", node) + "</span>")
    raise nodes.SkipNode


def visit_displaymath(self, node):
    self.body.append(self.starttag(node, "div", CLASS="math notranslate"))
    if node["number"]:
        number = get_node_equation_number(self, node)
        self.body.append(f'<span class="eqno">({number})')
        self.add_permalink_ref(node, _("Link to this equation"))
        self.body.append("</span>")
    # Like Sphinx's MathJax renderer, equations separated by a blank line
    # are displayed one below the other.
    for part in node.astext().split("\n\n"):
        if part.strip():
            self.body.append(to_mathml(part, "block", node))
    self.body.append("</div>\n")
    raise nodes.SkipNode


def setup(app):
    app.add_html_math_renderer("mathml", (visit_math, None), (visit_displaymath, None))
    app.add_css_file("mathml.css")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
