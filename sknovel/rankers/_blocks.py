"""How the rankers reach the rows of X: in memory, in row blocks from disk, or on a Dask cluster.

Every pass the rankers make over X (mean, PCA, scores, the one product ``X @ v`` per DEMUD
pick) reads X a block of rows at a time, and every other access reads a few rows by index. So
three kinds of data need only three small adapters:

* an in-memory ``ndarray``: used as it is (the fast path, unchanged);
* a *row-block readable* array, a :class:`numpy.memmap` or an ``h5py``/``zarr`` dataset:
  wrapped in :class:`RowBlockArray`, which reads the rows asked for, converts them to the
  working dtype, and (for a memmap) hands the pages of the previous block back to the operating
  system, so a pass over a file larger than memory keeps a few blocks resident;
* a row-chunked ``dask.array``: wrapped in :class:`sknovel.rankers._dask.DaskRows`, a
  :class:`DelegatingRows` that runs each pass on the chunks where they live.

The seam for other array libraries (Array API namespaces: torch, CuPy) is
:class:`DelegatingRows`: an object that implements its few methods (mean and norms, the PCA,
residual scores, the best-scoring row, the DEMUD score tracker, reading rows by index) is ranked
by the same code, and :func:`validate_rows` is where such inputs are recognised.
"""

import mmap
import sys

import numpy as np

#: Rows per block when walking a large array; about 4 MB of float64 at d = 512.
CHUNK_ROWS = 1024


def is_dask_array(X):
    """Whether `X` is a ``dask.array.Array`` (without importing dask)."""
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and isinstance(X, dask_array.Array)


def _mapped(X):
    """The :class:`mmap.mmap` behind a memmap, or None for an array in memory."""
    return getattr(X, "_mmap", None) if isinstance(X, np.memmap) else None


def is_row_block_source(X):
    """Whether `X` is read in row blocks rather than used in memory.

    A :class:`numpy.memmap` backed by a file (not an in-memory result of arithmetic on one),
    an ``h5py`` dataset or a ``zarr`` array.
    """
    if isinstance(X, np.memmap):
        return _mapped(X) is not None
    root = type(X).__module__.split(".")[0]
    return root in ("h5py", "zarr") and hasattr(X, "shape") and hasattr(X, "dtype")


class DelegatingRows:
    """Rows that live elsewhere (a cluster, a device): the rankers delegate each pass to them.

    Subclasses hold the rows in model units and implement the methods below with the same
    arithmetic as the in-memory functions of ``_subspace`` and ``_selection``, so that the
    picks are the same. ``shape``, ``dtype`` (float32 or float64), ``ndim`` and ``size``
    describe the rows.
    """

    def scaled(self, exponent):
        """These rows times ``2**-exponent`` (lazily)."""
        raise NotImplementedError

    def take(self, indices):
        """The rows at `indices`, in that order, as an ndarray in ``dtype``."""
        raise NotImplementedError

    def max_magnitude(self):
        """Largest absolute value of the rows."""
        raise NotImplementedError

    def fingerprint(self):
        """A content hash of the rows (see :func:`sknovel.rankers._base.data_fingerprint`)."""
        raise NotImplementedError

    def pca_model(self, n_components):
        """Exact top-K PCA, as :func:`sknovel.rankers._subspace.pca_model`."""
        raise NotImplementedError

    def randomized_pca_model(self, n_components, *, n_oversamples, n_iter, random_state):
        """Randomized top-K PCA, as :func:`sknovel.rankers._subspace.randomized_pca_model`."""
        raise NotImplementedError

    def column_mean(self):
        """Mean of the rows in float64."""
        raise NotImplementedError

    def residual_scores(self, model):
        """Scores of every row under `model` (an array of the rows' kind, not gathered)."""
        raise NotImplementedError

    def best_under(self, model):
        """(index, scale) of the best row under `model` and the largest squared distance."""
        raise NotImplementedError

    def top_under(self, model, n_selections):
        """(ranking, scores) of the first `n_selections` rows under a static `model`."""
        raise NotImplementedError

    def tracker(self, model, n_components, picked, svd_method):
        """The score tracker of a DEMUD run (see ``_selection``)."""
        raise NotImplementedError


def take_rows(X, indices):
    """The rows of `X` at `indices`, in that order, as an ndarray."""
    indices = np.asarray(indices, dtype=np.intp)
    if isinstance(X, np.ndarray):
        return X[indices]
    return X.take(indices)


def scale_rows(X, exponent):
    """`X` times ``2**-exponent``: exact, lazily for data that are not in memory."""
    if exponent == 0:
        return X
    if isinstance(X, np.ndarray):
        return np.ldexp(X, -exponent)
    return X.scaled(exponent)


class _PageReleaser:
    """Gives a memmap's pages back to the OS once they are read, so that RSS stays bounded.

    Reading a mapped file maps its pages into the process; they count in its resident size
    until the kernel needs the memory. ``madvise(MADV_DONTNEED)`` unmaps them at once; the
    data stay in the file (and in the page cache), and a later read maps them again. Only
    shared mappings (modes ``"r"``, ``"r+"``, ``"w+"``) are released: on a private
    (``"c"``) mapping the call would discard the caller's unsaved changes.
    """

    def __init__(self, X):
        self._mmap = _mapped(X)
        usable = (
            self._mmap is not None
            and getattr(X, "mode", "c") != "c"
            and hasattr(self._mmap, "madvise")
            and hasattr(mmap, "MADV_DONTNEED")
        )
        if not usable:
            self._mmap = None
            return
        self._base = np.frombuffer(self._mmap, dtype=np.uint8).ctypes.data
        self._length = len(self._mmap)
        self._pending = None

    def read(self, rows):
        """Note that `rows` (a view of the map) were read; release the previous read."""
        if self._mmap is None:
            return
        self.release()
        if rows.size:
            self._pending = np.lib.array_utils.byte_bounds(rows)

    def release(self):
        """Unmap the pages of the last read."""
        if self._mmap is None or self._pending is None:
            return
        low, high = self._pending
        self._pending = None
        start = (low - self._base) // mmap.PAGESIZE * mmap.PAGESIZE
        stop = min(high - self._base, self._length)
        if 0 <= start < stop:
            self._mmap.madvise(mmap.MADV_DONTNEED, start, stop - start)


