"""Deletion / insertion curves, their areas, random maps and the removal test."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sknovel.metrics import (
    curve_auc,
    deletion_curve,
    insertion_curve,
    random_maps,
    removal_baseline,
    removal_test,
)

RNG = np.random.default_rng(0)
IMAGE = RNG.random((6, 5, 3))


def brute_force_curve(score_fn, image, saliency, filler, fractions, insert):
    """Remove pixels one by one in order of importance (ties: lower row-major index)."""
    pixels = sorted(np.ndindex(saliency.shape), key=lambda ij: (-saliency[ij], ij))
    scores = []
    for fraction in fractions:
        k = int(round(fraction * saliency.size))
        variant = filler.copy() if insert else image.copy()
        for ij in pixels[:k]:
            variant[ij] = image[ij] if insert else filler[ij]
        scores.append(score_fn(variant[None])[0])
    return np.array(scores)


def weighted_sum(batch):
    weights = np.arange(1, 31).reshape(6, 5, 1)
    return (batch * weights).sum(axis=(1, 2, 3))


@pytest.mark.parametrize("baseline", ["blur", "mean", "zero", 0.5])
@pytest.mark.parametrize("insert", [False, True])
def test_curves_match_pixel_by_pixel_removal(baseline, insert):
    saliency = np.round(RNG.random((6, 5)), 1)  # with ties
    fractions = np.linspace(0, 1, 7)
    curve = (insertion_curve if insert else deletion_curve)(
        weighted_sum, IMAGE, saliency, baseline=baseline, fractions=fractions, batch_size=3
    )
    filler = removal_baseline(IMAGE, baseline)
    expected = brute_force_curve(weighted_sum, IMAGE, saliency, filler, fractions, insert)
    np.testing.assert_allclose(curve.scores, expected, rtol=1e-12)
    assert curve.kind == ("insertion" if insert else "deletion")


def test_a_faithful_map_beats_random_maps():
    weights = np.arange(1, 31).reshape(6, 5).astype(float)
    image = np.ones((6, 5, 3))
    deletion = deletion_curve(weighted_sum, image, weights, baseline="zero")
    reverse = deletion_curve(weighted_sum, image, -weights, baseline="zero")
    assert curve_auc(deletion) < 0.5 < curve_auc(reverse)
    insertion = insertion_curve(weighted_sum, image, weights, baseline="zero")
    assert curve_auc(insertion) > 0.5
    result = removal_test(weighted_sum, image, weights, baseline="zero", random_state=0)
    assert result.beats_random and result.drop > result.random_drops.max()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 10))
def test_curves_invariant_to_monotone_changes_of_the_map(seed, power):
    saliency = np.random.default_rng(seed).random((6, 5))
    a = deletion_curve(weighted_sum, IMAGE, saliency, baseline="zero")
    b = deletion_curve(weighted_sum, IMAGE, saliency**power * 3 + 1, baseline="zero")
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.scores[-1] == 0  # everything removed onto a zero baseline


def test_random_maps_are_smooth_and_reproducible():
    maps = random_maps((32, 48), 4, random_state=0)
    assert maps.shape == (4, 32, 48)
    np.testing.assert_array_equal(maps, random_maps((32, 48), 4, random_state=0))
    # Neighbouring pixels are strongly correlated, unlike independent pixel noise.
    neighbours = np.corrcoef(maps[:, :, :-1].ravel(), maps[:, :, 1:].ravel())[0, 1]
    assert neighbours > 0.9


def test_auc_normalisation():
    curve = deletion_curve(weighted_sum, IMAGE, np.ones((6, 5)), fractions=[0, 1], baseline=0.0)
    assert curve_auc(curve) == pytest.approx(0.5)
    assert curve_auc(curve, normalize=False) == pytest.approx(curve.scores[0] / 2)


def test_bad_input():
    with pytest.raises(ValueError, match="height and width"):
        deletion_curve(weighted_sum, IMAGE, np.ones((5, 5)))
    with pytest.raises(ValueError, match="NaN"):
        deletion_curve(weighted_sum, IMAGE, np.full((6, 5), np.nan))
    with pytest.raises(ValueError, match="fractions"):
        deletion_curve(weighted_sum, IMAGE, np.ones((6, 5)), fractions=[0.5, 0.2])
    with pytest.raises(ValueError, match="baseline"):
        deletion_curve(weighted_sum, IMAGE, np.ones((6, 5)), baseline="noise")
    with pytest.raises(ValueError, match="one score per image"):
        deletion_curve(lambda b: np.zeros(1), IMAGE, np.ones((6, 5)))
    with pytest.raises(ValueError, match="fraction"):
        removal_test(weighted_sum, IMAGE, np.ones((6, 5)), fraction=1.5)
    with pytest.raises(ValueError, match="n_maps"):
        random_maps((4, 4), 0)
    zero = deletion_curve(lambda b: np.zeros(len(b)), IMAGE, np.ones((6, 5)))
    with pytest.raises(ValueError, match="scores 0"):
        curve_auc(zero)
