"""The common explainer checks pass on small good explainers and catch broken ones.

The explainers here are deliberately tiny and built on scikit-learn alone (a PCA's
reconstruction error per pixel), so that the checks are seen to rely on the contract only.
"""

import copy
from numbers import Real

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from sknovel.utils import estimator_checks
from sknovel.utils.estimator_checks import check_explainer, explainer_checks
from sknovel.utils.images import check_image_array, to_unit_float

RNG = np.random.default_rng(0)
X = RNG.random((12, 8, 6, 3))  # not square, so that a transposed map is caught


def pca(images=X):
    """A fitted PCA of the pixels; a new one each time, as a broken explainer may change it."""
    return PCA(n_components=2).fit(to_unit_float(images).reshape(len(images), -1))


class ResidualMaps(BaseEstimator):
    """Each pixel's PCA reconstruction error, to the power `power`, summed over channels."""

    _parameter_constraints = {
        "model": "no_validation",
        "power": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, model, *, power=2.0):
        self.model = model
        self.power = power

    def _residuals(self, X):
        self._validate_params()
        check_is_fitted(self.model)
        images = to_unit_float(check_image_array(X), np.float64)
        flat = images.reshape(len(images), -1)
        residuals = flat - self.model.inverse_transform(self.model.transform(flat))
        return images, residuals.reshape(images.shape)

    def explain(self, X):
        images, residuals = self._residuals(X)
        maps = (np.abs(residuals) ** self.power).sum(axis=-1)
        return Bunch(maps=maps, images=images, scores=maps.sum(axis=(1, 2)))


class MeanDeviation(BaseEstimator):
    """Learns the mean image in fit; maps each pixel's deviation from it (and a PCA's error)."""

    _parameter_constraints = {
        "model": "no_validation",
        "shrink": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, model, *, shrink=0.0):
        self.model = model
        self.shrink = shrink

    def fit(self, X, y=None):
        self._validate_params()
        images = to_unit_float(check_image_array(X), np.float64)
        self.mean_ = (1 - self.shrink) * images.mean(axis=0)
        return self

    def explain(self, X):
        check_is_fitted(self, "mean_")
        images, residuals = ResidualMaps(self.model)._residuals(X)
        maps = np.abs(images - self.mean_).sum(axis=-1) + np.abs(residuals).sum(axis=-1)
        return Bunch(maps=maps)


class ValidatesInInit(ResidualMaps):
    def __init__(self, model, *, power=2.0):
        if not isinstance(power, Real) or power <= 0:
            raise ValueError(f"power must be positive; got {power!r}.")
        super().__init__(model, power=power)


class WrongMapShape(ResidualMaps):
    def explain(self, X):
        result = super().explain(X)
        result.maps = result.maps.transpose(0, 2, 1)
        return result


class MutatesTheModel(ResidualMaps):
    def explain(self, X):
        self.model.components_ = self.model.components_[::-1].copy()  # swap the two components
        return super().explain(X)


class DropsAnItem(ResidualMaps):
    def explain(self, X):
        result = super().explain(X)
        result.scores = result.scores[1:]
        return result


class Nondeterministic(ResidualMaps):
    def explain(self, X):
        result = super().explain(X)
        result.maps = result.maps + np.random.default_rng().random()
        return result


class AcceptsNaN(ResidualMaps):
    def explain(self, X):
        X = np.nan_to_num(np.asarray(X, dtype=np.float64))
        return super().explain(X)


class ImagesOutOfRange(ResidualMaps):
    def explain(self, X):
        result = super().explain(X)
        result.images = result.images * 255
        return result


class UnclearNotFitted(MeanDeviation):
    def explain(self, X):
        return Bunch(maps=np.zeros(np.shape(X)[:3]) + self.mean_.sum())  # AttributeError


class CopiesItsModel(ResidualMaps):
    def __init__(self, model, *, power=2.0):
        super().__init__(copy.deepcopy(model), power=power)


class UnconstrainedParameter(ResidualMaps):
    _parameter_constraints = {"model": "no_validation"}


class FitSetsAPublicAttribute(MeanDeviation):
    def fit(self, X, y=None):
        self.seen = True
        return super().fit(X, y)


@pytest.mark.parametrize("explainer_class", [ResidualMaps, MeanDeviation])
def test_good_explainers_pass_every_check(explainer_class):
    check_explainer(explainer_class(pca()), X)
    grey = (X * 255).astype(np.uint8)[..., 0]
    check_explainer(explainer_class(pca(grey)), grey)


@pytest.mark.parametrize(
    "broken, check, match",
    [
        (ValidatesInInit(pca()), "check_explainer_invalid_params", "must store"),
        (WrongMapShape(pca()), "check_explain_output", r"float \(n, H, W\)"),
        (MutatesTheModel(pca()), "check_explain_keeps_models", "model.components_"),
        (DropsAnItem(pca()), "check_explain_output", "'scores' has 11 rows"),
        (Nondeterministic(pca()), "check_explain_deterministic", "explain twice"),
        (AcceptsNaN(pca()), "check_explain_bad_input", "X with NaN"),
        (ImagesOutOfRange(pca()), "check_explain_output", r"must lie in \[0, 1\]"),
        (UnclearNotFitted(pca()), "check_explain_not_fitted", "before fit"),
        (UnconstrainedParameter(pca()), "check_explainer_parameters", "power"),
        (CopiesItsModel(pca()), "check_explainer_parameters", r"store \['model'\]"),
        (FitSetsAPublicAttribute(pca()), "check_explain_keeps_models", "seen"),
    ],
)
def test_checks_catch_broken_explainers(broken, check, match):
    with pytest.raises(AssertionError, match=match):
        getattr(estimator_checks, check)("Broken", broken, X)


def test_validation_in_init_is_also_caught_by_scikit_learns_check():
    with pytest.raises(ValueError, match="power"):
        check_explainer(ValidatesInInit(pca()), X)


def test_a_model_that_is_not_fitted_must_be_reported():
    class IgnoresItsModel(ResidualMaps):
        def explain(self, X):
            images = to_unit_float(check_image_array(X), np.float64)
            return Bunch(maps=images.sum(axis=-1))

    with pytest.raises(AssertionError, match="unfitted model"):
        estimator_checks.check_explain_not_fitted("Broken", IgnoresItsModel(pca()), X)
    # A model that need not be fitted is left out with fitted_models.
    estimator_checks.check_explain_not_fitted("Broken", IgnoresItsModel(pca()), X, fitted_models=())


def test_hooks_positions_and_invalid_values():
    class Picks(ResidualMaps):
        def explain(self, X, positions=None):
            result = super().explain(X)
            return result if positions is None else Bunch(maps=result.maps[positions])

    estimator_checks.check_explain_output(
        "Picks", Picks(pca()), X, explain_kwargs={"positions": [3, 0]}
    )
    estimator_checks.check_explainer_invalid_params(
        "Picks", Picks(pca()), X, invalid_params={"power": -1.0}
    )
    with pytest.raises(AssertionError, match="no ValueError or TypeError raised"):
        estimator_checks.check_explainer_invalid_params(
            "Picks",
            Picks(pca()),
            X,
            invalid_params={"power": 1.0},  # a valid value
        )
    names = [check.func.__name__ for check in explainer_checks(Picks(pca()))]
    assert names[0] == "check_explainer_parameters" and len(names) == len(set(names)) == 7


def test_X_must_be_images():
    with pytest.raises(ValueError, match="X must be images"):
        check_explainer(ResidualMaps(pca()), X[0, ..., 0])
