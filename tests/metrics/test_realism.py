"""frechet_distance against references and its invariants; counterfactual_frechet_distance on
pixels and on the default EfficientNet-Lite0 features; bad input."""

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sknovel.features import PixelFeaturizer
from sknovel.metrics import counterfactual_frechet_distance, frechet_distance
from sknovel.metrics._realism import _trace_sqrt_from_covariances, _trace_sqrt_from_samples

RNG = np.random.default_rng(0)


def reference_frechet_distance(a, b):
    """The textbook formula, with scipy's square root of the product (fine when both
    covariances are well conditioned)."""
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    assert np.abs(root.imag).max() < 1e-8  # the data below keep it real
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * root.real))


def test_equals_the_textbook_formula_on_well_conditioned_data():
    for seed in range(5):
        rng = np.random.default_rng(seed)
        a = rng.normal(size=(40, 4)) @ rng.normal(size=(4, 4))
        b = rng.normal(0.5, 2.0, size=(30, 4)) @ rng.normal(size=(4, 4))
        assert frechet_distance(a, b) == pytest.approx(reference_frechet_distance(a, b), rel=1e-9)


def test_one_feature_is_the_difference_of_means_and_standard_deviations():
    """For 1-D Gaussians d² = (μ_a - μ_b)² + (σ_a - σ_b)², written out by hand."""
    a, b = RNG.normal(1.0, 2.0, size=(50, 1)), RNG.normal(-1.0, 0.5, size=(20, 1))
    expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-12)


def test_independent_features_add_up():
    """Two sets each with uncorrelated features: the sum of the 1-D distances per feature."""
    a = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])  # σ = (1.155, 1.155)
    b = np.array([[0.0, 1.0], [6.0, 1.0], [0.0, 2.0], [6.0, 2.0]]) + 1  # σ = (3.464, 0.577)
    expected = sum(
        (a[:, j].mean() - b[:, j].mean()) ** 2 + (a[:, j].std(ddof=1) - b[:, j].std(ddof=1)) ** 2
        for j in range(2)
    )
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-12)


def test_fewer_samples_than_features_is_real_and_exact():
    """Singular covariances (as for 100 counterfactuals and 1 280 CNN features): the square
    root of the product is not needed, so the result is real, 0 for identical sets, and the
    pure mean shift for translated ones."""
    a = RNG.normal(size=(6, 40))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-9 * np.trace(np.cov(a.T)))
    shift = RNG.normal(size=40)
    assert frechet_distance(a, a + shift) == pytest.approx(np.sum(shift**2), rel=1e-9)
    b = RNG.normal(size=(9, 40))
    distance = frechet_distance(a, b)
    assert np.isfinite(distance) and distance > 0
    assert distance == pytest.approx(frechet_distance(b, a), rel=1e-9)


def test_near_singular_covariances_stay_real_and_non_negative():
    """Features that are almost copies of each other make the covariances nearly singular:
    the textbook route then gives small negative values (about -1e-7 for such data, and
    -2.4e-6 with complex square roots for a set and itself with fewer samples than features,
    as in the test above); the distance stays real, non-negative and about 0."""
    base = RNG.normal(size=(30, 1))
    a = np.hstack([base, base + 1e-9 * RNG.normal(size=(30, 1)), 2 * base])
    b = a + 1e-12 * RNG.normal(size=a.shape)
    distance = frechet_distance(a, b)
    assert isinstance(distance, float) and 0 <= distance < 1e-9


def test_the_two_routes_to_the_trace_agree():
    """From the samples (few of them) and from the covariances (many): the same trace."""
    for n_a, n_b, d in [(5, 7, 3), (12, 4, 6), (3, 3, 10)]:
        a, b = RNG.normal(size=(n_a, d)), RNG.normal(size=(n_b, d))
        centred_a, centred_b = a - a.mean(axis=0), b - b.mean(axis=0)
        from_samples = _trace_sqrt_from_samples(centred_a, centred_b)
        from_covariances = _trace_sqrt_from_covariances(
            np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        )
        assert from_samples == pytest.approx(from_covariances, rel=1e-6)


