"""Tests of the map-comparison metrics: top-K agreement, distance to best match, MSE, chance."""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sknovel.metrics import (
    map_mse,
    max_distance_to_best_match,
    top_k_agreement,
    top_k_agreement_chance,
)

FAST = settings(max_examples=60, deadline=None)


# --- slow, obviously correct references ------------------------------------


def reference_top_k(values, k):
    """Flat indices of the k largest values; lower index first among equal values."""
    flat = list(np.asarray(values, dtype=float).ravel())
    return sorted(range(len(flat)), key=lambda i: (-flat[i], i))[:k]


def reference_agreement(a, b, k):
    return len(set(reference_top_k(a, k)) & set(reference_top_k(b, k)))


def reference_distance(reference, other, k):
    width = np.shape(reference)[1]
    worst = 0.0
    for i in reference_top_k(reference, k):
        best = min(math.dist(divmod(i, width), divmod(j, width)) for j in reference_top_k(other, k))
        worst = max(worst, best)
    return worst


def reference_mse(a, b):
    a, b = np.ravel(a).tolist(), np.ravel(b).tolist()
    return sum((x - y) ** 2 for x, y in zip(a, b)) / len(a)


def enumerated_chance(k, n):
    """P(agreement = j) as fractions, over all pairs of k-subsets of n pixels."""
    counts = [0] * (k + 1)
    subsets = list(itertools.combinations(range(n), k))
    for first, second in itertools.product(subsets, repeat=2):
        counts[len(set(first) & set(second))] += 1
    return [Fraction(count, len(subsets) ** 2) for count in counts]


# --- strategies ---------------------------------------------------------------

shapes = st.tuples(st.integers(1, 5), st.integers(1, 6))


@st.composite
def map_pairs(draw, unique=False):
    """Two maps of one shape and a valid k; integer-valued floats (ties unless unique)."""
    shape = draw(shapes)
    elements = st.integers(-1000, 1000) if unique else st.integers(0, 3)
    a, b = (draw(hnp.arrays(np.float64, shape, elements=elements, unique=unique)) for _ in range(2))
    k = draw(st.integers(1, a.size))
    return a, b, k


MONOTONE = {
    "affine": lambda x: 3 * x + 7,
    "cube": lambda x: x**3,
    "exp": lambda x: np.exp(x / 1000),
    "arctan": lambda x: np.arctan(x / 100),
}


# --- against the references ---------------------------------------------------


@FAST
@given(map_pairs())
def test_agreement_matches_reference_with_ties(pair):
    a, b, k = pair
    assert top_k_agreement(a, b, k) == reference_agreement(a, b, k)


@FAST
@given(map_pairs())
def test_distance_matches_reference_with_ties(pair):
    a, b, k = pair
    assert max_distance_to_best_match(a, b, k) == pytest.approx(reference_distance(a, b, k))


@FAST
@given(map_pairs())
def test_mse_matches_reference(pair):
    a, b, _ = pair
    assert map_mse(a, b) == pytest.approx(reference_mse(a, b))


def test_batch_gives_each_maps_value():
    rng = np.random.default_rng(0)
    a, b = rng.random((7, 4, 5)), rng.random((7, 4, 5))
    agreement = top_k_agreement(a, b, 6)
    assert agreement.shape == (7,) and agreement.dtype.kind == "i"
    np.testing.assert_array_equal(agreement, [reference_agreement(x, y, 6) for x, y in zip(a, b)])
    np.testing.assert_allclose(
        max_distance_to_best_match(a, b, 3), [reference_distance(x, y, 3) for x, y in zip(a, b)]
    )
    np.testing.assert_allclose(map_mse(a, b), [reference_mse(x, y) for x, y in zip(a, b)])


def test_single_map_gives_python_scalars():
    a = np.arange(6.0).reshape(2, 3)
    assert type(top_k_agreement(a, a, 2)) is int
    assert type(max_distance_to_best_match(a, a, 2)) is float
    assert type(map_mse(a, a)) is float


def test_ties_go_to_the_lower_flat_index():
    flat = np.zeros((3, 3))
    one_hot = np.zeros((3, 3))
    one_hot[0, 0] = 1
    assert top_k_agreement(flat, one_hot, 1) == 1  # top-1 of the flat map is pixel (0, 0)
    late = np.zeros((3, 3))
    late[2, 2] = 1
    assert max_distance_to_best_match(late, flat, 1) == pytest.approx(math.hypot(2, 2))


def test_distance_is_not_symmetric():
    saliency = np.zeros((1, 5))
    saliency[0, [0, 4]] = [2, 1]
    error = np.zeros((1, 5))
    error[0, [0, 1]] = [2, 1]
    assert max_distance_to_best_match(saliency, error, 2) == 3.0  # pixel 4 is 3 from pixel 1
    assert max_distance_to_best_match(error, saliency, 2) == 1.0


# --- properties -----------------------------------------------------------------


@FAST
@given(map_pairs())
def test_agreement_is_bounded_and_symmetric(pair):
    a, b, k = pair
    agreement = top_k_agreement(a, b, k)
    assert 0 <= agreement <= k
    assert agreement == top_k_agreement(b, a, k)
    assert agreement >= max(0, 2 * k - a.size)  # two k-subsets of n pixels share >= 2k - n


