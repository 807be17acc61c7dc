"""The rankers on a row-chunked ``dask.array``: every pass over X runs on the chunks.

X is persisted once (on the workers of a ``dask.distributed`` client when one is active, in
this process with the threaded scheduler otherwise). Every pass is a task per chunk that
calls the same numpy code as the in-memory rankers on that chunk, so the arithmetic per row
is the same and the picks are the same; the client only combines small per-chunk results.

DEMUD's maintained scores live with the chunks: each chunk keeps a state (its rows' scores
and their coordinates in the stored basis, see ``_selection``) where the chunk is. A pick is
one round trip: the driver sends the small plan of the model update (K x d numbers at most),
each chunk updates its state in one pass over its rows and returns the few rows that can win
the next pick (see :func:`_summarize`), and the driver chooses. Driver memory is O(K d) for
the model plus O(n_selections d) for the picks and the plans.

On a cluster the states of the chunks a worker holds are one Dask actor on that worker
(:class:`_ChunkGroup`): a pick is one call per worker, which skips the scheduling of tasks
(a few milliseconds where a round of tasks costs tens). An actor does not survive its worker,
so the driver rebuilds a lost group from the start of the run and the plans of every pick
since, on the chunks (which Dask recomputes from their lineage if they were lost too): the
same arithmetic, so the same ranking; when Dask cannot recompute a chunk, its error is
raised, never a ranking. With Dask's local schedulers the states stay in this process, one
fused task per chunk and pick, each state a new object (a pure function of the previous one).
"""

import hashlib
import itertools
import os
import sys
import uuid
import weakref

import numpy as np

from sknovel.utils.hashing import update_with_array

from ._blocks import CHUNK_ROWS, DelegatingRows, working_dtype
from ._selection import (
    MaintainedBasis,
    apply_plan,
    coordinate_capacity,
    initial_coordinates,
    tie_aware_order,
    tie_tolerance,
)
from ._subspace import (
    _EXACT_SVD_MAX_ENTRIES,
    SubspaceModel,
    _right_singular,
    _top_eigenvectors,
    _truncate,
    pca_model,
    residual_scores,
    zero_tolerance,
)

#: Rows each chunk sends back with its candidates for the next pick: the winner's row then
#: needs no second round trip (unless a chunk has more near-tied candidates than this).
_ROWS_PER_SUMMARY = 2
#: Partial results (d x d scatters, triangles) are summed this many at a time, in a tree.
_TREE_ARITY = 8


#: Task keys: a prefix unique to this process, then a counter (cheaper than a uuid per task).
_KEY_PREFIX = f"sknovel-{os.getpid()}-{uuid.uuid4().hex[:12]}"
_KEY_COUNTER = itertools.count()


def _delayed(function):
    """``function`` as a ``dask.delayed`` call with a fresh key (no hashing of the arguments)."""
    if function not in _DELAYED:
        from dask import delayed

        _DELAYED[function] = delayed(function, pure=False)
    wrapped = _DELAYED[function]

    def call(*args):
        key = f"{function.__name__}-{_KEY_PREFIX}-{next(_KEY_COUNTER)}"
        return wrapped(*args, dask_key_name=key)

    return call


_DELAYED = {}


def _client():
    """The ``dask.distributed`` client that ``dask.compute`` would use now, or None."""
    if "distributed" not in sys.modules:
        return None
    from dask.base import get_scheduler
    from distributed import Client

    client = getattr(get_scheduler(), "__self__", None)
    return client if isinstance(client, Client) else None


def _keep_and_gather(kept, gathered):
    """Compute `kept` (left where they are: futures on a cluster) and `gathered` (returned).

    One submission of one graph: with a distributed client, `kept` become futures on the
    workers and only `gathered` travel to the client; with the local schedulers both are
    computed in this process.
    """
    import dask

    client = _client()
    if client is None:
        results = dask.compute(*kept, *gathered)
        return list(results[: len(kept)]), list(results[len(kept) :])
    futures = client.compute([*kept, *gathered])
    return futures[: len(kept)], client.gather(futures[len(kept) :])


def _rows(x, exponent):
    """A chunk's rows in model units."""
    return x if exponent == 0 else np.ldexp(x, -exponent)


# --- tasks run on one chunk ------------------------------------------------------------------


