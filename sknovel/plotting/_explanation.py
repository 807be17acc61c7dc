"""One row per pick: the image, what the model expected, what was novel, and where."""

import copy

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support

from sknovel.utils.text import literal

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
        Where the novelty lies; drawn over the image, scaled per pick.
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
        positions=None,
        scores=None,
        labels=None,
    ):
        self.images = images
        self.inverted = inverted
        self.expected = expected
        self.novel = novel
        self.heatmaps = heatmaps
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
            `residual_shift`), whatever ranker it was made with.
        novelty_map : NoveltyMap, default=None
            Adds the heatmap column.
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
        pictures = None
        if novelty_map is not None:
            # The maps are of the images as the featurizer saw them (files of mixed sizes
            # fitted to one size): draw them over exactly those images.
            heat = novelty_map.explain(collection, positions, features=features)
            columns["heatmaps"], pictures = heat.maps, heat.images
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

        images = np.asarray(self.images)
        n_rows = len(images)
        columns = [name for name in COLUMNS if getattr(self, name) is not None]
        for name in columns[1:]:
            if len(getattr(self, name)) != n_rows:
                raise ValueError(
                    f"{name} has {len(getattr(self, name))} entries but images has {n_rows}."
                )
        if axes is None:
            _, axes = plt.subplots(
                n_rows,
                len(columns),
                # room for the row titles on the left and the column titles on top, so that
                # square panels fill the figure
                figsize=(panel_size * len(columns) + 1.0, panel_size * n_rows + 0.4),
                squeeze=False,
                layout="constrained",
            )
        axes = np.asarray(axes).reshape(n_rows, len(columns))
        positions = range(n_rows) if self.positions is None else self.positions
        for row, position in enumerate(positions):
            for column, name in enumerate(columns):
                ax = axes[row, column]
                ax.set_xticks([])
                ax.set_yticks([])
                if name == "heatmaps":
                    ax.imshow(_displayable(images[row]), cmap="gray")
                    heat = np.asarray(self.heatmaps[row], dtype=float)
                    ax.imshow(_unit_range(heat), cmap=cmap, alpha=alpha)
                else:
                    ax.imshow(_displayable(getattr(self, name)[row]), cmap="gray")
                if row == 0:
                    ax.set_title(COLUMNS[name], fontsize=9)
            axes[row, 0].set_ylabel(self._row_title(row, position), fontsize=8)
        self.axes_ = axes
        self.figure_ = axes[0, 0].figure
        return self

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


def _unit_range(values):
    low, high = values.min(), values.max()
    return np.zeros_like(values) if high <= low else (values - low) / (high - low)
