"""The common image-transformer checks pass on a good featurizer and catch broken ones."""

import numpy as np
import pytest

from sknovel.features import PixelFeaturizer
from sknovel.utils import estimator_checks
from sknovel.utils.estimator_checks import check_image_transformer, image_transformer_checks


class _PublicAttribute(PixelFeaturizer):
    def fit(self, X, y=None):
        self.seen = True
        return super().fit(X, y)


class _BatchDependent(PixelFeaturizer):
    def _batches(self, X, mode=None):
        for batch in super()._batches(X, mode):
            yield batch - batch.mean()


class _Noisy(PixelFeaturizer):
    def transform(self, X):
        return super().transform(X) + np.random.default_rng().random()


class _DropsARow(PixelFeaturizer):
    def transform(self, X):
        return super().transform(X)[1:]


class _NoFittedCheck(PixelFeaturizer):
    def transform(self, X):
        return np.zeros((len(X), 1))


@pytest.mark.parametrize(
    "broken, check, match",
    [
        (_PublicAttribute(), "check_fit_keeps_parameters", "seen"),
        (_BatchDependent(batch_size=2), "check_batch_size_invariance", "batch_size"),
        (_Noisy(), "check_deterministic", "transform twice"),
        (_DropsARow(), "check_transform_output", "transform gave"),
        (_NoFittedCheck(), "check_not_fitted", "NotFittedError"),
    ],
)
def test_checks_catch_broken_featurizers(broken, check, match):
    with pytest.raises(AssertionError, match=match):
        getattr(estimator_checks, check)("Broken", broken)


def test_a_good_featurizer_passes_every_check():
    check_image_transformer(PixelFeaturizer(size=(8, 8)))
    names = [check.__name__ for check in image_transformer_checks(PixelFeaturizer())]
    assert "check_paths_match_arrays" in names and "check_verbose" not in names


def test_images_must_be_colour_uint8():
    with pytest.raises(ValueError, match="uint8 colour images"):
        check_image_transformer(PixelFeaturizer(), np.zeros((4, 8, 8), dtype=np.uint8))
