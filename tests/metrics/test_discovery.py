"""Tests of the discovery curve, its nAUC and the oracle / random reference curves."""

import itertools
import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import DataConversionWarning

from sknovel.metrics import (
    discovery_curve,
    discovery_nauc,
    expected_random_discovery_curve,
    nauc_of_curve,
    oracle_discovery_curve,
)

FAST = settings(max_examples=60, deadline=None)


# --- slow, obviously correct references ------------------------------------


def reference_curve(y, ranking):
    seen, curve = set(), []
    for index in ranking:
        seen.add(y[index])
        curve.append(len(seen))
    return curve


def reference_nauc(y, ranking, t):
    k = len(set(y))
    found = sum(reference_curve(y, ranking)[:t])
    best = sum(min(i, k) for i in range(1, t + 1))
    return 100 * found / best


def enumerated_random_curve(y):
    """E[C_i] as exact fractions, averaging the curves of all n! orders."""
    n = len(y)
    totals = [0] * n
    orders = list(itertools.permutations(range(n)))
    for order in orders:
        for i, count in enumerate(reference_curve(y, order)):
            totals[i] += count
    return [Fraction(total, len(orders)) for total in totals]


def exact_random_value(class_sizes, i):
    """E[C_i] from the binomial formula in exact integer arithmetic."""
    n = sum(class_sizes)
    unseen = sum(Fraction(math.comb(n - size, i), math.comb(n, i)) for size in class_sizes)
    return float(len(class_sizes) - unseen)


def oracle_ranking(y):
    """One item of each class first, then the rest."""
    y = np.asarray(y)
    _, firsts = np.unique(y, return_index=True)
    rest = np.setdiff1d(np.arange(len(y)), firsts)
    return np.concatenate([firsts, rest])


# --- strategies ------------------------------------------------------------


@st.composite
def labels_and_ranking(draw, max_size=30, n_labels=6):
    y = draw(st.lists(st.integers(0, n_labels - 1), min_size=1, max_size=max_size))
    order = draw(st.permutations(range(len(y))))
    length = draw(st.integers(1, len(y)))
    return np.array(y), np.array(order[:length])


# --- hand-computed examples --------------------------------------------------


def test_discovery_curve_hand_computed():
    y = ["cat", "cat", "dog", "cat", "owl", "dog"]
    ranking = [1, 0, 3, 2, 5, 4]  # cat cat cat dog dog owl
    assert discovery_curve(y, ranking).tolist() == [1, 1, 1, 2, 2, 3]


def test_discovery_nauc_hand_computed():
    y = ["cat", "cat", "dog", "cat", "owl", "dog"]
    ranking = [1, 0, 3, 2, 5, 4]
    # sum C_i = 10 over the oracle area 1 + 2 + 3 + 3 + 3 + 3 = 15; summing
    # C_0 .. C_5 (the 2018 plotting code) would give 7 / 15 instead.
    assert discovery_nauc(y, ranking) == pytest.approx(100 * 10 / 15)
    assert discovery_nauc(y, ranking, t=3) == pytest.approx(100 * 3 / 6)
    assert discovery_nauc(y, ranking, t=1) == 100.0


def test_expected_random_hand_computed():
    # E[C_2]: "a" is always seen; "b" is missed with probability C(2, 2) / C(3, 2) = 1/3.
    expected = expected_random_discovery_curve(["a", "a", "b"])
    np.testing.assert_allclose(expected, [1, 5 / 3, 2], rtol=0, atol=1e-15)


def test_oracle_curve_hand_computed():
    assert oracle_discovery_curve([3, 1, 3, 2, 3]).tolist() == [1, 2, 3, 3, 3]
    assert oracle_discovery_curve([3, 1, 3, 2, 3], t=2).tolist() == [1, 2]


def test_string_and_object_labels():
    y = np.array(["b", "a", "b", "c"], dtype=object)
    assert discovery_curve(y, [0, 2, 1, 3]).tolist() == [1, 1, 2, 3]
    assert discovery_curve(list(y), [0, 2, 1, 3]).tolist() == [1, 1, 2, 3]
    assert discovery_nauc(["x", "y"], [1, 0]) == 100.0


def test_partial_ranking_and_k_from_all_of_y():
    y = [0, 0, 1, 2, 3]
    # The ranking never reaches classes 2 and 3, but k counts them.
    assert discovery_curve(y, [0, 2]).tolist() == [1, 2]
    assert discovery_nauc(y, [0, 1, 2]) == pytest.approx(100 * (1 + 1 + 2) / (1 + 2 + 3))


