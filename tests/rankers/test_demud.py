"""Demud against slow references, its invariants, warm start and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from sknovel import Demud

from .reference import pca, reference_demud, reference_incremental_demud

# The references are checked for every K up to min(n_samples, n_features), including the K
# that leave no residual, which Demud warns about (tested in test_base.py).
pytestmark = pytest.mark.filterwarnings("ignore:n_components=.*leaves no residual")


def gaussian(seed=0, n=40, d=6):
    return np.random.default_rng(seed).normal(size=(n, d))


def low_rank(seed=1, n=40, d=10, rank=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) + 5.0


def integer_ties(seed=2, n=30, d=4):
    return np.random.default_rng(seed).integers(0, 3, size=(n, d)).astype(float)


def with_duplicates(seed=3):
    X = gaussian(seed, n=20, d=5)
    return np.vstack([X, X[[0, 3, 3, 7]], X[:5]])


def wide(seed=4):
    return gaussian(seed, n=15, d=40)


DATASETS = {
    "gaussian": gaussian(),
    "low_rank": low_rank(),
    "integer_ties": integer_ties(),
    "duplicates": with_duplicates(),
    "wide": wide(),
    "all_identical": np.ones((6, 3)),
}


def data_scale(X):
    return float(((X - X.mean(axis=0)) ** 2).sum(axis=1).max())


def assert_matches_reference(demud, X, ranking, scores, expected):
    np.testing.assert_array_equal(demud.ranking_, ranking)
    atol = 1e-9 * max(data_scale(X), 1e-300)
    np.testing.assert_allclose(demud.scores_, scores, rtol=1e-9, atol=atol)
    np.testing.assert_allclose(demud.expected_, expected, rtol=1e-9, atol=np.sqrt(atol))
    explanation = demud.explain(X)
    np.testing.assert_allclose(
        explanation.residuals, X[ranking] - expected, rtol=1e-9, atol=np.sqrt(atol)
    )


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("n_components", [1, 2, 4])
@pytest.mark.parametrize("init", ["svd", "mean", 3])
def test_full_matches_reference_step_by_step(name, n_components, init):
    X = DATASETS[name]
    n_components = min(n_components, *X.shape)
    demud = Demud(n_components, svd_method="full", init=init).fit(X)
    expected = reference_demud(X, n_components, len(X), init=init)
    assert_matches_reference(demud, X, *expected)


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("n_components", [1, 2, 4])
def test_incremental_equals_full_while_model_is_not_truncated(name, n_components):
    X = DATASETS[name]
    n_components = min(n_components, *X.shape)
    n_exact = min(n_components + 1, len(X))
    incremental = Demud(n_components, n_selections=n_exact + 1).fit(X)
    full = Demud(n_components, n_selections=n_exact + 1, svd_method="full").fit(X)
    # The (K + 2)-th pick is still chosen under a model of K + 1 items: identical too.
    np.testing.assert_array_equal(incremental.ranking_, full.ranking_)
    atol = 1e-9 * data_scale(X)
    np.testing.assert_allclose(incremental.scores_, full.scores_, rtol=1e-9, atol=atol)


@pytest.mark.parametrize("name", ["gaussian", "wide"])
@pytest.mark.parametrize("n_components", [1, 2, 4])
def test_incremental_matches_slow_incremental_reference(name, n_components):
    X = DATASETS[name]
    demud = Demud(n_components).fit(X)
    ranking, scores, expected = reference_incremental_demud(X, n_components, len(X))
    np.testing.assert_array_equal(demud.ranking_, ranking)
    np.testing.assert_allclose(demud.scores_, scores, rtol=1e-6, atol=1e-9 * data_scale(X))


def test_incremental_agrees_with_full_on_digits():
    from sklearn.datasets import load_digits

    X = load_digits().data[:600]
    incremental = Demud(10, n_selections=100).fit(X).ranking_
    full = Demud(10, n_selections=100, svd_method="full").fit(X).ranking_
    np.testing.assert_array_equal(incremental[:11], full[:11])
    # After K + 1 picks the truncated model differs from the exact one; measured overlap of
    # the first 100 picks on these 600 digits: see the closing note of the core issue.
    assert len(np.intersect1d(incremental, full)) >= 60


def test_float32_stays_float32_and_agrees_with_float64():
    X = gaussian(5, n=200, d=12)
    d64 = Demud(4, n_selections=30).fit(X)
    d32 = Demud(4, n_selections=30).fit(X.astype(np.float32))
    assert d32.expected_.dtype == np.float32 and d32.components_.dtype == np.float32
    assert d32.score_samples(X[:3].astype(np.float32)).dtype == np.float32
    np.testing.assert_array_equal(d32.ranking_[:10], d64.ranking_[:10])
    np.testing.assert_allclose(d32.scores_, d64.scores_, rtol=1e-3)


def test_readme_example_ranking():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [0.0, 0.1], [0.0, 3.0]])
    demud = Demud(n_components=1, n_selections=3).fit(X)
    assert demud.ranking_.tolist() == [4, 2, 1]


def test_deterministic_bit_for_bit():
    X = gaussian(6, n=300, d=20)
    first, second = Demud(5).fit(X), Demud(5).fit(X)
    np.testing.assert_array_equal(first.ranking_, second.ranking_)
    np.testing.assert_array_equal(first.scores_, second.scores_)


def test_large_inputs_use_blockwise_pca_consistently():
    # Above the exact-SVD size the PCA goes through the covariance (or Gram) matrix.
    rng = np.random.default_rng(7)
    tall = rng.normal(size=(2000, 200)) @ np.diag(np.linspace(3, 0.1, 200))
    a = Demud(5, n_selections=8, svd_method="full").fit(tall)
    mean, components = pca(tall, 5)
    first_scores = (((tall - mean) - (tall - mean) @ components.T @ components) ** 2).sum(1)
    assert a.ranking_[0] == int(np.argmax(first_scores))
    np.testing.assert_allclose(a.scores_[0], first_scores.max(), rtol=1e-9)


def test_wide_blockwise_pca():
    rng = np.random.default_rng(8)
    wide_X = rng.normal(size=(300, 1000))
    a = Demud(3, n_selections=2, svd_method="full").fit(wide_X)
    mean, components = pca(wide_X, 3)
    first_scores = (((wide_X - mean) - (wide_X - mean) @ components.T @ components) ** 2).sum(1)
    assert a.ranking_[0] == int(np.argmax(first_scores))


# --- hypothesis properties -------------------------------------------------------------

shapes = st.tuples(st.integers(2, 30), st.integers(1, 7), st.integers(0, 2**31 - 1))
methods = st.sampled_from(["full", "incremental"])


def _fit(X, n_components, method, **kwargs):
    return Demud(min(n_components, *X.shape), svd_method=method, **kwargs).fit(X)


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(1, 5), methods)
def test_ranking_is_a_permutation(shape, n_components, method):
    n, d, seed = shape
    X = np.random.default_rng(seed).normal(size=(n, d))
    ranking = _fit(X, n_components, method).ranking_
    assert sorted(ranking.tolist()) == list(range(n))


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(1, 5), methods, st.floats(-50, 50), st.floats(1e-3, 1e3))
def test_invariant_to_shift_and_scale(shape, n_components, method, shift, factor):
    n, d, seed = shape
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    offset = shift * rng.normal(size=d)
    base = _fit(X, n_components, method)
    shifted = _fit(X + offset, n_components, method)
    scaled = _fit(X * factor, n_components, method)
    np.testing.assert_array_equal(shifted.ranking_, base.ranking_)
    np.testing.assert_array_equal(scaled.ranking_, base.ranking_)
    np.testing.assert_allclose(
        scaled.scores_, base.scores_ * factor**2, rtol=1e-6, atol=1e-9 * data_scale(X) * factor**2
    )


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(1, 5), methods, st.integers(0, 2**31 - 1))
def test_equivariant_to_row_permutation_modulo_ties(shape, n_components, method, perm_seed):
    n, d, seed = shape
    X = np.random.default_rng(seed).normal(size=(n, d))
    permutation = np.random.default_rng(perm_seed).permutation(n)
    base = _fit(X, n_components, method)
    permuted = _fit(X[permutation], n_components, method)
    # Compare up to the first pick whose score is (numerically) zero: from there on every
    # remaining item is tied and the lowest index wins, which a permutation changes.
    untied = base.scores_ > 1e-8 * data_scale(X)
    prefix = int(np.argmin(untied)) if not untied.all() else n
    np.testing.assert_array_equal(permutation[permuted.ranking_][:prefix], base.ranking_[:prefix])


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(1, 5), methods)
def test_duplicate_of_a_pick_scores_zero_while_picks_span_at_most_k(shape, n_components, method):
    n, d, seed = shape
    X = np.random.default_rng(seed).normal(size=(n, d))
    n_components = min(n_components, n, d)
    n_picks = min(n_components + 1, n)  # t picks span t - 1 <= K directions
    demud = Demud(n_components, n_selections=n_picks, svd_method=method).fit(X)
    duplicate_scores = -demud.score_samples(X[demud.ranking_])
    np.testing.assert_allclose(duplicate_scores, 0, atol=1e-9 * data_scale(X))


def test_duplicate_rows_are_picked_after_their_originals():
    X = with_duplicates()
    ranking = Demud(3, n_selections=5).fit(X).ranking_
    assert len(set(map(tuple, X[ranking]))) == 5


# --- warm start -------------------------------------------------------------------------


def test_rank_leaves_the_estimator_unchanged():
    X = gaussian(9, n=60, d=6)
    demud = Demud(3).fit(X)
    before = {k: np.copy(v) for k, v in vars(demud).items() if isinstance(v, np.ndarray)}
    demud.rank(gaussian(10, n=20, d=6))
    for key, value in before.items():
        np.testing.assert_array_equal(getattr(demud, key), value)


@pytest.mark.parametrize("method", ["full", "incremental"])
def test_rank_against_an_archive_matches_reference(method):
    rng = np.random.default_rng(11)
    archive = rng.normal(size=(50, 2)) @ rng.normal(size=(2, 6))  # rank 2 <= K: not truncated
    new = rng.normal(size=(12, 6))
    demud = Demud(3, svd_method=method).partial_fit(archive)
    result = demud.rank(new, return_explanation=True)
    n_exact = 2 if method == "incremental" else len(new)  # incremental truncates after that
    ranking, scores, expected = reference_demud(new, 3, len(new), prior_rows=archive)
    np.testing.assert_array_equal(result.indices[:n_exact], ranking[:n_exact])
    np.testing.assert_allclose(result.scores[:n_exact], scores[:n_exact], rtol=1e-9)
    np.testing.assert_allclose(result.expected[:n_exact], expected[:n_exact], atol=1e-9)


def test_partial_fit_in_batches_equals_pca_when_not_truncated():
    rng = np.random.default_rng(12)
    data = rng.normal(size=(700, 4)) @ rng.normal(size=(4, 9)) + 3.0
    demud = Demud(5).partial_fit(data[:300]).partial_fit(data[300:])
    mean, components = pca(data, 5)
    np.testing.assert_allclose(demud.mean_, mean, atol=1e-10)
    assert demud.n_samples_seen_ == 700 and len(demud.components_) == 4
    # Same subspace: projectors agree.
    np.testing.assert_allclose(
        demud.components_.T @ demud.components_, components.T @ components, atol=1e-9
    )


def test_fit_then_partial_fit_archive_then_rank():
    rng = np.random.default_rng(13)
    X = rng.normal(size=(80, 5))
    demud = Demud(2, n_selections=10).fit(X)
    ranking_before = demud.ranking_.copy()
    demud.partial_fit(rng.normal(size=(40, 5)))
    assert demud.n_samples_seen_ == 10 + 40
    np.testing.assert_array_equal(demud.ranking_, ranking_before)
    assert demud.rank(rng.normal(size=(7, 5)), n_selections=3).shape == (3,)


def test_rank_n_selections_and_explanation_shapes():
    X = gaussian(14, n=50, d=4)
    demud = Demud(2, n_selections=5).fit(X)
    new = gaussian(15, n=8, d=4)
    result = demud.rank(new, n_selections=8, return_explanation=True)
    assert result.residuals.shape == (8, 4)
    np.testing.assert_allclose((result.residuals**2).sum(1), result.scores, rtol=1e-9)


def test_explain_refuses_other_data():
    X = gaussian(16, n=30, d=4)
    demud = Demud(2).fit(X)
    with pytest.raises(ValueError, match="not the data this ranker was fitted on"):
        demud.explain(X[::-1])


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), "infinity"),
        (np.arange(5.0), "Invalid X.*Expected 2D array"),
        (np.zeros((3, 2, 2)), "Invalid X.*dim 3"),
        (np.zeros((0, 3)), "Invalid X.*0 sample"),
        (np.zeros((1, 3)), "Invalid X.*1 sample"),
    ],
)
def test_bad_X(X, match):
    with pytest.raises(ValueError, match=match):
        Demud().fit(X)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 5}, "n_components=5 must be at most"),
        ({"n_components": 0}, "'n_components' parameter"),
        ({"n_selections": 11}, "n_selections=11 is larger than the number of samples"),
        ({"init": 1.5}, "'init' parameter"),
        ({"init": "first"}, "'init' parameter"),
        ({"init": 10}, "init=10 is not a row index"),
        ({"svd_method": "fast"}, "'svd_method' parameter"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        Demud(**params).fit(gaussian(17, n=10, d=4))


def test_rank_before_fit():
    with pytest.raises(NotFittedError):
        Demud().rank(gaussian(18, n=5, d=3))


def test_rank_with_wrong_number_of_features():
    demud = Demud(2).fit(gaussian(19, n=10, d=4))
    with pytest.raises(ValueError, match="X has 3 features, but Demud is expecting 4"):
        demud.rank(gaussian(20, n=5, d=3))


def test_verbose_shows_a_progress_bar_over_the_picks(capsys):
    X = gaussian(21, n=50, d=4)
    Demud(2, verbose=1).fit(X)
    captured = capsys.readouterr()
    assert "Demud.fit" in captured.err and "50/50" in captured.err and "pick" in captured.err
    assert captured.out == ""
    Demud(2, n_selections=3, verbose=True).partial_fit(X).rank(X)
    assert "Demud.rank" in capsys.readouterr().err
    Demud(2).fit(X)
    assert capsys.readouterr().err == ""


# --- float32: ties relative to the scores compared ----------------------------------------


def mostly_explained(seed=22, n=200, d=12, rank=3):
    """Rank-3 structure of size ~100 plus noise of 0.01: after the first picks every score
    left is ~1e-9 of the largest squared distance, where a tie tolerance fixed at the start
    (1e-5 of that distance) called every float32 score tied."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) * 100
    return signal + 0.01 * rng.normal(size=(n, d))


