"""ExplanationDisplay: panels, titles, columns left out, and building from explainers."""

import warnings

import numpy as np
import pytest

from sknovel import Demud
from sknovel.plotting import ExplanationDisplay

pytest.importorskip("matplotlib")

RNG = np.random.default_rng(0)
IMAGES = RNG.random((20, 8, 8, 3))


def test_columns_titles_and_rows():
    display = ExplanationDisplay(
        IMAGES[:3],
        expected=IMAGES[3:6],
        novel=IMAGES[6:9],
        heatmaps=IMAGES[:3, ..., 0],
        positions=[0, 4, 7],
        scores=[3.0, 2.5, 1.0],
        labels=["rock", "sky", "wheel"],
    ).plot()
    assert display.axes_.shape == (3, 4)
    titles = [ax.get_title() for ax in display.axes_[0]]
    assert titles == ["Selection", "Expected", "Novel", "Where"]
    assert display.axes_[1, 0].get_ylabel() == "pick 5\nscore 2.5\nsky"
    assert len(display.axes_[0, 3].images) == 2  # the image, then the heatmap over it


def test_greyscale_and_uint8_images():
    grey = (RNG.random((2, 6, 6)) * 255).astype(np.uint8)
    display = ExplanationDisplay(grey, heatmaps=np.zeros((2, 6, 6))).plot()
    assert display.axes_.shape == (2, 2)


def test_from_explanation_with_a_novelty_map():
    from sknovel.explain import NoveltyMap
    from sknovel.features import PixelFeaturizer

    pytest.importorskip("torch")
    pixels = PixelFeaturizer().fit(IMAGES)
    features = pixels.transform(IMAGES)
    demud = Demud(2, n_selections=4).fit(features)
    labels = np.arange(20) % 3
    display = ExplanationDisplay.from_explanation(
        IMAGES, demud, positions=[1, 2], novelty_map=NoveltyMap(pixels, demud), labels=labels
    )
    assert display.axes_.shape == (2, 2)
    np.testing.assert_array_equal(display.images, IMAGES[demud.ranking_[[1, 2]]])
    assert display.axes_[0, 0].get_ylabel().endswith(str(labels[demud.ranking_[1]]))
    with pytest.raises(ValueError, match="features are needed"):
        ExplanationDisplay.from_explanation(IMAGES, demud, inverter=object())


def test_mismatched_columns():
    with pytest.raises(ValueError, match="novel has 2 entries but images has 3"):
        ExplanationDisplay(IMAGES[:3], novel=IMAGES[:2]).plot()


def test_from_explanation_with_an_inverter(one_torch_thread):
    from sknovel.explain import UCInverter
    from sknovel.features import PixelFeaturizer

    pixels = PixelFeaturizer().fit(IMAGES)
    features = pixels.transform(IMAGES)
    demud = Demud(2, n_selections=4).fit(features)
    inverter = UCInverter(pixels, image_size=32, width=16, epochs=1, random_state=0).fit(IMAGES)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecated call inside
        display = ExplanationDisplay.from_explanation(
            IMAGES, demud, positions=[0, 3], features=features, inverter=inverter
        )
    assert inverter.ranker is None  # the caller's inverter is left as it is
    pictures = inverter.set_params(ranker=demud).explain(IMAGES, [0, 3], features=features)
    np.testing.assert_array_equal(display.inverted, pictures.selections)
    np.testing.assert_array_equal(display.expected, pictures.expected)
    np.testing.assert_array_equal(display.novel, pictures.novel)
    assert [ax.get_title() for ax in display.axes_[0]] == [
        "Selection",
        "Inverted",
        "Expected",
        "Novel",
    ]
    assert display.inverted.shape == (2, 32, 32, 3) and display.novel.shape == (2, 32, 32, 3)
