"""The DeePSiM losses of the UC decoder: pixel + comparator features + adversarial."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sknovel.explain.inversion._deepsim import (  # noqa: E402
    Comparator,
    DeePSiMLoss,
    FeatureDiscriminator,
)
from sknovel.explain.inversion._network import UCDecoder  # noqa: E402
from sknovel.explain.inversion._uc import _decoder_weights  # noqa: E402

CPU = torch.device("cpu")


def images(n=6, size=16, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).random((n, 3, size, size), np.float32))


def test_without_extra_terms_the_loss_is_the_pixel_mse():
    target, decoded = images(seed=0), images(seed=1)
    loss = DeePSiMLoss(0.0, 0.0, 5, 16, 3, target, CPU)
    assert loss.comparator is None and loss.discriminator is None
    assert loss.discriminator_step(None, None, target) == 0.0
    expected = ((decoded.double() - target.double()) ** 2).mean()
    assert float(loss(decoded, torch.zeros(6, 5), target)) == pytest.approx(float(expected))


def test_comparator_loss_is_zero_for_the_true_image_and_grows_with_the_difference():
    target = images()
    comparator = Comparator(16, CPU, target)
    assert comparator.scale > 0
    assert float(comparator.loss(target, target)) == pytest.approx(0.0, abs=1e-10)
    near = float(comparator.loss((target + 0.05).clamp(0, 1), target))
    far = float(comparator.loss(images(seed=3), target))
    assert 0 < near < far


def test_comparator_gradient_reaches_the_image_and_not_the_network():
    target = images()
    comparator = Comparator(16, CPU, target)
    decoded = images(seed=1).requires_grad_(True)
    comparator.loss(decoded, target).backward()
    assert decoded.grad is not None and float(decoded.grad.abs().sum()) > 0
    from sknovel.features._cnn import _network

    featurizer = comparator.network
    network_parameters = list(_network(featurizer._network_key, featurizer._device).parameters())
    assert network_parameters and all(p.grad is None for p in network_parameters)


@pytest.mark.parametrize("size", [8, 16, 64])
def test_discriminator_scores_each_image(size):
    discriminator = FeatureDiscriminator(7, size, 3)
    scores = discriminator(images(4, size), torch.zeros(4, 7))
    assert scores.shape == (4,)
    # the projection conditions the score on the features
    other = discriminator(images(4, size), torch.ones(4, 7))
    assert not torch.allclose(scores, other)


def test_discriminator_step_trains_the_discriminator_only():
    torch.manual_seed(0)
    target = images(8, 16)
    decoder = UCDecoder(5, 16, 3, 16)
    loss = DeePSiMLoss(0.0, 0.5, 5, 16, 3, target, CPU)
    before = [p.detach().clone() for p in loss.discriminator.parameters()]
    decoder_before = [p.detach().clone() for p in decoder.parameters()]
    value = loss.discriminator_step(decoder, torch.randn(8, 5), target)
    assert np.isfinite(value) and value >= 0
    after = list(loss.discriminator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    assert all(torch.equal(a, b) for a, b in zip(decoder_before, decoder.parameters()))


def test_generator_loss_adds_the_weighted_adversarial_term():
    torch.manual_seed(0)
    target, decoded, features = images(4, 16), images(4, 16, seed=2), torch.randn(4, 5)
    loss = DeePSiMLoss(0.0, 0.25, 5, 16, 3, target, CPU)
    loss.discriminator.eval()  # no power iteration of the spectral norm between the calls
    pixel = ((decoded - target) ** 2).mean()
    adversarial = loss.discriminator(decoded, features).mean()
    assert float(loss(decoded, features, target)) == pytest.approx(
        float(pixel - 0.25 * adversarial), rel=1e-5
    )


def test_grey_decoder_from_a_colour_one_draws_the_mean_of_equal_channels():
    torch.manual_seed(0)
    colour = UCDecoder(5, 8, 3, 16)
    state = colour.state_dict()
    *_, weight_key, bias_key = state
    state[weight_key] = state[weight_key][:1].repeat(3, 1, 1, 1)  # three equal filters
    state[bias_key] = state[bias_key][:1].repeat(3)
    colour.load_state_dict(state)
    grey = UCDecoder(5, 8, 1, 16)
    grey.load_state_dict(_decoder_weights(state, 1))
    features = torch.randn(3, 5)
    with torch.no_grad():
        assert torch.allclose(grey(features)[:, 0], colour(features)[:, 1], atol=1e-6)
    with pytest.raises(ValueError, match="draws 3 channels, not 2"):
        _decoder_weights(state, 2)


def test_the_inverter_trains_with_the_deepsim_loss_reproducibly():
    from sknovel.explain import UCInverter
    from sknovel.features import PixelFeaturizer

    X = np.random.default_rng(0).random((24, 16, 16, 3)).astype(np.float32)

    def fit(**losses):
        params = dict(image_size=16, width=16, epochs=2, batch_size=8, random_state=0)
        return UCInverter(PixelFeaturizer(), device="cpu", **params, **losses).fit(X)

    deepsim = fit(feature_weight=0.1, adversarial_weight=0.01)
    again = fit(feature_weight=0.1, adversarial_weight=0.01)
    pixel = fit()
    assert len(deepsim.loss_curve_) == 2 and np.isfinite(deepsim.loss_curve_).all()
    features = deepsim.featurizer_.transform(X)
    np.testing.assert_array_equal(
        deepsim.inverse_transform(features), again.inverse_transform(features)
    )
    assert not np.allclose(deepsim.inverse_transform(features), pixel.inverse_transform(features))
    # the extra terms are trained against, not stored: the fitted inverter pickles as before
    assert not any("discriminator" in name for name in vars(deepsim))