finite = st.floats(-100, 100, allow_nan=False, width=64)
feature_sets = st.integers(1, 5).flatmap(
    lambda d: st.tuples(
        arrays(np.float64, st.tuples(st.integers(2, 12), st.just(d)), elements=finite),
        arrays(np.float64, st.tuples(st.integers(2, 12), st.just(d)), elements=finite),
        arrays(np.float64, (d,), elements=finite),
    )
)


def _tolerance(*sets):
    scale = max(1.0, *(float(np.abs(s).max()) for s in sets))
    return 1e-7 * scale**2


@settings(max_examples=40, deadline=None)
@given(feature_sets)
def test_invariants(sets):
    a, b, shift = sets
    tolerance = _tolerance(a, b, shift)
    distance = frechet_distance(a, b)
    assert distance >= 0
    assert distance == pytest.approx(frechet_distance(b, a), abs=tolerance)  # symmetric
    assert frechet_distance(a, a) == pytest.approx(0, abs=tolerance)  # 0 for identical sets
    # translating both sets alike changes nothing; translating one set of a pair of
    # identical ones by δ gives ||δ||²
    assert frechet_distance(a + shift, b + shift) == pytest.approx(distance, abs=tolerance)
    assert frechet_distance(a, a + shift) == pytest.approx(np.sum(shift**2), abs=tolerance)


@settings(max_examples=20, deadline=None)
@given(feature_sets, st.integers(0, 2**32 - 1))
def test_rotating_the_feature_space_changes_nothing(sets, seed):
    a, b, _ = sets
    rotation, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(a.shape[1],) * 2))
    assert frechet_distance(a @ rotation, b @ rotation) == pytest.approx(
        frechet_distance(a, b), abs=_tolerance(a, b)
    )


@pytest.mark.parametrize(
    "a, b, error, match",
    [
        (np.zeros(5), np.zeros((5, 1)), ValueError, r"features_a must be a 2-D array.*\(5,\)"),
        (np.zeros((5, 2)), np.zeros((5, 2, 1)), ValueError, "features_b must be a 2-D array"),
        (np.zeros((1, 3)), np.zeros((5, 3)), ValueError, "features_a must hold at least 2"),
        (np.zeros((5, 0)), np.zeros((5, 0)), ValueError, "at least 2 samples .* and 1 feature"),
        (np.zeros((5, 2)), np.zeros((5, 3)), ValueError, "same number of features.*2 and 3"),
        (np.full((5, 2), np.nan), np.zeros((5, 2)), ValueError, "features_a contains NaN"),
        (np.zeros((5, 2)), np.full((5, 2), np.inf), ValueError, "features_b contains NaN or inf"),
        (np.full((5, 2), "a"), np.zeros((5, 2)), TypeError, "features_a must hold numbers"),
    ],
)
def test_bad_features(a, b, error, match):
    with pytest.raises(error, match=match):
        frechet_distance(a, b)


# counterfactual_frechet_distance

NORMAL = (RNG.random((30, 6, 5)) * 0.5).astype(np.float32)
COUNTERFACTUALS = (RNG.random((10, 2, 6, 5)) * 0.5).astype(np.float32)


def test_on_pixels_equals_the_distance_of_the_flattened_images():
    got = counterfactual_frechet_distance(COUNTERFACTUALS, NORMAL, featurizer=PixelFeaturizer())
    expected = frechet_distance(COUNTERFACTUALS.reshape(20, -1), NORMAL.reshape(30, -1))
    assert got == pytest.approx(expected, rel=1e-6)
    # all counterfactuals count, however the leading axes group them
    flat = COUNTERFACTUALS.reshape(20, 6, 5)
    assert counterfactual_frechet_distance(
        flat, NORMAL, featurizer=PixelFeaturizer()
    ) == pytest.approx(got, rel=1e-12)