def _chunk_check(x):
    """(first non-finite (row, column, is NaN) or None, largest magnitude, content digest)."""
    top = 0.0
    for start in range(0, len(x), CHUNK_ROWS):
        block = x[start : start + CHUNK_ROWS]
        finite = np.isfinite(block)
        if not finite.all():
            row, column = np.argwhere(~finite)[0]
            return (start + int(row), int(column), bool(np.isnan(block[row, column]))), 0.0, b""
        if block.size:
            top = max(top, float(block.max()), -float(block.min()))
    return None, top, update_with_array(hashlib.blake2b(digest_size=16), x).digest()


def _chunk_sums(x, exponent):
    """Column sums and sum of squares of a chunk, in float64, block by block."""
    x = _rows(x, exponent)
    total, squares = np.zeros(x.shape[1]), 0.0
    for start in range(0, len(x), CHUNK_ROWS):
        block = np.asarray(x[start : start + CHUNK_ROWS], dtype=np.float64)
        total += block.sum(axis=0)
        squares += float(np.einsum("ij,ij->", block, block))
    return total, squares


def _centred_chunk_blocks(x, exponent, mean):
    x = _rows(x, exponent)
    for start in range(0, len(x), CHUNK_ROWS):
        yield np.asarray(x[start : start + CHUNK_ROWS], dtype=np.float64) - mean


def _chunk_scatter(x, exponent, mean):
    scatter = np.zeros((x.shape[1], x.shape[1]))
    for block in _centred_chunk_blocks(x, exponent, mean):
        scatter += block.T @ block
    return scatter


def _chunk_triangle(x, exponent, mean, basis):
    triangle = np.zeros((0, basis.shape[1]))
    for block in _centred_chunk_blocks(x, exponent, mean):
        triangle = np.linalg.qr(np.vstack([triangle, block @ basis]), mode="r")
    return triangle


def _sum(*arrays):
    total = arrays[0].copy()
    for array in arrays[1:]:
        total += array
    return total


def _stack_triangles(*triangles):
    return np.linalg.qr(np.vstack(triangles), mode="r")


def _chunk_scores(x, exponent, model):
    return residual_scores(_rows(x, exponent), model)


class _ChunkState:
    """The scores of one chunk's rows, and their stored coordinates (incremental method)."""

    __slots__ = ("scores", "coordinates", "n_basis", "max_distance")

    def __init__(self, scores, coordinates, n_basis, max_distance):
        self.scores = scores
        self.coordinates = coordinates
        self.n_basis = n_basis
        self.max_distance = max_distance

    def __getstate__(self):
        return (self.scores, self.coordinates, self.n_basis, self.max_distance)

    def __setstate__(self, state):
        self.scores, self.coordinates, self.n_basis, self.max_distance = state


def _init_state(x, exponent, offset, model, picked, capacity):
    """Scores of a chunk's rows under `model` (picked rows -inf), and their coordinates."""
    x = _rows(x, exponent)
    scores, distances = residual_scores(x, model, with_distance=True)
    local = picked[(picked >= offset) & (picked < offset + len(x))] - offset
    scores[local] = -np.inf
    coordinates = initial_coordinates(x, model, capacity) if capacity else None
    max_distance = float(distances.max()) if len(x) else -np.inf
    return _ChunkState(scores, coordinates, len(model.components), max_distance)


def _advance_state(x, exponent, offset, state, index, plan, *, in_place=False):
    """The state after the pick `index` and the model update `plan`.

    A new object that leaves `state` valid, or, `in_place`, `state` itself updated (the
    same numbers: only where they are written differs).
    """
    scores = state.scores if in_place else state.scores.copy()
    if offset <= index < offset + len(scores):
        scores[index - offset] = -np.inf
    coordinates, n_basis = apply_plan(
        _rows(x, exponent),
        scores,
        state.coordinates,
        state.n_basis,
        plan,
        keep_earlier=not in_place,
    )
    if in_place:
        state.coordinates, state.n_basis = coordinates, n_basis
        return state
    return _ChunkState(scores, coordinates, n_basis, state.max_distance)


def _max_distance(state):
    return state.max_distance


def _summarize(state, x, exponent, offset, dtype, scale):
    """The rows of a chunk that can be the next pick: (indices, scores, first rows).

    The next pick is the lowest index whose score is within the tie tolerance of the best
    score B over all chunks (:func:`~sknovel.rankers._selection.best_index`). In this chunk
    that row scores at least ``m - 2 tol(m)`` (m: the chunk's best, B >= m) and beats every
    row before it in the chunk. Those rows -- the running maxima among the near-best, almost
    always one -- are all the driver needs to find the pick exactly.
    """
    scores = state.scores
    empty = np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros((0, x.shape[1]), dtype=x.dtype)
    if not len(scores):
        return empty
    top = float(scores.max())
    if top == -np.inf:
        return empty
    candidates = np.flatnonzero(scores >= top - 2 * tie_tolerance(dtype, top, scale))
    values = scores[candidates]
    leads = np.ones(len(values), dtype=bool)
    leads[1:] = values[1:] > np.maximum.accumulate(values)[:-1]
    indices, values = candidates[leads], values[leads]
    rows = _rows(np.asarray(x[indices[:_ROWS_PER_SUMMARY]]), exponent)
    return indices + offset, values, rows


