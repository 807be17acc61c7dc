"""SIFT bag of visual words: keypoint descriptors, a k-means vocabulary, keypoint histograms."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from sknovel.utils.images import check_size, is_path_sequence, iter_image_batches, load_image
from sknovel.utils.progress import progress_bar

from ._distributed import dask_transform, is_dask_images, sift_descriptor_sample

#: BT.601 luma weights in 16-bit fixed point, exactly as Pillow's "L" conversion computes them,
#: so that an array and the PNG files written from it give the same grey levels.
_LUMA_FIXED_POINT = np.array([19595, 38470, 7471], dtype=np.uint32)

#: Length of an OpenCV SIFT descriptor.
_DESCRIPTOR_LENGTH = 128


def _import_cv2():
    try:
        import cv2
    except ImportError as error:  # pragma: no cover - exercised only without OpenCV
        raise ImportError(
            'SIFTBoWFeaturizer needs OpenCV: pip install "sknovel[sift]" '
            "(which installs opencv-python-headless)."
        ) from error
    return cv2


def grey_uint8(batch):
    """Turn a float (b, H, W, C) batch in [0, 1] into uint8 (b, H, W) grey levels.

    Colour uses BT.601 luma in Pillow's fixed-point arithmetic (alpha is ignored); one
    channel is only rounded.
    """
    levels = np.rint(batch * 255).astype(np.uint32)
    if levels.shape[-1] == 1:
        return levels[..., 0].astype(np.uint8)
    return ((levels[..., :3] @ _LUMA_FIXED_POINT + 0x8000) >> 16).astype(np.uint8)


class _Reservoir:
    """A uniform random sample of at most `capacity` rows of a stream (Vitter's algorithm R).

    Memory stays at `capacity` rows however long the stream; the sample depends only on the
    rows, their order and the random state, not on how the stream is cut into chunks.
    """

    def __init__(self, capacity, random_state):
        self.capacity, self.random_state = capacity, random_state
        self.parts, self.rows, self.n_seen = [], None, 0

    def add(self, rows):
        if self.rows is None:
            room = len(rows) if self.capacity is None else self.capacity - self.n_seen
            self.parts.append(rows[:room])
            self.n_seen += min(room, len(rows))
            rows = rows[room:]
            if self.capacity is not None and self.n_seen == self.capacity:
                self.rows, self.parts = np.concatenate(self.parts), []
        if len(rows) == 0:
            return
        # Row number t (0-based) replaces a uniform slot of [0, t] when that slot exists.
        slots = self.random_state.randint(0, self.n_seen + np.arange(1, len(rows) + 1))
        self.n_seen += len(rows)
        kept = np.flatnonzero(slots < self.capacity)
        # Where two rows of this chunk draw one slot, the later one wins, as in the loop.
        _, last = np.unique(slots[kept][::-1], return_index=True)
        kept = kept[len(kept) - 1 - last]
        self.rows[slots[kept]] = rows[kept]

    def sample(self):
        if self.rows is not None:
            return self.rows
        if not self.parts:
            return np.empty((0, _DESCRIPTOR_LENGTH), dtype=np.float32)
        return np.concatenate(self.parts)


class SIFTBoWFeaturizer(TransformerMixin, BaseEstimator):
    """Describe images by the histogram of their SIFT keypoints over a k-means vocabulary.

    Lee, Wagstaff et al. (2018) represent each image by the distribution of its SIFT
    keypoints over k-means clusters of the descriptors of all images (the "SIFT" features
    of their comparison, beside raw pixels and CNN layers). :meth:`fit` learns the
    clusters (the visual vocabulary); :meth:`transform` returns, for each image, the share
    of its keypoints that falls in each cluster.

    Parameters
    ----------
    n_clusters : int, default=10
        Size of the vocabulary, the number of output features. The paper reports the best of
        3, 4, 5, 10, 15 and 20.
    max_keypoints : int or None, default=None
        Keep at most this many keypoints per image, those of strongest response (ties broken
        by position, then scale and angle); None keeps all.
    size : tuple of int (height, width) or None, default=None
        Fit every image to this size before detection, with the package's resize policy
        (aspect ratio kept, antialiased bilinear until it covers (height, width), centre
        crop); None describes each image at its own size, so a list of files may mix sizes.
    max_descriptors : int or None, default=100_000
        Fit k-means on a uniform random sample of at most this many descriptors, drawn as the
        images stream past, which bounds both the memory and the time of :meth:`fit`; None
        clusters every descriptor.
    random_state : int, RandomState instance or None, default=None
        Draws the descriptor sample and seeds k-means; an int makes :meth:`fit` repeatable.
    batch_size : int, default=64
        Images read, converted and assigned to clusters at a time; bounds memory for lists of
        files and large arrays.
    verbose : int, default=0
        Show a progress bar (images done, images per second, time left) on stderr.

    Attributes
    ----------
    vocabulary_ : sklearn.cluster.KMeans
        The fitted k-means model; its ``predict`` assigns descriptors to visual words.
    cluster_centers_ : ndarray of shape (n_clusters, 128), float32
        The visual words, in OpenCV's descriptor scale (see Notes).
    n_features_out_ : int
        ``n_clusters``.
    n_descriptors_ : int
        Descriptors found in the images passed to :meth:`fit` (before sampling).
    n_images_without_keypoints_ : int
        Images passed to :meth:`fit` in which SIFT found no keypoint.

    See Also
    --------
    PixelFeaturizer : Raw pixels as features.

    Notes
    -----
    No code of the paper is public; these are sknovel's choices.

    * **Grey levels.** Keypoints are found on uint8 grey images. Colour is reduced with
      the ITU-R BT.601 luma of :class:`PixelFeaturizer`, in the 16-bit fixed-point form of
      Pillow's ``"L"`` conversion, so that an array and PNG files written from it give
      identical features; an alpha channel is ignored. Float images are scaled by 255 and
      rounded.
    * **Detector and descriptor.** OpenCV's ``cv2.SIFT_create()`` with its defaults (3 layers
      per octave, contrast threshold 0.04, edge threshold 10, sigma 1.6, image doubled
      first). A keypoint found with several orientations counts once per orientation.
      Descriptors are OpenCV's: 128 values, L2-normalised, clipped at 0.2, renormalised and
      scaled by 512 (so each has a norm of about 512); k-means works on them as they are.
    * **Why OpenCV.** On the same 50 grey images of the MSL set (96 x 96 px), one thread,
      best of three: OpenCV 5.0 0.091 s (550 images/s), scikit-image 0.26's
      ``skimage.feature.SIFT`` 0.98 s (51 images/s), eleven times slower for about as many
      descriptors (4675 vs 5448). Command, from the repository root:
      ``PYTHONPATH=. python benchmarks/benchmarks/features.py``.
    * **Vocabulary.** :class:`sklearn.cluster.KMeans` (Lloyd, k-means++ start, one
      initialisation) on at most `max_descriptors` descriptors sampled uniformly from all
      keypoints of all images. On 100 000 MSL descriptors and 10 or 20 clusters this exact
      k-means took 0.6-0.7 s (2 cores), its inertia within 0.2 % of the best of three
      starts; ``MiniBatchKMeans`` took 0.3 s but left 0.6-1 % more inertia. With the sample
      bounded, the exact method is affordable and repeatable.
    * **Histograms.** Each descriptor goes to its nearest centre (Euclidean); the counts are
      divided by the image's number of keypoints, so each row sums to 1. An image without
      keypoints (e.g. a flat one) gives an all-zero row, not an error. :meth:`fit` counts
      such images in ``n_images_without_keypoints_``; :meth:`transform` changes no state
      (scikit-learn's rule), and its zero rows are exactly those images
      (``np.flatnonzero(features.sum(axis=1) == 0)``). The output is float64.
    * **Image size.** SIFT is defined at any size, so without `size` each image is
      described at its own size and no input shape is recorded; `size` fits every image to
      it first (:func:`sknovel.utils.images.fit_to_size`, in [0, 1] floats: of the
      colour image for arrays, of the grey image for files). An image smaller than
      OpenCV's SIFT can describe (e.g. 1 x 1) has no keypoints and gives a zero row.

    References
    ----------
    .. [1] Lee, Wagstaff et al., "Interpretable Discovery in Large Image Data Sets", 2018.
    .. [2] Lowe, "Distinctive Image Features from Scale-Invariant Keypoints", IJCV 2004.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.features import SIFTBoWFeaturizer
    >>> images = np.random.default_rng(0).integers(0, 256, (6, 32, 32), dtype=np.uint8)
    >>> featurizer = SIFTBoWFeaturizer(n_clusters=3, random_state=0)
    >>> features = featurizer.fit_transform(images)
    >>> features.shape
    (6, 3)
    >>> bool(np.allclose(features.sum(axis=1), 1))
    True
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "max_keypoints": [Interval(Integral, 1, None, closed="left"), None],
        "size": [tuple, None],
        "max_descriptors": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_clusters=10,
        *,
        max_keypoints=None,
        size=None,
        max_descriptors=100_000,
        random_state=None,
        batch_size=64,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.max_keypoints = max_keypoints
        self.size = size
        self.max_descriptors = max_descriptors
        self.random_state = random_state
        self.batch_size = batch_size
        self.verbose = verbose

    def _check_params(self):
        check_size(self.size)
        if self.max_descriptors is not None and self.max_descriptors < self.n_clusters:
            raise ValueError(
                f"max_descriptors={self.max_descriptors} must be at least "
                f"n_clusters={self.n_clusters}."
            )

    def _grey_batches(self, X):
        """Yield lists of 2-D uint8 grey images, `batch_size` at a time, read lazily."""
        if not is_path_sequence(X):
            for batch in iter_image_batches(X, self.batch_size, size=self.size):
                yield list(grey_uint8(batch))
            return
        if len(X) == 0:
            raise ValueError("X is an empty list of image files.")
        for start in range(0, len(X), self.batch_size):
            yield [
                grey_uint8(load_image(path, mode="L", size=self.size))
                for path in X[start : start + self.batch_size]
            ]

    def _descriptors(self, X, verb):
        """Yield, batch by batch, the list of each image's descriptors (n_i, 128) float32."""
        sift = _import_cv2().SIFT_create()
        n_images = len(X) if hasattr(X, "__len__") else None
        description = f"SIFTBoWFeaturizer.{verb}"
        with progress_bar(n_images, description, unit="image", verbose=self.verbose) as bar:
            for batch in self._grey_batches(X):
                yield [self._describe(sift, image) for image in batch]
                bar.update(len(batch))

    def _describe(self, sift, image):
        keypoints, descriptors = sift.detectAndCompute(image, None)
        if descriptors is None or len(keypoints) == 0:
            return np.empty((0, _DESCRIPTOR_LENGTH), dtype=np.float32)
        # A canonical order (strongest first) makes the cap and the descriptor sample
        # independent of the order in which OpenCV's threads report keypoints.
        keys = np.array([(k.angle, k.size, k.pt[1], k.pt[0], -k.response) for k in keypoints])
        order = np.lexsort(keys.T)[: self.max_keypoints]
        return np.asarray(descriptors, dtype=np.float32)[order]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the visual vocabulary: k-means of the SIFT descriptors of all images.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), list of image file paths, \
                dask.bag.Bag of paths or row-chunked dask.array.Array of images
            uint8 in [0, 255] or float in [0, 1]; files are read lazily in batches. Dask
            input is described on the workers, each partition keeping a sample of at most
            `max_descriptors` descriptors; the samples are merged on the workers and only
            the final one comes to the client, where k-means runs. When every descriptor
            fits in the sample the vocabulary is the in-memory one.
        y : None
            Ignored.

        Returns
        -------
        self : SIFTBoWFeaturizer
            The fitted featurizer.
        """
        self._check_params()
        random_state = check_random_state(self.random_state)
        if is_dask_images(X):
            found = sift_descriptor_sample(self, X, random_state)
            sample, n_descriptors, n_without = found.rows, found.n_seen, found.n_without
            n_images = found.n_images
        else:
            reservoir = _Reservoir(self.max_descriptors, random_state)
            n_descriptors = n_without = 0
            for batch in self._descriptors(X, "fit"):
                for descriptors in batch:
                    reservoir.add(descriptors)
                    n_descriptors += len(descriptors)
                    n_without += len(descriptors) == 0
            sample, n_images = reservoir.sample(), len(X)
        if len(sample) < self.n_clusters:
            raise ValueError(
                f"n_clusters={self.n_clusters} needs at least as many SIFT descriptors, but "
                f"the {n_images} images gave {len(sample)} ({n_without} had no keypoints); "
                "pass more or larger images, or a smaller n_clusters."
            )
        self.vocabulary_ = KMeans(
            n_clusters=self.n_clusters, n_init=1, random_state=random_state
        ).fit(sample)
        self.cluster_centers_ = self.vocabulary_.cluster_centers_
        self.n_features_out_ = self.n_clusters
        self.n_descriptors_ = n_descriptors
        self.n_images_without_keypoints_ = int(n_without)
        return self

    def transform(self, X):
        """Histogram of each image's keypoints over the visual words, normalised to sum 1.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), list of image file paths, \
                dask.bag.Bag of paths or row-chunked dask.array.Array of images
            uint8 in [0, 255] or float in [0, 1]; files are read lazily in batches.

        Returns
        -------
        features : ndarray of shape (n, n_clusters), float64
            Row i is the share of image i's keypoints nearest to each centre; all zeros for
            an image without keypoints. For dask input, a dask array chunked by rows as the
            input's partitions, each block computed where its partition is.
        """
        check_is_fitted(self, "vocabulary_")
        if is_dask_images(X):
            return dask_transform(self, X, dtype=np.float64)
        counts = []
        for batch in self._descriptors(X, "transform"):
            owners = np.repeat(np.arange(len(batch)), [len(d) for d in batch])
            words = np.empty(0, dtype=np.intp)
            if len(owners):
                words = self.vocabulary_.predict(np.concatenate(batch))
            flat = np.bincount(
                owners * self.n_clusters + words, minlength=len(batch) * self.n_clusters
            )
            counts.append(flat.reshape(len(batch), self.n_clusters))
        counts = np.concatenate(counts).astype(np.float64)
        totals = counts.sum(axis=1, keepdims=True)
        return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)

    def get_feature_names_out(self, input_features=None):
        """Names ``sift_cluster_{i}`` of the output features, one per visual word.

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        names : ndarray of str
            ``n_clusters`` names.
        """
        check_is_fitted(self, "vocabulary_")
        return np.array([f"sift_cluster_{i}" for i in range(self.n_clusters)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags
