"""UCInverter(pretrained=True): the decoder that ships with sknovel, used and fine-tuned."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from sknovel.explain import UCInverter, inverts_with_pretrained_decoder  # noqa: E402
from sknovel.explain.inversion import _uc  # noqa: E402
from sknovel.features import CNNFeaturizer, PixelFeaturizer  # noqa: E402
from sknovel.metrics import inversion_identification_rate, inversion_mse_ratio  # noqa: E402
from sknovel.utils.weights import read_weights_file  # noqa: E402


def scenes(n=6, size=48, grey=False, seed=0):
    """Smooth images: a gradient and a bright disc at a random place."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = []
    for _ in range(n):
        centre, colour = rng.random(2), rng.random(3)
        disc = ((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 < 0.05)[..., None]
        image = 0.3 * yy[..., None] * colour + 0.7 * disc * colour[::-1]
        images.append(image.mean(-1) if grey else image)
    return (np.clip(np.stack(images), 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def featurizer():
    return CNNFeaturizer(batch_size=8, device="cpu")


def test_the_shipped_file_is_a_state_dict_that_passes_its_hash_check():
    from importlib.resources import files

    resource = files("sknovel.explain.inversion").joinpath(*_uc.PRETRAINED_FILE.split("/"))
    assert resource.is_file(), "the pretrained decoder is package data"
    state = read_weights_file(resource)
    assert int(state["image_size"]) == 64 and int(state["width"]) == _uc.PRETRAINED_WIDTH
    assert state["feature_mean"].shape == (1280,) and int(state["n_channels"]) == 3


def test_a_corrupt_weights_file_fails_its_hash_check(tmp_path):
    path = tmp_path / "decoder-0123abcd.pt"
    path.write_bytes(b"not the promised file")
    with pytest.raises(ValueError, match="fails its hash check"):
        read_weights_file(path)


def test_epochs_0_decodes_with_the_shipped_decoder_as_it_is(featurizer):
    images = scenes()
    inverter = UCInverter(featurizer, pretrained=True, epochs=0).fit(images)
    assert inverter.n_epochs_ == 0 and inverter.loss_curve_ == []
    assert inverter.image_shape_ == (64, 64, 3)
    state = read_weights_file(
        __import__("importlib.resources")
        .resources.files("sknovel.explain.inversion")
        .joinpath(*_uc.PRETRAINED_FILE.split("/"))
    )
    np.testing.assert_array_equal(inverter.feature_mean_, state["feature_mean"].numpy())
    decoded = inverter.explain(images).reconstructions
    assert decoded.shape == (6, 64, 64, 3) and np.isfinite(decoded).all()
    # the decoder is the shipped one, bit for bit (its float16 weights, as float32)
    shipped = {key: value.float() for key, value in state["decoder"].items()}
    for key, value in inverter.module_.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), shipped[key].numpy())


def test_fine_tuning_starts_from_the_shipped_decoder_and_lowers_the_error(featurizer):
    images = scenes(n=8, seed=1)
    kwargs = dict(pretrained=True, feature_weight=0, adversarial_weight=0, random_state=0)
    before = UCInverter(featurizer, epochs=0, **kwargs).fit(images)
    after = UCInverter(featurizer, epochs=15, batch_size=4, **kwargs).fit(images)
    targets = before.target_images(images)
    error_before = np.mean((before.explain(images).reconstructions - targets) ** 2)
    error_after = np.mean((after.explain(images).reconstructions - targets) ** 2)
    assert error_after < error_before
    np.testing.assert_array_equal(after.feature_mean_, before.feature_mean_)


def test_greyscale_collections_get_a_grey_decoder(featurizer):
    images = scenes(grey=True)
    inverter = UCInverter(featurizer, pretrained=True, epochs=0).fit(images)
    decoded = inverter.explain(images).reconstructions
    assert decoded.shape == (6, 64, 64, 1)


@pytest.mark.parametrize(
    "other",
    [
        PixelFeaturizer(),
        CNNFeaturizer(layer="_blocks.15"),
        CNNFeaturizer(crop_size=128),
        CNNFeaturizer(weights="random"),
    ],
)
def test_other_features_are_refused_before_any_work(other):
    assert not inverts_with_pretrained_decoder(other)
    with pytest.raises(ValueError, match="pretrained=True needs featurizer=CNNFeaturizer"):
        UCInverter(other, pretrained=True).fit(scenes(n=2))


def test_defaults_that_fit_and_sizes_that_do_not(featurizer):
    assert inverts_with_pretrained_decoder(featurizer)
    assert inverts_with_pretrained_decoder(CNNFeaturizer(layer="pool", crop_size=224))
    assert UCInverter(featurizer)._width() == _uc.DEFAULT_WIDTH
    assert UCInverter(featurizer, pretrained=True)._width() == _uc.PRETRAINED_WIDTH
    with pytest.raises(ValueError, match="pretrained=True needs image_size=64"):
        UCInverter(featurizer, pretrained=True, image_size=32).fit(scenes(n=2))
    with pytest.raises(ValueError, match="pretrained=True needs width=128"):
        UCInverter(featurizer, pretrained=True, width=64).fit(scenes(n=2))
    with pytest.raises(ValueError, match="epochs=0 trains nothing"):
        UCInverter(featurizer, epochs=0).fit(scenes(n=2))


@pytest.mark.data
def test_held_out_mars_images_are_decoded_better_than_the_mean_image(featurizer):
    """The shipped decoder never saw the MSL 'val' split (other sols); measured, not trained."""
    from sknovel.datasets import find_data_file

    path = find_data_file("msl_v1_96px.npz", start=Path(__file__).parent)
    if path is None:
        pytest.skip("msl_v1_96px.npz is absent: the shared data sets live in ../shared/data")
    data = np.load(path)
    rows = np.flatnonzero(data["orig_split"] == "val")
    rows = np.random.default_rng(0).choice(rows, 100, replace=False)
    images = data["images"][rows]
    inverter = UCInverter(featurizer, pretrained=True, epochs=0).fit(images)
    decoded = inverter.explain(images).reconstructions
    targets = inverter.target_images(images)
    rate = inversion_identification_rate(targets, decoded, random_state=0)
    ratio = inversion_mse_ratio(targets, decoded, baseline=inverter.mean_image_)
    # Measured (benchmarks/pretrain_decoder.py, all 622 held-out images): see the user guide.
    assert rate >= 0.05, rate  # chance: 1 %
    assert ratio < 1.0, ratio


@pytest.mark.data
@pytest.mark.slow
def test_the_inverted_picks_of_a_mars_ranking_look_like_their_picks(featurizer):
    """Issue 15 §4: a person can see which pick each decoded image is.

    The report's setting on 300 Mars rover images: DEMUD's first 8 picks on the default CNN
    features, the shipped decoder fine-tuned on the collection, and each decoded pick must
    be nearer (pixel MSE) its own pick's image than any other pick's, for most picks.
    """
    from sknovel import Demud
    from sknovel.datasets import find_data_file

    path = find_data_file("msl_v1_96px.npz", start=Path(__file__).parent)
    if path is None:
        pytest.skip("msl_v1_96px.npz is absent: the shared data sets live in ../shared/data")
    images = np.load(path)["images"]
    images = images[np.random.default_rng(0).choice(len(images), 300, replace=False)]
    features = featurizer.fit(images).transform(images)
    demud = Demud(n_selections=8).fit(features)
    inverter = UCInverter(featurizer, demud, pretrained=True, epochs=20, random_state=0)
    inverter.fit(images, features=features)
    pictures = inverter.explain(images, features=features)
    picks = inverter.target_images(images)[pictures.indices]
    distances = ((pictures.selections[:, None] - picks[None]) ** 2).mean(axis=(2, 3, 4))
    own = np.argmin(distances, axis=1) == np.arange(len(picks))
    assert own.sum() >= 6, distances.round(3)
