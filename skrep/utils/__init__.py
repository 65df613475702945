"""Utilities for developers of skrep measures: discovery and common checks.

- :func:`all_estimators` lists every public estimator class of skrep, found
  by walking the package, so that the common tests cover a new measure
  without it being listed anywhere;
- :mod:`skrep.utils.estimator_checks` holds the checks of what every
  two-view measure promises (maximum, invariances, streaming, dead units,
  input handling), and
  :func:`~skrep.utils.estimator_checks.parametrize_with_skrep_checks` runs
  them under pytest.
"""

from skrep.utils._discovery import all_estimators

__all__ = ["all_estimators"]