class RowBlockArray:
    """A row-block readable array seen as a read-only 2-D float array, read a block at a time.

    Slicing rows (``X[a:b]``), one row (``X[i]``) and rows by index (``X[[i, j]]``) read
    those rows from the source and convert them to `dtype` (times ``2**-exponent``), so that
    the in-memory code paths of the rankers run on it unchanged and never hold more than a
    block. A memmap's pages are released after each block (see :class:`_PageReleaser`).

    Parameters
    ----------
    source : numpy.memmap, h5py.Dataset or zarr.Array of shape (n_samples, n_features)
    dtype : {numpy.float32, numpy.float64}
        The working dtype (what the in-memory validation would have converted to).
    exponent : int, default=0
        Rows are returned times ``2**-exponent``.
    """

    ndim = 2

    def __init__(self, source, dtype, exponent=0, *, releaser=None):
        self.source = source
        self.dtype = np.dtype(dtype)
        self.exponent = int(exponent)
        self.shape = tuple(int(size) for size in source.shape)
        self.size = self.shape[0] * self.shape[1]
        self._releaser = releaser if releaser is not None else _PageReleaser(source)

    def __len__(self):
        return self.shape[0]

    def scaled(self, exponent):
        """The same rows times ``2**-exponent`` (on top of this array's own exponent)."""
        return RowBlockArray(
            self.source, self.dtype, self.exponent + exponent, releaser=self._releaser
        )

    def _convert(self, rows):
        rows = np.asarray(rows)
        if rows.dtype != self.dtype:
            rows = rows.astype(self.dtype)
        if self.exponent:
            rows = np.ldexp(rows, -self.exponent)
        return rows

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step != 1:
                return self.take(np.arange(start, stop, step))
            rows = self.source[start:stop]
            self._releaser.read(rows)
            return self._convert(rows)
        if isinstance(key, (int, np.integer)):
            index = int(key) + (self.shape[0] if key < 0 else 0)
            if not 0 <= index < self.shape[0]:
                raise IndexError(f"row {key} is out of bounds for {self.shape[0]} rows")
            return self[index : index + 1][0]
        key = np.asarray(key)
        if key.dtype == bool:
            key = np.flatnonzero(key)
        return self.take(key)

    def take(self, indices):
        """The rows at `indices`, in that order (read in increasing order, once each)."""
        indices = np.asarray(indices, dtype=np.intp).reshape(-1)
        if len(indices) and (indices.min() < -self.shape[0] or indices.max() >= self.shape[0]):
            raise IndexError(f"row indices out of bounds for {self.shape[0]} rows")
        indices = np.where(indices < 0, indices + self.shape[0], indices)
        unique, inverse = np.unique(indices, return_inverse=True)
        if isinstance(self.source, np.ndarray):
            rows = self.source[unique]
        elif type(self.source).__module__.startswith("h5py"):
            rows = self.source[unique.tolist()] if len(unique) else self.source[0:0]
        else:
            rows = (
                np.stack([np.asarray(self.source[int(i)]) for i in unique])
                if len(unique)
                else np.asarray(self.source[0:0])
            )
        return self._convert(rows).reshape(len(unique), self.shape[1])[inverse]

    def check_finite(self):
        """Raise ValueError if any value is NaN or infinite (one pass, a block at a time)."""
        check_finite_blocks(self)

    def fingerprint(self, digest):
        """Feed the rows to `digest` as ``update_with_array`` feeds an ndarray of them."""
        digest.update(repr((self.shape, self.dtype.str)).encode())
        for _, block in blocks(self, 4 * CHUNK_ROWS):
            digest.update(memoryview(np.ascontiguousarray(block)).cast("B"))
        return digest

    def __array__(self, dtype=None, copy=None):
        # Only small arrays are read whole (the exact SVD of pca_model); passes go by blocks.
        whole = np.empty(self.shape, dtype=self.dtype)
        for start in range(0, self.shape[0], CHUNK_ROWS):
            whole[start : start + CHUNK_ROWS] = self[start : start + CHUNK_ROWS]
        return whole if dtype is None else whole.astype(dtype, copy=False)


def blocks(X, rows=CHUNK_ROWS):
    """(start, rows) of `X` a block at a time, in its own dtype."""
    for start in range(0, X.shape[0], rows):
        yield start, X[start : start + rows]


def product(X, matrix):
    """``X @ matrix`` in float64, accumulated over row blocks unless X is in memory."""
    matrix = matrix.astype(X.dtype)
    if isinstance(X, np.ndarray):
        return (X @ matrix).astype(np.float64)
    out = np.empty((X.shape[0],) + matrix.shape[1:])
    for start, block in blocks(X):
        out[start : start + len(block)] = block @ matrix
    return out


def transpose_product(X, matrix):
    """``X.T @ matrix`` in float64, accumulated over row blocks unless X is in memory."""
    matrix = matrix.astype(X.dtype)
    if isinstance(X, np.ndarray):
        return (X.T @ matrix).astype(np.float64)
    out = np.zeros((X.shape[1],) + matrix.shape[1:])
    for start, block in blocks(X):
        out += block.T @ matrix[start : start + len(block)]
    return out


def working_dtype(dtype, dtypes):
    """The dtype the rankers compute X in: X's own if listed in `dtypes`, else the first.

    Integers, booleans and float16 are converted (as scikit-learn's validation does); any
    other dtype is refused.
    """
    dtype = np.dtype(dtype)
    if dtype in [np.dtype(allowed) for allowed in dtypes]:
        return dtype
    if dtype.kind in "biuf":
        return np.dtype(dtypes[0])
    raise TypeError(
        f"X has dtype {dtype}; the rankers take real numbers (float32 or float64 are used "
        "as they are; integers, booleans and float16 are converted to float64)."
    )


