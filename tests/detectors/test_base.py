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
