"""``python -m skrep`` / ``skrep``: compare two networks end to end.

``skrep demo`` (the default) trains two small CNNs on scikit-learn's digits
with different seeds and reports unit matching, sparse prediction, SVCCA
and PWCCA layer by layer, next to an untrained network as the chance level.
``skrep compare`` runs the same analysis on your own two models and
``skrep layers`` lists a model's layers; the code is in :mod:`skrep._cli`.
"""

from __future__ import annotations

import sys

from skrep._cli import UserError, main

__all__ = ["UserError", "main"]

if __name__ == "__main__":
    sys.exit(main())