def test_nauc_ignores_picks_after_t():
    y = [0, 1, 0, 2]
    assert discovery_nauc(y, [0, 2, 1, 3], t=2) == discovery_nauc(y, [0, 2, 3, 1], t=2)


def test_column_vector_y_is_accepted_with_a_warning():
    y = np.array([[0], [1], [1]])
    with pytest.warns(DataConversionWarning):
        assert discovery_curve(y, [1, 0]).tolist() == [1, 2]


def test_curve_dtype_is_integer():
    assert discovery_curve([1, 2], np.array([1, 0], dtype=np.uint8)).dtype.kind == "i"


# --- properties --------------------------------------------------------------


@FAST
@given(labels_and_ranking())
def test_curve_matches_reference(data):
    y, ranking = data
    assert discovery_curve(y, ranking).tolist() == reference_curve(y, ranking)


@FAST
@given(labels_and_ranking())
def test_curve_shape_properties(data):
    y, ranking = data
    curve = discovery_curve(y, ranking)
    k = len(np.unique(y))
    steps = np.diff(curve)
    assert curve[0] == 1
    assert np.isin(steps, [0, 1]).all()
    assert (curve <= np.minimum(np.arange(1, len(curve) + 1), k)).all()


@FAST
@given(labels_and_ranking(), st.data())
def test_nauc_matches_reference_and_is_in_range(data, draw):
    y, ranking = data
    t = draw.draw(st.integers(1, len(ranking)))
    nauc = discovery_nauc(y, ranking, t=t)
    assert 0 < nauc <= 100
    assert nauc == pytest.approx(reference_nauc(y, ranking, t), rel=1e-12)


@FAST
@given(labels_and_ranking(), st.data())
def test_nauc_is_eq3_for_t_at_least_k(data, draw):
    y, ranking = data
    k = len(np.unique(y))
    assume(len(ranking) >= k)
    t = draw.draw(st.integers(k, len(ranking)))
    eq3 = 100 * discovery_curve(y, ranking)[:t].sum() / (k * (k + 1) / 2 + (t - k) * k)
    assert discovery_nauc(y, ranking, t=t) == pytest.approx(eq3, rel=1e-12)


@FAST
@given(st.lists(st.integers(0, 8), min_size=1, max_size=40), st.data())
def test_oracle_ranking_scores_exactly_100(y, draw):
    ranking = oracle_ranking(y)
    t = draw.draw(st.integers(1, len(y)))
    assert discovery_nauc(y, ranking, t=t) == 100.0
    np.testing.assert_array_equal(discovery_curve(y, ranking), oracle_discovery_curve(y))


@FAST
@given(labels_and_ranking(), st.data())
def test_curve_invariant_to_relabelling(data, draw):
    y, ranking = data
    labels = np.unique(y).tolist()
    images = draw.draw(st.permutations([f"class {i}" for i in range(len(labels))]))
    relabel = dict(zip(labels, images))
    y_relabelled = np.array([relabel[label] for label in y.tolist()])
    np.testing.assert_array_equal(
        discovery_curve(y_relabelled, ranking), discovery_curve(y, ranking)
    )
    assert discovery_nauc(y_relabelled, ranking) == discovery_nauc(y, ranking)


@FAST
@given(st.lists(st.integers(0, 6), min_size=1, max_size=60))
def test_random_curve_properties(y):
    expected = expected_random_discovery_curve(y)
    k = len(set(y))
    assert np.all(np.diff(expected) >= -1e-12)
    assert np.all(expected >= 1 - 1e-12) and np.all(expected <= k + 1e-12)
    assert expected[0] == pytest.approx(1, abs=1e-12)
    assert expected[-1] == pytest.approx(k, abs=1e-12)
    assert np.all(expected <= oracle_discovery_curve(y) + 1e-12)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=6))
def test_random_curve_matches_enumeration_of_all_orders(y):
    exact = [float(value) for value in enumerated_random_curve(y)]
    np.testing.assert_allclose(expected_random_discovery_curve(y), exact, rtol=0, atol=1e-13)


