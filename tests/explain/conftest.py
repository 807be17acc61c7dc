"""Fixtures for the explainer tests."""

from pathlib import Path

import pytest

from sknovel.utils.tensors import torch_threads


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    """Train with one torch thread, restoring the setting after the tests of this package.

    The models here are tiny, and on a machine whose cores are busy with other work two
    threads that wait for each other made an epoch up to 6x slower.
    """
    with torch_threads(1):
        yield


@pytest.fixture(scope="package")
def mnist_detector(one_torch_thread):
    """A ConvAutoencoder trained briefly on 500 MNIST digits 0-4, and held-out test digits.

    Returns (detector, images, is_normal): 600 images of all ten digits not used in training,
    and whether each is a normal digit (0-4).
    """
    pytest.importorskip("torch")
    from sknovel.datasets import find_data_file, load_labelled_images
    from sknovel.detectors import ConvAutoencoder

    path = find_data_file("mnist_test.npz", start=Path(__file__).parent)
    if path is None:
        pytest.skip("mnist_test.npz is absent: the shared data sets live in ../shared/data in CI")
    data = load_labelled_images(path)
    train = data.images[:1500][data.labels[:1500] < 5][:500]
    images, labels = data.images[5000:5600], data.labels[5000:5600]
    detector = ConvAutoencoder(epochs=12, batch_size=32, n_iter_no_change=None, random_state=0)
    return detector.fit(train), images, labels < 5
