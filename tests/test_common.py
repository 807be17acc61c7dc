"""scikit-learn's estimator checks on every sknovel ranker.

Every expected failure is listed here, in one place, with its reason (none so far).
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sknovel import Demud, RandomRanker, SVDRanker

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
