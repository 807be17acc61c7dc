"""Keys and an in-process store for CNN activations, so a grid search over layers runs once.

An image set is identified by a digest of its pixels (arrays) or of the bytes of its files
(lists of paths), so that any edit of a file -- even one that keeps its size and modification
time -- changes the key, and a renamed or moved folder keeps it; a network by its architecture,
weights file and input preprocessing. Hashing files costs one extra read of every file's bytes
per ``fit``/``transform`` (blake2b runs at about 1 GB/s per core), small next to decoding the
images and running the network over them. The store keeps whole activation dictionaries
(module name → array) and forgets the least recently used ones beyond a byte budget.
"""

import hashlib
import os
from collections import OrderedDict

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
    """Least-recently-used store of ``{module name: activations}`` per (network, images) key.

    Parameters
    ----------
    max_bytes : int
        Entries are dropped, oldest use first, while the total exceeds this.
    """

    def __init__(self, max_bytes=DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self._entries = OrderedDict()

    def get(self, key, layers):
        """The stored activations of every name in `layers`, or None if any is missing."""
        entry = self._entries.get(key)
        if entry is None or not set(layers) <= set(entry):
            return None
        self._entries.move_to_end(key)
        return {name: entry[name] for name in layers}

    def put(self, key, activations):
        """Add (or extend) the entry for `key`, then enforce the byte budget."""
        self._entries.setdefault(key, {}).update(activations)
        self._entries.move_to_end(key)
        while len(self._entries) > 1 and self.nbytes > self.max_bytes:
            self._entries.popitem(last=False)

    def clear(self):
        """Forget everything."""
        self._entries.clear()

    @property
    def nbytes(self):
        """Bytes held by all stored arrays."""
        return sum(a.nbytes for entry in self._entries.values() for a in entry.values())


#: The store shared by every CNNFeaturizer of this process (``memory=None``).
PROCESS_STORE = ActivationStore()
