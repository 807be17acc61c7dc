"""The data sets sknovel ships: load_mars_demo and load_mnist_sample."""

import numpy as np
import pytest

from sknovel.datasets import load_mars_demo, load_mnist_sample


@pytest.fixture(scope="module")
def mars():
    return load_mars_demo()


def test_mars_arrays_have_the_documented_shapes_and_dtypes(mars):
    n = 288
    assert mars.images.shape == (n, 96, 96, 3) and mars.images.dtype == np.uint8
    assert mars.target.shape == (n,) and mars.target.dtype == np.int64
    assert mars.source_ids.shape == (n,) and mars.source_ids.dtype.kind == "U"
    assert mars.sol.shape == (n,) and mars.target_names.dtype.kind == "U"
    assert len(set(mars.source_ids)) == n  # no image twice
    assert mars.images.std() > 10  # real pictures, not a placeholder


def test_mars_labels_are_in_range_and_unbalanced(mars):
    counts = np.bincount(mars.target, minlength=len(mars.target_names))
    assert mars.target.min() == 0 and mars.target.max() == len(mars.target_names) - 1
    assert len(mars.target_names) == 24 and counts.min() >= 1
    # several large classes and a tail of rare ones (the paper's setting)
    assert (counts >= 20).sum() >= 5
    assert (counts <= 3).sum() >= 6 and (counts == 1).sum() >= 2
    assert mars.target_names[np.argmax(counts)] in {"ground", "wheel", "drill holes"}


def test_mars_descr_carries_the_attribution(mars):
    for needed in ["CC BY-SA 4.0", "10.5281/zenodo.1049137", "Stanboli", "Wagstaff", "288"]:
        assert needed in mars.DESCR


def test_return_X_y_gives_the_images_and_target(mars):
    images, target = load_mars_demo(return_X_y=True)
    np.testing.assert_array_equal(images, mars.images)
    np.testing.assert_array_equal(target, mars.target)
    digits, labels = load_mnist_sample(return_X_y=True)
    assert digits.shape == (5000, 28, 28) and digits.dtype == np.uint8
    assert labels.dtype == np.int64 and set(labels) == set(range(10))


def test_mnist_sample_is_the_start_of_the_test_set():
    mnist = load_mnist_sample()
    assert list(mnist.target[:5]) == [7, 2, 1, 0, 4]  # the t10k set's first labels
    assert mnist.source_ids[0] == "t10k:0" and list(mnist.target_names) == list("0123456789")
    assert "LeCun" in mnist.DESCR and "CC BY-SA 3.0" in mnist.DESCR


def test_each_call_returns_fresh_arrays(mars):
    again = load_mars_demo()
    again.images[0] = 0
    assert mars.images[0].any()


@pytest.mark.parametrize("loader", [load_mars_demo, load_mnist_sample])
def test_return_X_y_must_be_a_bool(loader):
    with pytest.raises(TypeError, match="return_X_y"):
        loader(return_X_y="yes")
    with pytest.raises(TypeError):
        loader(True)  # keyword-only