def test_random_curve_matches_mean_of_shuffles():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), [30, 15, 8, 4, 1])
    n_shuffles = 20_000
    orders = rng.permuted(np.tile(np.arange(len(y)), (n_shuffles, 1)), axis=1)
    one_hot = y[orders][:, :, None] == np.arange(5)
    curves = np.logical_or.accumulate(one_hot, axis=1).sum(axis=2)
    mean = curves.mean(axis=0)
    standard_error = curves.std(axis=0, ddof=1) / np.sqrt(n_shuffles)
    # 5 standard errors per point: with 58 points a correct formula fails with
    # probability about 58 * 6e-7 < 1e-4 (and the seed is fixed). Points where
    # the shuffles never vary (i = 1, and once every class is surely seen) have
    # zero error and must match exactly.
    deviation = np.abs(mean - expected_random_discovery_curve(y))
    assert np.all(deviation <= 5 * standard_error + 1e-12)


def test_random_curve_is_exact_and_finite_at_200k():
    class_sizes = [1, 2, 50, 600, 149_347, 50_000]
    y = np.repeat(np.arange(len(class_sizes)), class_sizes)
    assert len(y) == 200_000
    expected = expected_random_discovery_curve(y)
    assert np.isfinite(expected).all()
    for i in [1, 2, 10, 1_000, 30_000, 199_999]:
        assert expected[i - 1] == pytest.approx(exact_random_value(class_sizes, i), abs=1e-12)
    assert expected[-1] == len(class_sizes)


def test_random_curve_t_truncates():
    y = [0, 1, 1, 2, 2, 2]
    np.testing.assert_array_equal(
        expected_random_discovery_curve(y, t=3), expected_random_discovery_curve(y)[:3]
    )


# --- bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "y, message",
    [
        ([], "y must hold at least one label"),
        (np.zeros((3, 2)), "y should be a 1d array"),
        (np.zeros((2, 2, 2)), "y must be a 1-D array"),
        ([0.0, np.nan, 1.0], "y contains NaN"),
    ],
)
def test_bad_y(y, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        discovery_curve(y, [0])
    with pytest.raises(ValueError, match=re.escape(message)):
        expected_random_discovery_curve(y)


def test_unsortable_labels():
    with pytest.raises(TypeError, match="y must hold labels of one comparable type"):
        discovery_curve(np.array([1, "a"], dtype=object), [0, 1])


@pytest.mark.parametrize(
    "ranking, error, message",
    [
        ([0, 2, 0], ValueError, "ranking must not repeat a row index"),
        ([0, 3], ValueError, "ranking must hold row indices in [0, 3)"),
        ([-1, 0], ValueError, "ranking must hold row indices in [0, 3)"),
        (np.array([0.0, 1.0]), TypeError, "ranking must hold integer row indices"),
        ([True, False], TypeError, "ranking must hold integer row indices"),
        ([], ValueError, "ranking must hold at least one row index"),
        ([[0, 1]], ValueError, "ranking must be a 1-D array"),
    ],
)
def test_bad_ranking(ranking, error, message):
    with pytest.raises(error, match=re.escape(message)):
        discovery_curve([0, 1, 1], ranking)
    with pytest.raises(error, match=re.escape(message)):
        discovery_nauc([0, 1, 1], ranking)


@pytest.mark.parametrize("t", [0, 3, -1, 1.5, True, "2"])
def test_bad_t_for_nauc(t):
    with pytest.raises(ValueError, match="^t must"):
        discovery_nauc([0, 1, 1], [2, 0], t=t)


@pytest.mark.parametrize("function", [expected_random_discovery_curve, oracle_discovery_curve])
@pytest.mark.parametrize("t", [0, 4])
def test_bad_t_for_reference_curves(function, t):
    with pytest.raises(ValueError, match=r"^t must be in \[1, 3\]"):
        function([0, 1, 1], t=t)


@settings(max_examples=50, deadline=None)
@given(data=labels_and_ranking())
def test_nauc_of_curve_matches_discovery_nauc(data):
    y, ranking = data
    curve = discovery_curve(y, ranking)
    n_classes = len(np.unique(y))
    assert nauc_of_curve(curve, n_classes) == pytest.approx(discovery_nauc(y, ranking))


def test_nauc_of_curve_of_the_expected_random_curve():
    y = np.array([0, 0, 0, 1])
    curve = expected_random_discovery_curve(y)  # 1, 1.5, 1.75, 2
    assert nauc_of_curve(curve, 2) == pytest.approx(100 * 6.25 / 7)


@pytest.mark.parametrize(
    "curve, n_classes, match",
    [([], 2, "curve"), ([[1, 2]], 2, "curve"), ([1, 2], 0, "n_classes"), ([1], 1.5, "n_classes")],
)
def test_nauc_of_curve_bad_input(curve, n_classes, match):
    with pytest.raises(ValueError, match=match):
        nauc_of_curve(curve, n_classes)
