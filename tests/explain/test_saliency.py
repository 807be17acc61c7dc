"""AutoencoderSaliency: maps against finite differences and definitions, the detector protocol
(any detector, not a class), the explainer contract, deprecated methods, errors."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

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


class TorchPCADetector(BaseEstimator):
    """A scikit-learn detector that is not sknovel's: PCA in torch, offering only the protocol.

    Its score is minus the summed squared error of the projection on `n_components` principal
    components, so that, with R the residual (I - P)(x - mean), the error map is R² and the
    gradient of minus the score is exactly 2 R. It records the length and dtype of every batch
    it scores.
    """

    def __init__(self, n_components=2):
        self.n_components = n_components

    def fit(self, X, y=None):
        images = X if X.ndim == 4 else X[..., np.newaxis]
        flat = images.reshape(len(images), -1).astype(np.float64)
        self.mean_ = flat.mean(axis=0)
        self.components_ = np.linalg.svd(flat - self.mean_, full_matrices=False)[2][
            : self.n_components
        ]
        self.input_shape_ = images.shape[1:]
        self.batches_ = []
        return self

    def residuals(self, images):
        """(I - P)(x - mean) of (n, H, W, C) numpy images, shaped like them."""
        centred = images.reshape(len(images), -1) - self.mean_
        residual = centred - centred @ self.components_.T @ self.components_
        return residual.reshape(images.shape)

    def torch_reconstruct(self, x):
        flat = x.permute(0, 2, 3, 1).reshape(len(x), -1)  # channels last, as in fit
        mean = torch.as_tensor(self.mean_, dtype=x.dtype, device=x.device)
        components = torch.as_tensor(self.components_, dtype=x.dtype, device=x.device)
        projected = (flat - mean) @ components.T @ components + mean
        height, width, channels = self.input_shape_
        return projected.reshape(len(x), height, width, channels).permute(0, 3, 1, 2)

    def torch_score_samples(self, x):
        self.batches_.append((len(x), x.dtype))
        return -(x - self.torch_reconstruct(x)).pow(2).flatten(1).sum(1)


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
def test_saliency_is_the_channel_sum_of_the_absolute_gradient(shape):
    detector = tiny_detector(shape)
    images = np.random.default_rng(5).uniform(0.1, 0.9, (3, *shape))
    expected = np.abs(finite_difference_gradient(detector, images)).sum(axis=-1)
    saliency = AutoencoderSaliency(detector, normalize=False).explain(images).saliency_maps
    assert saliency.shape == (3, *shape[:2])
    np.testing.assert_allclose(saliency, expected, rtol=1e-5, atol=1e-7 * expected.max())


def test_squared_and_normalised_saliency():
    detector = tiny_detector((6, 5))
    images = np.random.default_rng(5).random((4, 6, 5))
    raw = AutoencoderSaliency(detector, normalize=False).explain(images).saliency_maps
    normalised = AutoencoderSaliency(detector).explain(images).saliency_maps
    np.testing.assert_allclose(normalised, raw / raw.max(axis=(1, 2), keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(normalised.max(axis=(1, 2)), 1.0)
    squared = AutoencoderSaliency(detector, squared=True).explain(images).saliency_maps
    np.testing.assert_allclose(squared, normalised**2, rtol=1e-5, atol=1e-7)
    raw_squared = AutoencoderSaliency(detector, squared=True, normalize=False).explain(images)
    np.testing.assert_allclose(raw_squared.saliency_maps, raw.astype(np.float64) ** 2, rtol=1e-5)


def test_error_map_is_the_channel_sum_of_the_squared_error():
    detector = tiny_detector((4, 6, 3))
    images = np.random.default_rng(5).random((3, 4, 6, 3))
    expected = ((images - detector.reconstruct(images)) ** 2).sum(axis=-1)
    raw = AutoencoderSaliency(detector, normalize=False).explain(images).error_maps
    np.testing.assert_allclose(raw, expected, rtol=1e-5)
    normalised = AutoencoderSaliency(detector).explain(images).error_maps
    np.testing.assert_allclose(normalised, expected / expected.max(axis=(1, 2), keepdims=True))


def test_explain_agrees_with_the_detector():
    detector = tiny_detector((6, 5))
    images = np.random.default_rng(5).random((7, 6, 5))
    explanation = AutoencoderSaliency(detector).explain(images)
    assert sorted(explanation) == ["error_maps", "reconstructions", "saliency_maps", "scores"]
    assert explanation.reconstructions.shape == (7, 6, 5)
    assert explanation.error_maps.shape == explanation.saliency_maps.shape == (7, 6, 5)
    assert explanation.error_maps.dtype == explanation.saliency_maps.dtype == np.float32
    np.testing.assert_allclose(
        explanation.reconstructions, np.clip(detector.reconstruct(images), 0, 1)
    )
    np.testing.assert_allclose(explanation.scores, detector.score_samples(images))
    four_d = AutoencoderSaliency(detector).explain(images[..., np.newaxis])
    assert four_d.reconstructions.shape == (7, 6, 5, 1) and four_d.saliency_maps.shape == (7, 6, 5)


def test_uint8_images_explain_like_their_float_values():
    detector = tiny_detector((6, 5))
    uint8 = np.random.default_rng(5).integers(0, 256, (3, 6, 5), dtype=np.uint8)
    as_uint8 = AutoencoderSaliency(detector).explain(uint8)
    as_float = AutoencoderSaliency(detector).explain(uint8.astype(np.float32) / 255)
    for key in as_uint8:
        np.testing.assert_array_equal(as_uint8[key], as_float[key], err_msg=key)


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


# --- any detector that follows the protocol ------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 5), (4, 3, 3)])
def test_a_protocol_only_detector_is_explained_exactly(shape):
    """Not a ConvAutoencoder: the maps are the closed forms R² and 2 |R| summed over channels."""
    rng = np.random.default_rng(0)
    detector = TorchPCADetector().fit(rng.random((12, *shape)))
    images = rng.random((5, *shape))
    explanation = AutoencoderSaliency(detector, normalize=False).explain(images)
    residual = detector.residuals(images.reshape(5, *detector.input_shape_))
    np.testing.assert_allclose(explanation.error_maps, (residual**2).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(explanation.saliency_maps, 2 * np.abs(residual).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(explanation.scores, -(residual**2).sum(axis=(1, 2, 3)))
    reconstructions = images - residual.reshape(images.shape)
    np.testing.assert_allclose(explanation.reconstructions, np.clip(reconstructions, 0, 1))


class ScalingLinearDetector:
    """Not even a scikit-learn estimator: a torch linear model that scales every pixel.

    The residual is (1 - scale) x, so the error map is (1 - scale)² x² and the saliency
    2 (1 - scale)² |x|, per channel.
    """

    def __init__(self, n_pixels, scale):
        self.linear = torch.nn.Linear(n_pixels, n_pixels, bias=False, dtype=torch.float64)
        with torch.no_grad():
            self.linear.weight.copy_(scale * torch.eye(n_pixels, dtype=torch.float64))

    def torch_reconstruct(self, x):
        return self.linear(x.flatten(1).double()).reshape(x.shape).to(x.dtype)

    def torch_score_samples(self, x):
        return -(x - self.torch_reconstruct(x)).pow(2).flatten(1).sum(1)


@pytest.mark.parametrize("scale", [0.5, 1.5])
def test_a_plain_object_with_the_protocol_is_explained(scale):
    """With scale 1.5 the reconstructions leave [0, 1]: they come back clipped, like images,
    but the maps and scores are those of the detector's own reconstruction."""
    images = np.random.default_rng(0).random((3, 4, 5, 3))
    detector = ScalingLinearDetector(60, scale)
    explanation = AutoencoderSaliency(detector, normalize=False).explain(images)
    np.testing.assert_allclose(explanation.reconstructions, np.clip(scale * images, 0, 1))
    residual = (1 - scale) * images
    np.testing.assert_allclose(explanation.error_maps, (residual**2).sum(-1), rtol=1e-6)
    saliency = 2 * (1 - scale) ** 2 * images.sum(-1)
    np.testing.assert_allclose(explanation.saliency_maps, saliency, rtol=1e-6)
    np.testing.assert_allclose(explanation.scores, -(residual**2).sum(axis=(1, 2, 3)))


