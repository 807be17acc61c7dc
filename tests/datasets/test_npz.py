"""find_data_file and load_labelled_images on small files written by the test."""

import numpy as np
import pytest

from sknovel.datasets import find_data_file, load_labelled_images


@pytest.fixture
def data_file(tmp_path):
    folder = tmp_path / "project" / "shared" / "data"
    folder.mkdir(parents=True)
    path = folder / "tiny.npz"
    labels = np.array([0, 1, 2, 1, 0, 2, 2, 1])
    images = np.arange(8 * 4 * 4, dtype=np.uint8).reshape(8, 4, 4)
    np.savez(path, images=images, labels=labels, class_names=np.array(["a", "b", "c"]))
    return path


def test_found_in_a_folder_above_and_through_the_environment(data_file, tmp_path, monkeypatch):
    start = tmp_path / "project" / "docs" / "examples"
    start.mkdir(parents=True)
    assert find_data_file("tiny.npz", start=start) == data_file
    assert find_data_file("other.npz", start=start) is None
    monkeypatch.setenv("SKNOVEL_DATA", str(data_file.parent))
    assert find_data_file("tiny.npz", start="/") == data_file


def test_subsets_keep_order_and_rows_line_up(data_file):
    everything = load_labelled_images(data_file)
    assert everything.images.shape == (8, 4, 4) and list(everything.class_names) == ["a", "b", "c"]
    subset = load_labelled_images(data_file, classes=[1, 2], n_samples=4, random_state=0)
    assert np.all(np.diff(subset.indices) > 0) and set(subset.labels) <= {1, 2}
    np.testing.assert_array_equal(subset.images, everything.images[subset.indices])
    np.testing.assert_array_equal(subset.labels, everything.labels[subset.indices])


def test_bad_input(data_file, tmp_path):
    with pytest.raises(FileNotFoundError, match="path="):
        load_labelled_images(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="n_samples"):
        load_labelled_images(data_file, n_samples=9)
    np.savez(tmp_path / "bad.npz", X=np.zeros(3))
    with pytest.raises(ValueError, match="'images' and 'labels'"):
        load_labelled_images(tmp_path / "bad.npz")
