"""AutoencoderSaliency: maps against finite differences and definitions, shapes, errors."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from sknovel.detectors import ConvAutoencoder
from sknovel.explain import AutoencoderSaliency
from sknovel.metrics import top_k_agreement, top_k_agreement_chance

torch = pytest.importorskip("torch")


def tiny_detector(shape, seed=0):
    """A briefly trained detector for images of `shape`, switched to float64."""
    images = np.random.default_rng(seed).random((10, *shape))
    detector = ConvAutoencoder(epochs=1, batch_size=5, latent_dim=3, random_state=seed)
    detector.fit(images)
    detector.module_.double()
    return detector


def finite_difference_gradient(detector, images, eps=1e-6):
    """Central differences of each image's loss -score_samples, pixel by pixel: (n, H, W, C).

    Every image's loss depends on that image only (eval mode), so one pixel is perturbed in
    all images at once.
    """
    images = images.reshape(len(images), *detector.input_shape_)
    gradient = np.zeros_like(images)
    for index in np.ndindex(*images.shape[1:]):
        plus, minus = images.copy(), images.copy()
        plus[(slice(None), *index)] += eps
        minus[(slice(None), *index)] -= eps
        loss_plus, loss_minus = -detector.score_samples(plus), -detector.score_samples(minus)
        gradient[(slice(None), *index)] = (loss_plus - loss_minus) / (2 * eps)
    return gradient


@pytest.mark.parametrize("shape", [(6, 5), (4, 6, 3)])
def test_saliency_equals_finite_difference_gradient(shape):
    detector = tiny_detector(shape)
    images = np.random.default_rng(5).uniform(0.1, 0.9, (3, *shape))
    expected = np.abs(finite_difference_gradient(detector, images)).max(axis=-1)
    saliency = AutoencoderSaliency(detector, normalize=False).saliency_map(images)
    assert saliency.shape == (3, *shape[:2])
    np.testing.assert_allclose(saliency, expected, rtol=1e-5, atol=1e-7 * expected.max())


def test_squared_and_normalised_saliency():
    detector = tiny_detector((6, 5))
    images = np.random.default_rng(5).random((4, 6, 5))
    raw = AutoencoderSaliency(detector, normalize=False).saliency_map(images)
    normalised = AutoencoderSaliency(detector).saliency_map(images)
    np.testing.assert_allclose(normalised, raw / raw.max(axis=(1, 2), keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(normalised.max(axis=(1, 2)), 1.0)
    squared = AutoencoderSaliency(detector, squared=True).saliency_map(images)
    np.testing.assert_allclose(squared, normalised**2, rtol=1e-5, atol=1e-7)
    raw_squared = AutoencoderSaliency(detector, squared=True, normalize=False).saliency_map(images)
    np.testing.assert_allclose(raw_squared, raw.astype(np.float64) ** 2, rtol=1e-5)


def test_error_map_is_the_squared_reconstruction_error():
    detector = tiny_detector((4, 6, 3))
    images = np.random.default_rng(5).random((3, 4, 6, 3))
    expected = ((images - detector.reconstruct(images)) ** 2).mean(axis=-1)
    raw = AutoencoderSaliency(detector, normalize=False).error_map(images)
    np.testing.assert_allclose(raw, expected, rtol=1e-5)
    normalised = AutoencoderSaliency(detector).error_map(images)
    np.testing.assert_allclose(normalised, expected / expected.max(axis=(1, 2), keepdims=True))


def test_explain_agrees_with_the_detector():
    detector = tiny_detector((6, 5))
    images = np.random.default_rng(5).random((7, 6, 5))
    explanation = AutoencoderSaliency(detector).explain(images)
    assert explanation.reconstructions.shape == (7, 6, 5)
    assert explanation.error_maps.shape == explanation.saliency_maps.shape == (7, 6, 5)
    np.testing.assert_allclose(explanation.reconstructions, detector.reconstruct(images))
    np.testing.assert_allclose(explanation.scores, detector.score_samples(images))
    four_d = AutoencoderSaliency(detector).explain(images[..., np.newaxis])
    assert four_d.reconstructions.shape == (7, 6, 5, 1) and four_d.saliency_maps.shape == (7, 6, 5)


def test_the_model_is_left_unchanged():
    detector = tiny_detector((6, 5))
    before = {k: v.clone() for k, v in detector.module_.state_dict().items()}
    AutoencoderSaliency(detector).explain(np.random.default_rng(5).random((4, 6, 5)))
    for key, value in detector.module_.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(parameter.grad is None for parameter in detector.module_.parameters())
    assert not detector.module_.training


def test_all_zero_maps_stay_zero():
    """A model that outputs zeros reconstructs a black image perfectly: both maps are 0."""
    detector = tiny_detector((6, 5))
    with torch.no_grad():
        for parameter in detector.module_.parameters():
            parameter.zero_()
    explanation = AutoencoderSaliency(detector).explain(np.zeros((2, 6, 5)))
    for maps in (explanation.error_maps, explanation.saliency_maps):
        assert np.all(np.isfinite(maps)) and np.all(maps == 0)


@pytest.mark.data
def test_maps_on_mnist_agree_above_chance(mnist_detector):
    detector, images, _ = mnist_detector
    explanation = AutoencoderSaliency(detector).explain(images[:200])
    agreement = top_k_agreement(explanation.saliency_maps, explanation.error_maps, 10)
    chance = top_k_agreement_chance(10, 784) @ np.arange(11)
    assert agreement.mean() > 10 * chance  # ~0.13 by chance; Feeney & Hughes report 2.9-3.6


def test_not_fitted_or_not_a_detector():
    with pytest.raises(NotFittedError):
        AutoencoderSaliency(ConvAutoencoder()).saliency_map(np.zeros((1, 4, 4)))
    with pytest.raises(TypeError, match="detector must be a fitted ConvAutoencoder"):
        AutoencoderSaliency(object()).error_map(np.zeros((1, 4, 4)))


def test_bad_input():
    detector = tiny_detector((6, 5))
    with pytest.raises(ValueError, match="fitted on"):
        AutoencoderSaliency(detector).saliency_map(np.zeros((2, 5, 6)))
    with pytest.raises(ValueError, match="X contains NaN"):
        AutoencoderSaliency(detector).error_map(np.full((2, 6, 5), np.nan))
    with pytest.raises(TypeError, match="squared must be True or False"):
        AutoencoderSaliency(detector, squared="yes").saliency_map(np.zeros((2, 6, 5)))
    with pytest.raises(TypeError, match="normalize must be True or False"):
        AutoencoderSaliency(detector, normalize=None).explain(np.zeros((2, 6, 5)))
