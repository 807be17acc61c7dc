"""Discovery-curve picture: classes found against number of selections."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from collections.abc import Mapping

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils._plotting import _validate_style_kwargs

from sknovel.metrics import (
    discovery_curve,
    expected_random_discovery_curve,
    nauc_of_curve,
    oracle_discovery_curve,
)
from sknovel.metrics.validation import check_labels, check_ranking, check_t, count_classes
from sknovel.utils.text import literal


class DiscoveryCurveDisplay:
    """Discovery curve visualization.

    Draws, for one or more rankings, the number of distinct classes found
    after each selection (Lee, Wagstaff et al. 2018, the curves behind eq. 3),
    with each ranking's nAUC in the legend, the best possible curve (oracle)
    and the exact expected curve of random selection.

    It is recommended to use :meth:`from_rankings` to create a display. All
    parameters are stored as attributes.

    Parameters
    ----------
    curves : list of ndarray of shape (t,)
        Discovery curves ``C_1 .. C_t``, one per ranking, as returned by
        :func:`~sknovel.metrics.discovery_curve`.

    names : list of str
        Legend name of each curve, shown literally (``$`` and control characters are
        not interpreted).

    n_classes : int
        Number of distinct classes ``k`` in the labelled set; normalises the
        nAUC of the random curve.

    oracle_curve : ndarray of shape (t,), default=None
        Best possible curve ``min(i, k)``. Not drawn if None.

    random_curve : ndarray of shape (t,), default=None
        Expected curve of random selection. Not drawn if None.

    naucs : list of float, default=None
        nAUC of each curve, shown in the legend. Not shown if None.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One line per entry of `curves`, in order.

    oracle_line_ : matplotlib Line2D or None
        The oracle curve, None if not drawn.

    random_line_ : matplotlib Line2D or None
        The expected random curve, None if not drawn.

    ax_ : matplotlib Axes
        Axes with the discovery curves.

    figure_ : matplotlib Figure
        Figure containing the curves.

    See Also
    --------
    sknovel.metrics.discovery_curve : The curve of one ranking.
    sknovel.metrics.discovery_nauc : Its normalised area.

    References
    ----------
    .. [1] Y. Lee, K. L. Wagstaff et al., "Interpretable Discovery in Large
       Image Data Sets", 2018, eq. (3).

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from sknovel.plotting import DiscoveryCurveDisplay
    >>> y = np.array([0, 0, 0, 1, 0, 2, 0, 1])
    >>> display = DiscoveryCurveDisplay.from_rankings(
    ...     y, {"Good": [0, 3, 5, 1, 2], "Poor": [0, 1, 2, 4, 3]}
    ... )
    >>> for text in display.ax_.get_legend().get_texts():
    ...     print(text.get_text())
    Good (nAUC 100.0)
    Poor (nAUC 50.0)
    Oracle
    Random (expected, nAUC 78.4)
    >>> plt.show()
    """

    def __init__(
        self,
        *,
        curves,
        names,
        n_classes,
        oracle_curve=None,
        random_curve=None,
        naucs=None,
    ):
        self.curves = curves
        self.names = names
        self.n_classes = n_classes
        self.oracle_curve = oracle_curve
        self.random_curve = random_curve
        self.naucs = naucs

    def plot(
        self,
        ax=None,
        *,
        name=None,
        curve_kwargs=None,
        oracle_kwargs=None,
        random_kwargs=None,
    ):
        """Plot the discovery curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on. If None, a new figure and axes are created.

        name : str or list of str, default=None
            Legend names overriding `names`; one per curve (a str for a single
            curve).

        curve_kwargs : dict or list of dict, default=None
            Keyword arguments for matplotlib's ``plot`` of the ranking curves:
            one dict for all curves, or one per curve.

        oracle_kwargs : dict, default=None
            Keyword arguments for the oracle line (default: black, dashed).

        random_kwargs : dict, default=None
            Keyword arguments for the expected random line (default: grey,
            dotted).

        Returns
        -------
        display : DiscoveryCurveDisplay
            This display, with `ax_`, `figure_` and the line attributes set.
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        if ax is None:
            _, ax = plt.subplots()
        labels = self._labels(name)
        self.lines_ = [
            _plot_curve(ax, curve, {"label": label, **kwargs})
            for curve, label, kwargs in zip(
                self.curves, labels, self._per_curve_kwargs(curve_kwargs)
            )
        ]
        self.oracle_line_ = self._plot_oracle(ax, oracle_kwargs)
        self.random_line_ = self._plot_random(ax, random_kwargs)

        ax.set(
            xlabel="Number of selections",
            ylabel="Number of distinct classes discovered",
        )
        longest = max(len(curve) for curve in self._all_curves())
        ax.set_xlim(1, max(longest, 2))
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="lower right")

        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_rankings(
        cls,
        y,
        rankings,
        *,
        names=None,
        t=None,
        show_oracle=True,
        show_random=True,
        ax=None,
        **kwargs,
    ):
        """Plot the discovery curves of rankings of a labelled set.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Class label of every item.

        rankings : array-like of int, sequence of array-like of int, or dict
            The rankings to compare, each a 1-D array of distinct row indices
            into `y`, most novel first: a single ranking, a sequence of them,
            or a dict ``{name: ranking}`` whose keys are the legend names.

        names : str or list of str, default=None
            Legend name of each ranking. Must be None when `rankings` is a
            dict. None gives ``"Ranking 1"``, ``"Ranking 2"``, ...

        t : int, default=None
            Number of selections drawn and covered by every nAUC, in
            ``[1, length of the shortest ranking]``. None means the length of
            the shortest ranking, so that all nAUCs are comparable.

        show_oracle : bool, default=True
            Whether to draw the best possible curve ``min(i, k)``.

        show_random : bool, default=True
            Whether to draw the exact expected curve of random selection,
            with its nAUC.

        ax : matplotlib Axes, default=None
            Axes to draw on. If None, a new figure and axes are created.

        **kwargs : dict
            Passed to :meth:`plot` (`curve_kwargs`, `oracle_kwargs`,
            `random_kwargs`).

        Returns
        -------
        display : DiscoveryCurveDisplay
            The display, plotted.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> from sknovel.plotting import DiscoveryCurveDisplay
        >>> y = ["a", "a", "b", "a", "c", "a"]
        >>> display = DiscoveryCurveDisplay.from_rankings(y, [[0, 2, 4], [0, 1, 3]])
        >>> [round(line.get_ydata()[-1]) for line in display.lines_]
        [3, 1]
        >>> plt.show()
        """
        check_matplotlib_support(f"{cls.__name__}.from_rankings")
        display = cls(
            **_compute_curves(
                y,
                rankings,
                names=names,
                t=t,
                show_oracle=show_oracle,
                show_random=show_random,
            )
        )
        return display.plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimators,
        X,
        y,
        *,
        names=None,
        t=None,
        show_oracle=True,
        show_random=True,
        ax=None,
        **kwargs,
    ):
        """Plot the discovery curves of fitted rankers on labelled data.

        Each ranking is the one :func:`~sknovel.metrics.ranking_of` gives: the fitted ranking
        when `X` is the data a ranker was fitted on, else the ranking of `X` against its
        fitted model.

        Parameters
        ----------
        estimators : fitted ranker, list of them, or dict ``{name: ranker}``
            Rankers (or Pipelines ending in one), already fitted.

        X : array-like or sequence
            Input of the rankers (of each pipeline's first step).

        y : array-like of shape (n_samples,)
            Class label of every row of `X`.

        names : str or list of str, default=None
            Legend names; None uses the class names of the final steps. Must be None when
            `estimators` is a dict.

        t, show_oracle, show_random, ax, **kwargs
            As in :meth:`from_rankings`.

        Returns
        -------
        display : DiscoveryCurveDisplay

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sknovel import Demud, RandomRanker
        >>> from sknovel.plotting import DiscoveryCurveDisplay
        >>> X, y = load_digits(return_X_y=True)
        >>> rankers = [Demud(n_selections=60).fit(X), RandomRanker(random_state=0).fit(X)]
        >>> display = DiscoveryCurveDisplay.from_estimator(rankers, X, y, t=60)
        >>> [name.split()[0] for name in display.names]
        ['Demud', 'RandomRanker']
        """
        from sknovel.metrics import ranking_of

        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        if isinstance(estimators, Mapping):
            if names is not None:
                raise ValueError("names must be None when estimators is a dict.")
            names, estimators = list(estimators), list(estimators.values())
        elif not isinstance(estimators, (list, tuple)):
            estimators = [estimators]
        if names is None:
            names = [_final_step_name(estimator) for estimator in estimators]
        rankings = [ranking_of(estimator, X) for estimator in estimators]
        return cls.from_rankings(
            y,
            rankings,
            names=names,
            t=t,
            show_oracle=show_oracle,
            show_random=show_random,
            ax=ax,
            **kwargs,
        )

    def _labels(self, name):
        names = self.names if name is None else name
        names = [names] if isinstance(names, str) else list(names)
        names = [literal(name) for name in names]
        if len(names) != len(self.curves):
            raise ValueError(
                f"Got {len(names)} names for {len(self.curves)} curves; pass one name per curve."
            )
        if self.naucs is None:
            return names
        if len(self.naucs) != len(self.curves):
            raise ValueError(
                f"Got {len(self.naucs)} naucs for {len(self.curves)} curves; "
                "pass one nAUC per curve."
            )
        return [f"{name} (nAUC {nauc:.1f})" for name, nauc in zip(names, self.naucs)]

    def _per_curve_kwargs(self, curve_kwargs):
        if curve_kwargs is None or isinstance(curve_kwargs, Mapping):
            return [dict(curve_kwargs or {})] * len(self.curves)
        if len(curve_kwargs) != len(self.curves):
            raise ValueError(
                f"Got {len(curve_kwargs)} curve_kwargs for {len(self.curves)} "
                "curves; pass one dict, or one dict per curve."
            )
        return [dict(kwargs or {}) for kwargs in curve_kwargs]

    def _plot_oracle(self, ax, oracle_kwargs):
        if self.oracle_curve is None:
            return None
        # Below the ranking curves (zorder 2), so a perfect ranking stays visible.
        default = {"color": "black", "linestyle": "--", "zorder": 1.5, "label": "Oracle"}
        kwargs = _validate_style_kwargs(default, oracle_kwargs or {})
        return _plot_curve(ax, self.oracle_curve, kwargs)

    def _plot_random(self, ax, random_kwargs):
        if self.random_curve is None:
            return None
        nauc = nauc_of_curve(self.random_curve, self.n_classes)
        default = {
            "color": "tab:gray",
            "linestyle": ":",
            "zorder": 1.5,
            "label": f"Random (expected, nAUC {nauc:.1f})",
        }
        kwargs = _validate_style_kwargs(default, random_kwargs or {})
        return _plot_curve(ax, self.random_curve, kwargs)

    def _all_curves(self):
        extra = [self.oracle_curve, self.random_curve]
        return list(self.curves) + [curve for curve in extra if curve is not None]


