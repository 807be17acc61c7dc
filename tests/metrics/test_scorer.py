"""The discovery scorer in model selection, on bare rankers and pipelines."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline as SkPipeline
from sklearn.preprocessing import StandardScaler

from sknovel import Demud, RandomRanker, SVDRanker, make_pipeline
from sknovel.metrics import discovery_nauc, discovery_scorer, make_discovery_scorer, ranking_of


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400], y[:400]


def test_grid_search_over_n_components_transductive(digits):
    X, y = digits
    idx = np.arange(len(X))
    grid = {"n_components": [1, 4, 16]}
    search = GridSearchCV(
        Demud(n_selections=60), grid, scoring=make_discovery_scorer(t=60), cv=[(idx, idx)]
    ).fit(X, y)
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        ranking = Demud(n_selections=60, **params).fit(X).ranking_
        assert score == pytest.approx(discovery_nauc(y, ranking, t=60))
    assert (
        search.best_score_
        > discovery_nauc(y, RandomRanker(random_state=0).fit(X).ranking_, 60) - 20
    )


@pytest.mark.parametrize(
    "pipeline_class", [make_pipeline, lambda *s: SkPipeline(list(zip("ab", s)))]
)
def test_grid_search_on_a_pipeline(digits, pipeline_class):
    X, y = digits
    idx = np.arange(len(X))
    pipe = pipeline_class(StandardScaler(), Demud(n_selections=50))
    step = pipe.steps[-1][0]
    search = GridSearchCV(
        pipe,
        {f"{step}__n_components": [2, 8]},
        scoring=make_discovery_scorer(t=50),
        cv=[(idx, idx)],
    ).fit(X, y)
    best = search.best_params_[f"{step}__n_components"]
    Xt = StandardScaler().fit_transform(X)
    expected = discovery_nauc(y, Demud(best, n_selections=50).fit(Xt).ranking_, t=50)
    assert search.best_score_ == pytest.approx(expected)


def test_inductive_folds_rank_new_data_against_the_model(digits):
    X, y = digits
    scores = cross_val_score(SVDRanker(5), X, y, scoring=discovery_scorer, cv=KFold(3))
    assert np.all((scores > 0) & (scores <= 100))
    ranker = SVDRanker(5).fit(X[:200])
    np.testing.assert_array_equal(
        ranking_of(ranker, X[200:]), ranker.rank(X[200:], n_selections=200)
    )
    np.testing.assert_array_equal(ranking_of(ranker, X[:200]), ranker.ranking_)


def test_scorer_bad_input(digits):
    X, y = digits
    with pytest.raises(ValueError, match="t must be a positive int"):
        make_discovery_scorer(t=0)
    with pytest.raises(ValueError, match="y"):
        discovery_scorer(Demud(2).fit(X), X, None)


def test_scorer_refuses_labels_of_another_length(digits):
    X, y = digits
    ranker = Demud(2, n_selections=20).fit(X)
    with pytest.raises(ValueError, match="y has 399 labels but X has 400 samples"):
        discovery_scorer(ranker, X, y[:-1])
    with pytest.raises(ValueError, match="y has 401 labels but X has 400 samples"):
        make_discovery_scorer(t=20)(ranker, X, np.append(y, 0))
    with pytest.raises(ValueError, match="t=500 is larger than the number of samples scored"):
        make_discovery_scorer(t=500)(ranker, X, y)


def test_scoring_data_with_two_rows_swapped_is_new_data(digits):
    # The former fingerprint (column means and 32 sampled rows) took this for the fitted data
    # and scored the fitted ranking, whose indices then point at the wrong rows.
    X, y = digits
    ranker = SVDRanker(5).fit(X)
    sampled = set(np.linspace(0, len(X) - 1, 32).astype(int).tolist())
    position = next(p for p, row in enumerate(ranker.ranking_) if row not in sampled)
    pick = int(ranker.ranking_[position])
    other = next(i for i in range(len(X)) if i not in sampled and i != pick)
    order = np.arange(len(X))
    order[[pick, other]] = [other, pick]
    assert not ranker.is_fitted_on(X[order])
    ranking = ranking_of(ranker, X[order])
    np.testing.assert_array_equal(ranking, ranker.rank(X[order], n_selections=len(X)))
    assert ranking[position] == other
