"""Data sets: the small labelled image sets sknovel ships, and loaders for ``.npz`` files."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from sknovel.datasets._demo import load_mars_demo, load_mnist_sample
from sknovel.datasets._npz import find_data_file, load_labelled_images

__all__ = ["find_data_file", "load_labelled_images", "load_mars_demo", "load_mnist_sample"]