def _plot_curve(ax, curve, kwargs):
    """Draw ``C_1 .. C_t`` at x = 1 .. t; return the line."""
    selections = np.arange(1, len(curve) + 1)
    (line,) = ax.plot(selections, curve, **kwargs)
    return line


def _compute_curves(y, rankings, *, names, t, show_oracle, show_random):
    """Everything :class:`DiscoveryCurveDisplay` draws, as constructor arguments."""
    y = check_labels(y)
    rankings, names = _named_rankings(rankings, names)
    rankings = [check_ranking(ranking, n_samples=y.shape[0]) for ranking in rankings]
    t = check_t(t, min(len(ranking) for ranking in rankings), of="the shortest ranking")
    n_classes = count_classes(y)
    curves = [discovery_curve(y, ranking[:t]) for ranking in rankings]
    return {
        "curves": curves,
        "names": names,
        "n_classes": n_classes,
        "oracle_curve": oracle_discovery_curve(y, t) if show_oracle else None,
        "random_curve": expected_random_discovery_curve(y, t) if show_random else None,
        "naucs": [nauc_of_curve(curve, n_classes) for curve in curves],
    }


def _named_rankings(rankings, names):
    """Split `rankings` (one, a sequence, or a dict) into a list and names."""
    if isinstance(rankings, Mapping):
        if names is not None:
            raise ValueError("names must be None when rankings is a dict; its keys are the names.")
        return list(rankings.values()), [str(key) for key in rankings]

    if _is_single_ranking(rankings):
        rankings = [rankings]
    else:
        rankings = list(rankings)
    if len(rankings) == 0:
        raise ValueError("rankings must hold at least one ranking, got none.")

    if names is None:
        names = [f"Ranking {i}" for i in range(1, len(rankings) + 1)]
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != len(rankings):
        raise ValueError(
            f"names must give one name per ranking: got {len(names)} names "
            f"for {len(rankings)} rankings."
        )
    return rankings, names


def _is_single_ranking(rankings):
    """True for one ranking (a flat array or list of indices), not a collection."""
    if isinstance(rankings, np.ndarray):
        return rankings.ndim == 1
    return len(rankings) > 0 and all(np.ndim(item) == 0 for item in rankings)


def _final_step_name(estimator):
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return type(final).__name__
