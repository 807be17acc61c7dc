"""The common checks on every featurizer: scikit-learn's data-free checks, then ours.

To check a new featurizer, add one instance to ``FEATURIZERS``. A featurizer whose optional
dependency is missing has its image checks skipped (``OPTIONAL_DEPENDENCIES``).
"""

import pytest

from sknovel.features import (
    ActivationStore,
    CNNFeaturizer,
    PixelFeaturizer,
    SIFTBoWFeaturizer,
)
from sknovel.utils.estimator_checks import SKLEARN_DATA_FREE_CHECKS, image_transformer_checks

FEATURIZERS = [
    PixelFeaturizer(),
    PixelFeaturizer(size=(8, 8), grayscale=True, batch_size=3),
    SIFTBoWFeaturizer(n_clusters=4, random_state=0),
    # Without a cache (memory=None), determinism and batching are really tested.
    CNNFeaturizer("resnet18", weights="random", crop_size=32, random_state=0),
    CNNFeaturizer(crop_size=32, batch_size=3),
    # With a store shared by clones: cached arrays must not leak (read-only, shared, stale).
    CNNFeaturizer(crop_size=32, memory=ActivationStore(max_bytes=2**20)),
]

#: {featurizer class name: module it needs}; its image checks are skipped without it.
OPTIONAL_DEPENDENCIES = {"SIFTBoWFeaturizer": "cv2", "CNNFeaturizer": "torch"}


def _id(featurizer):
    return repr(featurizer).replace(" ", "").replace("\n", "")


def _cases(make_checks):
    return [
        pytest.param(featurizer, check, id=f"{_id(featurizer)}-{check.__name__}")
        for featurizer in FEATURIZERS
        for check in make_checks(featurizer)
    ]


@pytest.mark.parametrize("featurizer, check", _cases(lambda f: SKLEARN_DATA_FREE_CHECKS))
def test_sklearn_data_free_check(featurizer, check):
    check(type(featurizer).__name__, featurizer)


@pytest.mark.parametrize("featurizer, check", _cases(image_transformer_checks))
def test_image_transformer_check(featurizer, check):
    name = type(featurizer).__name__
    if name in OPTIONAL_DEPENDENCIES:
        pytest.importorskip(OPTIONAL_DEPENDENCIES[name])
    check(name, featurizer)
