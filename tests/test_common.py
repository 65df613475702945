"""Common checks over every estimator skrep exports: sklearn's and skrep's.

The estimators are found by :func:`skrep.utils.all_estimators`; the
instances (small, fast parameters) and their expected failures, each with
its reason, are in :mod:`skrep.utils._testing`.
"""

from functools import partial

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skrep.utils import all_estimators
from skrep.utils._testing import (
    INSTANCES,
    estimator_instances,
    expected_failed_checks,
)
from skrep.utils.estimator_checks import parametrize_with_skrep_checks

TESTED = estimator_instances()
ESTIMATORS = [estimator for estimator, _ in TESTED]
_expected_failed_checks = partial(expected_failed_checks, instances=TESTED)


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@parametrize_with_skrep_checks(
    ESTIMATORS, expected_failed_checks=_expected_failed_checks
)
def test_skrep_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name, cls", all_estimators())
def test_every_estimator_has_an_instance(name, cls):
    # A new measure is discovered automatically; it must also be given fast
    # parameters here, so that no estimator escapes the common checks.
    assert any(type(estimator) is cls for estimator in ESTIMATORS), (
        f"{name} is a public estimator of skrep but has no instance in "
        "skrep.utils._testing.INSTANCES: add one with small, fast parameters."
    )


def test_instances_name_existing_estimators():
    known = {name for name, _ in all_estimators()}
    optional = {"TorchActivationExtractor"}  # needs torch
    stale = set(INSTANCES) - known - optional
    assert not stale, f"INSTANCES lists classes skrep no longer exports: {stale}"


def test_two_view_measures_get_skrep_checks():
    # Every two-view measure is checked for its promises; the torch extractor
    # (a transformer of inputs, not a comparison of two views) is not.
    from skrep.utils.estimator_checks import _yield_skrep_checks

    for estimator in ESTIMATORS:
        names = [check.__name__ for check in _yield_skrep_checks(estimator)]
        if type(estimator).__name__ == "TorchActivationExtractor":
            assert names == []
        else:
            assert "check_inputs_not_modified" in names
