"""Low-rank subspace models: exact PCA, mean-corrected incremental updates, residual scores.

A model is (mean, components, singular values, number of items summarised). All model arrays are
float64 whatever the data's dtype: they are small (K x d), and keeping them exact is what lets the
rankers maintain scores over thousands of selections without drift.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils.extmath import svd_flip

from ._blocks import CHUNK_ROWS, DelegatingRows, product, transpose_product

#: Arrays with at most this many entries are decomposed by an exact SVD of a centred copy;
#: larger ones through their (chunked) covariance or Gram matrix, which needs no copy of X.
_EXACT_SVD_MAX_ENTRIES = 2**18


@dataclass
class SubspaceModel:
    """Mean, orthonormal basis and singular values of the items a model summarises.

    Parameters
    ----------
    mean : ndarray of shape (n_features,)
        Mean of the items.
    components : ndarray of shape (r, n_features)
        Orthonormal rows spanning the kept principal directions, r <= K.
    singular_values : ndarray of shape (r,)
        Singular values of the centred items along ``components``, descending.
    n_samples : int
        Number of items summarised.
    """

    mean: np.ndarray
    components: np.ndarray
    singular_values: np.ndarray
    n_samples: int

    @classmethod
    def empty(cls, n_features):
        """Return the model of no items."""
        return cls(np.zeros(n_features), np.zeros((0, n_features)), np.zeros(0), 0)


def zero_tolerance(shape, scale):
    """Singular values at or below this are zero for an array of `shape` and size `scale`.

    numpy's ``matrix_rank`` convention, but relative to the size of the *uncentred* data
    (its Frobenius norm), so that rounding left over from centring identical rows is not
    mistaken for a direction.
    """
    return max(shape) * np.finfo(np.float64).eps * scale


def _frobenius(X):
    total = 0.0
    for start in range(0, X.shape[0], CHUNK_ROWS):
        block = np.asarray(X[start : start + CHUNK_ROWS], dtype=np.float64)
        total += float(np.einsum("ij,ij->", block, block))
    return np.sqrt(total)


def column_mean(X):
    """Mean of the rows of `X` in float64, without copying `X`."""
    if isinstance(X, DelegatingRows):
        return X.column_mean()
    total = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], CHUNK_ROWS):
        total += np.asarray(X[start : start + CHUNK_ROWS], dtype=np.float64).sum(axis=0)
    return total / X.shape[0]


def _truncate(components, singular_values, n_components, tol):
    keep = singular_values > tol
    keep[n_components:] = False
    return components[keep], singular_values[keep]


def pca_model(X, n_components):
    """Exact top-K PCA of the rows of `X` (mean = mean of `X`).

    Directions whose singular value is zero (see :func:`zero_tolerance`) are never kept.
    Small arrays use an SVD of the centred rows; large ones the eigendecomposition of the
    covariance (or Gram) matrix accumulated block by block, so `X` is never copied. An
    eigendecomposition of such a matrix resolves singular values only to about sqrt(eps) of
    the largest, so its top K directions are refined by an SVD of the data projected on them
    (one more pass): zero directions then look as zero as they do to the exact SVD, and both
    paths keep the same components.
    """
    if isinstance(X, DelegatingRows):
        return X.pca_model(n_components)
    n_samples, n_features = X.shape
    mean = column_mean(X)
    tol = zero_tolerance(X.shape, _frobenius(X))
    if X.size <= _EXACT_SVD_MAX_ENTRIES:
        centred = np.asarray(X, dtype=np.float64) - mean
        u, s, vt = np.linalg.svd(centred, full_matrices=False)
        u, vt = svd_flip(u, vt, u_based_decision=False)
    elif n_features <= n_samples:
        s, vt = _covariance_pca(X, mean, n_components)
    else:
        s, vt = _gram_pca(X, mean, n_components)
    components, singular_values = _truncate(vt, s, n_components, tol)
    return SubspaceModel(mean, components, singular_values, n_samples)


def _centred_blocks(X, mean):
    for start in range(0, X.shape[0], CHUNK_ROWS):
        yield start, np.asarray(X[start : start + CHUNK_ROWS], dtype=np.float64) - mean


def _top_eigenvectors(matrix, n_top):
    """The `n_top` eigenvectors of a symmetric matrix with the largest eigenvalues (columns)."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    order = np.argsort(eigenvalues)[::-1][:n_top]
    return eigenvectors[:, order]