@pytest.mark.parametrize("method", ["incremental", "full"])
@pytest.mark.parametrize("init", ["svd", "mean"])
def test_float32_ranks_small_late_scores_as_float64_does(method, init):
    X = mostly_explained().astype(np.float32).astype(np.float64)  # same numbers in both
    d64 = Demud(5, n_selections=40, svd_method=method, init=init).fit(X)
    d32 = Demud(5, n_selections=40, svd_method=method, init=init).fit(X.astype(np.float32))
    assert d64.scores_[10:].max() < 1e-6 * data_scale(X)  # the scores are small ...
    np.testing.assert_array_equal(d32.ranking_, d64.ranking_)  # ... and still told apart
    in_row_order = np.diff(d32.ranking_[5:]) == 1
    assert in_row_order.mean() < 0.5
    np.testing.assert_allclose(d32.scores_, d64.scores_, rtol=1e-2)


def _decided_prefix(demud, X):
    """Picks of a float64 fit whose margin over the runner-up is clear (1e-3 relative) and
    whose score is not negligible (1e-6 of the data scale): the float32 fit must agree there.
    """
    models = demud.selection_models(X, range(len(demud.ranking_)))
    scale, picked = data_scale(X), []
    for position, model in enumerate(models):
        centred = X - model.mean
        residual = centred - centred @ model.components.T @ model.components
        scores = (residual**2).sum(1)
        scores[picked] = -np.inf
        best, second = np.sort(scores)[::-1][:2]
        if best < 1e-6 * scale or best - second < 1e-3 * best:
            return position
        picked.append(demud.ranking_[position])
    return len(models)


@settings(max_examples=25, deadline=None)
@given(
    st.tuples(st.integers(5, 40), st.integers(2, 8), st.integers(0, 2**31 - 1)),
    st.integers(1, 4),
    methods,
    st.sampled_from([1.0, 1e-2, 1e-4]),
)
def test_float32_agrees_with_float64_where_the_ranking_is_decided(shape, rank, method, noise):
    n, d, seed = shape
    rng = np.random.default_rng(seed)
    rank = min(rank, d)
    X = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) * 10 + noise * rng.normal(
        size=(n, d)
    )
    X = X.astype(np.float32).astype(np.float64)  # the same numbers in both precisions
    n_components = max(1, min(3, d - 1))
    d64 = Demud(n_components, svd_method=method).fit(X)
    d32 = Demud(n_components, svd_method=method).fit(X.astype(np.float32))
    prefix = _decided_prefix(d64, X)
    np.testing.assert_array_equal(d32.ranking_[:prefix], d64.ranking_[:prefix])
