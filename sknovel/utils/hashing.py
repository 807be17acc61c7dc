"""Content hashes of arrays: one pass over every byte, without copying the whole array."""

import numpy as np

#: Rows hashed per block when an array is not C-contiguous (a memmap, a slice).
BLOCK_ROWS = 4096


def update_with_array(digest, array, *, block_rows=BLOCK_ROWS):
    """Feed `array`'s shape, dtype and every byte (in C order) to a hashlib `digest`.

    A C-contiguous array is hashed in place; any other is copied block by block of
    `block_rows` rows, so memory stays bounded. Equal data give equal digests whatever
    their memory layout; any changed value, or two swapped rows, changes the digest.

    Parameters
    ----------
    digest : hashlib hash object
    array : ndarray
    block_rows : int, default=BLOCK_ROWS

    Returns
    -------
    digest : hashlib hash object
        The same object, updated.
    """
    digest.update(repr((array.shape, array.dtype.str)).encode())
    if array.flags.c_contiguous:
        digest.update(memoryview(array).cast("B"))
        return digest
    for start in range(0, array.shape[0], block_rows):
        block = np.ascontiguousarray(array[start : start + block_rows])
        digest.update(memoryview(block).cast("B"))
    return digest
