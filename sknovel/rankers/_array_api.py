"""The rankers on Array API arrays (torch tensors, CuPy arrays), on the arrays' own device.

With scikit-learn's Array API dispatch on (``sklearn.set_config(array_api_dispatch=True)``,
which needs ``array-api-compat`` and ``SCIPY_ARRAY_API=1``), a non-numpy array that
``array_api_compat`` recognises is ranked where it lives:

* a torch tensor on the CPU is ranked as the numpy array on its memory (``Tensor.numpy()``,
  no copy): the same device, and numpy's BLAS, which does the one ``X @ v`` of a pick in
  about half the time of torch's on the development machine (see ``docs/scaling.rst``);
* any other array (CUDA tensors, CuPy, array-api-strict) is wrapped in :class:`ArrayAPIRows`.
  DEMUD's per-pick work -- the one product ``X @ q`` per pick and the maintained scores and
  coordinates of every row -- then runs in the array's namespace, on its device; so do the
  score passes of ``SVDRanker`` and of DEMUD's first pick. The driver-side algebra (the K x d
  model, its incremental update, the small eigen- and singular value decompositions) stays
  in numpy on the host, as it does for Dask. The PCA of ``init="svd"`` and of ``SVDRanker``
  (mean, scatter, refinement) reads X a block of rows at a time into host memory and runs the
  numpy code, so the models are exactly the numpy ones; on a GPU that is a few
  device-to-host copies of X per ``fit``, none per pick.

Either way, as scikit-learn's Array API convention has it, the learned array attributes and
the arrays that ``rank``, ``explain``, ``score_samples`` and ``selection_models`` return are
arrays of X's namespace on X's device (:func:`namespace_converter`); the rankers keep their
own model in numpy.
"""

import hashlib
import importlib
import sys

import numpy as np

from ._blocks import CHUNK_ROWS, DelegatingRows, RowBlockArray
from ._selection import MaintainedBasis, coordinate_capacity, tie_aware_order, tie_tolerance

#: Rows per block of a pass on the device (large blocks: each is one kernel launch on a GPU).
#: float32 rows are converted to float64 a block at a time (the numpy path's accuracy).
_DEVICE_BLOCK_ENTRIES = 1 << 22


def _compat():
    """The ``array_api_compat`` module, or None when it is not installed."""
    if "array_api_compat" in sys.modules:
        return sys.modules["array_api_compat"]
    try:
        return importlib.import_module("array_api_compat")
    except ImportError:
        return None


def is_array_api_input(X):
    """Whether the rankers run `X` in its own namespace (:class:`ArrayAPIRows`).

    True only with scikit-learn's ``array_api_dispatch`` on, ``array-api-compat``
    installed, and `X` an Array API array other than a numpy array (numpy arrays and
    memmaps keep the numpy path; Dask arrays have their own).
    """
    if isinstance(X, np.ndarray) or not hasattr(X, "shape"):
        return False
    from sklearn import get_config

    if not get_config().get("array_api_dispatch", False):
        return False
    compat = _compat()
    return compat is not None and compat.is_array_api_obj(X)


#: Rank CPU torch tensors through numpy views of their memory (see the module docstring).
#: The tests turn it off to run, on CPU tensors, the namespace code that CUDA tensors take.
_VIEW_CPU_TENSORS = True


def cpu_numpy_view(X):
    """The numpy array on the memory of a CPU torch tensor (no copy), or None.

    None for anything else (and for complex tensors and those numpy cannot view, e.g.
    bfloat16 or sparse ones): those keep the namespace path.
    """
    compat = _compat()
    if not (_VIEW_CPU_TENSORS and compat.is_torch_array(X) and X.device.type == "cpu"):
        return None
    if X.is_complex():  # refused by the namespace path, with the dtype named
        return None
    try:
        return X.detach().resolve_neg().numpy()
    except (TypeError, RuntimeError):
        return None


