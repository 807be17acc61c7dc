"""The image corruptions that make pseudo-anomalies, shared by detectors and explainers."""

import numpy as np

from sknovel.utils.corruptions import CORRUPTIONS, corrupt

IMAGES = np.random.default_rng(0).random((40, 10, 10, 1)).astype(np.float32) * 0.5


def test_one_corruption_of_each_kind_per_image_in_range_and_seeded():
    corrupted, kinds = corrupt(IMAGES, np.random.RandomState(0))
    assert corrupted.shape == IMAGES.shape and corrupted.dtype == np.float32
    assert corrupted.min() >= 0 and corrupted.max() <= 1
    assert kinds.shape == (40,) and set(kinds) == set(range(len(CORRUPTIONS)))
    again, _ = corrupt(IMAGES, np.random.RandomState(0))
    np.testing.assert_array_equal(again, corrupted)


def test_no_images_give_no_corruptions():
    """A detector holding out no validation images corrupts an empty batch (used to raise
    from numpy's randint(0))."""
    rng = np.random.RandomState(0)
    corrupted, kinds = corrupt(IMAGES[:0], rng)
    assert corrupted.shape == (0, 10, 10, 1) and corrupted.dtype == np.float32
    assert kinds.shape == (0,)
    np.testing.assert_array_equal(  # and draws nothing from rng
        corrupt(IMAGES, rng)[0], corrupt(IMAGES, np.random.RandomState(0))[0]
    )


def test_the_counterfactual_explainer_uses_the_same_corruptions():
    from sknovel.explain.counterfactuals import _pseudo_anomalies

    assert _pseudo_anomalies.corrupt is corrupt and _pseudo_anomalies.CORRUPTIONS is CORRUPTIONS
