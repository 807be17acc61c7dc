"""Tests of SaliencyDisplay and TopKAgreementDisplay."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sknovel.metrics import top_k_agreement, top_k_agreement_chance  # noqa: E402
from sknovel.plotting import SaliencyDisplay, TopKAgreementDisplay  # noqa: E402

RNG = np.random.default_rng(0)
IMAGES = RNG.random((3, 6, 5))
MAPS = RNG.random((3, 6, 5))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def display_of(images=IMAGES, **changes):
    arguments = {
        "images": images,
        "reconstructions": images,
        "saliency_maps": MAPS,
        "squared_saliency_maps": MAPS**2,
        "error_maps": 1 - MAPS,
        **changes,
    }
    return SaliencyDisplay(**arguments)


def drawn(axis):
    return np.asarray(axis.get_images()[0].get_array())


def test_grid_of_five_columns_one_row_per_image():
    display = display_of(row_labels=["a", "b", "c"]).plot()
    assert display.axes_.shape == (3, 5)
    assert display.figure_ is display.axes_[0, 0].figure
    assert [axis.get_title() for axis in display.axes_[0]] == [
        "Input",
        "Reconstruction",
        "Saliency",
        "Squared saliency",
        "Error map",
    ]
    assert [row[0].get_ylabel() for row in display.axes_] == ["a", "b", "c"]
    np.testing.assert_allclose(drawn(display.axes_[1, 0]), IMAGES[1])
    np.testing.assert_allclose(drawn(display.axes_[2, 3]), MAPS[2] ** 2)
    np.testing.assert_allclose(drawn(display.axes_[0, 4]), 1 - MAPS[0])
    assert display.axes_[0, 2].get_images()[0].get_clim() == (0, MAPS[0].max())


def test_colour_images_are_drawn_in_colour_and_clipped():
    colour = RNG.random((3, 6, 5, 3))
    display = display_of(colour, reconstructions=colour * 1.5).plot()
    assert drawn(display.axes_[0, 0]).shape == (6, 5, 3)
    assert drawn(display.axes_[0, 1]).max() <= 1


def test_draws_on_given_axes():
    _, axes = plt.subplots(3, 5)
    display = display_of().plot(ax=axes)
    assert display.axes_[2, 4] is axes[2, 4]


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"error_maps": MAPS[:2]}, "error_maps must hold 3 pictures"),
        ({"saliency_maps": MAPS[:, :5]}, "saliency_maps must hold 3 pictures of"),
        ({"row_labels": ["a"]}, "row_labels must give one label per image"),
    ],
)
def test_inconsistent_pictures(changes, match):
    with pytest.raises(ValueError, match=match):
        display_of(**changes).plot()


def test_wrong_number_of_axes():
    _, axes = plt.subplots(2, 5)
    with pytest.raises(ValueError, match="ax must hold 3 x 5 Axes"):
        display_of().plot(ax=axes)


def test_from_explainer_draws_saliency_and_its_square(one_torch_thread):
    from sknovel.detectors import ConvAutoencoder
    from sknovel.explain import AutoencoderSaliency

    images = (RNG.random((12, 6, 5)) * 255).astype(np.uint8)
    detector = ConvAutoencoder(epochs=1, batch_size=6, random_state=0).fit(images)
    explainer = AutoencoderSaliency(detector, squared=True)  # squared does not matter here
    display = SaliencyDisplay.from_explainer(explainer, images[:2], row_labels=["x", "y"])
    explanation = AutoencoderSaliency(detector).explain(images[:2])
    np.testing.assert_allclose(display.images, images[:2] / 255)
    np.testing.assert_allclose(display.saliency_maps, explanation.saliency_maps)
    np.testing.assert_allclose(display.squared_saliency_maps, explanation.saliency_maps**2)
    np.testing.assert_allclose(display.error_maps, explanation.error_maps)
    assert display.axes_.shape == (2, 5)
    with pytest.raises(TypeError, match="explainer must be an AutoencoderSaliency"):
        SaliencyDisplay.from_explainer(detector, images[:2])


# --- top-K agreement histograms -------------------------------------------------------

SALIENCY = RNG.random((30, 5, 5))
ERROR = RNG.random((30, 5, 5))
GROUPS = np.array(["novel", "normal"] * 15)


def test_histogram_heights_are_frequencies_per_group():
    display = TopKAgreementDisplay.from_maps(SALIENCY, ERROR, 4, groups=GROUPS)
    agreement = top_k_agreement(SALIENCY, ERROR, 4)
    assert display.names == ["normal", "novel"]
    for bars, group in zip(display.bars_, display.names):
        expected = np.bincount(agreement[GROUPS == group], minlength=5) / 15
        np.testing.assert_allclose([bar.get_height() for bar in bars], expected)
    np.testing.assert_allclose(display.chance_line_.get_ydata(), top_k_agreement_chance(4, 25))
    mean = agreement[GROUPS == "normal"].mean()
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == [f"normal (mean {mean:.2f})", legend[1], "Random maps (mean 0.64)"]
    assert display.figure_ is display.ax_.figure


def test_histogram_one_group_no_chance_and_styles():
    _, ax = plt.subplots()
    display = TopKAgreementDisplay.from_maps(
        SALIENCY, ERROR, 2, show_chance=False, ax=ax, bar_kwargs={"color": "red"}
    )
    assert display.ax_ is ax and display.chance_line_ is None and display.names == ["all"]
    assert len(display.bars_) == 1 and len(display.bars_[0]) == 3


@pytest.mark.parametrize(
    "arguments, error, match",
    [
        ((SALIENCY, ERROR[:, :4], 2), ValueError, "saliency_maps and error_maps must have"),
        ((SALIENCY[0], ERROR[0], 2), ValueError, "saliency_maps must be a batch of maps"),
        ((SALIENCY, ERROR, 26), ValueError, r"k=26 must be in \[1, 25\]"),
        ((SALIENCY, np.full_like(ERROR, np.nan), 2), ValueError, "error_maps contains NaN"),
    ],
)
def test_histogram_bad_maps(arguments, error, match):
    with pytest.raises(error, match=match):
        TopKAgreementDisplay.from_maps(*arguments)


def test_histogram_bad_groups_and_kwargs():
    with pytest.raises(ValueError, match="groups must give one group per map"):
        TopKAgreementDisplay.from_maps(SALIENCY, ERROR, 2, groups=GROUPS[:3])
    with pytest.raises(ValueError, match="bar_kwargs"):
        TopKAgreementDisplay.from_maps(SALIENCY, ERROR, 2, groups=GROUPS, bar_kwargs=[{}])


def test_histogram_agreements_must_lie_in_0_to_k():
    display = TopKAgreementDisplay(agreements=[np.array([0, 3])], names=["a"], k=2)
    with pytest.raises(ValueError, match=r"agreements of group 'a' must be integers in \[0, k=2\]"):
        display.plot()
