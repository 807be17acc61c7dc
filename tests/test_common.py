"""scikit-learn's estimator checks on every sknovel ranker and image estimator.

Every expected failure is listed here, in one place, with its reason (none so far).
"""

import pytest
from sklearn.base import clone
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknovel import Demud, RandomRanker, SVDRanker
from sknovel.detectors import ConvAutoencoder, OutlierExposureDetector
from sknovel.explain import CounterfactualExplainer, UCInverter
from sknovel.features import PixelFeaturizer
from sknovel.utils.estimator_checks import SKLEARN_DATA_FREE_CHECKS

RANKERS = [
    Demud(),
    Demud(svd_method="full", init="mean"),
    SVDRanker(),
    SVDRanker(svd_solver="randomized", random_state=0),
    RandomRanker(random_state=0),
]

#: {estimator class name: {check name: reason}} -- checks known to fail, and why.
EXPECTED_FAILED_CHECKS = {}


def _expected_failures(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(RANKERS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible_ranker(estimator, check):
    check(estimator)


# Estimators of images. scikit-learn's generic checks feed 2-D arrays, which these reject (their
# tags say two_d_array=False), so parametrize_with_checks would skip every check. The checks
# that need no data run here instead; what the others check with 2-D data -- idempotent and
# deterministic fit, pickling, batch and order invariance, errors before fit -- is tested with
# images in each estimator's own test module (tests/detectors/test_autoencoder.py,
# test_outlier_exposure.py, tests/explain/test_uc.py, test_counterfactual.py).
IMAGE_ESTIMATORS = [
    ConvAutoencoder(epochs=1),
    OutlierExposureDetector(epochs=1),
    UCInverter(PixelFeaturizer(), image_size=8, epochs=1),
    CounterfactualExplainer(ConvAutoencoder(epochs=1), epochs=1),
    CounterfactualExplainer(OutlierExposureDetector(epochs=1), epochs=1),
]

# The data-free checks every image estimator passes, plus two that hold for these too:
# parameters are validated before the data, and methods other than fit need a fitted model.
DATA_FREE_CHECKS = [
    *SKLEARN_DATA_FREE_CHECKS,
    estimator_checks.check_param_validation,
    estimator_checks.check_estimators_unfitted,
]


def _image_estimator_id(estimator):
    detector = getattr(estimator, "detector", None)  # the explainer is listed once per detector
    name = type(estimator).__name__
    return name if detector is None else f"{name}({type(detector).__name__})"


@pytest.mark.parametrize("estimator", IMAGE_ESTIMATORS, ids=_image_estimator_id)
@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=lambda check: check.__name__)
def test_sklearn_compatible_image_estimator(estimator, check):
    check(type(estimator).__name__, clone(estimator))
