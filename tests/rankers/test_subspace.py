"""The PCA of large arrays (covariance / Gram eigendecomposition) against the exact SVD."""

import numpy as np
import pytest

from sknovel import Demud, SVDRanker
from sknovel.rankers import _subspace


def rank_three(shape, seed=0, conditioning=1.0, offset=0.0):
    rng = np.random.default_rng(seed)
    weights = np.diag([conditioning, np.sqrt(conditioning), 1.0])
    return rng.normal(size=(shape[0], 3)) @ weights @ rng.normal(size=(3, shape[1])) + offset


def projector(components):
    return components.T @ components


@pytest.mark.parametrize("shape", [(2000, 200), (200, 2000)])  # covariance, then Gram path
@pytest.mark.parametrize("conditioning, offset", [(1.0, 0.0), (100.0, 1e3)])
def test_rank_three_data_keep_three_components(shape, conditioning, offset, monkeypatch):
    # eigh resolves singular values to ~sqrt(eps) of the largest: 2000 x 200 rank-3 data used
    # to keep 10 components (7 of rounding noise) where the exact SVD keeps 3.
    X = rank_three(shape, conditioning=conditioning, offset=offset)
    assert X.size > _subspace._EXACT_SVD_MAX_ENTRIES
    blockwise = _subspace.pca_model(X, 10)
    monkeypatch.setattr(_subspace, "_EXACT_SVD_MAX_ENTRIES", np.inf)
    exact = _subspace.pca_model(X, 10)
    assert len(blockwise.components) == len(exact.components) == 3
    np.testing.assert_allclose(
        projector(blockwise.components), projector(exact.components), atol=1e-10
    )
    np.testing.assert_allclose(blockwise.singular_values, exact.singular_values, rtol=1e-10)


def test_full_rank_data_keep_their_smallest_direction(monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1400, 190)) @ np.diag(np.linspace(3, 0.01, 190))
    blockwise = _subspace.pca_model(X, 190)
    monkeypatch.setattr(_subspace, "_EXACT_SVD_MAX_ENTRIES", np.inf)
    exact = _subspace.pca_model(X, 190)
    assert len(blockwise.components) == len(exact.components) == 190
    np.testing.assert_allclose(blockwise.singular_values, exact.singular_values, rtol=1e-8)


@pytest.mark.parametrize("shape", [(1400, 190), (190, 1400)])
def test_rankers_pick_the_same_on_large_low_rank_data(shape, monkeypatch):
    X = rank_three(shape, seed=2)
    X[::37] += 0.3 * np.random.default_rng(4).normal(size=X[::37].shape)  # some novel items
    rankers = [
        lambda: Demud(4, n_selections=12, svd_method="full"),
        lambda: Demud(4, n_selections=12),
        lambda: SVDRanker(4, n_selections=12),
        lambda: SVDRanker(10, n_selections=12),
    ]
    blockwise = [make().fit(X) for make in rankers]
    monkeypatch.setattr(_subspace, "_EXACT_SVD_MAX_ENTRIES", np.inf)
    for make, fitted in zip(rankers, blockwise):
        exact = make().fit(X)
        np.testing.assert_array_equal(fitted.ranking_, exact.ranking_)
        atol = 1e-12 * ((X - X.mean(0)) ** 2).sum(1).max()
        np.testing.assert_allclose(fitted.scores_, exact.scores_, rtol=1e-6, atol=atol)