def _choose(summaries, dtype, scale):
    """(index, row or None) of the next pick from every chunk's :func:`_summarize`."""
    best = max((float(values.max()) for _, values, _ in summaries if len(values)))
    threshold = best - tie_tolerance(dtype, best, scale)
    choice, row = None, None
    for indices, values, rows in summaries:
        qualified = np.flatnonzero(values >= threshold)
        if len(qualified) and (choice is None or indices[qualified[0]] < choice):
            position = int(qualified[0])
            choice = int(indices[position])
            row = rows[position] if position < len(rows) else None
    return choice, row


def _chunk_top(state, n_selections):
    scores = state.scores
    if len(scores) > n_selections:
        scores = np.partition(scores, len(scores) - n_selections)[-n_selections:]
    return scores


def _chunk_candidates(state, offset, threshold):
    indices = np.flatnonzero(state.scores >= threshold)
    return indices + offset, state.scores[indices]


def _advance_and_summarize(state, x, exponent, offset, index, plan, dtype, scale):
    """One pick's whole work on a chunk: (the state after it, the chunk's summary)."""
    state = _advance_state(x, exponent, offset, state, index, plan)
    return state, _summarize(state, x, exponent, offset, dtype, scale)


def _restart_and_summarize(x, exponent, offset, model, picked, dtype, scale):
    """The ``"full"`` method's pick on a chunk: (scores under `model`, summary)."""
    state = _init_state(x, exponent, offset, model, picked, 0)
    return state, _summarize(state, x, exponent, offset, dtype, scale)


class _ChunkGroup:
    """The DEMUD states of the chunks one worker holds, kept on that worker (a Dask actor).

    Built from the start of the run and the steps taken since (so that a group lost with its
    worker is rebuilt elsewhere with the same numbers); each later call applies one step to
    every chunk of the group, in place, and returns the chunks' summaries.

    Parameters
    ----------
    exponent : int
        The rows are the chunks times ``2**-exponent``.
    offsets : list of int
        First row of each chunk.
    start : tuple (model, picked, capacity)
        What the states start from (see :func:`_init_state`).
    steps : list of tuple (index, plan)
        Picks and model updates since the start, replayed in order.
    *chunks : ndarray
        The chunks' rows.
    """

    def __init__(self, exponent, offsets, start, steps, *chunks):
        self.exponent, self.offsets, self.chunks = exponent, offsets, chunks
        model, picked, capacity = start
        self.states = [
            _init_state(x, exponent, offset, model, picked, capacity)
            for x, offset in zip(chunks, offsets)
        ]
        self.n_steps = 0
        for index, plan in steps:
            self._advance(index, plan)

    def _advance(self, index, plan):
        for x, offset, state in zip(self.chunks, self.offsets, self.states):
            _advance_state(x, self.exponent, offset, state, index, plan, in_place=True)
        self.n_steps += 1

    def n_rows(self):
        """Rows whose states this group holds."""
        return sum(len(state.scores) for state in self.states)

    def max_distance(self):
        """Largest squared distance of a row to the starting mean."""
        return max(state.max_distance for state in self.states)

    def summaries(self, dtype, scale):
        """Every chunk's :func:`_summarize`."""
        return [
            _summarize(state, x, self.exponent, offset, dtype, scale)
            for x, offset, state in zip(self.chunks, self.offsets, self.states)
        ]

    def advance(self, step, index, plan, dtype, scale):
        """Apply step number `step` (the pick `index`, the update `plan`); the summaries."""
        if step != self.n_steps + 1:  # a repeated or skipped call: refuse, never guess
            raise RuntimeError(f"chunk states are at step {self.n_steps}, asked for step {step}")
        self._advance(index, plan)
        return self.summaries(dtype, scale)

    def restart(self, model, picked, dtype, scale):
        """Scores under `model` with `picked` removed (the ``"full"`` method); summaries."""
        self.states = [
            _init_state(x, self.exponent, offset, model, picked, 0)
            for x, offset in zip(self.chunks, self.offsets)
        ]
        return self.summaries(dtype, scale)