def _right_singular(matrix):
    """Singular values and right singular vectors (rows) of a small matrix, signs fixed."""
    _, s, vt = np.linalg.svd(matrix, full_matrices=False)
    if len(vt):
        _, vt = svd_flip(np.zeros((1, vt.shape[0])), vt, u_based_decision=False)
    return s, vt


def _covariance_pca(X, mean, n_components):
    """Top directions from the scatter matrix, then refined on the data themselves.

    The scatter's eigenvectors V span the top directions accurately, but its eigenvalues are
    squares: they resolve singular values only to about sqrt(eps) of the largest. The SVD of
    X_c V -- reduced block by block to its m x m triangular factor R (a tall-skinny QR) --
    gives singular values accurate to about eps of the largest, and orthonormal directions.
    """
    scatter = np.zeros((X.shape[1], X.shape[1]))
    for _, block in _centred_blocks(X, mean):
        scatter += block.T @ block
    basis = _top_eigenvectors(scatter, n_components)
    triangle = np.zeros((0, basis.shape[1]))
    for _, block in _centred_blocks(X, mean):
        triangle = np.linalg.qr(np.vstack([triangle, block @ basis]), mode="r")
    s, rotation = _right_singular(triangle)
    return s, rotation @ basis.T


def _gram_pca(X, mean, n_components):
    """Top directions from the Gram matrix, refined as :func:`_covariance_pca` does.

    The Gram matrix's top eigenvectors U span the top left singular directions; the SVD of
    the m x d matrix Uᵀ X_c gives accurate singular values and orthonormal directions.
    """
    n_samples = X.shape[0]
    gram = np.zeros((n_samples, n_samples))
    for start, block in _centred_blocks(X, mean):
        for other_start, other in _centred_blocks(X, mean):
            gram[start : start + len(block), other_start : other_start + len(other)] = (
                block @ other.T
            )
    u = _top_eigenvectors(gram, n_components)
    projected = np.zeros((u.shape[1], X.shape[1]))
    for start, block in _centred_blocks(X, mean):
        projected += u[start : start + len(block)].T @ block
    return _right_singular(projected)


@dataclass
class ModelUpdate:
    """What an incremental update changed: the directions added and dropped.

    ``added`` (q, d) are orthonormal and orthogonal to the old components; ``dropped`` (j, d)
    are orthonormal, lie in span(old components, added) and are orthogonal to the new
    components. ``added_coefficients`` / ``dropped_coefficients`` express the new components
    and the dropped directions in the basis [old components; added] (shapes (r + q, r') and
    (r + q, j)), which lets a caller that stores coordinates in that basis follow along.
    """

    model: SubspaceModel
    added: np.ndarray
    dropped: np.ndarray
    new_coefficients: np.ndarray
    dropped_coefficients: np.ndarray


def update_model(model, batch, n_components):
    """Add the rows of `batch` to `model` with an exact mean-corrected incremental SVD.

    This is the update of Ross, Lim, Lin & Yang (2008), *Incremental learning for robust
    visual tracking*, without forgetting: the scatter of the union is the old scatter, plus
    the scatter of the batch about its own mean, plus ``m b / (m + b)`` times the outer product
    of the difference of the two means. The result is truncated to the top `n_components`
    non-zero directions. With no truncation it equals the PCA of all items exactly.

    Parameters
    ----------
    model : SubspaceModel
    batch : ndarray of shape (b, n_features)
    n_components : int

    Returns
    -------
    ModelUpdate
    """
    batch = np.asarray(batch, dtype=np.float64)
    n_old, n_batch = model.n_samples, batch.shape[0]
    if n_old == 0:
        new = pca_model(batch, n_components)
        return ModelUpdate(new, new.components, np.zeros((0, batch.shape[1])), None, None)

    n_new = n_old + n_batch
    batch_mean = batch.mean(axis=0)
    mean = model.mean + (n_batch / n_new) * (batch_mean - model.mean)
    columns = [np.sqrt(n_old * n_batch / n_new) * (batch_mean - model.mean)]
    if n_batch > 1:
        columns.insert(0, batch - batch_mean)
    new_rows = np.vstack(columns)

    old = model.components
    coordinates = new_rows @ old.T
    residual = new_rows - coordinates @ old
    again = residual @ old.T  # second Gram-Schmidt pass keeps `added` orthogonal to `old`
    residual -= again @ old
    coordinates += again

    scale = max(
        np.linalg.norm(model.singular_values),
        np.linalg.norm(new_rows),
        np.linalg.norm(model.mean) * np.sqrt(n_new),
        np.linalg.norm(batch_mean) * np.sqrt(n_new),
    )
    tol = zero_tolerance((n_new, batch.shape[1]), scale)
    if len(residual) == 1:  # one new row (every DEMUD pick): its direction is its own
        norm = np.linalg.norm(residual[0])
        added = residual / norm if norm > tol else residual[:0]
    else:
        _, res_s, res_vt = np.linalg.svd(residual, full_matrices=False)
        added = res_vt[res_s > tol]

    rank = len(model.singular_values)
    small = np.zeros((rank + len(added), rank + len(new_rows)))
    small[:rank, :rank] = np.diag(model.singular_values)
    small[:rank, rank:] = coordinates.T
    small[rank:, rank:] = added @ new_rows.T
    u, s, _ = np.linalg.svd(small, full_matrices=True)
    s = np.concatenate([s, np.zeros(u.shape[1] - len(s))])

    keep = s > tol
    keep[n_components:] = False
    basis = np.vstack([old, added])
    components = u[:, keep].T @ basis
    new = SubspaceModel(mean, components, s[keep], n_new)
    dropped = u[:, ~keep].T @ basis
    return ModelUpdate(new, added, dropped, u[:, keep], u[:, ~keep])


