"""scikit-learn's estimator checks, run on every skrep estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skrep import (
    PWCCA,
    SVCCA,
    SparseLayerPredictor,
    SparseLayerPredictorCV,
    UnitMatcher,
)

# Each entry: an instance with small, fast parameters, and the checks it is
# expected to fail with the reason.
ESTIMATORS = {
    SVCCA(): {},
    SVCCA(svd_components=None, algorithm="svd"): {},
    PWCCA(): {},
    PWCCA(weights_from="y"): {},
    UnitMatcher(): {},
    UnitMatcher(method="semi-matching"): {},
    UnitMatcher(metric="mutual_info", n_bins=4): {},
    SparseLayerPredictor(): {},
    SparseLayerPredictor(decay=0): {},
    SparseLayerPredictorCV(cv=3): {},
}


try:  # the extractor joins the checks where the torch extra is installed
    from torch import nn

    from skrep.torch import TorchActivationExtractor
except ImportError:  # pragma: no cover - torch is optional
    pass
else:
    # Parameter-free modules: sklearn's checks feed 2-D float arrays.
    ESTIMATORS[
        TorchActivationExtractor(nn.Sequential(nn.Flatten(), nn.Identity()), "1")
    ] = {}
    ESTIMATORS[
        TorchActivationExtractor(nn.Sequential(nn.Flatten(), nn.Tanh()), "1")
    ] = {
        "check_estimators_nan_inf": (
            "the extractor checks the activations, not the inputs: tanh maps an "
            "inf input to a finite activation, which is valid and returned"
        ),
    }


def _expected_failed_checks(estimator):
    for instance, failures in ESTIMATORS.items():
        if instance is estimator:
            return failures
    return {}


@parametrize_with_checks(
    list(ESTIMATORS), expected_failed_checks=_expected_failed_checks
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
