"""What the torch image detectors share (sknovel.detectors._base.TorchImageDetector)."""

import numpy as np
import pytest

from sknovel.detectors import ConvAutoencoder, OutlierExposureDetector
from sknovel.detectors._base import TorchImageDetector

torch = pytest.importorskip("torch")

IMAGES = (np.random.default_rng(0).random((20, 8, 8)) * 0.5).astype(np.float32)
FAST = {"epochs": 6, "batch_size": 8, "random_state": 0, "device": "cpu"}
DETECTORS = [ConvAutoencoder, OutlierExposureDetector]


@pytest.mark.parametrize("Detector", DETECTORS)
def test_training_stops_at_the_first_epoch_whose_loss_is_not_finite(Detector):
    """Both detectors stop as soon as the monitored loss is not finite (the autoencoder used
    to run all its epochs and only then find the scores not finite)."""
    detector = Detector(**FAST, learning_rate=1e30, n_iter_no_change=None)
    with pytest.raises(ValueError, match=r"^Training diverged: the loss is not finite in epoch 1;"):
        detector.fit(IMAGES)
    assert not hasattr(detector, "n_epochs_")


@pytest.mark.parametrize("Detector", DETECTORS)
def test_shared_parameters_are_validated_by_each_detector(Detector):
    assert issubclass(Detector, TorchImageDetector)
    shared = TorchImageDetector._parameter_constraints
    assert shared.items() <= Detector._parameter_constraints.items()
    with pytest.raises(ValueError, match="'contamination' parameter of " + Detector.__name__):
        Detector(contamination=0.6).fit(IMAGES)


@pytest.mark.parametrize("Detector", DETECTORS)
def test_validation_scores_are_the_scores_of_the_held_out_normal_images(Detector):
    """validation_scores_ holds the scores of ceil(10 %) of the normal images after training:
    each one is the score of one of the images given to fit, and none without a split."""
    detector = Detector(**FAST).fit(IMAGES)
    assert detector.validation_scores_.shape == (2,)
    all_scores = detector.score_samples(IMAGES)
    distances = np.abs(detector.validation_scores_[:, None] - all_scores[None])
    assert distances.min(axis=1).max() <= 1e-5 * np.abs(all_scores).max()
    unsplit = Detector(**FAST, validation_fraction=0.0).fit(IMAGES)
    assert unsplit.validation_scores_.shape == (0,)


def test_outlier_exposure_holds_out_normal_images_only():
    """With outliers in X, validation_scores_ are of held-out normal images, not outliers."""
    outliers = 0.5 + IMAGES[:10]
    X = np.concatenate([IMAGES, outliers])
    y = np.r_[np.ones(len(IMAGES)), -np.ones(len(outliers))]
    detector = OutlierExposureDetector(**FAST).fit(X, y)
    normal_scores = detector.score_samples(IMAGES)
    assert detector.validation_scores_.shape == (2,)
    distances = np.abs(detector.validation_scores_[:, None] - normal_scores[None])
    assert distances.min(axis=1).max() <= 1e-5 * np.abs(normal_scores).max()


@pytest.mark.parametrize("Detector", DETECTORS)
@pytest.mark.parametrize("n_images, n_held_out", [(200, 20), (190, 19)])
def test_threshold_is_set_on_held_out_images_when_there_are_at_least_20(
    Detector, n_images, n_held_out
):
    """offset_ is the contamination percentile of the held-out scores (new images), and of
    the training images' scores when fewer than 20 are held out."""
    images = (np.random.default_rng(1).random((n_images, 8, 8)) * 0.5).astype(np.float32)
    detector = Detector(**{**FAST, "epochs": 2}, contamination=0.1).fit(images)
    assert len(detector.validation_scores_) == n_held_out
    if n_held_out >= 20:
        expected = np.percentile(detector.validation_scores_, 10)
    else:
        expected = np.percentile(detector.score_samples(images), 10)
    assert detector.offset_ == pytest.approx(expected, rel=1e-5)
