"""Slow, obviously-correct references for the rankers, written for the tests only.

Each recomputes everything from scratch with numpy.linalg at every step.
"""

import numpy as np

TIE_RTOL = 1e-10


def low_rank(n=240, d=12, seed=0, dtype=np.float64):
    """Rank-4 data plus a little noise: the rankers' usual test matrix (n, d)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)) @ rng.normal(size=(4, d)) + 0.1 * rng.normal(size=(n, d))
    return X.astype(dtype)


def pca(rows, n_components):
    """Top-K PCA of `rows`, dropping zero singular values (numpy's matrix_rank rule on ||rows||)."""
    rows = np.asarray(rows, dtype=np.float64)
    mean = rows.mean(axis=0)
    _, s, vt = np.linalg.svd(rows - mean, full_matrices=False)
    tol = max(rows.shape) * np.finfo(np.float64).eps * np.linalg.norm(rows)
    keep = s > tol
    keep[n_components:] = False
    return mean, vt[keep]


def residual(x, mean, components):
    """e = (x - mean) - U U^T (x - mean)."""
    centred = x - mean
    return centred - components.T @ (components @ centred)


def score(x, mean, components):
    e = residual(x, mean, components)
    return float(e @ e)


def argmax_with_ties(scores, candidates, scale, rtol=TIE_RTOL):
    """Lowest candidate index whose score is within rtol * max(best, scale) of the best."""
    best = max(scores[i] for i in candidates)
    tol = rtol * max(best, scale)
    return min(i for i in candidates if scores[i] >= best - tol)


def reference_demud(X, n_components, n_selections, init="svd", prior_rows=None, rtol=TIE_RTOL):
    """DEMUD as DEMUD.md specifies it, with the model recomputed by SVD at every step.

    With `prior_rows`, the model at every step is the PCA of prior_rows plus the picks, and
    the first pick is scored under the PCA of prior_rows alone (warm start).
    Returns (ranking, scores, expected).
    """
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    picks, scores_out, expected = [], [], []
    if prior_rows is None:
        mean = X.mean(axis=0)
        if init == "svd":
            first_mean, first_components = pca(X, n_components)
        else:
            first_mean, first_components = mean, np.zeros((0, X.shape[1]))
        scale = max(float((x - mean) @ (x - mean)) for x in X)
        step_scores = {i: score(X[i], first_mean, first_components) for i in range(n)}
        if isinstance(init, str):
            first = argmax_with_ties(step_scores, range(n), scale, rtol)
        else:
            first = init
        picks.append(first)
        scores_out.append(step_scores[first])
        expected.append(X[first] - residual(X[first], first_mean, first_components))
        known = lambda: X[picks]  # noqa: E731
    else:
        prior_rows = np.asarray(prior_rows, dtype=np.float64)
        prior_mean = prior_rows.mean(axis=0)
        scale = max(float((x - prior_mean) @ (x - prior_mean)) for x in X)
        known = lambda: np.vstack([prior_rows, X[picks]]) if picks else prior_rows  # noqa: E731
    while len(picks) < n_selections:
        mean, components = pca(known(), n_components)
        remaining = [i for i in range(n) if i not in picks]
        step_scores = {i: score(X[i], mean, components) for i in remaining}
        pick = argmax_with_ties(step_scores, remaining, scale, rtol)
        picks.append(pick)
        scores_out.append(step_scores[pick])
        expected.append(X[pick] - residual(X[pick], mean, components))
    return np.array(picks), np.array(scores_out), np.array(expected)


def reference_incremental_demud(X, n_components, n_selections, init="svd", rtol=TIE_RTOL):
    """DEMUD with the truncated incremental model, each update done the slow way.

    The model's scatter is kept as an explicit d x d matrix: after adding x to a model of m
    items with mean mu, scatter' = U diag(s^2) U^T + m/(m+1) (x - mu)(x - mu)^T, whose top K
    eigenvectors (non-zero eigenvalues) are the new components.
    """
    X = np.asarray(X, dtype=np.float64)
    ranking, scores, expected = reference_demud(X, n_components, 1, init=init, rtol=rtol)
    picks, scores, expected = list(ranking), list(scores), list(expected)
    mean = X.mean(axis=0)
    scale = max(float((x - mean) @ (x - mean)) for x in X)
    model_mean, components, singular_values, m = (
        X[picks[0]].copy(),
        np.zeros((0, X.shape[1])),
        np.zeros(0),
        1,
    )
    n = len(X)
    while len(picks) < n_selections:
        remaining = [i for i in range(n) if i not in picks]
        step_scores = {i: score(X[i], model_mean, components) for i in remaining}
        pick = argmax_with_ties(step_scores, remaining, scale, rtol)
        picks.append(pick)
        scores.append(step_scores[pick])
        expected.append(X[pick] - residual(X[pick], model_mean, components))
        v = X[pick] - model_mean
        scatter = components.T @ np.diag(singular_values**2) @ components + m / (m + 1) * np.outer(
            v, v
        )
        eigenvalues, eigenvectors = np.linalg.eigh(scatter)
        order = np.argsort(eigenvalues)[::-1]
        s = np.sqrt(np.clip(eigenvalues[order], 0, None))
        tol = (
            max(m + 1, X.shape[1])
            * np.finfo(np.float64).eps
            * np.sqrt(m + 1)
            * (np.abs(X).max() * np.sqrt(X.shape[1]))
        )
        keep = s > max(tol, 1e-7 * s[0])
        keep[n_components:] = False
        components, singular_values = eigenvectors[:, order][:, keep].T, s[keep]
        model_mean = model_mean + v / (m + 1)
        m += 1
    return np.array(picks), np.array(scores), np.array(expected)
