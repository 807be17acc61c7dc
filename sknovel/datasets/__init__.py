"""Small loaders for labelled image sets stored as ``.npz`` files."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from sknovel.datasets._npz import find_data_file, load_labelled_images

__all__ = ["find_data_file", "load_labelled_images"]
