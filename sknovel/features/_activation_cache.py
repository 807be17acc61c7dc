"""Keys and an in-process store for CNN activations, so a grid search over layers runs once.

An image set is identified by a digest of its pixels (arrays) or of the bytes of its files
(lists of paths), so that any edit of a file -- even one that keeps its size and modification
time -- changes the key, and a renamed or moved folder keeps it; a network by its architecture,
weights file and input preprocessing. Hashing files costs one extra read of every file's bytes
per ``fit``/``transform`` (blake2b runs at about 1 GB/s per core), small next to decoding the
images and running the network over them. A cache holds one array per (network, images,
layer), so a request for a layer that was not recorded is a miss, never a wrong answer.
"""

import hashlib
import os
import threading
from collections import OrderedDict
from numbers import Integral

import numpy as np

from sknovel.utils.hashing import update_with_array
from sknovel.utils.images import is_path_sequence

#: Default byte budget of the in-process activation store.
DEFAULT_MAX_BYTES = 2 * 1024**3


def image_set_key(images):
    """A digest that changes whenever the images (or the bytes of the files behind the paths) do.

    Parameters
    ----------
    images : ndarray or sequence of paths
        File names may hold any bytes the file system allows (they are hashed as
        ``os.fsencode`` gives them, never as text).

    Returns
    -------
    key : str
    """
    digest = hashlib.blake2b(digest_size=20)
    if is_path_sequence(images):
        for path in images:
            digest.update(file_digest(path))
        return "paths-" + digest.hexdigest()
    return "array-" + update_with_array(digest, np.asarray(images)).hexdigest()


def file_digest(path, *, chunk_size=1 << 20):
    """blake2b digest of a file's bytes, read in chunks; of its name when it cannot be read.

    Parameters
    ----------
    path : str or os.PathLike
    chunk_size : int, default=1 MiB

    Returns
    -------
    digest : bytes
        20 bytes.
    """
    digest = hashlib.blake2b(digest_size=20)
    try:
        with open(path, "rb") as file:
            while chunk := file.read(chunk_size):
                digest.update(chunk)
    except OSError:
        # Unreadable now: key on the name; reading the images then raises an error naming it.
        digest = hashlib.blake2b(b"missing\0" + os.fsencode(path), digest_size=20)
    return digest.digest()


class ActivationStore:
    """An in-process, size-bounded cache of CNN activations to share between featurizers.

    Pass one store as ``memory`` to several :class:`CNNFeaturizer` (or to the one that a grid
    search clones): a featurizer that finds its layer of the same network on the same images
    in the store reads it instead of running the network. Each (network, images, layer) is
    one entry; entries are forgotten, least recently used first, so that the store never
    holds more than `max_bytes`, and an entry larger than `max_bytes` is not kept at all.

    :func:`~sklearn.base.clone` and :func:`copy.deepcopy` return the store itself, so every
    clone made by a grid search shares it; a pickled store is unpickled empty (a cache is
    not state), so processes -- ``n_jobs`` workers, Dask workers -- never share one.

    Parameters
    ----------
    max_bytes : int, default=2 * 1024**3
        Most bytes of activations held at once.

    Attributes
    ----------
    nbytes : int
        Bytes of activations held now, at most `max_bytes`.

    See Also
    --------
    CNNFeaturizer : its ``memory`` and ``cache_layers`` parameters.

    Examples
    --------
    A grid search over layers shares one store through its clones; with
    ``cache_layers="all"`` the first fit records every named layer in its one pass:

    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sknovel import Demud, Pipeline
    >>> from sknovel.features import ActivationStore, CNNFeaturizer
    >>> from sknovel.metrics import make_discovery_scorer
    >>> images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    >>> labels, idx = np.repeat([0, 1, 2], 2), np.arange(6)
    >>> store = ActivationStore(max_bytes=256 * 1024**2)
    >>> cnn = CNNFeaturizer(crop_size=32, memory=store, cache_layers="all")
    >>> search = GridSearchCV(
    ...     Pipeline([("cnn", cnn), ("demud", Demud())]),
    ...     {"cnn__layer": ["pool", "logits"]},
    ...     scoring=make_discovery_scorer(t=3),
    ...     cv=[(idx, idx)],
    ... ).fit(images, labels)
    >>> search.best_estimator_["cnn"].memory is store
    True
    >>> len(store)  # "pool" and "logits" of the six images, from one forward pass
    2
    """

    def __init__(self, max_bytes=DEFAULT_MAX_BYTES):
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, Integral):
            raise TypeError(
                f"max_bytes must be an int (a number of bytes); got {type(max_bytes).__name__}."
            )
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0; got {max_bytes}.")
        self.max_bytes = int(max_bytes)
        self._entries = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()

    def get(self, key):
        """The array stored under `key` (read-only), or None.

        Parameters
        ----------
        key : hashable

        Returns
        -------
        array : ndarray or None
        """
        with self._lock:
            array = self._entries.get(key)
            if array is not None:
                self._entries.move_to_end(key)
            return array

    def put(self, key, array):
        """Keep `array` under `key`, forgetting the least recently used entries to make room.

        Parameters
        ----------
        key : hashable
        array : ndarray
            Kept as it is, without a copy, and made read-only. An array larger than
            `max_bytes` is not kept (and nothing is forgotten for it).

        Returns
        -------
        kept : bool
            Whether the array is now in the store.
        """
        with self._lock:
            self._pop(key)
            if array.nbytes > self.max_bytes:
                return False
            while self._nbytes + array.nbytes > self.max_bytes:
                self._pop(next(iter(self._entries)))
            array.flags.writeable = False
            self._entries[key] = array
            self._nbytes += array.nbytes
            return True

    def clear(self):
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self._nbytes = 0

    @property
    def nbytes(self):
        """Bytes of activations held now."""
        return self._nbytes

    def __len__(self):
        return len(self._entries)

    def __contains__(self, key):
        return key in self._entries

    def __repr__(self):
        return f"{type(self).__name__}(max_bytes={self.max_bytes})"

    def _pop(self, key):
        array = self._entries.pop(key, None)
        if array is not None:
            self._nbytes -= array.nbytes

    # Shared, never copied: clone() deep-copies parameters that are not estimators.
    def __sklearn_clone__(self):
        return self

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return type(self), (self.max_bytes,)
