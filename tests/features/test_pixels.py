"""PixelFeaturizer: pixel values, greyscale, resizing and files.

The checks common to every featurizer are in ``test_common_featurizers.py``.
"""

import numpy as np
import pytest
from PIL import Image

from sknovel.features import PixelFeaturizer

IMAGES = (np.random.default_rng(0).random((12, 6, 5, 3)) * 255).astype(np.uint8)


def test_flatten_preserves_pixels():
    features = PixelFeaturizer().fit_transform(IMAGES)
    np.testing.assert_allclose(features, IMAGES.reshape(12, -1) / 255.0, atol=1e-7)
    assert features.dtype == np.float32


def test_greyscale_matches_pillow_luma():
    features = PixelFeaturizer(grayscale=True).fit_transform(IMAGES)
    pillow = np.stack([np.asarray(Image.fromarray(im).convert("L")) for im in IMAGES]) / 255.0
    np.testing.assert_allclose(features, pillow.reshape(12, -1), atol=1 / 255 + 1e-6)


def test_resize_and_files(tmp_path):
    paths = []
    for i, image in enumerate(IMAGES):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(paths[-1])
    featurizer = PixelFeaturizer(size=(4, 4), batch_size=5).fit(paths)
    assert featurizer.input_shape_ == (4, 4, 3) and featurizer.n_features_out_ == 48
    np.testing.assert_allclose(
        featurizer.transform(paths), PixelFeaturizer(size=(4, 4)).fit_transform(IMAGES), atol=0.02
    )


def test_transform_needs_the_fitted_shape():
    featurizer = PixelFeaturizer(size=(3, 3)).fit(IMAGES)
    with pytest.raises(ValueError, match="fitted on"):
        featurizer.transform(IMAGES[..., :1])  # greyscale: (3, 3, 1), not (3, 3, 3)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"size": (0, 4)}, "size must be None"),
        ({"size": (4,)}, "size must be None"),
        ({"batch_size": 0}, "'batch_size' parameter"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        PixelFeaturizer(**params).fit(IMAGES)
