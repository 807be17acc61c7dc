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
    # One colour bar per heatmap, beside it, saying what the colours mean.
    assert len(display.colorbars_) == 3
    assert len(display.figure_.axes) == 3 * 4 + 3
    label = display.colorbars_[0].ax.get_ylabel()
    assert label.replace("\n", " ") == "novelty (larger = more)"


def test_heatmaps_are_drawn_from_zero_to_their_largest_value_with_a_labelled_bar():
    heat = np.linspace(-0.2, 0.4, 64).reshape(1, 8, 8)
    unit = "share of the novelty score removed when this region is hidden"
    display = ExplanationDisplay(IMAGES[:1], heatmaps=heat, heatmap_label=unit).plot()
    overlay = display.axes_[0, 1].images[1]
    assert overlay.norm.vmin == 0 and overlay.norm.vmax == pytest.approx(0.4)
    (bar,) = display.colorbars_
    assert bar.ax.get_ylabel().replace("\n", " ") == unit
    np.testing.assert_allclose(bar.get_ticks(), [0, 0.4])
    display.figure_.canvas.draw()
    assert [tick.get_text() for tick in bar.ax.get_yticklabels()] == ["0", "0.4"]


def test_a_centred_novel_column_has_its_zero_marked():
    display = ExplanationDisplay(
        IMAGES[:2], novel=IMAGES[2:4], novel_centred=True, novel_label="pick minus expected"
    ).plot()
    (bar,) = display.colorbars_
    ticks = [tick.get_text() for tick in bar.ax.get_yticklabels()]
    assert ticks == ["less", "0: as\nexpected", "more"]
    assert "mid-grey = 0" in bar.ax.get_ylabel()
    assert display.axes_[1, 1].get_xlabel() == "pick minus expected"


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
    assert display.heatmap_label == NoveltyMap(pixels, demud).explain(IMAGES, [0]).map_unit
    label = display.colorbars_[0].ax.get_ylabel().replace("\n", " ")
    assert label == "share of the novelty score removed when this region is hidden"
    np.testing.assert_array_equal(display.images, IMAGES[demud.ranking_[[1, 2]]])
    assert display.axes_[0, 0].get_ylabel().endswith(str(labels[demud.ranking_[1]]))
    with pytest.raises(ValueError, match="features are needed"):
        ExplanationDisplay.from_explanation(IMAGES, demud, inverter=object())


def test_mismatched_columns():
    with pytest.raises(ValueError, match="novel has 2 entries but images has 3"):
        ExplanationDisplay(IMAGES[:3], novel=IMAGES[:2]).plot()


@pytest.mark.parametrize(
    "params, match",
    [
        ({"heatmap_label": 3}, "heatmap_label must be a str or None"),
        ({"novel_label": ["a"]}, "novel_label must be a str or None"),
        ({"novel_centred": "yes"}, "novel_centred must be a bool"),
    ],
)
def test_bad_legends(params, match):
    with pytest.raises(TypeError, match=match):
        ExplanationDisplay(
            IMAGES[:2], novel=IMAGES[:2], heatmaps=IMAGES[:2, ..., 0], **params
        ).plot()


def test_a_map_of_no_novelty_is_dark_with_one_tick():
    display = ExplanationDisplay(IMAGES[:1], heatmaps=-np.ones((1, 8, 8))).plot()
    np.testing.assert_allclose(display.colorbars_[0].get_ticks(), [0])


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
    # The decoded Novel column says how it was drawn (the default residual_shift).
    note = display.axes_[1, 3].get_xlabel().replace("\n", " ")
    assert note == "decoded: average image + novelty"