@FAST
@given(map_pairs(unique=True), st.sampled_from(sorted(MONOTONE)), st.sampled_from(sorted(MONOTONE)))
def test_invariant_to_strictly_increasing_transforms(pair, first, second):
    a, b, k = pair
    a_t, b_t = MONOTONE[first](a), MONOTONE[second](b)
    # the transformed maps must keep their values distinct (rounding could merge two)
    assume(np.unique(a_t).size == a.size and np.unique(b_t).size == b.size)
    assert top_k_agreement(a_t, b_t, k) == top_k_agreement(a, b, k)
    assert max_distance_to_best_match(a_t, b_t, k) == max_distance_to_best_match(a, b, k)


@FAST
@given(map_pairs())
def test_identical_maps(pair):
    a, _, k = pair
    assert top_k_agreement(a, a, k) == k
    assert max_distance_to_best_match(a, a, k) == 0.0
    assert map_mse(a, a) == 0.0


@FAST
@given(map_pairs(), st.floats(0.1, 10), st.floats(-5, 5))
def test_positive_affine_copy_agrees_fully_even_with_ties(pair, scale, shift):
    a, _, k = pair  # integer values: the transform keeps equal values equal, distinct distinct
    assert top_k_agreement(a, scale * a + shift, k) == k
    assert max_distance_to_best_match(a, scale * a + shift, k) == 0.0


# --- chance level ------------------------------------------------------------------


@pytest.mark.parametrize("k, n", [(1, 1), (1, 4), (2, 4), (2, 5), (3, 6), (4, 7)])
def test_chance_equals_enumeration(k, n):
    np.testing.assert_allclose(
        top_k_agreement_chance(k, n), [float(p) for p in enumerated_chance(k, n)], rtol=1e-12
    )


@pytest.mark.parametrize("k, n", [(1, 784), (5, 784), (10, 784), (50, 60), (30, 3072)])
def test_chance_sums_to_one_with_mean_k_squared_over_n(k, n):
    p = top_k_agreement_chance(k, n)
    assert p.shape == (k + 1,) and np.all(p >= 0)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert p @ np.arange(k + 1) == pytest.approx(k**2 / n, rel=1e-12)
    assert np.all(p[: max(0, 2 * k - n)] == 0)


def test_chance_equals_random_maps_on_average():
    rng = np.random.default_rng(0)
    k, n_maps = 5, 20000
    a, b = rng.random((n_maps, 5, 5)), rng.random((n_maps, 5, 5))
    agreement = top_k_agreement(a, b, k)
    p = top_k_agreement_chance(k, 25)
    standard_error = agreement.std() / np.sqrt(n_maps)
    assert abs(agreement.mean() - p @ np.arange(k + 1)) < 5 * standard_error
    frequencies = np.bincount(agreement, minlength=k + 1) / n_maps
    assert np.all(np.abs(frequencies - p) <= 5 * np.sqrt(p * (1 - p) / n_maps) + 1e-12)


# --- bad input ----------------------------------------------------------------------


MAP = np.zeros((4, 4))
NAN, INF = np.full((4, 4), np.nan), np.full((4, 4), np.inf)
distance = max_distance_to_best_match
chance = top_k_agreement_chance


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: top_k_agreement(MAP, np.zeros((4, 5)), 2), ValueError, "a and b must have"),
        (lambda: top_k_agreement(MAP, MAP[np.newaxis], 2), ValueError, "same shape"),
        (lambda: map_mse(MAP, np.zeros((3, 4))), ValueError, "same shape"),
        (lambda: distance(MAP, MAP, 17), ValueError, r"k=17 must be in \[1, 16\]"),
        (lambda: top_k_agreement(MAP, MAP, 0), ValueError, "k=0"),
        (lambda: top_k_agreement(MAP, MAP, 2.0), TypeError, "k must be an integer"),
        (lambda: top_k_agreement(MAP, MAP, True), TypeError, "k must be an integer"),
        (lambda: top_k_agreement(NAN, MAP, 1), ValueError, "a contains NaN"),
        (lambda: map_mse(MAP, INF), ValueError, "b contains NaN or infinity"),
        (lambda: distance(np.zeros(4), np.zeros(4), 1), ValueError, "reference must be one"),
        (lambda: map_mse(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2))), ValueError, "shape"),
        (lambda: map_mse(np.zeros((0, 3)), np.zeros((0, 3))), ValueError, "no empty axis"),
        (lambda: map_mse(np.array([["a"]]), MAP[:1, :1]), TypeError, "a must hold real numbers"),
        (lambda: chance(5, 4), ValueError, r"k=5 must be in \[1, 4\]"),
        (lambda: chance(1, 0), ValueError, "n_pixels must be a positive integer"),
        (lambda: chance(1, 2.5), ValueError, "n_pixels"),
    ],
)
def test_bad_input_names_the_parameter(call, error, match):
    with pytest.raises(error, match=match):
        call()
