"""sknovel's Pipeline forwards rank / explain to the final ranker."""

import numpy as np
from sklearn.preprocessing import StandardScaler

from sknovel import Demud, Pipeline, RandomRanker, make_pipeline


def test_rank_and_explain_through_the_pipeline():
    rng = np.random.default_rng(0)
    X, new = rng.normal(size=(40, 5)) * 3 + 1, rng.normal(size=(9, 5))
    pipe = make_pipeline(StandardScaler(), Demud(2, n_selections=6)).fit(X)
    scaler, demud = pipe[0], pipe[-1]
    Xt = scaler.transform(X)
    np.testing.assert_array_equal(
        pipe.rank(new, n_selections=4), demud.rank(scaler.transform(new), n_selections=4)
    )
    explanation = pipe.explain(X)
    np.testing.assert_allclose(explanation.selections, Xt[demud.ranking_])
    assert pipe.is_fitted_on(X) and not pipe.is_fitted_on(new)


def test_verbs_hidden_when_the_final_step_lacks_them():
    pipe = Pipeline([("scale", StandardScaler()), ("random", RandomRanker())])
    assert hasattr(pipe, "rank") and not hasattr(pipe, "explain")
    assert not hasattr(Pipeline([("scale", StandardScaler())]), "rank")
