"""What every ranker shares: the fitted-data check, rank's n_selections, K, extreme magnitudes."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sknovel import Demud, RandomRanker, SVDRanker
from sknovel.rankers._base import data_fingerprint

RANKERS = {
    "demud": lambda **kw: Demud(2, **kw),
    "demud_full": lambda **kw: Demud(2, svd_method="full", **kw),
    "svd": lambda **kw: SVDRanker(2, **kw),
    "random": lambda **kw: RandomRanker(random_state=0, **kw),
}


def gaussian(seed=0, n=200, d=5):
    return np.random.default_rng(seed).normal(size=(n, d))


# --- "is this the data I was fitted on?" ------------------------------------------------


def integers(seed=0, n=200, d=5):
    """Integer-valued data: their column means are exact whatever the order of the rows."""
    return np.random.default_rng(seed).integers(0, 16, size=(n, d)).astype(float)


def _swap(X, i, j):
    swapped = X.copy()
    swapped[[i, j]] = swapped[[j, i]]
    return swapped


@pytest.mark.parametrize("name", ["demud", "svd"])
def test_explain_refuses_a_picked_row_swapped_with_an_unsampled_one(name):
    # The former fingerprint hashed 32 evenly spaced rows and the column means: swapping a
    # pick with a row, both outside that sample, kept it, and explain() read the wrong row.
    X = integers(1)
    ranker = RANKERS[name]().fit(X)
    sampled = set(np.linspace(0, len(X) - 1, 32).astype(int).tolist())
    position = next(p for p, row in enumerate(ranker.ranking_) if row not in sampled)
    pick = int(ranker.ranking_[position])
    other = next(i for i in range(len(X)) if i not in sampled and i != pick)
    swapped = _swap(X, pick, other)
    assert not ranker.is_fitted_on(swapped)
    with pytest.raises(ValueError, match="not the data this ranker was fitted on"):
        ranker.explain(swapped)
    with pytest.raises(ValueError, match="not the data this ranker was fitted on"):
        ranker.selection_models(swapped, [0])
    np.testing.assert_array_equal(ranker.explain(X).selections[position], X[pick])


def test_fingerprint_sees_every_value_and_ignores_memory_layout():
    X = gaussian(2, n=3000, d=4)
    edited = X.copy()
    edited[1234, 2] = np.nextafter(edited[1234, 2], np.inf)
    assert data_fingerprint(edited) != data_fingerprint(X)
    assert data_fingerprint(np.asfortranarray(X)) == data_fingerprint(X)
    assert data_fingerprint(np.hstack([X, X])[:, :4]) == data_fingerprint(X)  # not contiguous
    assert data_fingerprint(X.astype(np.float32)) != data_fingerprint(X)


@pytest.mark.parametrize("name", sorted(RANKERS))
def test_is_fitted_on_after_a_row_swap(name):
    X = integers(3, n=100)
    ranker = RANKERS[name]().fit(X)
    assert ranker.is_fitted_on(X.copy())
    assert not ranker.is_fitted_on(_swap(X, 10, 11))  # neither among the 32 rows once sampled


# --- rank(..., n_selections) -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RANKERS))
def test_rank_of_fewer_rows_than_the_fitted_n_selections(name):
    ranker = RANKERS[name](n_selections=5).fit(gaussian(4, n=40))
    new = gaussian(5, n=3)
    assert sorted(ranker.rank(new).tolist()) == [0, 1, 2]  # the former error
    assert sorted(ranker.rank(new, n_selections=None).tolist()) == [0, 1, 2]  # its advice
    assert ranker.rank(gaussian(6, n=8)).shape == (5,)
    with pytest.raises(ValueError, match="n_selections=4 is larger than the number of rows"):
        ranker.rank(new, n_selections=4)


@pytest.mark.parametrize("name", sorted(RANKERS))
@pytest.mark.parametrize("value", [-1, 0, 2.5, "3", True, np.bool_(True), [2]])
def test_rank_validates_n_selections_like_the_constructor(name, value):
    ranker = RANKERS[name]().fit(gaussian(7, n=40))
    cls = type(ranker).__name__
    # scikit-learn's InvalidParameterError is both a ValueError and a TypeError.
    with pytest.raises((ValueError, TypeError), match=f"'n_selections' parameter of {cls}.rank"):
        ranker.rank(gaussian(8, n=40), n_selections=value)
    assert ranker.rank(gaussian(8, n=40), n_selections=np.int64(3)).shape == (3,)


@pytest.mark.parametrize(
    "make, params",
    [
        (Demud, {"n_components": True}),
        (Demud, {"init": True}),
        (Demud, {"n_selections": True}),
        (SVDRanker, {"n_components": True}),
        (SVDRanker, {"n_selections": np.bool_(True)}),
        (RandomRanker, {"n_selections": True}),
    ],
)
def test_booleans_are_not_counts(make, params):
    (name,) = params
    with pytest.raises(ValueError, match=rf"'{name}' parameter .* an int \(not a bool\)"):
        make(**params).fit(gaussian(9, n=20))


# --- K ------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [SVDRanker, Demud])
@pytest.mark.parametrize("n_features", [1, 3, 10])
def test_default_n_components_leaves_a_residual(make, n_features):
    # K = n_features used to explain every item exactly: every score ~1e-30, row order.
    X = gaussian(10, n=60, d=n_features)
    ranker = make().fit(X)
    assert ranker.n_components_ == n_features - 1
    assert ranker.scores_[0] > 1e-3 * ((X - X.mean(0)) ** 2).sum(1).max()
    assert not np.array_equal(ranker.ranking_[:10], np.arange(10))
    if n_features > 1:
        np.testing.assert_array_equal(ranker.ranking_, make(n_features - 1).fit(X).ranking_)


def test_default_n_components_of_few_samples_and_partial_fit():
    assert SVDRanker().fit(gaussian(11, n=4, d=20)).n_components_ == 2  # rank 3 centred
    assert Demud().fit(gaussian(11, n=4, d=20)).n_components_ == 2
    assert Demud(init="mean").fit(gaussian(11, n=4, d=20)).n_components_ == 4
    assert Demud().partial_fit(gaussian(12, n=30, d=4)).n_components_ == 3
    one = Demud().partial_fit(gaussian(13, n=30, d=1))
    assert one.n_components_ == 0 and one.rank(gaussian(14, n=5, d=1)).shape == (5,)


@pytest.mark.parametrize("make", [SVDRanker, Demud])
def test_explicit_n_components_without_residual_warns(make):
    X = gaussian(15, n=30, d=4)
    with pytest.warns(UserWarning, match="n_components=4 leaves no residual.*picks 3"):
        make(4).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(3).fit(X)
        make().fit(X)


# --- extreme magnitudes -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["svd", "demud", "demud_full"])
@pytest.mark.parametrize("factor", [1e160, 1e-160, 1e300, 1e-300, 1e120])
def test_extreme_magnitudes_rank_as_the_data_do(name, factor):
    make = RANKERS[name]
    X, new = gaussian(16, n=40, d=6), gaussian(17, n=10, d=6)
    base = make().fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scores beyond the float64 range
        scaled = make().fit(X * factor)  # SVDRanker: IndexError before
        np.testing.assert_array_equal(scaled.ranking_, base.ranking_)
        np.testing.assert_array_equal(scaled.rank(new * factor), base.rank(new))
        explanation = scaled.explain(X * factor)
        models = scaled.selection_models(X * factor, [0, 3])
    np.testing.assert_allclose(explanation.residuals / factor, base.explain(X).residuals, atol=1e-9)
    np.testing.assert_allclose(scaled.mean_ / factor, base.mean_, atol=1e-12)
    np.testing.assert_allclose(models[1].mean / factor, base.selection_models(X, [0, 3])[1].mean)
    # Squared distances of 1e160-sized data are beyond float64 (inf, with a warning); those of
    # 1e-160-sized data are subnormal. Scores are compared where they are representable.
    if abs(np.log10(factor)) < 150:
        factor_squared = factor**2
        np.testing.assert_allclose(scaled.scores_ / factor_squared, base.scores_, rtol=1e-9)
        np.testing.assert_allclose(
            scaled.score_samples(new * factor) / factor_squared,
            base.score_samples(new),
            rtol=1e-9,
        )


def test_scores_out_of_the_float64_range_are_reported():
    X = gaussian(18, n=40, d=6) * 1e160
    with pytest.warns(UserWarning, match="outside the float64 range"):
        ranker = SVDRanker(2).fit(X)
    assert np.isinf(ranker.scores_).all()
    with pytest.raises(ValueError, match="too large for the data SVDRanker was fitted on"):
        SVDRanker(2).fit(X / 1e160).rank(X)


@settings(max_examples=30, deadline=None)
@given(
    st.tuples(st.integers(4, 25), st.integers(3, 6), st.integers(0, 2**31 - 1)),
    st.sampled_from(["svd", "demud", "demud_full"]),
    st.one_of(
        st.sampled_from([1e160, 1e-160, 1e300, 1e-300, 2.0**-700, 2.0**700]),
        st.floats(1e-3, 1e3),
    ),
)
def test_ranking_invariant_to_positive_scaling(shape, name, factor):
    n, d, seed = shape
    X = np.random.default_rng(seed).normal(size=(n, d))
    base = RANKERS[name]().fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        scaled = RANKERS[name]().fit(X * factor)
    np.testing.assert_array_equal(scaled.ranking_, base.ranking_)
