"""Featurizers: images in, 2-D float features out (pixels, SIFT bag of words, CNN layers)."""

from sknovel.utils.images import (
    IMAGE_SUFFIXES,
    check_image_array,
    fit_to_size,
    iter_image_batches,
    load_image,
    load_image_folder,
)

from ._activation_cache import ActivationStore
from ._cnn import CNNFeaturizer
from ._distributed import dask_client, featurize_with_dask
from ._pixels import PixelFeaturizer
from ._sift import SIFTBoWFeaturizer

__all__ = [
    "ActivationStore",
    "CNNFeaturizer",
    "IMAGE_SUFFIXES",
    "PixelFeaturizer",
    "SIFTBoWFeaturizer",
    "check_image_array",
    "dask_client",
    "featurize_with_dask",
    "fit_to_size",
    "iter_image_batches",
    "load_image",
    "load_image_folder",
]