def namespace_converter(X):
    """A function that puts a numpy array into X's namespace, on X's device."""
    compat = _compat()
    xp, device = compat.array_namespace(X), compat.device(X)

    def convert(values):
        return xp.asarray(values, device=device)

    return convert


def to_numpy(array):
    """A device array copied (or viewed, on the CPU) into a numpy array."""
    if isinstance(array, np.ndarray):
        return array
    compat = _compat()
    if compat.is_torch_array(array):
        return array.detach().cpu().numpy()
    if compat.is_cupy_array(array):
        return array.get()
    if type(array).__module__.startswith("array_api_strict"):  # it has simulated devices
        xp = compat.array_namespace(array)
        return np.asarray(xp.asarray(array, device=xp.Device("CPU_DEVICE")))
    return np.asarray(array)


def _working_dtypes(xp, dtype, dtypes):
    """(numpy dtype, xp dtype) the rankers compute X in; as :func:`_blocks.working_dtype`."""
    names = [np.dtype(allowed).name for allowed in dtypes]
    for name in names:
        if dtype == getattr(xp, name):
            return np.dtype(name), dtype
    if xp.isdtype(dtype, ("real floating", "integral", "bool")):
        return np.dtype(names[0]), getattr(xp, names[0])
    raise TypeError(
        f"X has dtype {dtype}; the rankers take real numbers (float32 or float64 are used "
        "as they are; integers, booleans and float16 are converted to float64)."
    )


class _HostBlocks:
    """Rows of a device array read into host memory a slice at a time (for RowBlockArray)."""

    def __init__(self, rows):
        self.rows = rows
        self.shape = rows.shape
        self.dtype = rows.dtype

    def __getitem__(self, key):
        return self.rows[key]