def check_finite_blocks(X):
    """Raise ValueError naming the first row of `X` that holds a NaN or an infinity."""
    for start, block in blocks(X):
        finite = np.isfinite(block)
        if not finite.all():
            row, column = np.argwhere(~finite)[0]
            what = "NaN" if np.isnan(block[row, column]) else "infinity"
            raise ValueError(f"Input X contains {what} (row {start + row}, column {column}).")


def _check_shape(shape, ensure_min_samples):
    if len(shape) != 2:
        raise ValueError(
            f"Expected a 2-D array, got a {len(shape)}-D array of shape {shape} instead."
        )
    if shape[0] < ensure_min_samples:
        raise ValueError(
            f"Found array with {shape[0]} sample(s) (shape={shape}) while a minimum of "
            f"{ensure_min_samples} is required."
        )
    if shape[1] < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={shape}) while a minimum of 1 is required."
        )


def _is_array_api_input(X):
    """Whether `X` is ranked in its own Array API namespace (lazy: no import otherwise)."""
    library_loaded = "torch" in sys.modules or "cupy" in sys.modules
    if isinstance(X, np.ndarray) or not (hasattr(X, "__array_namespace__") or library_loaded):
        return False
    from ._array_api import is_array_api_input

    return is_array_api_input(X)


def host_view(X):
    """`X`, or the numpy array on its memory for a CPU torch tensor under Array API dispatch.

    Such a tensor is ranked by the numpy code on its own memory (no copy; see
    ``_array_api``); every other input is returned as it is.
    """
    if isinstance(X, np.ndarray) or "torch" not in sys.modules or not _is_array_api_input(X):
        return X
    from ._array_api import cpu_numpy_view

    view = cpu_numpy_view(X)
    return X if view is None else view


def output_converter(X):
    """None, or for an Array API input a function putting numpy arrays in its namespace.

    scikit-learn's convention under ``array_api_dispatch``: learned attributes and returned
    arrays live in the namespace, and on the device, of the X they came from.
    """
    if is_dask_array(X) or is_row_block_source(X) or not _is_array_api_input(X):
        return None
    from ._array_api import namespace_converter

    return namespace_converter(X)


def _wrap(X, dtypes):
    if is_dask_array(X):
        from ._dask import DaskRows

        return DaskRows.from_array(X, dtypes)
    if _is_array_api_input(X):
        from ._array_api import ArrayAPIRows

        return ArrayAPIRows.from_array(X, dtypes)
    _check_shape(tuple(X.shape), 0)
    return RowBlockArray(X, working_dtype(X.dtype, dtypes))


def needs_block_validation(X):
    """Whether `X` is validated block-wise by :func:`validate_rows` (not copied whole)."""
    return is_row_block_source(X) or is_dask_array(X) or _is_array_api_input(X)


def validate_rows(estimator, X, *, reset, ensure_min_samples, dtypes):
    """scikit-learn's ``validate_data`` for data that must not be read whole.

    The same checks -- 2-D, a real dtype, enough rows, the number of features the estimator
    was fitted with, finite values -- with the values checked a block (or a Dask chunk) at a
    time. Returns a :class:`RowBlockArray` or a :class:`DelegatingRows`.
    """
    from sklearn.utils.validation import _check_feature_names, _check_n_features

    try:
        rows = _wrap(X, dtypes)
        _check_shape(rows.shape, ensure_min_samples)
        if not reset:
            _check_n_features(estimator, rows, reset=False)
        rows.check_finite()
        _check_n_features(estimator, rows, reset=reset)
        _check_feature_names(estimator, X, reset=reset)
    except (TypeError, ValueError) as error:
        raise type(error)(f"Invalid X for {type(estimator).__name__}: {error}") from error
    return rows
