"""RandomRanker: a seeded uniform permutation."""

import numpy as np
import pytest
from scipy import stats

from sknovel import RandomRanker


def test_permutation_and_determinism():
    X = np.zeros((40, 2))
    first = RandomRanker(random_state=3).fit(X).ranking_
    assert sorted(first.tolist()) == list(range(40))
    np.testing.assert_array_equal(RandomRanker(random_state=3).fit(X).ranking_, first)
    assert not np.array_equal(RandomRanker(random_state=4).fit(X).ranking_, first)


def test_first_pick_is_uniform():
    X = np.zeros((5, 1))
    firsts = [RandomRanker(random_state=seed).fit(X).ranking_[0] for seed in range(2000)]
    counts = np.bincount(firsts, minlength=5)
    assert stats.chisquare(counts).pvalue > 1e-4


def test_n_selections_and_rank():
    X = np.zeros((10, 3))
    ranker = RandomRanker(n_selections=4, random_state=0).fit(X)
    assert ranker.ranking_.shape == (4,) and np.all(np.diff(ranker.scores_) <= 0)
    assert ranker.rank(np.zeros((6, 3))).shape == (4,)
    assert sorted(ranker.rank(np.zeros((3, 3))).tolist()) == [0, 1, 2]  # fewer rows than 4
    with pytest.raises(ValueError, match="n_selections=4 is larger than the number of rows"):
        ranker.rank(np.zeros((3, 3)), n_selections=4)
    assert not hasattr(ranker, "explain") and not hasattr(ranker, "score_samples")