class ArrayAPIRows(DelegatingRows):
    """A validated 2-D Array API array (torch, CuPy, ...) in model units, on its device.

    Built by :meth:`from_array`. Every method that reads rows back to the caller returns
    numpy arrays; the passes over all rows run in the array's namespace.

    Parameters
    ----------
    array : Array API array of shape (n_samples, n_features)
        float32 or float64.
    """

    ndim = 2

    def __init__(self, array, *, stats=None):
        compat = _compat()
        self.array = array
        self.xp = compat.array_namespace(array)
        self.device = compat.device(array)
        self.shape = tuple(int(size) for size in array.shape)
        self.dtype = np.dtype(_working_dtypes(self.xp, array.dtype, ["float64", "float32"])[0])
        self.size = self.shape[0] * self.shape[1]
        self._stats = stats

    @classmethod
    def from_array(cls, X, dtypes):
        """Wrap `X`: checks its dimensions and converts its dtype (as validation does)."""
        xp = _compat().array_namespace(X)
        if X.ndim != 2:
            raise ValueError(
                f"Expected a 2-D array, got a {X.ndim}-D array of shape {tuple(X.shape)} instead."
            )
        _, dtype = _working_dtypes(xp, X.dtype, dtypes)
        if X.dtype != dtype:
            X = xp.astype(X, dtype)
        return cls(X)

    # -- checks and fingerprint ---------------------------------------------------------------

    def check_finite(self):
        """Raise ValueError naming the first row holding a NaN or an infinity."""
        xp = self.xp
        finite = xp.isfinite(self.array)
        if not bool(xp.all(finite)):
            bad = np.argwhere(~to_numpy(finite))[0]
            row, column = int(bad[0]), int(bad[1])
            value = float(self.array[row, column])
            what = "NaN" if np.isnan(value) else "infinity"
            raise ValueError(f"Input X contains {what} (row {row}, column {column}).")

    def _host(self):
        """The rows as a :class:`RowBlockArray` read a block at a time into host memory."""
        return RowBlockArray(_HostBlocks(self), self.dtype)

    def max_magnitude(self):
        """Largest absolute value of the rows."""
        if self.size == 0:
            return 0.0
        return float(self.xp.max(self.xp.abs(self.array)))

    def fingerprint(self):
        """Content hash of the rows, equal to that of the same rows as a numpy array."""
        if self._stats is None:
            digest = self._host().fingerprint(hashlib.blake2b(digest_size=16))
            self._stats = digest.hexdigest()
        return self._stats

    def scaled(self, exponent):
        """These rows times ``2**-exponent`` (exact: a power of two)."""
        return ArrayAPIRows(self.array * (2.0**-exponent))

    # -- reading rows ---------------------------------------------------------------------

    def take(self, indices):
        """The rows at `indices`, in that order, as a numpy array."""
        indices = np.asarray(indices, dtype=np.intp).reshape(-1)
        if not len(indices):
            return np.zeros((0, self.shape[1]), dtype=self.dtype)
        on_device = self.xp.asarray(indices.astype(np.int64), device=self.device)
        return to_numpy(self.xp.take(self.array, on_device, axis=0))

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.take([key])[0]
        if isinstance(key, slice):
            # the Array API leaves out-of-bounds slice ends unspecified: clamp them
            return to_numpy(self.array[slice(*key.indices(self.shape[0])), ...])
        return self.take(key)

    def __array__(self, dtype=None, copy=None):
        whole = to_numpy(self.array)
        return whole if dtype is None else whole.astype(dtype, copy=False)

    # -- models (numpy, on blocks read to the host) ---------------------------------------------

    def column_mean(self):
        """Mean of the rows in float64 (the numpy code, on host blocks)."""
        from ._subspace import column_mean

        return column_mean(self._host())

    def pca_model(self, n_components):
        """Exact top-K PCA: the numpy ``pca_model``, on host blocks (the same numbers)."""
        from ._subspace import pca_model

        return pca_model(self._host(), n_components)

    def randomized_pca_model(self, n_components, *, n_oversamples, n_iter, random_state):
        """Randomized top-K PCA: the numpy code, on host blocks."""
        from ._subspace import randomized_pca_model

        return randomized_pca_model(
            self._host(),
            n_components,
            n_oversamples=n_oversamples,
            n_iter=n_iter,
            random_state=random_state,
        )

    # -- passes on the device ---------------------------------------------------------------

    def _block_rows(self):
        if self.dtype == np.float64:
            return max(self.shape[0], 1)  # no conversion: one product over all rows
        return max(CHUNK_ROWS, _DEVICE_BLOCK_ENTRIES // max(self.shape[1], 1))

    def float64_blocks(self):
        """(start, float64 rows) over the rows, on the device."""
        xp, step = self.xp, self._block_rows()
        for start in range(0, self.shape[0], step):
            block = self.array[start : min(start + step, self.shape[0]), ...]
            yield start, block if self.dtype == np.float64 else xp.astype(block, xp.float64)

    def upload(self, values):
        """A small numpy array as a float64 array on the rows' device."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        return self.xp.asarray(values, device=self.device)

    def device_scores(self, model):
        """(scores, squared distances to the mean) of every row under `model`, on the device."""
        xp = self.xp
        mean, components = self.upload(model.mean), self.upload(model.components)
        scores = xp.zeros(self.shape[0], dtype=xp.float64, device=self.device)
        distances = xp.zeros(self.shape[0], dtype=xp.float64, device=self.device)
        for start, block in self.float64_blocks():
            stop = start + block.shape[0]
            centred = block - mean
            distances[start:stop] = xp.sum(centred * centred, axis=1)
            if model.components.shape[0]:
                centred = centred - (centred @ xp.matrix_transpose(components)) @ components
            scores[start:stop] = xp.sum(centred * centred, axis=1)
        return scores, distances

    def residual_scores(self, model):
        """Scores of every row under `model`, as a numpy array."""
        return to_numpy(self.device_scores(model)[0])

    def best_under(self, model):
        """(index, scale) of the best row under a fixed `model` (scores on the device)."""
        tracker = _ArrayAPITracker(self, model, 0, [], "full")
        index, _ = tracker.pick(self.dtype, tracker.max_distance)
        return index, tracker.max_distance

    def top_under(self, model, n_selections):
        """(ranking, scores) of the first `n_selections` rows under a static `model`.

        Only the n scores (not the rows) come back to the host, where the tie-aware order
        of the numpy path is taken.
        """
        scores, distances = self.device_scores(model)
        scores = to_numpy(scores)
        scale = float(self.xp.max(distances))
        ranking = tie_aware_order(scores, n_selections, self.dtype, scale)
        return ranking, scores[ranking]

    def tracker(self, model, n_components, picked, svd_method):
        """The DEMUD score tracker whose scores and coordinates live on the rows' device."""
        return _ArrayAPITracker(self, model, n_components, picked, svd_method)


class _ArrayAPITracker:
    """Every remaining row's score under the current model, kept on the rows' device.

    The interface of the in-memory trackers of ``_selection`` (``max_distance``, ``pick``,
    ``step``) and the same arithmetic as their numpy code (``apply_plan``), in the rows'
    namespace: the plan of each pick is made on the host by :class:`MaintainedBasis`.
    """

    def __init__(self, rows, model, n_components, picked, svd_method):
        self.rows, self.xp = rows, rows.xp
        self.incremental = svd_method == "incremental"
        self.picked = [int(i) for i in picked]
        scores, distances = rows.device_scores(model)
        self.max_distance = float(self.xp.max(distances)) if rows.shape[0] else 0.0
        self.scores = scores
        self._remove(self.picked)
        if self.incremental:
            capacity = coordinate_capacity(n_components, rows.shape[1])
            self.basis = MaintainedBasis(len(model.components), capacity)
            self.coordinates = self._initial_coordinates(model, capacity)

    def _remove(self, indices):
        for index in indices:
            self.scores[index] = -np.inf

    def _initial_coordinates(self, model, capacity):
        xp, rows = self.xp, self.rows
        coordinates = xp.zeros((capacity, rows.shape[0]), dtype=xp.float64, device=rows.device)
        rank = model.components.shape[0]
        if rank:
            components = rows.upload(model.components)
            for start, block in rows.float64_blocks():
                stop = start + block.shape[0]
                coordinates[:rank, start:stop] = components @ xp.matrix_transpose(block)
        return coordinates

    def pick(self, dtype, scale):
        """The best remaining row (index, row), as :func:`best_index` over all scores."""
        xp = self.xp
        index = int(xp.argmax(self.scores))
        best = float(self.scores[index])
        if index:
            tied = self.scores[:index] >= best - tie_tolerance(dtype, best, scale)
            if bool(xp.any(tied)):
                index = int(xp.argmax(xp.astype(tied, xp.int8)))
        return index, self.rows.take([index])[0]

    def step(self, index, update, old_model):
        """Remove row `index` and follow the model `update` (one pass over the rows)."""
        self.picked.append(int(index))
        if not self.incremental:
            self.scores = self.rows.device_scores(update.model)[0]
            self._remove(self.picked)
            return
        self._remove([index])
        n_basis = self.basis.n_basis
        plan = self.basis.plan(update, old_model)
        self._apply(plan, n_basis)

    def _apply(self, plan, n_basis):
        """``_selection.apply_plan`` in the rows' namespace (scores updated in place)."""
        rows = self.rows
        coordinates = self.coordinates
        if plan.compact is not None:
            rank = plan.compact.shape[0]
            coordinates[:rank, :] = rows.upload(plan.compact) @ coordinates[:n_basis, :]
            n_basis = rank
        for direction, offset in zip(plan.added, plan.added_offsets):
            direction = rows.upload(direction)
            for start, block in rows.float64_blocks():  # the one pass over X
                coordinates[n_basis, start : start + block.shape[0]] = block @ direction
            products = coordinates[n_basis, :] - float(offset)
            self.scores -= products * products
            n_basis += 1
        stored = coordinates[:n_basis, :]
        for weights, offset in zip(plan.dropped_weights.T, plan.dropped_offsets):
            # One vector-matrix product per direction: torch's (1, m) @ (m, n) is far slower.
            products = rows.upload(weights) @ stored - float(offset)
            self.scores += products * products
