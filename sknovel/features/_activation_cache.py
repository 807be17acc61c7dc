"""Keys and an in-process store for CNN activations, so a grid search over layers runs once.

An image set is identified by a digest of its pixels (arrays) or of its file names, sizes and
modification times (lists of paths); a network by its architecture, weights file and input
preprocessing. The store keeps whole activation dictionaries (module name → array) and forgets
the least recently used ones beyond a byte budget.
"""

import hashlib
import os
from collections import OrderedDict

import numpy as np

from ._images import is_path_sequence

#: Default byte budget of the in-process activation store.
DEFAULT_MAX_BYTES = 2 * 1024**3


def image_set_key(images):
    """A digest that changes whenever the images (or the files behind the paths) change.

    Parameters
    ----------
    images : ndarray or sequence of paths

    Returns
    -------
    key : str
    """
    digest = hashlib.blake2b(digest_size=20)
    if is_path_sequence(images):
        for path in images:
            path = os.fspath(path)
            try:
                stat = os.stat(path)
                digest.update(
                    f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
                )
            except OSError:
                digest.update(f"{path}\0missing\n".encode())
        return "paths-" + digest.hexdigest()
    array = np.ascontiguousarray(images)
    digest.update(repr((array.shape, array.dtype.str)).encode())
    digest.update(memoryview(array).cast("B"))
    return "array-" + digest.hexdigest()


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
