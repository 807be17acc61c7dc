"""Featurizers: images in, 2-D float features out (pixels; CNN and SIFT to come)."""

from ._images import (
    IMAGE_SUFFIXES,
    check_image_array,
    iter_image_batches,
    load_image,
    load_image_folder,
)
from ._pixels import PixelFeaturizer

__all__ = [
    "IMAGE_SUFFIXES",
    "PixelFeaturizer",
    "check_image_array",
    "iter_image_batches",
    "load_image",
    "load_image_folder",
]