# --- the rows on the cluster -------------------------------------------------------------------


class DaskRows(DelegatingRows):
    """A validated row-chunked Dask array in model units, persisted on first use.

    Built by :meth:`from_array`; :meth:`check_finite` persists it and checks every value
    (one pass, which also gives the largest magnitude and the content fingerprint).

    Parameters
    ----------
    array : dask.array.Array of shape (n_samples, n_features)
        float32 or float64, one chunk along the columns.
    exponent : int, default=0
        The rows are ``array * 2**-exponent``.
    """

    ndim = 2

    def __init__(self, array, exponent=0, *, stats=None):
        self.array = array
        self.exponent = int(exponent)
        self.shape = tuple(int(size) for size in array.shape)
        self.dtype = np.dtype(array.dtype)
        self.size = self.shape[0] * self.shape[1]
        self._stats = stats
        self._offsets = [int(o) for o in np.cumsum((0,) + tuple(array.chunks[0]))[:-1]]

    @classmethod
    def from_array(cls, X, dtypes):
        """Wrap `X` (not yet persisted): checks its dimensions, dtype and chunk sizes."""
        if X.ndim != 2:
            raise ValueError(
                f"Expected a 2-D array, got a {X.ndim}-D Dask array of shape {X.shape} instead."
            )
        if any(np.isnan(size) for size in X.shape):
            raise ValueError(
                f"X is a Dask array of unknown number of rows (shape {X.shape}); call "
                "X.compute_chunk_sizes() first."
            )
        dtype = working_dtype(X.dtype, dtypes)
        if X.dtype != dtype:
            X = X.astype(dtype)
        if len(X.chunks[1]) > 1:  # each task reads whole rows
            X = X.rechunk({1: -1})
        return cls(X)

    # -- the chunks -----------------------------------------------------------------------

    def _parts(self):
        if not hasattr(self, "_chunk_parts"):
            self._chunk_parts = list(self.array.to_delayed(optimize_graph=False).ravel())
        return self._chunk_parts

    def _each(self, function, arguments, states=None):
        """One delayed ``function(chunk, *arguments(offset))`` per chunk (state first if given)."""
        calls = []
        for i, (part, offset) in enumerate(zip(self._parts(), self._offsets)):
            head = (part,) if states is None else (states[i], part)
            calls.append(_delayed(function)(*head, *arguments(offset)))
        return calls

    def check_finite(self):
        """Persist the rows and check every value is finite (one pass over the chunks)."""
        import dask

        self.array = self.array.persist()
        self._chunk_parts = list(self.array.to_delayed(optimize_graph=False).ravel())
        results = dask.compute(*[_delayed(_chunk_check)(part) for part in self._parts()])
        for offset, (bad, _, _) in zip(self._offsets, results):
            if bad is not None:
                row, column, is_nan = bad
                what = "NaN" if is_nan else "infinity"
                raise ValueError(f"Input X contains {what} (row {offset + row}, column {column}).")
        top = max([top for _, top, _ in results], default=0.0)
        # The fingerprint hashes the content chunk by chunk on the workers (as the in-memory
        # one hashes every byte): the array's name would be free but says only how the data
        # were computed, and equal names need not mean equal values (from_array(..., name=)),
        # nor different names different values. The row boundaries of the chunks are part of
        # it: the same values chunked differently count as other data (see the docs).
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr((self.shape, self.dtype.str, self.array.chunks[0])).encode())
        for _, _, chunk_digest in results:
            digest.update(chunk_digest)
        self._stats = (top, "dask-" + digest.hexdigest())

    def _checked_stats(self):
        if self._stats is None:
            self.check_finite()
        return self._stats

    def fingerprint(self):
        """Content hash of the chunks (computed on the workers) and of their row boundaries."""
        return self._checked_stats()[1]

    def max_magnitude(self):
        """Largest absolute value of the rows."""
        return float(np.ldexp(self._checked_stats()[0], -self.exponent))

    def scaled(self, exponent):
        """The same rows times ``2**-exponent``, scaled in each task (no copy)."""
        scaled = DaskRows(self.array, self.exponent + exponent, stats=self._stats)
        scaled._chunk_parts = self._parts()
        return scaled

    # -- reading rows ----------------------------------------------------------------------

    def take(self, indices):
        """The rows at `indices`, in that order, as an ndarray."""
        indices = np.asarray(indices, dtype=np.intp).reshape(-1)
        unique, inverse = np.unique(indices, return_inverse=True)
        if not len(unique):
            return np.zeros((0, self.shape[1]), dtype=self.dtype)
        rows = np.asarray(self.array[unique].compute())
        return _rows(rows, self.exponent)[inverse]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.take([key])[0]
        if isinstance(key, slice):
            return _rows(np.asarray(self.array[key].compute()), self.exponent)
        return self.take(key)

    def __array__(self, dtype=None, copy=None):
        whole = _rows(np.asarray(self.array.compute()), self.exponent)
        return whole if dtype is None else whole.astype(dtype, copy=False)

    # -- statistics and models -------------------------------------------------------------

    def _compute(self, *delayed_objects):
        import dask

        return dask.compute(*delayed_objects)

    def _tree(self, function, parts):
        while len(parts) > 1:
            parts = [
                _delayed(function)(*parts[start : start + _TREE_ARITY])
                for start in range(0, len(parts), _TREE_ARITY)
            ]
        return self._compute(parts[0])[0]

    def _mean_and_norm(self):
        sums = self._compute(*self._each(_chunk_sums, lambda offset: (self.exponent,)))
        total = np.zeros(self.shape[1])
        squares = 0.0
        for chunk_total, chunk_squares in sums:
            total += chunk_total
            squares += chunk_squares
        return total / self.shape[0], np.sqrt(squares)

    def column_mean(self):
        """Mean of the rows in float64 (per-chunk sums, added on the driver)."""
        return self._mean_and_norm()[0]

    def _lazy_float64(self):
        rows = self.array.astype(np.float64)
        return rows if self.exponent == 0 else rows * np.ldexp(1.0, -self.exponent)

    def pca_model(self, n_components):
        """Exact top-K PCA of the rows, the algorithm of the in-memory ``pca_model``.

        Small arrays are gathered and decomposed in memory (the same numbers exactly). Large
        ones: the d x d scatter summed over the chunks (a tree of per-chunk sums), its top
        eigenvectors V, refined by the SVD of the K x K triangle of X_c V (a tall-skinny QR,
        per chunk then combined). When d > n, the n x n Gram matrix instead.
        """
        if self.size <= _EXACT_SVD_MAX_ENTRIES:
            return pca_model(np.asarray(self), n_components)
        n_samples, n_features = self.shape
        mean, norm = self._mean_and_norm()
        tol = zero_tolerance(self.shape, norm)
        exponent = self.exponent
        if n_features <= n_samples:
            scatter = self._tree(_sum, self._each(_chunk_scatter, lambda offset: (exponent, mean)))
            basis = _top_eigenvectors(scatter, n_components)
            triangle = self._tree(
                _stack_triangles,
                self._each(_chunk_triangle, lambda offset: (exponent, mean, basis)),
            )
            s, rotation = _right_singular(triangle)
            vt = rotation @ basis.T
        else:
            import dask.array as da

            centred = self._lazy_float64() - mean
            gram = np.asarray((centred @ centred.T).compute())
            u = _top_eigenvectors(gram, n_components)
            left = da.from_array(u.T, chunks=((u.shape[1],), self.array.chunks[0]))
            s, vt = _right_singular(np.asarray((left @ centred).compute()))
        components, singular_values = _truncate(vt, s, n_components, tol)
        return SubspaceModel(mean, components, singular_values, n_samples)

    def randomized_pca_model(self, n_components, *, n_oversamples, n_iter, random_state):
        """Randomized top-K PCA with implicit centring; the n x w bases stay on the cluster."""
        import dask.array as da
        from sklearn.utils import check_random_state
        from sklearn.utils.extmath import svd_flip

        rng = check_random_state(random_state)
        n_samples, n_features = self.shape
        mean, norm = self._mean_and_norm()
        width = min(n_components + n_oversamples, n_samples, n_features)
        rows = self.array if self.exponent == 0 else self.array * np.ldexp(1.0, -self.exponent)

        def centred_product(vectors):  # (X - 1 mu^T) @ vectors, on the cluster
            return (rows @ vectors.astype(self.dtype)).astype(np.float64) - mean @ vectors

        def centred_transpose_product(vectors):  # (X - 1 mu^T)^T @ vectors, gathered (d x w)
            product = (rows.T @ vectors.astype(self.dtype)).astype(np.float64)
            product, sums = self._compute(product, vectors.sum(axis=0))
            return np.asarray(product) - np.outer(mean, sums)

        def orthonormal(tall):
            return da.linalg.tsqr(tall.rechunk({1: -1}))[0].persist()

        basis = orthonormal(centred_product(rng.standard_normal((n_features, width))))
        for _ in range(n_iter):
            small, _ = np.linalg.qr(centred_transpose_product(basis))
            basis = orthonormal(centred_product(small))
        u, s, vt = np.linalg.svd(centred_transpose_product(basis).T, full_matrices=False)
        u, vt = svd_flip(u, vt, u_based_decision=False)
        tol = zero_tolerance(self.shape, norm)
        components, singular_values = _truncate(vt, s, n_components, tol)
        return SubspaceModel(mean, components, singular_values, n_samples)

    # -- scores ----------------------------------------------------------------------------

    def residual_scores(self, model):
        """Every row's score under `model`: a Dask array (n_samples,), not computed."""
        import dask.array as da

        return da.map_blocks(
            _chunk_scores, self.array, self.exponent, model, drop_axis=1, dtype=np.float64
        )

    def tracker(self, model, n_components, picked, svd_method):
        """The DEMUD score tracker whose per-row state lives with the chunks."""
        return _DaskTracker(self, model, n_components, picked, svd_method)

    def _static_states(self, model):
        """Every chunk's scores under a fixed `model` (kept where computed); the tie scale."""
        exponent, none = self.exponent, np.zeros(0, dtype=np.intp)
        states = self._each(_init_state, lambda offset: (exponent, offset, model, none, 0))
        states, distances = _keep_and_gather(
            states, [_delayed(_max_distance)(state) for state in states]
        )
        return states, float(max(distances))

    def best_under(self, model):
        """(index, scale) of the best row under a fixed `model` (static scores)."""
        states, scale = self._static_states(model)
        exponent, dtype = self.exponent, self.dtype
        summaries = self._compute(
            *self._each(_summarize, lambda offset: (exponent, offset, dtype, scale), states=states)
        )
        return _choose(summaries, dtype, scale)[0], scale

    def top_under(self, model, n_selections):
        """(ranking, scores): the first `n_selections` rows by score under a static `model`.

        Ties are broken as :func:`~sknovel.rankers._selection.tie_aware_order` does on all
        scores: only rows within the tie tolerance of the n-th best score can enter its
        window, so those rows (with their scores) are all that come back from the chunks.
        """
        states, scale = self._static_states(model)
        tops = np.concatenate(
            self._compute(*[_delayed(_chunk_top)(state, n_selections) for state in states])
        )
        tops = np.sort(tops)[::-1]
        threshold = tops[n_selections - 1] - 2 * tie_tolerance(self.dtype, tops[0], scale)
        found = self._compute(
            *[
                _delayed(_chunk_candidates)(state, offset, threshold)
                for state, offset in zip(states, self._offsets)
            ]
        )
        indices = np.concatenate([chunk_indices for chunk_indices, _ in found])
        scores = np.concatenate([chunk_scores for _, chunk_scores in found])
        order = tie_aware_order(scores, n_selections, self.dtype, scale)
        return indices[order], scores[order]

    def chunk_futures(self, client):
        """The persisted chunks as futures of `client`, in row order, once in memory."""
        from distributed import futures_of, wait

        keys = [key for (key,) in self.array.__dask_keys__()]
        futures = {future.key: future for future in futures_of(self.array)}
        if not all(key in futures for key in keys):  # persisted elsewhere: persist here
            self.array = client.persist(self.array)
            self._chunk_parts = list(self.array.to_delayed(optimize_graph=False).ravel())
            futures = {future.key: future for future in futures_of(self.array)}
        chunks = [futures[key] for key in keys]
        wait(chunks)
        return chunks


