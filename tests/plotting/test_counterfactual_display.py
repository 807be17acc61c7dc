"""Tests of CounterfactualDisplay."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sknovel.plotting import CounterfactualDisplay  # noqa: E402
from sknovel.plotting._counterfactual import ANOMALOUS_COLOUR, NORMAL_COLOUR  # noqa: E402

RNG = np.random.default_rng(0)
IMAGES = RNG.random((3, 6, 5))
COUNTERFACTUALS = RNG.random((3, 2, 6, 5))
ORIGINAL = np.array([0.9, 0.8, 0.7])
SCORES = np.array([[0.2, 0.6], [0.1, 0.3], [0.4, 0.5]])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def display_of(**changes):
    arguments = {
        "images": IMAGES,
        "counterfactuals": COUNTERFACTUALS,
        "original_scores": ORIGINAL,
        "scores": SCORES,
        **changes,
    }
    return CounterfactualDisplay(**arguments)


def drawn(axis):
    return np.asarray(axis.get_images()[0].get_array())


def test_one_row_per_image_then_its_counterfactuals():
    display = display_of().plot()
    assert display.axes_.shape == (3, 3)
    assert display.figure_ is display.axes_[0, 0].figure
    for row in range(3):
        np.testing.assert_allclose(drawn(display.axes_[row, 0]), IMAGES[row])
        for k in range(2):
            np.testing.assert_allclose(drawn(display.axes_[row, k + 1]), COUNTERFACTUALS[row, k])


def test_titles_give_the_scores_coloured_by_the_threshold():
    display = display_of().plot()
    assert display.axes_[0, 0].get_title() == "Image\n0.90"
    assert display.axes_[0, 2].get_title() == "Concept 2\n0.60"
    assert display.axes_[1, 1].get_title() == "0.10"
    colour = matplotlib.colors.to_rgba
    assert display.axes_[0, 0].title.get_color() == ANOMALOUS_COLOUR
    assert display.axes_[2, 2].title.get_color() == NORMAL_COLOUR  # 0.5 is still normal
    assert colour(display.axes_[0, 2].title.get_color()) == colour(ANOMALOUS_COLOUR)
    strict = display_of(threshold=0.05).plot()
    assert strict.axes_[1, 1].title.get_color() == ANOMALOUS_COLOUR


def test_without_scores_only_column_titles():
    display = display_of(original_scores=None, scores=None).plot(
        column_titles=["Anomaly", "A", "B"]
    )
    assert display.axes_[0, 1].get_title() == "A"
    assert display.axes_[1, 1].get_title() == ""


def test_target_score_in_each_counterfactual_title():
    display = display_of(target_score=0.25).plot()
    assert display.axes_[0, 0].get_title() == "Image\n0.90"  # the anomaly has no target
    assert display.axes_[0, 2].get_title() == "Concept 2\n0.60 (target 0.25)"
    for row in range(3):
        for k in range(2):
            title = display.axes_[row, k + 1].get_title()
            assert title.endswith(f"{SCORES[row, k]:.2f} (target 0.25)")
    assert display.axes_[2, 2].title.get_color() == NORMAL_COLOUR
    unscored = display_of(original_scores=None, scores=None, target_score=0.25).plot()
    assert unscored.axes_[1, 1].get_title() == "(target 0.25)"
    assert unscored.axes_[1, 0].get_title() == ""


def test_small_scores_keep_two_significant_digits():
    scores = np.array([[0.0012, 0.0], [0.004, 0.005], [3e-6, 0.01]])
    display = display_of(scores=scores, target_score=0.00071).plot()
    titles = [[display.axes_[row, k + 1].get_title() for k in range(2)] for row in range(3)]
    assert titles[0] == ["Concept 1\n0.0012 (target 0.00071)", "Concept 2\n0.00 (target 0.00071)"]
    assert titles[1] == ["0.004 (target 0.00071)", "0.01 (target 0.00071)"]
    assert titles[2] == ["3e-06 (target 0.00071)", "0.01 (target 0.00071)"]


def test_colour_and_uint8_images_and_row_labels():
    images = (RNG.random((2, 4, 4, 3)) * 255).astype(np.uint8)
    counterfactuals = RNG.random((2, 1, 4, 4, 3))
    display = CounterfactualDisplay(
        images=images, counterfactuals=counterfactuals, row_labels=["a", "b"]
    ).plot()
    assert display.axes_.shape == (2, 2)
    np.testing.assert_allclose(drawn(display.axes_[0, 0]), images[0] / 255.0)
    assert display.axes_[1, 0].get_ylabel() == "b"


def test_draws_on_given_axes():
    _, ax = plt.subplots(3, 3)
    display = display_of().plot(ax=ax)
    assert display.axes_[2, 2] is ax[2, 2]


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"images": RNG.random((3, 6))}, "images must have shape"),
        ({"counterfactuals": RNG.random((3, 6, 5))}, "counterfactuals must have shape"),
        ({"counterfactuals": RNG.random((2, 2, 6, 5))}, "counterfactuals must have shape"),
        ({"original_scores": [0.1, 0.2]}, r"original_scores must have shape \(3,\)"),
        ({"scores": SCORES[:, :1]}, r"scores must have shape \(3, 2\)"),
        ({"row_labels": ["a"]}, "row_labels must give one label per image"),
        ({"target_score": np.nan}, "target_score must be finite"),
    ],
)
def test_bad_input(changes, match):
    with pytest.raises(ValueError, match=match):
        display_of(**changes).plot()


@pytest.mark.parametrize("target_score", ["0.1", True, [0.1]])
def test_target_score_must_be_a_number(target_score):
    with pytest.raises(TypeError, match="target_score must be a real number or None"):
        display_of(target_score=target_score).plot()


def test_bad_axes_and_titles():
    _, ax = plt.subplots(2, 2)
    with pytest.raises(ValueError, match="ax must hold 3 x 3 Axes"):
        display_of().plot(ax=ax)
    with pytest.raises(ValueError, match="column_titles must give 3 titles"):
        display_of().plot(column_titles=["a"])


def test_from_explainer_draws_the_explanation():
    torch = pytest.importorskip("torch")
    from sknovel.explain import CounterfactualExplainer

    def detector(x):
        return torch.sigmoid(10 * (x.mean(dim=(1, 2, 3)) - 0.5))

    normal = (RNG.random((12, 8, 8)) * 0.5).astype(np.float32)
    explainer = CounterfactualExplainer(detector, epochs=1, width=4, random_state=0)
    explainer.fit(normal)
    anomalies = 1 - normal[:2]
    display = CounterfactualDisplay.from_explainer(explainer, anomalies, row_labels=["x", "y"])
    explanation = explainer.explain(anomalies)
    assert display.axes_.shape == (2, 3)
    np.testing.assert_allclose(drawn(display.axes_[1, 2]), explanation.counterfactuals[1, 1])
    target = f"(target {explanation.target_score:.2f})"
    assert explanation.target_score == explainer.target_score_
    assert display.target_score == explanation.target_score
    assert display.axes_[0, 1].get_title().endswith(f"{explanation.scores[0, 0]:.2f} {target}")
    assert target not in display.axes_[0, 0].get_title()
    with pytest.raises(TypeError, match="explainer must be a CounterfactualExplainer"):
        CounterfactualDisplay.from_explainer(object(), anomalies)
