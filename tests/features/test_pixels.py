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


def test_size_keeps_the_aspect_ratio():
    # A wide image is not squeezed: its shorter side is scaled, its long side centre-cropped.
    wide = np.zeros((1, 4, 8), dtype=np.uint8)
    wide[:, :, 3:5] = 255  # a bright band in the two middle columns
    features = PixelFeaturizer(size=(4, 4)).fit_transform(wide).reshape(4, 4)
    np.testing.assert_allclose(features, wide[0, :, 2:6] / 255.0, atol=1e-6)


def test_torch_transform_follows_the_same_policy():
    torch = pytest.importorskip("torch")
    images = IMAGES[:4].astype(np.float32) / 255  # 6 x 5
    featurizer = PixelFeaturizer(size=(3, 4)).fit(images)
    tensor = torch.from_numpy(np.moveaxis(images, -1, 1).copy())
    np.testing.assert_allclose(
        featurizer.torch_transform(tensor).numpy(), featurizer.transform(images), atol=1e-5
    )


def test_files_mixing_grey_and_colour_are_colour(tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((6, 5), 80, dtype=np.uint8)).save(grey)
    colour = tmp_path / "colour.png"
    Image.fromarray(IMAGES[0]).save(colour)
    featurizer = PixelFeaturizer().fit([grey, colour])
    assert featurizer.input_shape_ == (6, 5, 3)  # was (6, 5, 1): the first file decided
    features = featurizer.transform([grey])  # alone, the grey file still gives colour rows
    np.testing.assert_allclose(features, np.full((1, 90), 80 / 255), atol=1e-6)
    assert PixelFeaturizer(grayscale=True).fit([grey, colour]).input_shape_ == (6, 5, 1)
