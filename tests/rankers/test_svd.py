"""SVDRanker against a slow reference and sklearn's PCA; bad input."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from sknovel import SVDRanker

from .reference import pca, score


def reference_static(X, n_components):
    mean, components = pca(X, n_components)
    scores = np.array([score(x, mean, components) for x in X])
    order = sorted(range(len(X)), key=lambda i: (-round(scores[i], 9), i))
    return np.array(order), scores


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_components", [1, 3])
def test_matches_reference(seed, n_components):
    X = np.random.default_rng(seed).normal(size=(50, 6))
    ranker = SVDRanker(n_components).fit(X)
    ranking, scores = reference_static(X, n_components)
    np.testing.assert_array_equal(ranker.ranking_, ranking)
    np.testing.assert_allclose(ranker.scores_, scores[ranking], rtol=1e-9)
    np.testing.assert_allclose(-ranker.score_samples(X), scores, rtol=1e-9)


def test_agrees_with_sklearn_pca_reconstruction_error():
    X = np.random.default_rng(5).normal(size=(80, 7))
    pca_model = PCA(3).fit(X)
    errors = ((X - pca_model.inverse_transform(pca_model.transform(X))) ** 2).sum(1)
    np.testing.assert_allclose(-SVDRanker(3).fit(X).score_samples(X), errors, rtol=1e-8)


def test_ties_go_to_the_lowest_index():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    ranking = SVDRanker(1).fit(X).ranking_
    # Rows 1..4 are equidistant from the mean; PCA keeps one axis so two of them tie at 1.
    scores = SVDRanker(1).fit(X).scores_
    assert np.all(np.diff(scores) <= 1e-12)
    tied = ranking[np.isclose(scores, scores[0])]
    assert tied.tolist() == sorted(tied.tolist())


def test_randomized_solver_close_to_exact():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(400, 3)) @ rng.normal(size=(3, 30)) + 0.01 * rng.normal(size=(400, 30))
    exact = SVDRanker(3).fit(X)
    randomized = SVDRanker(3, svd_solver="randomized", random_state=0).fit(X)
    np.testing.assert_array_equal(exact.ranking_[:20], randomized.ranking_[:20])


def test_rank_new_data_uses_the_fitted_model():
    rng = np.random.default_rng(7)
    X, new = rng.normal(size=(60, 5)), rng.normal(size=(10, 5))
    ranker = SVDRanker(2).fit(X)
    np.testing.assert_array_equal(
        ranker.rank(new), np.argsort(ranker.score_samples(new), kind="stable")
    )


def test_explain():
    X = np.random.default_rng(8).normal(size=(30, 4))
    ranker = SVDRanker(2, n_selections=5).fit(X)
    explanation = ranker.explain(X)
    np.testing.assert_allclose(explanation.expected + explanation.residuals, X[ranker.ranking_])
    np.testing.assert_allclose((explanation.residuals**2).sum(1), ranker.scores_, rtol=1e-9)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 9}, "n_components=9 must be at most"),
        ({"n_selections": 31}, "n_selections=31 is larger"),
        ({"svd_solver": "arpack"}, "'svd_solver' parameter"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        SVDRanker(**params).fit(np.random.default_rng(9).normal(size=(30, 4)))