def test_batches_follow_the_detector_and_precision_the_images():
    rng = np.random.default_rng(0)
    detector = TorchPCADetector().fit(rng.random((12, 6, 5)))
    images = rng.random((70, 6, 5))
    whole = AutoencoderSaliency(detector).explain(images)
    assert detector.batches_ == [(64, torch.float64), (6, torch.float64)]  # no batch_size: 64
    detector.batch_size, detector.batches_ = 32, []
    AutoencoderSaliency(detector).explain(images.astype(np.float32))
    assert detector.batches_ == [(32, torch.float32), (32, torch.float32), (6, torch.float32)]
    detector.batch_size = 7
    in_sevens = AutoencoderSaliency(detector).explain(images)
    for key in whole:
        np.testing.assert_allclose(in_sevens[key], whole[key], rtol=1e-12, err_msg=key)


def test_a_detector_without_the_protocol_is_refused_by_name():
    class ScoresOnly:
        def torch_score_samples(self, x):
            return -x.flatten(1).sum(1)

    with pytest.raises(TypeError, match=r"ScoresOnly has no torch_reconstruct\.$"):
        AutoencoderSaliency(ScoresOnly()).explain(np.zeros((1, 4, 4)))
    with pytest.raises(TypeError, match="has no torch_score_samples and no torch_reconstruct"):
        AutoencoderSaliency(object()).explain(np.zeros((1, 4, 4)))