def residual_scores(X, model, *, with_distance=False):
    """Squared reconstruction errors ``||(x - mu) - U U^T (x - mu)||^2`` of all rows.

    Computed block by block from the explicit residual (not as a difference of squared
    norms), so scores of items the model reconstructs well stay accurate.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    model : SubspaceModel
    with_distance : bool, default=False
        Also return ``||x - mu||^2`` of every row.

    Returns
    -------
    scores : ndarray of shape (n_samples,), float64
        (For rows that live elsewhere, e.g. on a Dask cluster, an array of their kind.)
    distances : ndarray of shape (n_samples,), float64
        Only when `with_distance` is True.
    """
    if isinstance(X, DelegatingRows) and not with_distance:
        return X.residual_scores(model)
    scores = np.empty(X.shape[0])
    distances = np.empty(X.shape[0]) if with_distance else None
    components = model.components
    for start, block in _centred_blocks(X, model.mean):
        stop = start + len(block)
        if with_distance:
            distances[start:stop] = np.einsum("ij,ij->i", block, block)
        if len(components):
            block -= (block @ components.T) @ components
        scores[start:stop] = np.einsum("ij,ij->i", block, block)
    return (scores, distances) if with_distance else scores


def reconstruct(rows, model):
    """Expected part ``mu + U U^T (x - mu)`` of each row of `rows` under `model` (float64)."""
    centred = np.asarray(rows, dtype=np.float64) - model.mean
    return model.mean + (centred @ model.components.T) @ model.components


def randomized_pca_model(X, n_components, *, n_oversamples=10, n_iter=4, random_state=None):
    """Approximate top-K PCA by a randomized range finder (Halko, Martinsson & Tropp, 2011).

    Centring is applied implicitly (``(X - 1 mu^T) V = X V - 1 (mu^T V)``), so X is never
    copied; each power iteration costs two passes over X.
    """
    from sklearn.utils import check_random_state

    if isinstance(X, DelegatingRows):
        return X.randomized_pca_model(
            n_components, n_oversamples=n_oversamples, n_iter=n_iter, random_state=random_state
        )
    rng = check_random_state(random_state)
    n_samples, n_features = X.shape
    mean = column_mean(X)
    width = min(n_components + n_oversamples, n_samples, n_features)

    def centred_product(vectors):  # (X - 1 mu^T) @ vectors
        return product(X, vectors) - mean @ vectors

    def centred_transpose_product(vectors):  # (X - 1 mu^T)^T @ vectors
        return transpose_product(X, vectors) - np.outer(mean, vectors.sum(axis=0))

    basis, _ = np.linalg.qr(centred_product(rng.standard_normal((n_features, width))))
    for _ in range(n_iter):
        basis, _ = np.linalg.qr(centred_transpose_product(basis))
        basis, _ = np.linalg.qr(centred_product(basis))
    small = centred_transpose_product(basis).T
    u, s, vt = np.linalg.svd(small, full_matrices=False)
    u, vt = svd_flip(u, vt, u_based_decision=False)
    tol = zero_tolerance(X.shape, _frobenius(X))
    components, singular_values = _truncate(vt, s, n_components, tol)
    return SubspaceModel(mean, components, singular_values, n_samples)
