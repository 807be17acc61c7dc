"""User strings (class and file names) are drawn literally: no math text, no control codes."""

import io

import numpy as np
import pytest

from sknovel.utils.text import escape_controls, literal, terminal_text

plt = pytest.importorskip("matplotlib.pyplot")

#: A class folder name that matplotlib's math text cannot parse, and a terminal escape.
ODD_LABELS = ["a$\\x$", "\x1b[31mred", "$5 & 10%_{x}^2$", "b\\$c$"]


def drawn_text(text):
    """The characters matplotlib draws for `text` (math text would raise or differ)."""
    import matplotlib.cbook

    assert not matplotlib.cbook.is_math_text(text)
    return text.replace("\\$", "$")


def render(figure):
    figure.savefig(io.BytesIO(), format="png")  # parses every text: math text would fail
    plt.close(figure)


@pytest.mark.parametrize("text", ODD_LABELS + ["plain", "$", "\\", "été 中"])
def test_literal_draws_exactly_the_characters(text):
    assert drawn_text(literal(text)) == escape_controls(text)


def test_literal_escapes_tex_under_usetex():
    import matplotlib

    with matplotlib.rc_context({"text.usetex": True}):
        assert literal("a_b$\\") == "a\\_b\\$\\textbackslash{}"


def test_escape_controls():
    assert escape_controls("\x1b[31mred.png") == "\\x1b[31mred.png"
    assert escape_controls("line\nbreak\u202e") == "line\\x0abreak\\u202e"
    assert escape_controls("caf\udce9") == "caf\\xe9"  # an undecodable byte of a file name
    assert escape_controls("été a$\\x$") == "été a$\\x$"


def test_terminal_text_escapes_all_or_nothing():
    assert terminal_text("été.png") == "été.png"
    shown = terminal_text("\x1b[31mé\\.png")
    assert shown == "\\x1b[31m\\xe9\\\\.png" and shown.isascii()


def test_explanation_display_draws_odd_labels():
    from sknovel.plotting import ExplanationDisplay

    images = np.random.default_rng(0).random((len(ODD_LABELS), 6, 6))
    display = ExplanationDisplay(images, heatmaps=images, labels=ODD_LABELS).plot()
    titles = [ax.get_ylabel() for ax in display.axes_[:, 0]]
    for title, label in zip(titles, ODD_LABELS):
        assert drawn_text(title).endswith(escape_controls(label))
    render(display.figure_)


def test_discovery_curve_display_draws_odd_names():
    from sknovel.plotting import DiscoveryCurveDisplay

    y = np.array([0, 0, 1, 2, 1, 0])
    rankings = {name: [0, 2, 3, 1] for name in ODD_LABELS}
    display = DiscoveryCurveDisplay.from_rankings(y, rankings)
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    for text, name in zip(legend, ODD_LABELS):
        assert drawn_text(text).startswith(escape_controls(name) + " (nAUC")
    render(display.figure_)


def test_saliency_and_counterfactual_displays_draw_odd_row_labels():
    from sknovel.plotting import CounterfactualDisplay, SaliencyDisplay, TopKAgreementDisplay

    rng = np.random.default_rng(0)
    n = len(ODD_LABELS)
    maps = rng.random((n, 6, 6))
    saliency = SaliencyDisplay(
        images=maps,
        reconstructions=maps,
        saliency_maps=maps,
        squared_saliency_maps=maps,
        error_maps=maps,
        row_labels=ODD_LABELS,
    ).plot()
    render(saliency.figure_)
    counterfactual = CounterfactualDisplay(
        images=maps, counterfactuals=rng.random((n, 2, 6, 6)), row_labels=ODD_LABELS
    ).plot()
    render(counterfactual.figure_)
    agreement = TopKAgreementDisplay(
        agreements=[rng.integers(0, 4, 10) for _ in ODD_LABELS], names=ODD_LABELS, k=3
    ).plot()
    render(agreement.figure_)