def test_channels_last_images_and_uint8():
    normal, changed = NORMAL[..., None], COUNTERFACTUALS[..., None]
    pixels = PixelFeaturizer()
    got = counterfactual_frechet_distance(changed, normal, featurizer=pixels)
    assert got == pytest.approx(
        counterfactual_frechet_distance(COUNTERFACTUALS, NORMAL, featurizer=pixels), rel=1e-6
    )
    as_uint8 = (COUNTERFACTUALS * 255).round().astype(np.uint8)
    assert counterfactual_frechet_distance(as_uint8, NORMAL, featurizer=pixels) == pytest.approx(
        counterfactual_frechet_distance(as_uint8 / 255.0, NORMAL, featurizer=pixels), rel=1e-5
    )


def test_an_unfitted_featurizer_is_cloned_and_a_fitted_one_used_as_it_is():
    pixels = PixelFeaturizer()
    counterfactual_frechet_distance(COUNTERFACTUALS, NORMAL, featurizer=pixels)
    assert not hasattr(pixels, "input_shape_")  # the one given is left unfitted
    fitted = PixelFeaturizer().fit(NORMAL)
    state = dict(vars(fitted))
    counterfactual_frechet_distance(COUNTERFACTUALS, NORMAL, featurizer=fitted)
    assert vars(fitted).keys() == state.keys()


class HalfPixels:
    """A plain transformer without fit: the first half of the pixels."""

    def transform(self, X):
        flat = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        return flat[:, : flat.shape[1] // 2]


def test_a_transformer_without_fit_is_used_as_it_is():
    got = counterfactual_frechet_distance(COUNTERFACTUALS, NORMAL, featurizer=HalfPixels())
    expected = frechet_distance(
        COUNTERFACTUALS.reshape(20, -1)[:, :15], NORMAL.reshape(30, -1)[:, :15]
    )
    assert got == pytest.approx(expected, rel=1e-6)


class OneValue:
    def transform(self, X):
        return np.zeros(len(X))


@pytest.mark.parametrize(
    "counterfactuals, normal, featurizer, error, match",
    [
        (COUNTERFACTUALS[:, :, :5], NORMAL, None, ValueError, r"counterfactuals must have shape"),
        (COUNTERFACTUALS[None], NORMAL, None, ValueError, r"\(n, K, 6, 5\) or \(m, 6, 5\)"),
        (COUNTERFACTUALS[:1, :1], NORMAL, None, ValueError, "counterfactuals must hold at least 2"),
        (COUNTERFACTUALS, NORMAL[:1], None, ValueError, "normal must hold at least 2 images"),
        (COUNTERFACTUALS + 1, NORMAL, None, ValueError, r"float counterfactuals must lie in"),
        (COUNTERFACTUALS, NORMAL * np.nan, None, ValueError, "normal contains NaN"),
        (COUNTERFACTUALS, NORMAL[0], None, ValueError, "normal must be images of shape"),
        (COUNTERFACTUALS, NORMAL, object(), TypeError, "featurizer must be a transformer"),
        (COUNTERFACTUALS, NORMAL, OneValue(), ValueError, r"one feature vector per image"),
    ],
)
def test_bad_images_and_featurizers(counterfactuals, normal, featurizer, error, match):
    with pytest.raises(error, match=match):
        counterfactual_frechet_distance(counterfactuals, normal, featurizer=featurizer)


@pytest.mark.data
@pytest.mark.slow
def test_default_features_tell_other_digits_from_the_normal_ones():
    """On EfficientNet-Lite0's pooled features (the default), other digits are farther from
    zeros than other zeros are (sets of 20 MNIST test digits)."""
    pytest.importorskip("torch")
    from sknovel.datasets import find_data_file, load_labelled_images
    from sknovel.features import CNNFeaturizer

    path = find_data_file("mnist_test.npz", start=Path(__file__).parent)
    if path is None:
        pytest.skip("mnist_test.npz is absent: the shared data sets live in ../shared/data in CI")
    data = load_labelled_images(path)
    zeros, others = data.images[data.labels == 0], data.images[data.labels != 0]
    normal = zeros[:20]
    different = counterfactual_frechet_distance(others[:20], normal)  # featurizer=None
    lite0 = CNNFeaturizer().fit(normal)  # the default, fitted once for the second call
    same = counterfactual_frechet_distance(zeros[20:40], normal, featurizer=lite0)
    assert 0 < same < different