class _DaskTracker:
    """Every remaining row's score under the current model, kept where the rows are.

    The interface of the in-memory trackers of ``_selection`` (``max_distance``, ``pick``,
    ``step``). The driver makes each pick's plan (:class:`MaintainedBasis`); the chunks'
    states apply it: on a ``dask.distributed`` cluster in :class:`_WorkerStates`, with
    Dask's local schedulers in :class:`_LocalStates`.
    """

    def __init__(self, rows, model, n_components, picked, svd_method):
        self.rows = rows
        self.picked = np.asarray(picked, dtype=np.intp)
        self.incremental = svd_method == "incremental"
        capacity = coordinate_capacity(n_components, rows.shape[1]) if self.incremental else 0
        self.basis = MaintainedBasis(len(model.components), capacity)
        client = _client()
        start = (model, self.picked, capacity)
        self.states = _LocalStates(rows, start) if client is None else _WorkerStates(rows, start)
        self.max_distance = self.states.max_distance
        self.summaries = None

    def pick(self, dtype, scale):
        """The best remaining row (index, row), as ``best_index`` over all scores."""
        self.dtype, self.scale = np.dtype(dtype), scale
        if self.summaries is None:
            self.summaries = self.states.summaries(self.dtype, scale)
        index, row = _choose(self.summaries, self.dtype, scale)
        if row is None:
            row = self.rows.take([index])[0]
        return index, row

    def step(self, index, update, old_model):
        """Remove row `index` and follow the model `update`: one pass on every chunk."""
        if self.incremental:
            plan = self.basis.plan(update, old_model)
            self.summaries = self.states.advance(index, plan, self.dtype, self.scale)
        else:
            self.picked = np.append(self.picked, index)
            self.summaries = self.states.restart(update.model, self.picked, self.dtype, self.scale)


