"""A plain re-projecting DEMUD: the cost profile of the original program, as a baseline.

At every step the model is recomputed from scratch -- the PCA (numpy SVD) of the selected
items -- and every remaining item is re-scored with a full projection, after copying the
remaining rows, as the original DEMUD program does: O(n d K) and a copy of X per pick.
Written to be obviously correct, not fast; ``run_ratios.py`` times sknovel's ``Demud``
against it and checks that both pick the same items.
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
