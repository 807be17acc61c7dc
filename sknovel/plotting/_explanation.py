"""One row per pick: the image, what the model expected, what was novel, and where."""

import copy
import textwrap

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support

from sknovel.utils.text import literal

#: Colour bar label of heatmaps that do not say what their values mean.
DEFAULT_HEATMAP_LABEL = "novelty (larger = more)"

#: How to read a Novel column decoded by a UCInverter, by its ``residual_shift``.
DECODED_NOVEL_LABELS = {
    "training_mean": "decoded: average image + novelty",
    "item_mean": "decoded: novelty at the pick's mean",
    "none": "decoded: novelty alone",
}

#: Column titles, in drawing order, keyed by the attribute holding the column's images.
COLUMNS = {
    "images": "Selection",
    "inverted": "Inverted",
    "expected": "Expected",
    "novel": "Novel",
    "heatmaps": "Where",
}


class ExplanationDisplay:
    """Explanation panels of DEMUD picks (Lee, Wagstaff et al. 2018, Figs. 1, 5, 6, 8).

    One row per pick: the selected image; optionally its features inverted back into an
    image, the expected part x̂ and the novel part e inverted the same way (by a
    :class:`~sknovel.explain.UCInverter`); and a novelty heatmap overlaid on the image (from
    :class:`~sknovel.explain.NoveltyMap`). Row titles give the pick number, score and label.
    Columns whose images are None are left out.

    Parameters
    ----------
    images : ndarray of shape (k, H, W) or (k, H, W, C)
        The picked images, in pick order; uint8 or float in [0, 1].
    inverted, expected, novel : ndarray of shape (k, h, w[, C]) or None, default=None
        Inverted features of the selection, of x̂ and of e.
    heatmaps : ndarray of shape (k, H, W) or None, default=None
        Where the novelty lies, larger = more; drawn over the image from 0 (darkest; values
        below 0 too) to the pick's largest value (brightest), with a colour bar per pick.
    heatmap_label : str or None, default=None
        What the heatmaps' values mean, written beside their colour bars, e.g. a
        :class:`~sknovel.explain.NoveltyMap` result's ``map_unit`` ("share of the novelty
        score removed when this region is hidden"); None: "novelty (larger = more)".
    novel_centred : bool, default=False
        Whether `novel` is a difference drawn around mid-grey (0.5 = as expected, brighter
        = more than expected, darker = less), as the report draws the residual of pixel
        features; a grey colour bar with 0 marked then goes beside the Novel column.
    novel_label : str or None, default=None
        How to read the Novel column, written under it (e.g. how a decoder drew it).
    positions : array-like of int or None, default=None
        Pick numbers (0 = first pick); None: 0, 1, ...
    scores : array-like of float or None, default=None
    labels : array-like or None, default=None
        Class of each pick, shown literally in the row titles (``$`` and control
        characters are not interpreted).

    Attributes
    ----------
    figure_ : matplotlib Figure
    axes_ : ndarray of matplotlib Axes, shape (k, n_columns)
    colorbars_ : list of matplotlib Colorbar
        The heatmaps' colour bars (one per pick), then the Novel column's when
        `novel_centred`.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.plotting import ExplanationDisplay
    >>> images = np.random.default_rng(0).random((2, 8, 8, 3))
    >>> display = ExplanationDisplay(images, heatmaps=images[..., 0], scores=[3.0, 2.0])
    >>> display.plot().axes_.shape
    (2, 2)
    """

    def __init__(
        self,
        images,
        *,
        inverted=None,
        expected=None,
        novel=None,
        heatmaps=None,
        heatmap_label=None,
        novel_centred=False,
        novel_label=None,
        positions=None,
        scores=None,
        labels=None,
    ):
        self.images = images
        self.inverted = inverted
        self.expected = expected
        self.novel = novel
        self.heatmaps = heatmaps
        self.heatmap_label = heatmap_label
        self.novel_centred = novel_centred
        self.novel_label = novel_label
        self.positions = positions
        self.scores = scores
        self.labels = labels

    @classmethod
    def from_explanation(
        cls,
        collection,
        ranker,
        *,
        positions=None,
        features=None,
        inverter=None,
        novelty_map=None,
        labels=None,
        **plot_kwargs,
    ):
        """Build the panels for some picks of a fitted ranker, and plot them.

        Parameters
        ----------
        collection : ndarray of shape (n, H, W[, C]) or list of image file paths
            All the images the ranker ranked (as featurized), in order; from a list of
            paths only the picked files are read.
        ranker : fitted Demud or SVDRanker
        positions : sequence of int, default=None
            Picks to show (0 = first); None: the first five (or fewer).
        features : ndarray of shape (n, d), default=None
            The ranker's input; needed with `inverter` (for x̂ and e), saves recomputing
            it with `novelty_map`.
        inverter : fitted UCInverter, default=None
            Adds the Inverted, Expected and Novel columns: its decoder draws `ranker`'s picks
            (``UCInverter(featurizer, ranker).explain``, with the inverter's
            `residual_shift`, which the Novel column's note names), whatever ranker it was
            made with.
        novelty_map : NoveltyMap, default=None
            Adds the heatmap column, with colour bars labelled by its ``map_unit``.
        labels : array-like of shape (n,), default=None
            Class of every image in `collection`, shown in the row titles.
        **plot_kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : ExplanationDisplay
        """
        n_picks = len(ranker.ranking_)
        positions = list(range(min(5, n_picks))) if positions is None else list(positions)
        indices = np.asarray(ranker.ranking_)[positions]
        columns = {}
        if inverter is not None:
            if features is None:
                raise ValueError("features are needed to invert x̂ and e (inverter is set).")
            pictures = _of_ranker(inverter, ranker).explain(
                collection, positions, features=features
            )
            columns["inverted"] = pictures["selections"]
            columns["expected"] = pictures["expected"]
            columns["novel"] = pictures["novel"]
            columns["novel_label"] = DECODED_NOVEL_LABELS.get(
                getattr(inverter, "residual_shift", None)
            )
        pictures = None
        if novelty_map is not None:
            # The maps are of the images as the featurizer saw them (files of mixed sizes
            # fitted to one size): draw them over exactly those images.
            heat = novelty_map.explain(collection, positions, features=features)
            columns["heatmaps"], pictures = heat.maps, heat.images
            columns["heatmap_label"] = heat.get("map_unit")
        if pictures is None:
            from sknovel.utils.images import picked_images

            pictures = picked_images(collection, indices)

        display = cls(
            pictures,
            positions=positions,
            scores=np.asarray(ranker.scores_)[positions],
            labels=None if labels is None else np.asarray(labels)[indices],
            **columns,
        )
        return display.plot(**plot_kwargs)

    def plot(self, *, axes=None, cmap="inferno", alpha=0.55, panel_size=1.8):
        """Draw the panels.

        Parameters
        ----------
        axes : ndarray of matplotlib Axes of shape (k, n_columns), default=None
            None: a new figure.
        cmap : str, default="inferno"
            Colour map of the heatmaps.
        alpha : float, default=0.55
            Opacity of the heatmap over the image.
        panel_size : float, default=1.8
            Inches per panel of a new figure.

        Returns
        -------
        display : ExplanationDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        self._check_legends()
        images = np.asarray(self.images)
        n_rows = len(images)
        columns = [name for name in COLUMNS if getattr(self, name) is not None]
        for name in columns[1:]:
            if len(getattr(self, name)) != n_rows:
                raise ValueError(
                    f"{name} has {len(getattr(self, name))} entries but images has {n_rows}."
                )
        if axes is None:
            # room for the row titles on the left, the column titles on top, the colour
            # bars and the notes under the columns, so that square panels fill the figure
            width = panel_size * len(columns) + 1.0 + 0.9 * self._n_bar_columns(columns)
            _, axes = plt.subplots(
                n_rows,
                len(columns),
                figsize=(width, panel_size * n_rows + 0.6),
                squeeze=False,
                layout="constrained",
            )
        axes = np.asarray(axes).reshape(n_rows, len(columns))
        positions = range(n_rows) if self.positions is None else self.positions
        self.colorbars_ = []
        for row, position in enumerate(positions):
            for column, name in enumerate(columns):
                ax = axes[row, column]
                ax.set_xticks([])
                ax.set_yticks([])
                if name == "heatmaps":
                    self._draw_heatmap(ax, images[row], self.heatmaps[row], cmap, alpha)
                else:
                    ax.imshow(_displayable(getattr(self, name)[row]), cmap="gray")
                if row == 0:
                    ax.set_title(COLUMNS[name], fontsize=10)
            axes[row, 0].set_ylabel(self._row_title(row, position), fontsize=9)
        if "novel" in columns:
            self._mark_novel(axes[:, columns.index("novel")])
        self.axes_ = axes
        self.figure_ = axes[0, 0].figure
        return self

    def _check_legends(self):
        for name in ("heatmap_label", "novel_label"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str or None; got {type(value).__name__}.")
        if not isinstance(self.novel_centred, (bool, np.bool_)):
            raise TypeError(
                f"novel_centred must be a bool; got {type(self.novel_centred).__name__}."
            )

    def _n_bar_columns(self, columns):
        return ("heatmaps" in columns) + ("novel" in columns and bool(self.novel_centred))

    def _draw_heatmap(self, ax, image, heat, cmap, alpha):
        """The heatmap over its image, 0 to its largest value, with a labelled colour bar."""
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        heat = np.nan_to_num(np.asarray(heat, dtype=float))
        top = max(float(heat.max()), 0.0)
        norm = Normalize(0.0, top if top > 0 else 1.0)  # a map of no novelty is all dark
        ax.imshow(_displayable(image), cmap="gray")
        ax.imshow(heat, cmap=cmap, alpha=alpha, norm=norm)
        # The bar shows the colours at full opacity: what the heat adds over the grey.
        bar = ax.figure.colorbar(ScalarMappable(norm, cmap=cmap), ax=ax, fraction=0.08, pad=0.03)
        bar.set_ticks([0.0, top] if top > 0 else [0.0])
        bar.ax.yaxis.set_major_formatter("{x:.2g}")  # "0" and "0.43", not "0.0000", "0.4288"
        bar.ax.tick_params(labelsize=7)
        label = self.heatmap_label or DEFAULT_HEATMAP_LABEL
        bar.set_label(textwrap.fill(label, 28), fontsize=7)
        self.colorbars_.append(bar)

    def _mark_novel(self, novel_axes):
        """The Novel column's legend: a grey bar with 0 marked, and/or a note under it."""
        if self.novel_centred:
            from matplotlib.cm import ScalarMappable
            from matplotlib.colors import Normalize

            bar = novel_axes[0].figure.colorbar(
                ScalarMappable(Normalize(-1.0, 1.0), cmap="gray"),
                ax=list(novel_axes),
                fraction=0.08,
                pad=0.03,
            )
            bar.set_ticks([-1.0, 0.0, 1.0], labels=["less", "0: as\nexpected", "more"])
            bar.ax.tick_params(labelsize=7)
            bar.set_label("than expected (mid-grey = 0)", fontsize=7)
            self.colorbars_.append(bar)
        if self.novel_label:
            novel_axes[-1].set_xlabel(textwrap.fill(self.novel_label, 24), fontsize=8)

    def _row_title(self, row, position):
        parts = [f"pick {int(position) + 1}"]
        if self.scores is not None:
            parts.append(f"score {float(self.scores[row]):.3g}")
        if self.labels is not None:
            parts.append(literal(self.labels[row]))
        return "\n".join(parts)


def _of_ranker(inverter, ranker):
    """`inverter` explaining `ranker`'s picks: itself, or a shallow copy with that ranker.

    The copy shares the trained decoder; the caller's inverter is left as it is.
    """
    if getattr(inverter, "ranker", None) is ranker:
        return inverter
    if not hasattr(inverter, "set_params"):
        raise TypeError(f"inverter must be a fitted UCInverter; got {type(inverter).__name__}.")
    return copy.copy(inverter).set_params(ranker=ranker)


def _displayable(image):
    """uint8 as is; floats clipped to [0, 1]; one channel squeezed for a grey colour map."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    return image if image.dtype == np.uint8 else np.clip(image, 0, 1)