class _LocalStates:
    """The chunks' states in this process, one fused task per chunk and pick (local schedulers).

    Each state is a new object (a pure function of the previous one), so any of Dask's
    local schedulers, threads or processes, can run the tasks.
    """

    def __init__(self, rows, start):
        self.rows = rows
        model, picked, capacity = start
        exponent = rows.exponent
        self.states = rows._compute(
            *rows._each(_init_state, lambda offset: (exponent, offset, model, picked, capacity))
        )
        self.max_distance = float(max(state.max_distance for state in self.states))

    def summaries(self, dtype, scale):
        exponent = self.rows.exponent
        return list(
            self.rows._compute(
                *self.rows._each(
                    _summarize, lambda offset: (exponent, offset, dtype, scale), states=self.states
                )
            )
        )

    def _run(self, calls):
        results = self.rows._compute(*calls)
        self.states = [state for state, _ in results]
        return [summary for _, summary in results]

    def advance(self, index, plan, dtype, scale):
        exponent = self.rows.exponent
        return self._run(
            self.rows._each(
                _advance_and_summarize,
                lambda offset: (exponent, offset, index, plan, dtype, scale),
                states=self.states,
            )
        )

    def restart(self, model, picked, dtype, scale):
        exponent = self.rows.exponent
        arguments = lambda offset: (exponent, offset, model, picked, dtype, scale)  # noqa: E731
        return self._run(self.rows._each(_restart_and_summarize, arguments))


#: Seconds between checks, while waiting for a chunk group, that its worker is still alive.
_POLL_SECONDS = 1.0
#: Times in a row the chunk groups of one step may be rebuilt before the run gives up.
_MAX_REBUILDS = 3


def _cancel(client, futures):
    """Release the chunk groups of a finished run on the workers."""
    try:
        client.cancel(futures)
    except Exception:  # the client is closed, and its actors with it
        pass


class _LostGroup(Exception):
    """A chunk group's worker was lost (or cannot be reached): rebuild the group."""


class _WorkerStates:
    """The chunks' states on the workers that hold the chunks: one Dask actor per worker.

    A pick is one call per worker (its :class:`_ChunkGroup` applies the step to all its
    chunks, in place, and returns their summaries): calls to actors go to the worker without
    the task scheduling of ordinary tasks, the cheapest round trip Dask offers. Dask does not
    make actors survive their worker, so the driver keeps the start and every step (the
    plans: O(n_selections d)) and rebuilds a lost group from them on the chunks, which Dask
    recomputes from their lineage if they were lost too; the replay is the same arithmetic,
    so the ranking is the same. Errors Dask cannot recover from (a chunk that cannot be
    recomputed) are raised.
    """

    def __init__(self, rows, start):
        self.rows, self.start, self.steps = rows, start, []
        self.client = _client()
        chunks = rows.chunk_futures(self.client)
        holders = self.client.who_has(chunks)
        by_worker = {}
        for position, chunk in enumerate(chunks):
            worker = min(holders.get(chunk.key, ()), default=None)
            by_worker.setdefault(worker, []).append(position)
        self.chunks, self._futures = chunks, []
        # Free the groups on the workers as soon as this run is over: the actor proxies live
        # on in reference cycles of distributed's (each call makes one) until a garbage
        # collection, and with them the groups' scores, coordinates and chunks.
        weakref.finalize(self, _cancel, self.client, self._futures)
        self.groups = [self._submit(positions, worker) for worker, positions in by_worker.items()]
        self.groups = [self._bound(group) for group in self.groups]
        distances = self._call_all("max_distance", ())
        self.max_distance = float(max(distances))

    def _submit(self, positions, worker, steps=()):
        """Start building the group of the chunks at `positions` (on `worker` if alive)."""
        key = f"_ChunkGroup-{_KEY_PREFIX}-{next(_KEY_COUNTER)}"
        placement = {} if worker is None else {"workers": [worker], "allow_other_workers": True}
        future = self.client.submit(
            _ChunkGroup,
            self.rows.exponent,
            [self.rows._offsets[p] for p in positions],
            self.start,
            list(steps),
            *[self.chunks[p] for p in positions],
            key=key,
            actor=True,
            **placement,
        )
        self._futures.append(future)
        return {"positions": positions, "future": future, "actor": None}

    @staticmethod
    def _bound(group):
        group["actor"] = group["future"].result()  # a Dask error if it cannot be built
        return group

    @staticmethod
    def _call(group, method, arguments):
        """Start ``group.method(*arguments)`` on its worker; raise _LostGroup if it is gone."""
        if group["future"].status != "finished":
            raise _LostGroup
        try:
            return getattr(group["actor"], method)(*arguments)
        except RuntimeError as error:  # "Worker holding Actor was lost"
            raise _LostGroup from error

    @staticmethod
    def _wait(group, call):
        """The result of an actor call; _LostGroup if its worker died or cannot be reached.

        Exceptions from ``result()`` have their tracebacks dropped: distributed's ``sync``
        keeps each in a reference cycle through its frame, which would keep these frames
        (and with them the chunk groups on the workers) alive until a garbage collection.
        """
        while True:
            try:
                return call.result(timeout=None if call.done() else _POLL_SECONDS)
            except TimeoutError as error:
                error.__traceback__ = None
                if call.done():  # finished meanwhile, or the call's own timeout: look again
                    continue
                if group["future"].status != "finished":
                    raise _LostGroup from None
            except OSError as error:  # the call could not reach the worker, or the link broke
                error.__traceback__ = None
                raise _LostGroup from error

    def _call_all(self, method, arguments, *, rebuilt=None):
        """``method(*arguments)`` on every group, in parallel, rebuilding the lost groups.

        A rebuilt group already holds the states after every step so far (the current one
        too), so the call `rebuilt` (method, arguments), default the same, is made on it.
        Returns one result per group.
        """
        rebuilt = rebuilt or (method, arguments)
        results, calls = [None] * len(self.groups), [(method, arguments)] * len(self.groups)
        for attempt in range(_MAX_REBUILDS + 1):
            started = []
            for position, group in enumerate(self.groups):
                if results[position] is None:
                    try:
                        started.append((position, self._call(group, *calls[position])))
                    except _LostGroup:
                        started.append((position, None))
            lost = []
            for position, call in started:
                try:
                    if call is None:
                        raise _LostGroup
                    results[position] = self._wait(self.groups[position], call)
                except _LostGroup:
                    lost.append(position)
            if not lost:
                return results
            if attempt == _MAX_REBUILDS:
                raise RuntimeError(
                    f"The workers holding DEMUD's chunk states were lost {attempt + 1} times "
                    "in a row while ranking; the ranking was stopped (no ranking is given)."
                )
            self._rebuild(lost)
            for position in lost:
                calls[position] = rebuilt

    def _rebuild(self, positions):
        """Rebuild the groups at `positions` from the start and the steps so far."""
        rebuilt = [self._submit(self.groups[p]["positions"], None, self.steps) for p in positions]
        for position, group in zip(positions, rebuilt):
            self.groups[position] = self._bound(group)

    def _flat(self, results):
        summaries = [None] * len(self.chunks)
        for group, group_summaries in zip(self.groups, results):
            for position, summary in zip(group["positions"], group_summaries):
                summaries[position] = summary
        return summaries

    def summaries(self, dtype, scale):
        return self._flat(self._call_all("summaries", (dtype, scale)))

    def advance(self, index, plan, dtype, scale):
        self.steps.append((index, plan))
        step = len(self.steps)
        return self._flat(
            self._call_all(
                "advance", (step, index, plan, dtype, scale), rebuilt=("summaries", (dtype, scale))
            )
        )

    def restart(self, model, picked, dtype, scale):
        # A rebuilt group starts from the latest model, with no step to replay on top of it.
        self.start, self.steps = (model, picked, 0), []
        return self._flat(
            self._call_all(
                "restart", (model, picked, dtype, scale), rebuilt=("summaries", (dtype, scale))
            )
        )
