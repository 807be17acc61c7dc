"""Tests of the inversion quality metrics against brute-force definitions."""

import numpy as np
import pytest

from sknovel.metrics import inversion_identification_rate, inversion_mse_ratio


def brute_force_rate(originals, inverted, n_candidates, random_state):
    """Same draws as the metric, written out loop by loop."""
    rng = np.random.RandomState(random_state)
    n = len(originals)
    hits = 0
    for i in range(n):
        if n_candidates == n:
            candidates = [j for j in range(n) if j != i]
        else:
            drawn = rng.choice(n - 1, n_candidates - 1, replace=False)
            candidates = [j if j < i else j + 1 for j in drawn]
        own = np.mean((originals[i] - inverted[i]) ** 2)
        hits += all(own < np.mean((originals[j] - inverted[i]) ** 2) for j in candidates)
    return hits / n


@pytest.mark.parametrize("n_candidates", [2, 7, 30])
def test_identification_rate_matches_brute_force(n_candidates):
    rng = np.random.default_rng(0)
    originals = rng.random((30, 2, 2))
    inverted = np.clip(originals + rng.normal(0, 0.2, originals.shape), 0, 1)
    rate = inversion_identification_rate(
        originals, inverted, n_candidates=n_candidates, random_state=3
    )
    assert rate == brute_force_rate(originals, inverted, n_candidates, 3)
    assert 0 < rate < 1  # the noise level makes it a real test, not all hits or all misses


def test_identification_rate_extremes_and_chance():
    rng = np.random.default_rng(1)
    originals = rng.random((200, 6, 6))
    assert inversion_identification_rate(originals, originals, random_state=0) == 1.0
    # a constant answer is nearest to one fixed image only: close to 1/n_candidates at most
    constant = np.repeat(originals.mean(0)[None], 200, axis=0)
    assert inversion_identification_rate(originals, constant, random_state=0) <= 0.05
    # inversions of the wrong images: about chance (1 %)
    shuffled = originals[rng.permutation(200)]
    assert inversion_identification_rate(originals, shuffled, random_state=0) <= 0.05


def test_identification_rate_uint8_equals_float():
    rng = np.random.default_rng(2)
    originals = rng.integers(0, 256, (20, 4, 4, 3), dtype=np.uint8)
    inverted = rng.integers(0, 256, (20, 4, 4, 3), dtype=np.uint8)
    as_uint8 = inversion_identification_rate(originals, inverted, n_candidates=5, random_state=0)
    as_float = inversion_identification_rate(
        originals / 255, inverted / 255, n_candidates=5, random_state=0
    )
    assert as_uint8 == as_float


def test_ties_count_as_misses():
    originals = np.zeros((3, 2, 2))
    assert inversion_identification_rate(originals, originals, n_candidates=3) == 0.0


def test_mse_ratio_matches_definition():
    rng = np.random.default_rng(3)
    originals, inverted = rng.random((12, 4, 4, 3)), rng.random((12, 4, 4, 3))
    baseline = rng.random((4, 4, 3))
    expected = np.mean([np.mean((o - i) ** 2) for o, i in zip(originals, inverted)]) / np.mean(
        [np.mean((o - baseline) ** 2) for o in originals]
    )
    assert inversion_mse_ratio(originals, inverted, baseline=baseline) == pytest.approx(expected)
    default = np.mean((originals - inverted) ** 2) / np.mean((originals - originals.mean(0)) ** 2)
    assert inversion_mse_ratio(originals, inverted) == pytest.approx(default)
    assert inversion_mse_ratio(originals, originals) == 0.0


def test_mse_ratio_greyscale_baseline_without_channel_axis():
    rng = np.random.default_rng(4)
    originals = rng.random((5, 3, 3))
    ratio = inversion_mse_ratio(originals, originals * 0.5, baseline=np.zeros((3, 3)))
    assert ratio == pytest.approx(0.25)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"inverted": np.zeros((4, 3, 3))}, ValueError, "inverted must have the shape"),
        ({"originals": np.zeros((4, 9))}, ValueError, "originals must be images"),
        ({"n_candidates": 5}, ValueError, "n_candidates must be an integer in \\[2, 4\\]"),
        ({"n_candidates": 1}, ValueError, "n_candidates"),
        ({"inverted": np.full((4, 2, 2), np.nan)}, ValueError, "inverted contains NaN"),
        ({"originals": np.zeros((4, 2, 2), dtype=np.int64)}, TypeError, "originals must be uint8"),
    ],
)
def test_identification_rate_bad_input(kwargs, error, match):
    arguments = {"originals": np.zeros((4, 2, 2)), "inverted": np.zeros((4, 2, 2))}
    arguments.update(kwargs)
    n_candidates = arguments.pop("n_candidates", 2)
    with pytest.raises(error, match=match):
        inversion_identification_rate(**arguments, n_candidates=n_candidates)


def test_mse_ratio_bad_baseline():
    images = np.random.default_rng(5).random((4, 3, 3, 3))
    with pytest.raises(ValueError, match="baseline must be one image of shape"):
        inversion_mse_ratio(images, images, baseline=np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="undefined"):
        inversion_mse_ratio(np.zeros((3, 2, 2)), np.zeros((3, 2, 2)))
