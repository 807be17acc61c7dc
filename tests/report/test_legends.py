"""The report's pictures can be read: heatmaps on a stated scale with a colour bar, and the
Novel column with a legend that says how it is drawn."""

import re
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from sknovel import Demud, DiscoveryReport
from sknovel.report._figures import (
    heat_colour_bar_svg,
    heat_colours,
    heatmap_overlay,
    novel_grey_bar_svg,
)

RNG = np.random.default_rng(0)
OCCLUSION_MEANING = "share of the pick's novelty score removed"


def test_overlay_runs_from_zero_to_the_largest_value():
    grey = np.zeros((2, 3))
    heat = np.array([[-0.3, 0.0, 0.1], [0.2, 0.3, 0.4]])
    overlay = heatmap_overlay(grey, heat)
    # Over black, the overlay is the heat colour times its opacity: 0 and below are the
    # darkest colour, the largest value the brightest (not min-to-max as before).
    alpha = 0.55
    np.testing.assert_allclose(overlay[0, 0], alpha * heat_colours(0.0))
    np.testing.assert_allclose(overlay[0, 1], alpha * heat_colours(0.0))
    np.testing.assert_allclose(overlay[1, 2], alpha * heat_colours(1.0))
    np.testing.assert_allclose(overlay[1, 0], alpha * heat_colours(0.5))
    all_zero = heatmap_overlay(grey, np.zeros((2, 3)))
    np.testing.assert_allclose(all_zero, alpha * heat_colours(np.zeros((2, 3))))


def test_legends_are_well_formed_svg_with_their_text():
    bar = ElementTree.fromstring(heat_colour_bar_svg(["first line", "second & <line>"]))
    texts = [element.text for element in bar.iter("{http://www.w3.org/2000/svg}text")]
    assert texts == ["0", "largest", "first line", "second & <line>"]
    grey = ElementTree.fromstring(novel_grey_bar_svg(["mid-grey: as expected"]))
    texts = [element.text for element in grey.iter("{http://www.w3.org/2000/svg}text")]
    assert texts == ["less", "0", "more", "mid-grey: as expected"]
    stops = [stop.get("stop-color") for stop in grey.iter("{http://www.w3.org/2000/svg}stop")]
    assert stops == ["#000000", "#808080", "#ffffff"]


def hand_made_report(pictures):
    X = RNG.random((12, 4))
    demud = Demud(2, n_selections=4).fit(X)
    return DiscoveryReport({"DEMUD": demud}, RNG.random((12, 8, 8)), pictures=pictures)


def cnn_pictures(inverted=True):
    """Pictures as a CNN report draws them: occlusion maps, and decoded ones with --invert."""
    image = RNG.random((8, 8))
    heat = np.outer(np.hanning(8), np.hanning(8)) * 0.42
    pictures = {"selection": image, "where": heat}
    if inverted:
        pictures.update(inverted=image, expected=image, novel=image)
    return [pictures, dict(pictures, where=heat * 0.5)]


def test_a_cnn_report_states_the_heatmap_unit_and_the_decoded_novel_column():
    page = hand_made_report(cnn_pictures())._repr_html_()
    assert page.count("<svg") == 1  # no labels, so no discovery curve: only the colour bar
    assert "Colour bar of the Where pictures" in page
    assert OCCLUSION_MEANING in page and "when this region is hidden" in page
    # Each Where picture says what its brightest colour is worth.
    scales = re.findall(r'<span class="scale">0 to ([^<]+)</span>', page)
    top = 0.42 * np.hanning(8).max() ** 2
    assert scales == [f"{top:.2g}", f"{top / 2:.2g}"]
    assert "not centred on grey" in page and "average image changed by what" in page
    assert "Grey scale of the Novel pictures" not in page


def test_a_pixel_report_marks_the_zero_of_the_novel_column(tmp_path):
    images = np.clip(RNG.random((20, 6, 6)) * 0.2 + np.repeat([0.2, 0.7], 10)[:, None, None], 0, 1)
    report = DiscoveryReport.from_images(
        images, features="pixels", n_components=2, n_selections=6, n_explain=3
    )
    page = report.save(tmp_path / "out").read_text(encoding="utf-8")
    assert "Grey scale of the Novel pictures" in page
    assert "mid-grey is 0 (the pixel is as expected)" in page
    assert "brighter means more than expected and darker less" in page
    # The pixel report's Where is each pixel's squared residual, and its legend says so.
    assert "its squared difference from Expected" in page
    assert OCCLUSION_MEANING not in page
    assert page.count('<span class="scale">0 to ') == 3
    # The Novel pictures are drawn as the legend says: 0.5 + residual / scale.
    novel = report.picks[0].pictures["novel"]
    expected = report.picks[0].pictures["expected"]
    selection = report.picks[0].pictures["selection"]
    differs = np.abs(novel - 0.5) > 1e-9
    np.testing.assert_array_equal(
        np.sign(novel - 0.5)[differs], np.sign(selection - expected)[differs]
    )


def test_a_report_without_pictures_has_no_legend():
    page = hand_made_report([])._repr_html_()
    assert "Colour bar" not in page and 'class="legend"' not in page


@pytest.mark.parametrize("kinds", [("selection",), ("selection", "expected")])
def test_legends_only_for_the_pictures_present(kinds):
    pictures = [{kind: RNG.random((8, 8)) for kind in kinds}]
    page = hand_made_report(pictures)._repr_html_()
    assert "Colour bar" not in page and "Grey scale" not in page
