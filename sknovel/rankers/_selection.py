"""The DEMUD selection loop and the two ways of keeping every item's score current.

``"full"`` recomputes the model and every score after each pick (O(n d K) per pick).
``"incremental"`` *maintains* the scores: an incremental update adds one direction q and drops
one direction w, both inside span(old components, q), so that

    new score(x) = old score(x) - (q.(x - old mean))^2 + (w.(x - new mean))^2.

q.x costs one pass over X; w.x is read off stored coordinates of every item in a small basis
(see :class:`_MaintainedScores`), so a pick costs about one matrix-vector product over X.
"""

import contextlib
from dataclasses import dataclass, field

import numpy as np

from sknovel.utils.progress import progress_bar

from ._blocks import DelegatingRows, take_rows
from ._subspace import (
    CHUNK_ROWS,
    SubspaceModel,
    reconstruct,
    residual_scores,
    update_model,
)

#: Scores within ``rtol * best`` of the best score count as tied (the lowest index wins). float32
#: input gets the wider tolerance: rounding the input to float32 alone moves a score by about
#: 1e-7 of itself.
TIE_RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}
#: Scores are computed in float64 whatever the input's dtype, accurate to about this fraction of
#: ``scale``, the largest squared distance of an item to the starting mean: scores closer than
#: that are tied too (e.g. the zero scores of items the model explains exactly).
SCORE_ACCURACY = 1e-10


def tie_tolerance(dtype, best, scale):
    """Absolute tolerance under which a score counts as tied with the best score `best`.

    Relative to the scores being compared (``TIE_RTOL[dtype] * best``), so that small scores
    late in a ranking are still told apart, but never below the accuracy of the scores
    (``SCORE_ACCURACY * scale``).
    """
    return max(TIE_RTOL[np.dtype(dtype)] * best, SCORE_ACCURACY * scale)


def best_index(scores, dtype, scale):
    """Index of the largest score; among scores tied with it, the lowest index."""
    index = int(np.argmax(scores))
    best = scores[index]
    # Only items before the first maximum can win a tie; checking them is the cheap half.
    tied_before = scores[:index] >= best - tie_tolerance(dtype, best, scale)
    return int(np.argmax(tied_before)) if tied_before.any() else index


@dataclass
class Selection:
    """Result of a selection run: picks, their scores and expected parts, the final model.

    ``models`` maps a pick position to the model it was selected under, for the positions
    asked for by ``run_selection(..., record_models=)``.
    """

    indices: np.ndarray
    scores: np.ndarray
    expected: np.ndarray
    model: SubspaceModel
    models: dict = field(default_factory=dict)


class _ExactScores:
    """Scores recomputed from scratch under each new model (the ``"full"`` method)."""

    def __init__(self, X, model, picked):
        self.X, self.picked = X, [int(i) for i in picked]
        self.scores, distances = residual_scores(X, model, with_distance=True)
        self.max_distance = float(distances.max())
        self.scores[self.picked] = -np.inf

    def pick(self, dtype, scale):
        """The best remaining item and its row (see :func:`best_index`)."""
        index = best_index(self.scores, dtype, scale)
        return index, self.X[index]

    def step(self, index, update, old_model):
        """Remove the item `index` and follow the model `update`."""
        self.picked.append(index)
        self.scores = residual_scores(self.X, update.model)
        self.scores[self.picked] = -np.inf


@dataclass
class BasisPlan:
    """What one pick does to every item's maintained score and stored coordinates.

    Made on the driver by :class:`MaintainedBasis` (small: K x d at most), applied to the
    rows by :func:`apply_plan`, wherever they live.

    ``compact`` (rank, n_basis) or None: first replace the stored coordinates by
    ``compact @ coordinates[:n_basis]``. ``added`` (q, d): directions whose products with
    every item are appended to the coordinates; ``added_offsets`` (q,) their products with
    the old mean. ``dropped_weights`` (n_basis', j): the dropped directions in the stored
    basis; ``dropped_offsets`` (j,) their products with the new mean.
    """

    compact: object
    added: np.ndarray
    added_offsets: np.ndarray
    dropped_weights: np.ndarray
    dropped_offsets: np.ndarray


def coordinate_capacity(n_components, n_features):
    """Rows of the buffer of stored coordinates (the basis is compacted when it is full)."""
    spare = max(4, min(n_components, n_features // 4 - n_components))
    return n_components + spare


class MaintainedBasis:
    """Driver-side bookkeeping of the maintained scores: the coefficients of the model.

    ``coefficients`` (n_basis, r) expresses the current components in the stored basis (the
    components of the starting model and every direction added since).
    """

    def __init__(self, rank, capacity):
        self.coefficients = np.eye(rank)
        self.n_basis = rank
        self.capacity = capacity

    def plan(self, update, old_model):
        """The :class:`BasisPlan` that follows `update` of `old_model`."""
        n_added = len(update.added)
        compact = None
        if self.n_basis + n_added > self.capacity:
            compact = self.coefficients.T.copy()
            self.coefficients = np.eye(self.coefficients.shape[1])
            self.n_basis = self.coefficients.shape[0]
        added_offsets = np.array([direction @ old_model.mean for direction in update.added])
        self.n_basis += n_added
        extended = np.zeros((self.n_basis, self.coefficients.shape[1] + n_added))
        extended[: self.coefficients.shape[0], : self.coefficients.shape[1]] = self.coefficients
        extended[self.coefficients.shape[0] :, self.coefficients.shape[1] :] = np.eye(n_added)
        dropped_weights = extended @ update.dropped_coefficients
        dropped_offsets = np.array([direction @ update.model.mean for direction in update.dropped])
        self.coefficients = extended @ update.new_coefficients
        return BasisPlan(compact, update.added, added_offsets, dropped_weights, dropped_offsets)


def initial_coordinates(X, model, capacity):
    """The coordinates buffer (capacity, n_samples) holding every item's model coordinates."""
    coordinates = np.empty((capacity, X.shape[0]))
    rank = len(model.components)
    for start, block in _float64_blocks(X):
        coordinates[:rank, start : start + len(block)] = (block @ model.components.T).T
    return coordinates


def apply_plan(X, scores, coordinates, n_basis, plan, *, keep_earlier=False):
    """Apply `plan` to the rows `X`: update `scores` in place, return (coordinates, n_basis).

    New coordinates are written to rows ``n_basis, n_basis + 1, ...`` of `coordinates`, rows
    that no earlier state reads. A compaction rewrites the buffer in place, or, with
    `keep_earlier`, writes into a new buffer: then an earlier (scores, coordinates, n_basis)
    state stays valid, which lets the Dask tracker keep each pick's state as a pure function
    of the previous one without copying the buffer at every pick.
    """
    if plan.compact is not None:
        rank = plan.compact.shape[0]
        compacted = np.empty_like(coordinates) if keep_earlier else coordinates
        weights = plan.compact.astype(coordinates.dtype)
        for start in range(0, coordinates.shape[1], CHUNK_ROWS * 8):
            block = slice(start, start + CHUNK_ROWS * 8)
            compacted[:rank, block] = weights @ coordinates[:n_basis, block]
        coordinates, n_basis = compacted, rank
    for direction, offset in zip(plan.added, plan.added_offsets):
        row = coordinates[n_basis]
        _products(X, direction, out=row)  # the one pass over X
        n_basis += 1
        products = row.astype(np.float64)
        products -= offset
        np.square(products, out=products)
        scores -= products
    stored = coordinates[:n_basis]
    for weights, offset in zip(plan.dropped_weights.T, plan.dropped_offsets):
        products = (weights.astype(stored.dtype) @ stored).astype(np.float64)
        products -= offset
        np.square(products, out=products)
        scores += products
    return coordinates, n_basis


class _MaintainedScores:
    """Scores kept current with one pass over X per pick (the ``"incremental"`` method).

    ``coordinates[:n_basis]`` holds, for every item, its inner products with a set of basis
    vectors: the components of the model the tracker started from and every direction added
    since. The :class:`MaintainedBasis` expresses the current components in that basis, so
    the inner product of any vector in the span with every item is a product with the stored
    coordinates, (n_basis / n_features) of a pass over X. When the basis outgrows its buffer
    it is compacted to the current components.

    Coordinates and products are float64 for float32 X too (each block of X is converted as it
    is read, about 1.2 times the time of a float32 pass): float32 products are accurate only to
    about 1e-7 of ||x||, which would swamp the small scores of items the model already explains
    well and decide those picks by rounding noise.
    """

    def __init__(self, X, model, n_components, picked):
        self.X = X
        self.scores, distances = residual_scores(X, model, with_distance=True)
        self.max_distance = float(distances.max())
        self.scores[[int(i) for i in picked]] = -np.inf  # picked items stay -inf
        capacity = coordinate_capacity(n_components, X.shape[1])
        self.coordinates = initial_coordinates(X, model, capacity)
        self.basis = MaintainedBasis(len(model.components), capacity)

    def pick(self, dtype, scale):
        """The best remaining item and its row (see :func:`best_index`)."""
        index = best_index(self.scores, dtype, scale)
        return index, self.X[index]

    def step(self, index, update, old_model):
        """Remove the item `index` and follow `update` (only remaining items move).

        Scores may dip a rounding error below zero; that is harmless, because picks compare
        scores with the tie tolerance and report exact scores recomputed from the model.
        """
        self.scores[index] = -np.inf
        n_basis = self.basis.n_basis
        plan = self.basis.plan(update, old_model)
        self.coordinates, _ = apply_plan(self.X, self.scores, self.coordinates, n_basis, plan)


#: Bytes of the float64 buffer that float32 rows are converted into: small enough to stay in
#: the CPU cache, so converting costs little beside reading X.
_CONVERSION_BYTES = 1 << 20


def _float64_blocks(X):
    """(start, float64 rows) over X: views of float64 X, float32 X converted into one buffer.

    A block of converted rows is valid until the next one is produced.
    """
    if X.dtype == np.float64:
        for start in range(0, X.shape[0], CHUNK_ROWS):
            yield start, X[start : start + CHUNK_ROWS]
        return
    rows = max(16, _CONVERSION_BYTES // (8 * X.shape[1]))
    buffer = np.empty((min(rows, X.shape[0]), X.shape[1]))
    for start in range(0, X.shape[0], rows):
        block = X[start : start + rows]
        np.copyto(buffer[: len(block)], block)
        yield start, buffer[: len(block)]


def _products(X, vector, out):
    """``X @ vector`` into the float64 array `out`, accumulated in float64 for float32 X."""
    if X.dtype == np.float64 and isinstance(X, np.ndarray):
        return np.dot(X, vector, out=out)
    for start, block in _float64_blocks(X):
        np.dot(block, vector, out=out[start : start + len(block)])
    return out


def make_tracker(X, model, n_components, picked, svd_method):
    """The object that keeps every remaining item's score under the current model.

    It has ``max_distance`` (the largest squared distance of an item to `model`'s mean),
    ``pick(dtype, scale) -> (index, row)`` and ``step(index, update, old_model)``.
    """
    if isinstance(X, DelegatingRows):
        return X.tracker(model, n_components, picked, svd_method)
    if svd_method == "full":
        return _ExactScores(X, model, picked)
    return _MaintainedScores(X, model, n_components, picked)


def run_selection(
    X,
    prior,
    *,
    n_selections,
    n_components,
    svd_method,
    first=None,
    scale=None,
    progress=None,
    record_models=(),
):
    """Run DEMUD over the rows of `X`, starting from the model `prior`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
        Or rows read in blocks (:class:`~sknovel.rankers._blocks.RowBlockArray`) or living
        elsewhere (:class:`~sknovel.rankers._blocks.DelegatingRows`).
    prior : SubspaceModel
        What is already known (empty for a cold start, in which case `first` is required).
    n_selections : int
    n_components : int
    svd_method : {"full", "incremental"}
    first : tuple (index, score, expected) or None
        A first pick decided elsewhere (by ``init``), recorded as given.
    scale : float or None
        Largest squared distance of an item to the starting mean (the floor of the tie
        tolerance, see :func:`tie_tolerance`); computed here when None.
    progress : callable or None
        Called as ``progress(n_picked, n_selections, score)`` after every pick.
    record_models : collection of int, default=()
        Pick positions (0-based, not the first pick when `first` is given) whose model at
        selection time is kept in ``Selection.models``.

    Returns
    -------
    Selection
    """
    n_features = X.shape[1]
    indices = np.empty(n_selections, dtype=np.intp)
    scores = np.empty(n_selections)
    expected = np.empty((n_selections, n_features), dtype=X.dtype)
    selected = np.empty((n_selections, n_features), dtype=X.dtype)  # each pick read once
    model, tracker, n_picked, models = prior, None, 0, {}

    def add(row):
        nonlocal model
        selected[n_picked - 1] = row
        if svd_method == "full":
            update = update_model(prior, selected[:n_picked], n_components)
        else:
            update = update_model(model, selected[n_picked - 1 : n_picked], n_components)
        old_model, model = model, update.model
        return update, old_model

    if first is not None:
        indices[0], scores[0], expected[0] = first
        n_picked = 1
        add(take_rows(X, indices[:1])[0])

    while n_picked < n_selections:
        if tracker is None:
            tracker = make_tracker(X, model, n_components, indices[:n_picked], svd_method)
            scale = tracker.max_distance if scale is None else scale
        index, row = tracker.pick(X.dtype, scale)
        if n_picked in record_models:
            models[n_picked] = model
        expected_part = reconstruct(row, model)
        residual = np.asarray(row, dtype=np.float64) - expected_part
        indices[n_picked], scores[n_picked] = index, residual @ residual
        expected[n_picked] = expected_part
        n_picked += 1
        if progress is not None:
            progress(n_picked, n_selections, scores[n_picked - 1])
        update, old_model = add(row)
        if n_picked < n_selections:
            tracker.step(index, update, old_model)
    return Selection(indices, scores, expected, model, models)


def best_under(X, model):
    """(index, scale): the best item under a fixed `model`, and the tie scale.

    The scale is the largest squared distance of an item to the model's mean.
    """
    if isinstance(X, DelegatingRows):
        return X.best_under(model)
    scores, distances = residual_scores(X, model, with_distance=True)
    scale = float(distances.max())
    return best_index(scores, X.dtype, scale), scale


def tie_aware_order(scores, n_selections, dtype, scale):
    """First `n_selections` indices by descending score, ties to the lowest index.

    The order in which repeatedly taking :func:`best_index` of the remaining scores would
    pick them (what a static ranking means by DEMUD's tie rule), in O(n log n).
    """
    import heapq

    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    if np.all(np.diff(sorted_scores) < -tie_tolerance(dtype, sorted_scores[0], scale)):
        return order[:n_selections]  # no near-ties anywhere: the plain sort is the answer
    taken = np.zeros(len(scores), dtype=bool)
    ranking = np.empty(n_selections, dtype=np.intp)
    window, top, next_in = [], 0, 0
    for step in range(n_selections):
        while taken[order[top]]:
            top += 1
        best = sorted_scores[top]
        threshold = best - tie_tolerance(dtype, best, scale)
        while next_in < len(order) and sorted_scores[next_in] >= threshold:
            heapq.heappush(window, order[next_in])
            next_in += 1
        ranking[step] = heapq.heappop(window)
        taken[ranking[step]] = True
    return ranking


@contextlib.contextmanager
def pick_progress(description, n_selections, verbose):
    """A `progress` callback for :func:`run_selection` that advances a bar over the picks.

    The bar (:func:`sknovel.utils.progress.progress_bar`, on stderr) shows the last pick's
    score; the callback is None when not `verbose`, so a quiet run does no work per pick.
    """
    if not verbose:
        yield None
        return
    with progress_bar(n_selections, description, unit="pick") as bar:

        def advance(n_picked, n_selections, score):
            bar.set_postfix(score=f"{score:.4g}", refresh=False)
            bar.update(n_picked - bar.n)

        yield advance
        bar.update(n_selections - bar.n)  # a first pick decided by init is not reported
