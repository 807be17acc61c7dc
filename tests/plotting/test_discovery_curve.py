"""Tests of DiscoveryCurveDisplay."""

import re

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sknovel.metrics import (  # noqa: E402
    discovery_curve,
    discovery_nauc,
    expected_random_discovery_curve,
    oracle_discovery_curve,
)
from sknovel.plotting import DiscoveryCurveDisplay  # noqa: E402

Y = np.array(["a", "a", "b", "a", "c", "a", "b", "d", "a", "a"])
RANKINGS = {
    "Good": np.array([0, 2, 4, 7, 1, 3, 5, 6]),
    "Poor": np.array([0, 1, 3, 5, 8, 9, 2]),
}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def legend_texts(display):
    return [text.get_text() for text in display.ax_.get_legend().get_texts()]


def test_from_rankings_draws_curves_oracle_and_random():
    display = DiscoveryCurveDisplay.from_rankings(Y, list(RANKINGS.values()))
    assert isinstance(display, DiscoveryCurveDisplay)
    assert len(display.lines_) == 2
    assert len(display.ax_.get_lines()) == 4
    assert display.oracle_line_ in display.ax_.get_lines()
    assert display.random_line_ in display.ax_.get_lines()
    assert display.figure_ is display.ax_.figure
    assert display.oracle_line_.get_linestyle() == "--"


def test_legend_shows_naucs_at_the_common_t():
    display = DiscoveryCurveDisplay.from_rankings(Y, RANKINGS)
    t = min(len(ranking) for ranking in RANKINGS.values())
    k = len(np.unique(Y))
    random_nauc = (
        100 * expected_random_discovery_curve(Y, t).sum() / oracle_discovery_curve(Y, t).sum()
    )
    expected = [
        f"{name} (nAUC {discovery_nauc(Y, ranking, t=t):.1f})" for name, ranking in RANKINGS.items()
    ] + ["Oracle", f"Random (expected, nAUC {random_nauc:.1f})"]
    assert legend_texts(display) == expected
    assert display.n_classes == k
    for line, ranking in zip(display.lines_, RANKINGS.values()):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, t + 1))
        np.testing.assert_array_equal(line.get_ydata(), discovery_curve(Y, ranking[:t]))


def test_explicit_t_and_names():
    rankings = list(RANKINGS.values())
    display = DiscoveryCurveDisplay.from_rankings(Y, rankings, names=["A", "B"], t=3)
    assert legend_texts(display)[:2] == [
        f"A (nAUC {discovery_nauc(Y, rankings[0], t=3):.1f})",
        f"B (nAUC {discovery_nauc(Y, rankings[1], t=3):.1f})",
    ]
    assert all(len(line.get_xdata()) == 3 for line in display.ax_.get_lines())


def test_dict_keys_are_the_names():
    display = DiscoveryCurveDisplay.from_rankings(Y, RANKINGS)
    assert display.names == ["Good", "Poor"]
    assert legend_texts(display)[0].startswith("Good (nAUC ")


def test_single_ranking_and_default_names():
    display = DiscoveryCurveDisplay.from_rankings(Y, RANKINGS["Good"])
    assert len(display.lines_) == 1
    assert display.names == ["Ranking 1"]
    display = DiscoveryCurveDisplay.from_rankings(Y, [[0, 2], [1, 3]])
    assert display.names == ["Ranking 1", "Ranking 2"]


def test_uses_the_given_ax():
    _, ax = plt.subplots()
    display = DiscoveryCurveDisplay.from_rankings(Y, RANKINGS, ax=ax)
    assert display.ax_ is ax
    assert ax.get_xlabel() == "Number of selections"
    assert ax.get_ylabel() == "Number of distinct classes discovered"
    assert ax.get_xlim()[0] == 1


def test_reference_curves_can_be_left_out():
    display = DiscoveryCurveDisplay.from_rankings(Y, RANKINGS, show_oracle=False, show_random=False)
    assert display.oracle_line_ is None and display.random_line_ is None
    assert len(display.ax_.get_lines()) == 2


def test_plot_from_constructor_returns_self():
    display = DiscoveryCurveDisplay(curves=[np.array([1, 2, 2])], names=["x"], n_classes=2)
    assert display.plot() is display
    assert legend_texts(display) == ["x"]
    display.plot(name="renamed", curve_kwargs={"color": "red"})
    assert legend_texts(display) == ["renamed"]
    assert display.lines_[0].get_color() == "red"


def test_per_curve_kwargs():
    display = DiscoveryCurveDisplay.from_rankings(
        Y, RANKINGS, curve_kwargs=[{"color": "red"}, {"color": "blue"}]
    )
    assert [line.get_color() for line in display.lines_] == ["red", "blue"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rankings": RANKINGS, "names": ["x", "y"]}, "names must be None when rankings is a dict"),
        ({"rankings": [[0, 1], [2, 3]], "names": ["x"]}, "names must give one name per ranking"),
        ({"rankings": [[0, 1], [2, 3, 4]], "t": 3}, "t must be in [1, 2]"),
        ({"rankings": [], "names": None}, "rankings must hold at least one ranking"),
        ({"rankings": [[0, 0]]}, "ranking must not repeat"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DiscoveryCurveDisplay.from_rankings(Y, **kwargs)


def test_mismatched_names_in_plot():
    display = DiscoveryCurveDisplay(curves=[np.array([1, 2])], names=["a", "b"], n_classes=2)
    with pytest.raises(ValueError, match="one name per curve"):
        display.plot()


def test_from_estimator_uses_fitted_rankings():
    import numpy as np
    from sklearn.datasets import load_digits

    from sknovel import Demud, SVDRanker
    from sknovel.metrics import discovery_nauc
    from sknovel.plotting import DiscoveryCurveDisplay

    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    demud, svd = Demud(n_selections=40).fit(X), SVDRanker(n_selections=40).fit(X)
    display = DiscoveryCurveDisplay.from_estimator({"DEMUD": demud, "SVD": svd}, X, y)
    assert display.names == ["DEMUD", "SVD"]
    np.testing.assert_allclose(
        display.naucs, [discovery_nauc(y, demud.ranking_), discovery_nauc(y, svd.ranking_)]
    )
    default = DiscoveryCurveDisplay.from_estimator(demud, X, y)
    assert default.names == ["Demud"]