def test_not_fitted():
    with pytest.raises(NotFittedError):
        AutoencoderSaliency(ConvAutoencoder()).explain(np.zeros((1, 4, 4)))
    with pytest.raises(NotFittedError):
        AutoencoderSaliency(TorchPCADetector()).explain(np.zeros((1, 4, 4)))


# --- the explainer contract ------------------------------------------------------------------


def test_a_scikit_learn_object_validated_when_used():
    detector = TorchPCADetector().fit(np.random.default_rng(0).random((12, 6, 5)))
    explainer = AutoencoderSaliency(detector, squared="yes")  # stored, not checked
    assert explainer.get_params(deep=False) == {
        "detector": detector,
        "squared": "yes",
        "normalize": True,
    }
    with pytest.raises(InvalidParameterError, match="'squared' parameter of AutoencoderSaliency"):
        explainer.explain(np.zeros((2, 6, 5)))
    with pytest.raises(InvalidParameterError, match="'normalize' parameter"):
        explainer.set_params(squared=True, normalize=None).explain(np.zeros((2, 6, 5)))
    explainer.set_params(normalize=False)
    twin = clone(explainer)
    assert twin.get_params(deep=False)["squared"] is True and twin.detector is not detector
    assert repr(explainer).startswith("AutoencoderSaliency(detector=")


@pytest.mark.parametrize(
    "method, key", [("error_map", "error_maps"), ("saliency_map", "saliency_maps")]
)
def test_old_map_methods_warn_and_return_the_explained_maps(method, key):
    detector = tiny_detector((6, 5))
    images = np.random.default_rng(5).random((3, 6, 5))
    explainer = AutoencoderSaliency(detector)
    with pytest.warns(FutureWarning, match=rf"explain\(X\)\.{key}"):
        maps = getattr(explainer, method)(images)
    np.testing.assert_array_equal(maps, explainer.explain(images)[key])


@pytest.mark.data
def test_maps_on_mnist_agree_above_chance(mnist_detector):
    detector, images, _ = mnist_detector
    explanation = AutoencoderSaliency(detector).explain(images[:200])
    agreement = top_k_agreement(explanation.saliency_maps, explanation.error_maps, 10)
    chance = top_k_agreement_chance(10, 784) @ np.arange(11)
    assert agreement.mean() > 10 * chance  # ~0.13 by chance; Feeney & Hughes report 2.9-3.6


def test_bad_input():
    detector = tiny_detector((6, 5))
    explainer = AutoencoderSaliency(detector)
    with pytest.raises(ValueError, match=r"shape \(5, 6, 1\).*ConvAutoencoder was fitted on"):
        explainer.explain(np.zeros((2, 5, 6)))
    with pytest.raises(ValueError, match="X contains NaN"):
        explainer.explain(np.full((2, 6, 5), np.nan))
    with pytest.raises(ValueError, match=r"X must be images of shape \(n, H, W\)"):
        explainer.explain(np.zeros((2, 30)))
    with pytest.raises(TypeError, match="X must be uint8 in"):
        explainer.explain(np.zeros((2, 6, 5), dtype=np.int64))
