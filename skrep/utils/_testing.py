"""The instances the common tests check, with their expected failures.

Modelled on imbalanced-learn's ``_test_common/instance_generator.py``:
:data:`INSTANCES` gives, for every public estimator class (by name), the
parameter sets to test, small and fast, each with the checks it is expected
to fail and why. ``tests/test_common.py`` runs scikit-learn's and skrep's
checks over :func:`estimator_instances` and fails when a class found by
:func:`~skrep.utils.all_estimators` has no entry here, so a new measure
cannot be forgotten.
"""

from __future__ import annotations

from skrep.utils._discovery import all_estimators

__all__ = ["INSTANCES", "estimator_instances", "expected_failed_checks"]


def _torch_instances():
    """Extractors over parameter-free modules (sklearn's checks feed 2-D floats)."""
    from torch import nn

    identity = nn.Sequential(nn.Flatten(), nn.Identity())
    tanh = nn.Sequential(nn.Flatten(), nn.Tanh())
    return [
        ({"model": identity, "layers": "1"}, {}),
        (
            {"model": tanh, "layers": "1"},
            {
                "check_estimators_nan_inf": (
                    "the extractor checks the activations, not the inputs: tanh "
                    "maps an inf input to a finite activation, which is valid "
                    "and returned"
                ),
            },
        ),
    ]


#: Class name -> list of (parameters, {check name: reason it is expected to
#: fail}), or a function returning that list (for parameters that need an
#: optional dependency). Check names are scikit-learn's or skrep's.
INSTANCES = {
    "SVCCA": [
        ({}, {}),
        ({"svd_components": None, "algorithm": "svd"}, {}),
    ],
    "PWCCA": [
        ({}, {}),
        ({"weights_from": "y"}, {}),
    ],
    "UnitMatcher": [
        ({}, {}),
        ({"method": "semi-matching"}, {}),
        (
            {"metric": "mutual_info", "n_bins": 3},
            dict.fromkeys(
                ("check_fit_score_takes_y", "check_n_features_in_after_fitting"),
                "scikit-learn calls partial_fit whenever it exists; with "
                "metric='mutual_info' it refuses with a ValueError, by "
                "design: the equal-mass bins are quantiles of all the "
                "rows, so mutual information cannot stream",
            ),
        ),
    ],
    "CKA": [
        ({}, {}),
        ({"debiased": True}, {}),
        (
            {"kernel": "rbf", "sigma": 0.8},
            dict.fromkeys(
                ("check_fit_score_takes_y", "check_n_features_in_after_fitting"),
                "scikit-learn calls partial_fit whenever it exists; with "
                "kernel='rbf' it refuses with a ValueError, by design: the "
                "kernel between samples of different batches and the median "
                "distance that sets the bandwidth need all the rows at once",
            ),
        ),
        (
            {"algorithm": "gram", "debiased": True},
            {
                "check_fit_score_takes_y": (
                    "scikit-learn calls partial_fit after fit; a fit through "
                    "the Gram matrices keeps no moments, so partial_fit refuses "
                    "to continue it with a ValueError, by design"
                ),
            },
        ),
    ],
    "DFTCCA": [({}, {}), ({"algorithm": "svd"}, {})],
    "Procrustes": [
        ({}, {}),
        ({"alpha": 0.0}, {}),
        ({"alpha": 0.5, "algorithm": "svd"}, {}),
    ],
    "RSA": [
        ({}, {}),
        ({"rdm_metric": "euclidean", "compare": "pearson"}, {}),
        ({"rdm_metric": "sqeuclidean", "compare": "kendall"}, {}),
    ],
    "SparseLayerPredictor": [
        ({}, {}),
        ({"decay": 0}, {}),
    ],
    "SparseLayerPredictorCV": [
        ({"cv": 3}, {}),
    ],
    "TorchActivationExtractor": _torch_instances,
}


def estimator_instances():
    """Instances of every discovered estimator class, with expected failures.

    Returns
    -------
    instances : list of (estimator, dict)
        Each instance (built from :data:`INSTANCES`) and its expected
        failures ``{check name: reason}``, in the order of
        :func:`~skrep.utils.all_estimators`. Classes without an entry are
        left out (a test reports them).
    """
    instances = []
    for name, cls in all_estimators():
        variants = INSTANCES.get(name, [])
        if callable(variants):
            variants = variants()
        for params, failures in variants:
            instances.append((cls(**params), dict(failures)))
    return instances


def expected_failed_checks(estimator, instances):
    """Return the expected failures of one instance of `instances`.

    Parameters
    ----------
    estimator : estimator instance
        One of the instances of `instances` (compared by identity).
    instances : list of (estimator, dict)
        As returned by :func:`estimator_instances`.

    Returns
    -------
    failures : dict
        ``{check name: reason}``; empty for an unknown instance.
    """
    for instance, failures in instances:
        if instance is estimator:
            return failures
    return {}
