"""Raw pixels as features: optional resize and greyscale, then flatten."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from sknovel.utils.images import (
    check_size,
    files_mode,
    is_path_sequence,
    iter_image_batches,
    torch_fit_to_size,
)

from ._distributed import dask_transform, is_dask_images, pixel_input_shape

#: ITU-R BT.601 luma weights, as Pillow's "L" conversion uses.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class PixelFeaturizer(TransformerMixin, BaseEstimator):
    """Turn images into flat float vectors of their pixels (the "pixels" representation).

    Lee, Wagstaff et al. (2018) compare raw pixels with SIFT bag-of-words and CNN features
    as inputs to DEMUD; this is the first of the three.

    Parameters
    ----------
    size : tuple of int (height, width) or None, default=None
        Fit every image to this size first with the package's resize policy: scaled with its
        aspect ratio kept (antialiased bilinear) until it covers (height, width), then
        centre-cropped; so files of mixed sizes are fine. None keeps the input size, and then
        all images must share one size.
    grayscale : bool, default=False
        Convert colour images to one luma channel (ITU-R BT.601 weights). Otherwise a list
        of files that mixes grey and colour is read as colour (grey repeated), decided in
        :meth:`fit` and kept by :meth:`transform`.
    batch_size : int, default=256
        Images read and converted at a time; bounds memory for lists of files.

    Attributes
    ----------
    input_shape_ : tuple of int
        (height, width, channels) of the images after resizing and greyscale conversion.
    n_features_out_ : int
        Length of each feature vector, ``height * width * channels``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.features import PixelFeaturizer
    >>> images = np.zeros((5, 8, 8, 3), dtype=np.uint8)
    >>> PixelFeaturizer(grayscale=True).fit_transform(images).shape
    (5, 64)
    """

    _parameter_constraints = {
        "size": [tuple, None],
        "grayscale": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, size=None, grayscale=False, batch_size=256):
        self.size = size
        self.grayscale = grayscale
        self.batch_size = batch_size

    def _batches(self, X, mode=None):
        for batch in iter_image_batches(X, self.batch_size, size=self.size, mode=mode):
            if self.grayscale and batch.shape[-1] != 1:
                batch = (batch[..., :3] @ _LUMA)[..., np.newaxis]
            yield batch

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the images and record their shape after preprocessing.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), list of image file paths, \
                dask.bag.Bag of paths or row-chunked dask.array.Array of images
            A dask array's shape and dtype are checked without computing it; for a bag,
            the workers read the files' headers and the first image (only its shape comes
            back).
        y : None
            Ignored.

        Returns
        -------
        self : PixelFeaturizer
        """
        check_size(self.size)
        if is_dask_images(X):
            self.input_shape_ = pixel_input_shape(self, X)
            self.n_features_out_ = int(np.prod(self.input_shape_))
            return self
        mode = None
        if is_path_sequence(X) and len(X):
            mode = "L" if self.grayscale else files_mode(X)
        first = next(self._batches(X[:1] if is_path_sequence(X) else X, mode))
        self.input_shape_ = tuple(int(v) for v in first.shape[1:])
        self.n_features_out_ = int(np.prod(self.input_shape_))
        return self

    def transform(self, X):
        """Flatten every image to a float32 row of its pixels in [0, 1].

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), list of image file paths, \
                dask.bag.Bag of paths or row-chunked dask.array.Array of images

        Returns
        -------
        features : ndarray of shape (n, ``n_features_out_``), float32
            For dask input, a dask array chunked by rows as the input's partitions, each
            block computed where its partition is (see ``sknovel.features._distributed``).
        """
        check_is_fitted(self, "input_shape_")
        if is_dask_images(X):
            return dask_transform(self, X, dtype=np.float32)
        rows = []
        mode = "L" if self.grayscale or self.input_shape_[-1] == 1 else "RGB"
        for batch in self._batches(X, mode):
            if batch.shape[1:] != self.input_shape_:
                raise ValueError(
                    f"X has images of shape {batch.shape[1:]} after preprocessing, but "
                    f"PixelFeaturizer was fitted on {self.input_shape_}."
                )
            rows.append(batch.reshape(len(batch), -1))
        return np.concatenate(rows)

    def torch_transform(self, images):
        """Differentiable features of a batch of image tensors (for gradient explainers).

        Parameters
        ----------
        images : torch.Tensor of shape (n, C, H, W)
            Float pixels in [0, 1]; may require grad. Fitting to ``size`` (when set) follows
            the same policy with torch's antialiased bilinear interpolation, equal to
            Pillow's in :meth:`transform` up to float rounding.

        Returns
        -------
        features : torch.Tensor of shape (n, ``n_features_out_``)
        """
        check_is_fitted(self, "input_shape_")
        x = images
        if self.size is not None:
            x = torch_fit_to_size(x, tuple(self.size))
        if self.grayscale and x.shape[1] != 1:
            luma = x.new_tensor(_LUMA).view(1, 3, 1, 1)
            x = (x[:, :3] * luma).sum(dim=1, keepdim=True)
        return x.permute(0, 2, 3, 1).reshape(len(x), -1)

    def get_feature_names_out(self, input_features=None):
        """Names ``pixel_{row}_{column}_{channel}`` of the output features.

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self, "input_shape_")
        h, w, c = self.input_shape_
        return np.array(
            [f"pixel_{i}_{j}_{k}" for i in range(h) for j in range(w) for k in range(c)],
            dtype=object,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags
