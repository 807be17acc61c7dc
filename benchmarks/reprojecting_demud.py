"""Plain re-projecting DEMUDs: the cost profile of the original program, as baselines.

At every step the model is recomputed from scratch -- the PCA (numpy SVD) of the selected
items -- and every remaining item is re-scored with a full projection, after copying the
remaining rows, as the original DEMUD program does: O(n d K) and a copy of X per pick.
Written to be obviously correct, not fast; ``run_ratios.py`` times sknovel's ``Demud``
against them and checks that they all pick the same items.

Two variants with the same picks:

* `reprojecting_demud` is the lean form: row-major data and the fewest passes a
  re-projecting method needs (a lower bound on what any re-projecting program costs).
* `original_steps_demud` does, at every pick, the array work the original program does
  (data stored features x items, the reconstruction formed with the mean added back, the
  residual and its squares as arrays, a NaN check of the data, the total error summed for
  the progress report, and the picked column deleted from the data *and* from the stored
  reconstructions). It stands in for the original program, which is not available here,
  when the issue's "100x faster than the original" is measured in one run.
"""

import numpy as np


def pca(rows, n_components):
    """Mean and top-K principal directions (as rows) of `rows`; zero directions dropped.

    A singular value counts as zero below numpy's ``matrix_rank`` tolerance, so t items
    give at most t - 1 directions and one item gives none.
    """
    mean = rows.mean(axis=0)
    _, s, vt = np.linalg.svd(rows - mean, full_matrices=False)
    tol = s.max(initial=0.0) * max(rows.shape) * np.finfo(s.dtype).eps
    keep = np.flatnonzero(s > tol)[:n_components]  # s is descending
    return mean, vt[keep]


def residual_scores(rows, mean, components):
    """``||(x - mean) - U U^T (x - mean)||^2`` of every row, U = `components` (r, d)."""
    centred = rows - mean
    residual = centred - (centred @ components.T) @ components
    return np.einsum("ij,ij->i", residual, residual)


def reprojecting_demud(X, n_components, n_selections):
    """Select `n_selections` rows of X, most novel first, re-projecting at every step.

    First pick: the largest residual under the top-K PCA of all of X. Each next pick: the
    remaining row with the largest residual under the PCA of the rows picked so far.
    Ties go to the lowest row index.

    Returns
    -------
    ranking : ndarray of shape (n_selections,)
        Picked row indices, in order.
    scores : ndarray of shape (n_selections,)
        Each pick's residual under the model it was picked with.
    """
    X = np.asarray(X)
    remaining = np.arange(X.shape[0])  # ascending, so argmax's first maximum is the lowest row
    mean, components = pca(X, n_components)
    ranking, scores = [], []
    for _ in range(n_selections):
        item_scores = residual_scores(X[remaining], mean, components)
        best = int(np.argmax(item_scores))
        ranking.append(int(remaining[best]))
        scores.append(float(item_scores[best]))
        remaining = np.delete(remaining, best)
        mean, components = pca(X[ranking], n_components)
    return np.array(ranking), np.array(scores)


def original_steps_demud(X, n_components, n_selections):
    """`reprojecting_demud` with the per-pick array work of the original DEMUD program.

    Same picks and scores as `reprojecting_demud` (and ``Demud(svd_method="full")``); only
    the cost differs. Per pick, on the remaining items stored as columns of a
    (features, items) array: project the mean-subtracted data, reconstruct with the mean
    added back, take the residual and its elementwise squares, sum per column, pick the
    largest; sum all scores in Python for the progress report; check the data for NaN;
    recompute the PCA of the picks; and copy the data, the reconstructions and the item
    indices without the picked column.

    Returns
    -------
    ranking : ndarray of shape (n_selections,)
        Picked row indices of `X`, in order.
    scores : ndarray of shape (n_selections,)
        Each pick's residual under the model it was picked with.
    """
    X = np.asarray(X)
    data = np.array(X.T)  # (features, items): the original's layout
    items = np.arange(X.shape[0])
    mean, components = pca(X, n_components)
    ranking, scores = [], []
    for _ in range(n_selections):
        centre = mean[:, np.newaxis]
        basis = components.T
        reconstruction = basis @ (basis.T @ (data - centre)) + centre
        residual = data - reconstruction
        item_scores = np.sum(np.array(np.power(residual, 2)), axis=0)
        best = int(np.argmax(item_scores))
        ranking.append(int(items[best]))
        scores.append(float(item_scores[best]))
        total_error = sum(item_scores)  # noqa: F841 -- printed by the original at every pick
        has_missing = np.where(np.isnan(data))[0].size > 0  # noqa: F841 -- checked likewise
        mean, components = pca(X[ranking], n_components)
        keep = list(range(data.shape[1]))
        keep.remove(best)
        data = data[:, keep]
        items = items[keep]
        reconstruction = reconstruction[:, keep]
    return np.array(ranking), np.array(scores)
