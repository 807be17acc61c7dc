"""Counterfactual metrics against brute-force definitions, and their bad input."""

import numpy as np
import pytest

from sknovel.metrics import (
    counterfactual_disentanglement,
    counterfactual_normality,
    counterfactual_proximity,
    counterfactual_validity,
)

RNG = np.random.default_rng(0)


def brute_force_auc(negatives, positives):
    """P(positive > negative) + P(tie) / 2, over every pair."""
    total = 0.0
    for p in positives:
        for n in negatives:
            total += 1.0 if p > n else 0.5 if p == n else 0.0
    return total / (len(positives) * len(negatives))


@pytest.mark.parametrize("seed", range(5))
def test_normality_is_the_pairwise_auc(seed):
    rng = np.random.default_rng(seed)
    normal = rng.random(17).round(1)  # rounding makes ties
    counterfactual = rng.random((9, 2)).round(1)
    expected = brute_force_auc(normal, counterfactual.ravel())
    assert counterfactual_normality(normal, counterfactual) == pytest.approx(expected)


def test_normality_extremes():
    assert counterfactual_normality([0.1, 0.2], [0.8, 0.9]) == 1.0
    assert counterfactual_normality([0.8, 0.9], [0.1, 0.2]) == 0.0
    assert counterfactual_normality([0.5, 0.5], [[0.5, 0.5]]) == 0.5


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 1.0])
def test_validity_counts_scores_at_most_the_threshold(threshold):
    scores = RNG.random((20, 3)).round(1)
    expected = sum(score <= threshold for score in scores.ravel()) / scores.size
    assert counterfactual_validity(scores, threshold=threshold) == pytest.approx(expected)
    assert counterfactual_validity([threshold]) == (1.0 if threshold <= 0.5 else 0.0)


@pytest.mark.parametrize("channels", [None, 3])
def test_proximity_is_the_mean_absolute_pixel_difference(channels):
    shape = (4, 5, 6) if channels is None else (4, 5, 6, channels)
    images = RNG.random(shape)
    counterfactuals = RNG.random((shape[0], 2, *shape[1:]))
    total, count = 0.0, 0
    for image, changed in zip(images, counterfactuals):
        for one in changed:
            total += np.sum(np.abs(one - image)) / image.size
            count += 1
    assert counterfactual_proximity(images, counterfactuals) == pytest.approx(total / count)
    assert counterfactual_proximity(images, np.stack([images, images], axis=1)) == 0.0


def test_proximity_of_uint8_images_is_on_the_unit_scale():
    images = np.zeros((2, 3, 3), dtype=np.uint8)
    counterfactuals = np.full((2, 1, 3, 3), 51, dtype=np.uint8)
    assert counterfactual_proximity(images, counterfactuals) == pytest.approx(0.2)


def test_disentanglement_is_the_accuracy_of_the_argmax():
    probabilities = RNG.random((30, 3, 3))
    correct = [int(np.argmax(probabilities[i, k]) == k) for i in range(30) for k in range(3)]
    assert counterfactual_disentanglement(probabilities) == pytest.approx(np.mean(correct))
    identity = np.tile(np.eye(3), (4, 1, 1))
    assert counterfactual_disentanglement(identity) == 1.0
    assert counterfactual_disentanglement(identity[:, ::-1]) == pytest.approx(1 / 3)
    # ties: the first concept wins
    assert counterfactual_disentanglement(np.full((1, 2, 2), 0.5)) == 0.5


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: counterfactual_normality([], [0.1]), "normal_scores holds no scores"),
        (lambda: counterfactual_normality([0.1], [np.nan]), "counterfactual_scores contains"),
        (lambda: counterfactual_validity(["a"]), "counterfactual_scores must be numbers"),
        (lambda: counterfactual_validity([0.1], threshold=np.nan), "threshold must be"),
        (
            lambda: counterfactual_proximity(np.zeros((2, 3, 3)), np.zeros((2, 3, 3))),
            r"counterfactuals must have shape \(n, K",
        ),
        (
            lambda: counterfactual_proximity(np.zeros((2, 3, 3)), np.zeros((3, 1, 3, 3))),
            r"counterfactuals must have shape",
        ),
        (lambda: counterfactual_proximity(np.zeros(3), np.zeros((3, 1))), "X must be"),
        (
            lambda: counterfactual_disentanglement(np.zeros((2, 2, 3))),
            r"concept_probabilities must have shape \(n, K, K\)",
        ),
        (
            lambda: counterfactual_disentanglement(np.full((1, 2, 2), np.inf)),
            "concept_probabilities contains",
        ),
    ],
)
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
